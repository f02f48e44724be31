//! Turning folders and manifests into job requests.
//!
//! Folder pairing rules, applied to the images directly in the folder
//! (hidden files and other extensions are skipped) in natural name order, so
//! `shot2` comes before `shot10`:
//!
//! - `chain` (the default): each image leads to the next, 1→2, 2→3, ... A
//!   folder of n images makes n-1 transitions.
//! - `pairs`: disjoint pairs in order, 1→2, 3→4, ...
//! - `ab`: `NAME_a.ext` leads to `NAME_b.ext` (also `-a`/`-b`,
//!   `_front`/`_tail`, any case). Images without a partner are reported.
//!
//! Manifests list transitions explicitly, as JSON (an array of objects, or
//! `{"defaults": {...}, "transitions": [...]}`) or CSV with a header row.
//! Field names are those of [`JobRequest`]: `front`, `tail`, `type`,
//! `duration`, `prompt`, `negative_prompt`, `seed`, `name`, `aspect`,
//! `resolution`, `fps`, `fit`, `provider`, `model`. Relative image paths are
//! relative to the manifest's folder.

use std::cmp::Ordering;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use crate::job::JobRequest;

/// File extensions (lowercase) taken from a folder. HEIC and HEIF are
/// included so that such files fail with a message instead of being skipped
/// without a word.
pub const IMAGE_EXTENSIONS: [&str; 11] =
    ["jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp", "gif", "heic", "heif", "avif"];

/// Rule for pairing the images of a folder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pairing {
    /// 1→2, 2→3, ...
    #[default]
    Chain,
    /// 1→2, 3→4, ...
    Pairs,
    /// `NAME_a` → `NAME_b`.
    Ab,
}

impl FromStr for Pairing {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "chain" => Ok(Pairing::Chain),
            "pairs" => Ok(Pairing::Pairs),
            "ab" | "a-b" | "a_b" => Ok(Pairing::Ab),
            _ => Err(format!("unknown pairing {s:?}; expected chain, pairs or ab")),
        }
    }
}

impl fmt::Display for Pairing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pairing::Chain => "chain",
            Pairing::Pairs => "pairs",
            Pairing::Ab => "ab",
        })
    }
}

/// Front and tail image paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagePair {
    /// Image the clip starts on.
    pub front: PathBuf,
    /// Image the clip ends on.
    pub tail: PathBuf,
}

/// The pairs found, plus images that could not be paired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pairs {
    /// Pairs in order.
    pub pairs: Vec<ImagePair>,
    /// Images left without a partner.
    pub unpaired: Vec<PathBuf>,
}

/// A folder or manifest that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Reading failed.
    #[error("cannot read {path}: {source}", path = path.display())]
    Io {
        /// File or folder.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A manifest is not valid.
    #[error("{path}: {message}", path = path.display())]
    Manifest {
        /// Manifest file.
        path: PathBuf,
        /// Description of the problem and its row.
        message: String,
    },
}

/// Returns whether `path`'s extension is one of [`IMAGE_EXTENSIONS`].
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| IMAGE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
}

/// Lists the images directly inside `dir`, in natural name order.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, IntakeError> {
    let io_err = |source| IntakeError::Io { path: dir.to_path_buf(), source };
    let mut images = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && path.is_file() && has_image_extension(&path) {
            images.push(path);
        }
    }
    images.sort_by(|a, b| natural_cmp(&file_name(a), &file_name(b)));
    Ok(images)
}

/// Pairs `images` (already in order) by `rule`.
pub fn pair_images(images: &[PathBuf], rule: Pairing) -> Pairs {
    match rule {
        Pairing::Chain => Pairs {
            pairs: images
                .windows(2)
                .map(|w| ImagePair { front: w[0].clone(), tail: w[1].clone() })
                .collect(),
            unpaired: if images.len() == 1 { images.to_vec() } else { Vec::new() },
        },
        Pairing::Pairs => Pairs {
            pairs: images
                .chunks_exact(2)
                .map(|c| ImagePair { front: c[0].clone(), tail: c[1].clone() })
                .collect(),
            unpaired: images.chunks_exact(2).remainder().to_vec(),
        },
        Pairing::Ab => pair_ab(images),
    }
}

/// Splits a file stem into its pair name and side: `beach_a` → (`beach`,
/// front).
fn ab_side(path: &Path) -> Option<(String, bool)> {
    let stem = path.file_stem()?.to_string_lossy().into_owned();
    let lower = stem.to_lowercase();
    for (suffix, is_front) in [
        ("_front", true),
        ("-front", true),
        ("_tail", false),
        ("-tail", false),
        ("_a", true),
        ("-a", true),
        ("_b", false),
        ("-b", false),
    ] {
        if lower.ends_with(suffix) && lower.len() > suffix.len() {
            return Some((lower[..lower.len() - suffix.len()].to_string(), is_front));
        }
    }
    None
}

fn pair_ab(images: &[PathBuf]) -> Pairs {
    let mut result = Pairs::default();
    let mut tails: Vec<(String, PathBuf)> = Vec::new();
    let mut fronts: Vec<(String, PathBuf)> = Vec::new();
    for image in images {
        match ab_side(image) {
            Some((name, true)) => fronts.push((name, image.clone())),
            Some((name, false)) => tails.push((name, image.clone())),
            None => result.unpaired.push(image.clone()),
        }
    }
    for (name, front) in fronts {
        match tails.iter().position(|(tail_name, _)| *tail_name == name) {
            Some(index) => {
                let (_, tail) = tails.remove(index);
                result.pairs.push(ImagePair { front, tail });
            }
            None => result.unpaired.push(front),
        }
    }
    result.unpaired.extend(tails.into_iter().map(|(_, path)| path));
    result
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default()
}

/// Compares names so that runs of digits compare by value: `a2` < `a10`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (a.peek().copied(), b.peek().copied()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let take = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| {
                    let mut digits = String::new();
                    while let Some(c) = it.peek().copied().filter(char::is_ascii_digit) {
                        digits.push(c);
                        it.next();
                    }
                    digits
                };
                let (da, db) = (take(&mut a), take(&mut b));
                let (ta, tb) = (da.trim_start_matches('0'), db.trim_start_matches('0'));
                let order = ta
                    .len()
                    .cmp(&tb.len())
                    .then_with(|| ta.cmp(tb))
                    .then_with(|| da.len().cmp(&db.len()));
                if order != Ordering::Equal {
                    return order;
                }
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(&y);
                }
                a.next();
                b.next();
            }
        }
    }
}

/// A manifest row: a [`JobRequest`] whose images may be missing in the
/// `defaults` block.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobRequestFields {
    #[serde(default)]
    front: Option<PathBuf>,
    #[serde(default)]
    tail: Option<PathBuf>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    negative_prompt: Option<String>,
    #[serde(default)]
    seed: Option<i64>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    aspect: Option<String>,
    #[serde(default)]
    resolution: Option<String>,
    #[serde(default)]
    fps: Option<u32>,
    #[serde(default)]
    fit: Option<String>,
}

impl JobRequestFields {
    /// Treats empty text and paths as "not given", as in CSV cells that are
    /// present but blank.
    fn without_empty_cells(self) -> JobRequestFields {
        let text = |value: Option<String>| value.filter(|s| !s.is_empty());
        let path = |value: Option<PathBuf>| value.filter(|p| !p.as_os_str().is_empty());
        JobRequestFields {
            front: path(self.front),
            tail: path(self.tail),
            name: text(self.name),
            kind: text(self.kind),
            prompt: text(self.prompt),
            negative_prompt: text(self.negative_prompt),
            provider: text(self.provider),
            model: text(self.model),
            aspect: text(self.aspect),
            resolution: text(self.resolution),
            fit: text(self.fit),
            ..self
        }
    }

    fn or(self, defaults: &JobRequestFields) -> JobRequestFields {
        let d = defaults.clone();
        JobRequestFields {
            front: self.front.or(d.front),
            tail: self.tail.or(d.tail),
            name: self.name,
            kind: self.kind.or(d.kind),
            duration: self.duration.or(d.duration),
            prompt: self.prompt.or(d.prompt),
            negative_prompt: self.negative_prompt.or(d.negative_prompt),
            seed: self.seed.or(d.seed),
            provider: self.provider.or(d.provider),
            model: self.model.or(d.model),
            aspect: self.aspect.or(d.aspect),
            resolution: self.resolution.or(d.resolution),
            fps: self.fps.or(d.fps),
            fit: self.fit.or(d.fit),
        }
    }

    fn into_request(
        self,
        base: &Path,
        manifest: &Path,
        row: &str,
    ) -> Result<JobRequest, IntakeError> {
        let missing = |field: &str| IntakeError::Manifest {
            path: manifest.to_path_buf(),
            message: format!("{row} has no {field:?} image; add the image path"),
        };
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        Ok(JobRequest {
            front: resolve(self.front.ok_or_else(|| missing("front"))?),
            tail: resolve(self.tail.ok_or_else(|| missing("tail"))?),
            name: self.name,
            kind: self.kind,
            duration: self.duration,
            prompt: self.prompt,
            negative_prompt: self.negative_prompt,
            seed: self.seed,
            provider: self.provider,
            model: self.model,
            aspect: self.aspect,
            resolution: self.resolution,
            fps: self.fps,
            fit: self.fit,
        })
    }
}

/// Reads a JSON (`.json`) or CSV (any other extension) manifest.
pub fn read_manifest(path: &Path) -> Result<Vec<JobRequest>, IntakeError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| IntakeError::Io { path: path.to_path_buf(), source })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let is_json = path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    if is_json { parse_json(&text, &base, path) } else { parse_csv(&text, &base, path) }
}

fn parse_json(text: &str, base: &Path, path: &Path) -> Result<Vec<JobRequest>, IntakeError> {
    let invalid = |message: String| IntakeError::Manifest { path: path.to_path_buf(), message };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|err| {
        invalid(format!("invalid JSON at line {}, column {}: {err}", err.line(), err.column()))
    })?;
    let shape = "expected an array of transitions or {\"defaults\": {...}, \"transitions\": [...]}";
    let (defaults, rows) = match value {
        serde_json::Value::Array(rows) => (JobRequestFields::default(), rows),
        serde_json::Value::Object(mut object) => {
            let Some(serde_json::Value::Array(rows)) = object.remove("transitions") else {
                return Err(invalid(format!("no \"transitions\" array; {shape}")));
            };
            let defaults = match object.remove("defaults") {
                Some(value) => serde_json::from_value(value)
                    .map_err(|err| invalid(format!("invalid \"defaults\": {err}")))?,
                None => JobRequestFields::default(),
            };
            if let Some(key) = object.keys().next() {
                return Err(invalid(format!("unknown top-level key {key:?}; {shape}")));
            }
            (defaults, rows)
        }
        _ => return Err(invalid(shape.to_string())),
    };
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| {
            let label = format!("transition {}", i + 1);
            let fields: JobRequestFields =
                serde_json::from_value(row).map_err(|err| invalid(format!("{label}: {err}")))?;
            fields.or(&defaults).into_request(base, path, &label)
        })
        .collect()
}

fn parse_csv(text: &str, base: &Path, path: &Path) -> Result<Vec<JobRequest>, IntakeError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut requests = Vec::new();
    for (i, record) in reader.deserialize::<JobRequestFields>().enumerate() {
        let line = i + 2;
        let row = record.map_err(|err| IntakeError::Manifest {
            path: path.to_path_buf(),
            message: format!(
                "invalid CSV at line {line}: {err}; the header row names the columns \
                 (front, tail, type, duration, prompt, ...)"
            ),
        })?;
        requests.push(row.without_empty_cells().into_request(
            base,
            path,
            &format!("line {line}"),
        )?);
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(names: &[&str]) -> Vec<PathBuf> {
        names.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn natural_order_compares_numbers_by_value() {
        let mut names = vec!["shot10.jpg", "shot2.jpg", "shot1.jpg", "Shot03.jpg"];
        names.sort_by(|a, b| natural_cmp(&a.to_lowercase(), &b.to_lowercase()));
        assert_eq!(names, ["shot1.jpg", "shot2.jpg", "Shot03.jpg", "shot10.jpg"]);
    }

    #[test]
    fn chain_links_each_image_to_the_next() {
        let result = pair_images(&paths(&["1.jpg", "2.jpg", "3.jpg"]), Pairing::Chain);
        assert_eq!(result.pairs.len(), 2);
        assert_eq!(result.pairs[1], ImagePair { front: "2.jpg".into(), tail: "3.jpg".into() });
        assert!(result.unpaired.is_empty());
    }

    #[test]
    fn pairs_leaves_odd_image_unpaired() {
        let result = pair_images(&paths(&["1.jpg", "2.jpg", "3.jpg"]), Pairing::Pairs);
        assert_eq!(result.pairs, vec![ImagePair { front: "1.jpg".into(), tail: "2.jpg".into() }]);
        assert_eq!(result.unpaired, paths(&["3.jpg"]));
    }

    #[test]
    fn ab_matches_names_and_reports_orphans() {
        let images = paths(&[
            "beach_A.jpg",
            "beach_b.png",
            "city-a.jpg",
            "city-b.jpg",
            "lone_a.jpg",
            "x.jpg",
        ]);
        let result = pair_images(&images, Pairing::Ab);
        assert_eq!(result.pairs.len(), 2);
        assert_eq!(result.pairs[0].tail, PathBuf::from("beach_b.png"));
        assert_eq!(result.pairs[1].front, PathBuf::from("city-a.jpg"));
        assert_eq!(result.unpaired, paths(&["x.jpg", "lone_a.jpg"]));
    }

    #[test]
    fn list_images_skips_hidden_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b10.jpg", "b2.PNG", ".hidden.jpg", "notes.txt"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let names: Vec<_> = list_images(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["b2.PNG", "b10.jpg"]);
    }

    #[test]
    fn json_manifest_applies_defaults_and_base_dir() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        std::fs::write(
            &path,
            r#"{"defaults": {"type": "whip", "duration": 2},
                "transitions": [{"front": "a.jpg", "tail": "/abs/b.jpg"}, {"front": "c.jpg", "tail": "d.jpg", "type": "calm"}]}"#,
        )
        .unwrap();
        let requests = read_manifest(&path).unwrap();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].front, dir.path().join("a.jpg"));
        assert_eq!(requests[0].tail, PathBuf::from("/abs/b.jpg"));
        assert_eq!(requests[0].kind.as_deref(), Some("whip"));
        assert_eq!(requests[0].duration, Some(2.0));
        assert_eq!(requests[1].kind.as_deref(), Some("calm"));
    }

    #[test]
    fn csv_manifest_reads_columns_and_empty_cells() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.csv");
        std::fs::write(&path, "front,tail,type,duration,prompt\na.jpg,b.jpg,energetic,3,\"sunset, slow\"\nc.jpg,d.jpg,,,\n")
            .unwrap();
        let requests = read_manifest(&path).unwrap();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].kind.as_deref(), Some("energetic"));
        assert_eq!(requests[0].prompt.as_deref(), Some("sunset, slow"));
        assert_eq!(requests[1].kind, None);
        assert_eq!(requests[1].duration, None);
    }

    #[test]
    fn manifest_errors_name_file_and_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.csv");
        std::fs::write(&path, "front,tail\na.jpg,\n").unwrap();
        let message = read_manifest(&path).unwrap_err().to_string();
        assert!(message.contains("bad.csv"), "{message}");
        assert!(message.contains("line 2"), "{message}");
        assert!(message.contains("tail"), "{message}");
        let json = dir.path().join("bad.json");
        std::fs::write(&json, "[{\"front\": \"a.jpg\", \"tail\": \"c.jpg\"}, {\"front\": \"a.jpg\", \"tial\": \"b.jpg\"}]").unwrap();
        let message = read_manifest(&json).unwrap_err().to_string();
        assert!(message.contains("bad.json"), "{message}");
        assert!(message.contains("transition 2"), "{message}");
        assert!(message.contains("tial"), "{message}");
        std::fs::write(&json, "{\"defaults\": {\"duraton\": 2}, \"transitions\": []}").unwrap();
        let message = read_manifest(&json).unwrap_err().to_string();
        assert!(message.contains("defaults"), "{message}");
        assert!(message.contains("duraton"), "{message}");
    }
}
