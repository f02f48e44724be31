//! Image thumbnails for the web UI, decoded the way the renderer decodes
//! (EXIF orientation, CMYK, 16-bit, alpha and ICC profiles through
//! [`segue_render::load_image`]) and cached as JPEG files.
//!
//! A cache file is named after the source's canonical path, size and
//! modification time and the requested size, so a changed source gets a new
//! name and a cache hit needs only a `stat` and a short read. Each file
//! stores the thumbnail and source sizes in a JPEG comment segment, which is
//! how a cache hit returns them without decoding anything.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;
use segue_render::ImageError;
use sha2::{Digest, Sha256};

use crate::clips::hex;

/// JPEG quality of the cached thumbnails, from 1 to 100.
pub const JPEG_QUALITY: u8 = 82;

/// Hex digits of the SHA-256 cache key in a file name: 128 bits.
const KEY_HEX_DIGITS: usize = 32;

/// Prefix of the cache key input. Changing it renames every cache file, which
/// is needed whenever the thumbnail pixels or the comment format change.
const KEY_VERSION: &[u8] = b"segue-thumb-v1";

/// Start of the JPEG comment that stores the sizes, followed by
/// `source=WxH thumb=WxH`.
const COMMENT_PREFIX: &str = "segue-thumb-v1 ";

/// Bytes read from a cache file on a hit. The encoder's JFIF segment and the
/// comment fit in well under this.
const HEADER_READ_BYTES: u64 = 1024;

/// Age after which [`prune`] deletes a leftover temporary file.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// A cached thumbnail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thumb {
    /// Name of the JPEG file in the cache folder: 32 hex digits and `.jpg`.
    pub file_name: String,
    /// Full path of the JPEG file.
    pub path: PathBuf,
    /// Thumbnail width in pixels.
    pub width: u32,
    /// Thumbnail height in pixels.
    pub height: u32,
    /// Source width in pixels after EXIF orientation.
    pub source_width: u32,
    /// Source height in pixels after EXIF orientation.
    pub source_height: u32,
}

/// Error from [`thumbnail`].
#[derive(Debug, thiserror::Error)]
pub enum ThumbError {
    /// The source image cannot be decoded. The message names the file and
    /// the fix.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The source file's path or metadata cannot be read.
    #[error("{}: cannot read the file ({source}); check the path", .path.display())]
    ReadSource {
        /// Source image.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The thumbnail cannot be written to the cache folder.
    #[error(
        "{}: cannot write the thumbnail ({source}); check that the folder is writable \
         and has free space",
        .path.display()
    )]
    WriteCache {
        /// File or folder that was written.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The JPEG encoder failed.
    #[error("{}: cannot encode the thumbnail as JPEG ({message})", .path.display())]
    Encode {
        /// Source image.
        path: PathBuf,
        /// Message from the encoder.
        message: String,
    },
    /// `max_edge` is 0.
    #[error("invalid thumbnail size 0; max_edge must be at least 1 pixel")]
    ZeroMaxEdge,
}

/// Returns a thumbnail of `src` whose long edge is `max_edge` pixels, or the
/// source size if that is smaller, because thumbnails are never upscaled.
///
/// A cached file for the same source path, size, modification time and
/// `max_edge` is returned without decoding. Otherwise the image is decoded
/// with [`segue_render::load_image`], resized and written to `cache_dir`
/// (created if missing) through a temporary file and a rename, so concurrent
/// calls for one image are safe. Blocks for the decode, so async callers run
/// it on a blocking thread.
pub fn thumbnail(src: &Path, cache_dir: &Path, max_edge: u32) -> Result<Thumb, ThumbError> {
    if max_edge == 0 {
        return Err(ThumbError::ZeroMaxEdge);
    }
    let file_name = cache_file_name(src, max_edge)
        .map_err(|source| ThumbError::ReadSource { path: src.to_path_buf(), source })?;
    let path = cache_dir.join(&file_name);

    if let Some(sizes) = read_cached_sizes(&path) {
        return Ok(sizes.into_thumb(file_name, path));
    }

    // The caller's path, not the canonical one, goes to the decoder so that
    // errors name the file as the caller knows it.
    let image = segue_render::load_image(src)?;
    let (thumb_width, thumb_height) = fit_within(image.dimensions(), max_edge);
    let small = image::imageops::thumbnail(&image, thumb_width, thumb_height);
    let sizes = Sizes {
        width: thumb_width,
        height: thumb_height,
        source_width: image.width(),
        source_height: image.height(),
    };
    drop(image);

    let bytes = encode_jpeg(&small, &sizes)
        .map_err(|message| ThumbError::Encode { path: src.to_path_buf(), message })?;
    fs::create_dir_all(cache_dir)
        .map_err(|source| ThumbError::WriteCache { path: cache_dir.to_path_buf(), source })?;
    write_atomic(&path, &bytes)
        .map_err(|source| ThumbError::WriteCache { path: path.clone(), source })?;
    Ok(sizes.into_thumb(file_name, path))
}

/// Returns the file name of `src`'s thumbnail if [`thumbnail`] has already
/// written it to `cache_dir`, and `None` otherwise. Costs a `stat` of the
/// source and of the cache file, so it suits code that must not decode, such
/// as building a list of rows.
pub fn cached_thumbnail(src: &Path, cache_dir: &Path, max_edge: u32) -> Option<String> {
    let file_name = cache_file_name(src, max_edge).ok()?;
    cache_dir.join(&file_name).is_file().then_some(file_name)
}

/// Returns the cache file name of `src` at `max_edge`, from the source's
/// canonical path, size and modification time.
fn cache_file_name(src: &Path, max_edge: u32) -> std::io::Result<String> {
    let canonical = fs::canonicalize(src)?;
    let metadata = fs::metadata(&canonical)?;
    let key = cache_key(&canonical, metadata.len(), metadata.modified()?, max_edge);
    Ok(format!("{key}.jpg"))
}

/// Returns the first [`KEY_HEX_DIGITS`] hex digits of a SHA-256 over the
/// canonical path, file size, modification time in nanoseconds since the
/// Unix epoch and `max_edge`. The path is length-prefixed so that no two
/// inputs hash the same bytes.
fn cache_key(canonical: &Path, size: u64, modified: SystemTime, max_edge: u32) -> String {
    let path_bytes = canonical.as_os_str().as_encoded_bytes();
    let modified_nanos: i128 = match modified.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_nanos() as i128,
        Err(before) => -(before.duration().as_nanos() as i128),
    };
    let mut hasher = Sha256::new();
    hasher.update(KEY_VERSION);
    hasher.update((path_bytes.len() as u64).to_le_bytes());
    hasher.update(path_bytes);
    hasher.update(size.to_le_bytes());
    hasher.update(modified_nanos.to_le_bytes());
    hasher.update(max_edge.to_le_bytes());
    let digest = hasher.finalize();
    hex(&digest[..KEY_HEX_DIGITS / 2])
}

/// Scales `(width, height)` so that the long edge is `max_edge`, keeping the
/// aspect ratio to the nearest pixel. Sizes already within `max_edge` are
/// returned unchanged.
fn fit_within((width, height): (u32, u32), max_edge: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= max_edge {
        return (width, height);
    }
    let scale = |side: u32| {
        let scaled =
            (u64::from(side) * u64::from(max_edge) + u64::from(long) / 2) / u64::from(long);
        (scaled as u32).max(1)
    };
    if width >= height { (max_edge, scale(height)) } else { (scale(width), max_edge) }
}

/// Thumbnail and source sizes, as stored in a cache file's comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sizes {
    width: u32,
    height: u32,
    source_width: u32,
    source_height: u32,
}

impl Sizes {
    fn into_thumb(self, file_name: String, path: PathBuf) -> Thumb {
        Thumb {
            file_name,
            path,
            width: self.width,
            height: self.height,
            source_width: self.source_width,
            source_height: self.source_height,
        }
    }

    fn to_comment(self) -> String {
        format!(
            "{COMMENT_PREFIX}source={}x{} thumb={}x{}",
            self.source_width, self.source_height, self.width, self.height
        )
    }

    fn from_comment(comment: &str) -> Option<Sizes> {
        let rest = comment.strip_prefix(COMMENT_PREFIX)?;
        let (source, thumb) = rest.split_once(' ')?;
        let (source_width, source_height) = parse_size(source.strip_prefix("source=")?)?;
        let (width, height) = parse_size(thumb.strip_prefix("thumb=")?)?;
        Some(Sizes { width, height, source_width, source_height })
    }
}

fn parse_size(text: &str) -> Option<(u32, u32)> {
    let (width, height) = text.split_once('x')?;
    Some((width.parse().ok()?, height.parse().ok()?))
}

/// Encodes `image` as JPEG and inserts the sizes as a COM segment.
fn encode_jpeg(image: &RgbImage, sizes: &Sizes) -> Result<Vec<u8>, String> {
    let mut encoded = Vec::new();
    JpegEncoder::new_with_quality(&mut encoded, JPEG_QUALITY)
        .encode_image(image)
        .map_err(|error| error.to_string())?;
    insert_comment(&encoded, &sizes.to_comment())
}

/// Returns `jpeg` with a COM segment holding `comment` after SOI and, if
/// present, the JFIF APP0 segment, which JFIF requires to come first.
fn insert_comment(jpeg: &[u8], comment: &str) -> Result<Vec<u8>, String> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return Err("the encoder output does not start with a JPEG SOI marker".to_owned());
    }
    let mut at = 2;
    if jpeg.get(2..4) == Some(&[0xFF, 0xE0]) {
        let length =
            jpeg.get(4..6).map(|bytes| usize::from(u16::from_be_bytes([bytes[0], bytes[1]])));
        at = 4 + length.ok_or("the encoder output ends inside its APP0 segment")?;
    }
    let segment_length = u16::try_from(comment.len() + 2).map_err(|_| "the comment is too long")?;
    let mut output = Vec::with_capacity(jpeg.len() + comment.len() + 4);
    output.extend_from_slice(&jpeg[..at]);
    output.extend_from_slice(&[0xFF, 0xFE]);
    output.extend_from_slice(&segment_length.to_be_bytes());
    output.extend_from_slice(comment.as_bytes());
    output.extend_from_slice(&jpeg[at..]);
    Ok(output)
}

/// Reads the sizes from the comment of an existing cache file. Returns `None`
/// if the file is missing or has no valid comment, and the caller then
/// writes the file again.
fn read_cached_sizes(path: &Path) -> Option<Sizes> {
    let mut header = Vec::new();
    File::open(path).ok()?.take(HEADER_READ_BYTES).read_to_end(&mut header).ok()?;
    let sizes = jpeg_comments(&header).into_iter().find_map(Sizes::from_comment);
    if sizes.is_none() {
        tracing::warn!(path = %path.display(), "thumbnail cache file has no size comment; writing it again");
    }
    sizes
}

/// Returns the text of the COM segments before the first SOS marker in
/// `bytes`, which may be only the start of a file. Segments that are not
/// UTF-8 are skipped.
fn jpeg_comments(bytes: &[u8]) -> Vec<&str> {
    let mut comments = Vec::new();
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return comments;
    }
    let mut at = 2;
    while let Some(&[0xFF, marker, high, low]) = bytes.get(at..at + 4) {
        // SOS starts the entropy-coded data, and EOI ends the file.
        if marker == 0xDA || marker == 0xD9 {
            break;
        }
        // The length counts its own two bytes, so a valid one is at least 2.
        let length = usize::from(u16::from_be_bytes([high, low]));
        if length < 2 {
            break;
        }
        if marker == 0xFE {
            let Some(payload) = bytes.get(at + 4..at + 2 + length) else { break };
            if let Ok(text) = std::str::from_utf8(payload) {
                comments.push(text);
            }
        }
        at += 2 + length;
    }
    comments
}

/// Writes `bytes` to a uniquely named temporary file next to `path` and
/// renames it over `path`, so readers see either no file or the whole file.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let file_name = path.file_name().and_then(|name| name.to_str()).unwrap_or("thumb");
    let temp = path.with_file_name(format!(".{file_name}.{:016x}.tmp", rand::random::<u64>()));
    let written = File::create_new(&temp).and_then(|mut file| file.write_all(bytes));
    if let Err(error) = written {
        let _ = fs::remove_file(&temp);
        return Err(error);
    }
    match fs::rename(&temp, path) {
        Ok(()) => Ok(()),
        // On Windows a rename over a file that another process has open
        // fails. The file there was written by a concurrent call for the
        // same key, so it has the same content.
        Err(_) if path.is_file() => {
            let _ = fs::remove_file(&temp);
            Ok(())
        }
        Err(error) => {
            let _ = fs::remove_file(&temp);
            Err(error)
        }
    }
}

/// Outcome of [`prune`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Thumbnails and stale temporary files deleted.
    pub removed_files: u64,
    /// Bytes in the deleted files.
    pub removed_bytes: u64,
    /// Bytes in the thumbnails that remain.
    pub kept_bytes: u64,
}

/// Deletes the least recently modified thumbnails in `cache_dir` until the
/// rest take at most `max_bytes`, and deletes temporary files left by
/// interrupted writes once they are an hour old.
///
/// Only files named like [`thumbnail`]'s output (32 hex digits and `.jpg`)
/// and its temporary files are touched. A missing folder counts as empty.
/// Files that fail to delete are logged and skipped. A cache hit does not
/// change a file's modification time, so a thumbnail's age is the time since
/// it was written.
pub fn prune(cache_dir: &Path, max_bytes: u64) -> std::io::Result<Pruned> {
    let entries = match fs::read_dir(cache_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Pruned::default()),
        Err(error) => return Err(error),
    };
    let now = SystemTime::now();
    let mut pruned = Pruned::default();
    let mut thumbs = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Ok(metadata) = entry.metadata() else { continue };
        if !metadata.is_file() {
            continue;
        }
        let modified = metadata.modified().unwrap_or(UNIX_EPOCH);
        if is_thumb_name(name) {
            thumbs.push((modified, metadata.len(), entry.path()));
        } else if is_temp_name(name) {
            let age = now.duration_since(modified).unwrap_or(Duration::ZERO);
            if age >= STALE_TEMP_AGE && remove(&entry.path()) {
                pruned.removed_files += 1;
                pruned.removed_bytes += metadata.len();
            }
        }
    }

    // Newest first, so the budget keeps the most recent thumbnails.
    thumbs.sort_by_key(|(modified, _, _)| std::cmp::Reverse(*modified));
    for (_, size, path) in thumbs {
        if pruned.kept_bytes + size <= max_bytes {
            pruned.kept_bytes += size;
        } else if remove(&path) {
            pruned.removed_files += 1;
            pruned.removed_bytes += size;
        } else {
            pruned.kept_bytes += size;
        }
    }
    if pruned.removed_files > 0 {
        tracing::debug!(
            dir = %cache_dir.display(),
            removed_files = pruned.removed_files,
            removed_bytes = pruned.removed_bytes,
            kept_bytes = pruned.kept_bytes,
            "pruned the thumbnail cache"
        );
    }
    Ok(pruned)
}

/// Deletes a file and returns whether it is gone. A file that another call
/// already deleted counts as deleted.
fn remove(path: &Path) -> bool {
    match fs::remove_file(path) {
        Ok(()) => true,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => true,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot delete a cached thumbnail");
            false
        }
    }
}

/// Returns whether `name` is a [`thumbnail`] output name.
fn is_thumb_name(name: &str) -> bool {
    name.strip_suffix(".jpg").is_some_and(|stem| {
        stem.len() == KEY_HEX_DIGITS
            && stem.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Returns whether `name` is a temporary file of [`write_atomic`] for a
/// thumbnail.
fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.').and_then(|rest| rest.strip_suffix(".tmp")) else {
        return false;
    };
    rest.rsplit_once('.').is_some_and(|(thumb, _random)| is_thumb_name(thumb))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use image::imageops::FilterType;

    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/images").join(name)
    }

    /// Copies a fixture into `dir` so that a test can change it.
    fn copy_fixture(name: &str, dir: &Path) -> PathBuf {
        let path = dir.join(name);
        fs::copy(fixture(name), &path).unwrap();
        path
    }

    /// Mean absolute difference per RGB channel, on a 0-255 scale.
    fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
        assert_eq!(a.dimensions(), b.dimensions());
        let total: u64 =
            a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
        total as f64 / a.as_raw().len() as f64
    }

    fn decode(path: &Path) -> RgbImage {
        image::open(path).unwrap().into_rgb8()
    }

    fn modified(path: &Path) -> SystemTime {
        fs::metadata(path).unwrap().modified().unwrap()
    }

    #[test]
    fn exif_rotated_thumb_is_portrait() {
        let cache = tempfile::tempdir().unwrap();
        let src = fixture("exif-orientation-6.jpg");
        let (stored_width, stored_height) = image::image_dimensions(&src).unwrap();
        assert!(stored_width > stored_height, "the stored pixels of the fixture are landscape");

        let thumb = thumbnail(&src, cache.path(), 256).unwrap();
        assert!(thumb.width < thumb.height, "thumbnail is {}x{}", thumb.width, thumb.height);
        assert_eq!((thumb.width, thumb.height), (171, 256));
        assert_eq!((thumb.source_width, thumb.source_height), (stored_height, stored_width));
        let written = decode(&thumb.path);
        assert_eq!(written.dimensions(), (thumb.width, thumb.height));
    }

    #[test]
    fn thumb_long_edge_equals_max_edge() {
        let cache = tempfile::tempdir().unwrap();
        let cases = [
            ("01-dandelions-1920x1080.jpg", 320, (320, 180)),
            ("02-interior-portrait-1280x1920.jpg", 300, (200, 300)),
            ("07-fig-odd-height-1920x1299.jpg", 400, (400, 271)),
            ("08-sunset-square-1440x1440.jpg", 100, (100, 100)),
        ];
        for (name, max_edge, size) in cases {
            let thumb = thumbnail(&fixture(name), cache.path(), max_edge).unwrap();
            assert_eq!((thumb.width, thumb.height), size, "{name}");
            assert_eq!(thumb.width.max(thumb.height), max_edge, "{name}");
            assert_eq!(decode(&thumb.path).dimensions(), size, "{name}");
        }
    }

    #[test]
    fn small_source_is_not_upscaled() {
        let cache = tempfile::tempdir().unwrap();
        let thumb = thumbnail(&fixture("03-astronaut-512x512.jpg"), cache.path(), 1024).unwrap();
        assert_eq!((thumb.width, thumb.height), (512, 512));
        assert_eq!((thumb.source_width, thumb.source_height), (512, 512));
    }

    #[test]
    fn thumb_resembles_upright_downscale() {
        let cache = tempfile::tempdir().unwrap();
        let thumb = thumbnail(&fixture("exif-orientation-6.jpg"), cache.path(), 256).unwrap();
        let pixels = decode(&thumb.path);

        // `02` is the photo that the EXIF fixture stores turned sideways.
        let upright = decode(&fixture("02-interior-portrait-1280x1920.jpg"));
        let expected =
            image::imageops::resize(&upright, thumb.width, thumb.height, FilterType::Triangle);
        let difference = mean_abs_diff(&pixels, &expected);
        assert!(difference < 5.0, "MAD against the upright photo is {difference:.2}");

        let upside_down = image::imageops::rotate180(&expected);
        let wrong = mean_abs_diff(&pixels, &upside_down);
        assert!(wrong > 3.0 * difference, "MAD {wrong:.2} upside down, {difference:.2} upright");
    }

    #[test]
    fn cmyk_thumb_resembles_rgb_photo() {
        let cache = tempfile::tempdir().unwrap();
        let thumb = thumbnail(&fixture("cmyk.jpg"), cache.path(), 300).unwrap();
        assert_eq!((thumb.width, thumb.height), (300, 200));
        let rgb = decode(&fixture("04-coffee-600x400.jpg"));
        let expected = image::imageops::resize(&rgb, 300, 200, FilterType::Triangle);
        let difference = mean_abs_diff(&decode(&thumb.path), &expected);
        assert!(difference < 6.0, "MAD against the RGB photo is {difference:.2}");
    }

    #[test]
    fn cache_hit_keeps_file() {
        let cache = tempfile::tempdir().unwrap();
        let src = fixture("05-mountains-1600x1200.jpg");
        let first = thumbnail(&src, cache.path(), 200).unwrap();
        let written = modified(&first.path);
        let bytes = fs::read(&first.path).unwrap();
        std::thread::sleep(Duration::from_millis(20));

        let second = thumbnail(&src, cache.path(), 200).unwrap();
        assert_eq!(second, first);
        assert_eq!(modified(&second.path), written, "the cache hit rewrote the file");
        assert!(fs::read(&second.path).unwrap() == bytes, "the cached bytes changed");
        assert!(
            first.file_name.len() == 36 && is_thumb_name(&first.file_name),
            "{}",
            first.file_name
        );
    }

    #[test]
    fn cached_thumbnail_finds_written_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let src = fixture("04-coffee-600x400.jpg");
        assert_eq!(cached_thumbnail(&src, &cache, 128), None);
        let thumb = thumbnail(&src, &cache, 128).unwrap();
        assert_eq!(cached_thumbnail(&src, &cache, 128), Some(thumb.file_name));
        assert_eq!(cached_thumbnail(&src, &cache, 64), None, "another size is another file");
        assert_eq!(cached_thumbnail(&dir.path().join("gone.jpg"), &cache, 128), None);
    }

    #[test]
    fn cache_hit_skips_decoding() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let src = copy_fixture("04-coffee-600x400.jpg", dir.path());
        let first = thumbnail(&src, &cache, 128).unwrap();

        // Garbage of the same size and modification time keeps the cache
        // key, and decoding it would fail.
        let stamp = modified(&src);
        let size = fs::metadata(&src).unwrap().len();
        fs::write(&src, vec![b'x'; size as usize]).unwrap();
        File::options().write(true).open(&src).unwrap().set_modified(stamp).unwrap();
        assert!(segue_render::load_image(&src).is_err());

        let second = thumbnail(&src, &cache, 128).unwrap();
        assert_eq!(second, first);
    }

    #[test]
    fn changed_source_gets_new_name() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let src = copy_fixture("04-coffee-600x400.jpg", dir.path());
        let original = thumbnail(&src, &cache, 128).unwrap();

        let other_size = thumbnail(&src, &cache, 129).unwrap();
        assert_ne!(other_size.file_name, original.file_name, "max_edge is part of the key");

        let stamp = modified(&src);
        File::options()
            .write(true)
            .open(&src)
            .unwrap()
            .set_modified(stamp + Duration::from_secs(5))
            .unwrap();
        let touched = thumbnail(&src, &cache, 128).unwrap();
        assert_ne!(
            touched.file_name, original.file_name,
            "the modification time is part of the key"
        );

        fs::copy(fixture("03-astronaut-512x512.jpg"), &src).unwrap();
        let replaced = thumbnail(&src, &cache, 128).unwrap();
        assert_ne!(replaced.file_name, original.file_name);
        assert_ne!(replaced.file_name, touched.file_name);
        assert_eq!((replaced.width, replaced.height), (128, 128));
        assert_eq!((replaced.source_width, replaced.source_height), (512, 512));
    }

    #[test]
    fn bad_files_name_the_file() {
        let cache = tempfile::tempdir().unwrap();
        let cases = [
            ("truncated.jpg", "truncated"),
            ("empty.jpg", "empty"),
            ("not-an-image.jpg", "not an image"),
        ];
        for (name, words) in cases {
            let error = thumbnail(&fixture(name), cache.path(), 256).unwrap_err();
            assert!(matches!(error, ThumbError::Image(_)), "{name}: {error:?}");
            let message = error.to_string();
            assert!(message.contains(name), "{name}: {message}");
            assert!(message.contains(words), "{name}: {message}");
        }
        let leftovers = fs::read_dir(cache.path()).unwrap().count();
        assert_eq!(leftovers, 0, "failed thumbnails left files in the cache");
    }

    #[test]
    fn missing_source_names_the_file() {
        let cache = tempfile::tempdir().unwrap();
        let src = cache.path().join("gone.jpg");
        let error = thumbnail(&src, cache.path(), 256).unwrap_err();
        assert!(matches!(error, ThumbError::ReadSource { .. }), "{error:?}");
        assert!(error.to_string().contains("gone.jpg"), "{error}");
    }

    #[test]
    fn zero_max_edge_is_rejected() {
        let cache = tempfile::tempdir().unwrap();
        let error = thumbnail(&fixture("04-coffee-600x400.jpg"), cache.path(), 0).unwrap_err();
        assert!(matches!(error, ThumbError::ZeroMaxEdge), "{error:?}");
    }

    #[test]
    fn non_ascii_name_works() {
        let cache = tempfile::tempdir().unwrap();
        let thumb = thumbnail(&fixture("café crème d'été 写真.jpg"), cache.path(), 150).unwrap();
        assert_eq!((thumb.width, thumb.height), (150, 100));
        assert_eq!((thumb.source_width, thumb.source_height), (600, 400));
        assert!(is_thumb_name(&thumb.file_name), "{}", thumb.file_name);
        assert_eq!(decode(&thumb.path).dimensions(), (150, 100));
    }

    #[test]
    fn concurrent_requests_share_one_file() {
        let cache = tempfile::tempdir().unwrap();
        let cache_dir = Arc::new(cache.path().to_path_buf());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let cache_dir = Arc::clone(&cache_dir);
                std::thread::spawn(move || {
                    thumbnail(&fixture("06-storm-road-1920x1280.jpg"), &cache_dir, 240).unwrap()
                })
            })
            .collect();
        let thumbs: Vec<Thumb> = handles.into_iter().map(|handle| handle.join().unwrap()).collect();
        assert!(thumbs.iter().all(|thumb| *thumb == thumbs[0]), "{thumbs:?}");
        let names: Vec<String> = fs::read_dir(cache.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [thumbs[0].file_name.clone()], "temporary files were left behind");
        assert_eq!(decode(&thumbs[0].path).dimensions(), (240, 160));
    }

    #[test]
    fn comment_round_trips_through_jpeg() {
        let sizes = Sizes { width: 171, height: 256, source_width: 1280, source_height: 1920 };
        let image = RgbImage::from_pixel(171, 256, image::Rgb([10, 20, 30]));
        let bytes = encode_jpeg(&image, &sizes).unwrap();
        let comments = jpeg_comments(&bytes);
        assert_eq!(comments, [sizes.to_comment().as_str()]);
        assert_eq!(Sizes::from_comment(comments[0]), Some(sizes));
        let decoded = image::load_from_memory(&bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (171, 256));
    }

    #[test]
    fn cache_file_without_comment_is_rewritten() {
        let cache = tempfile::tempdir().unwrap();
        let src = fixture("04-coffee-600x400.jpg");
        let first = thumbnail(&src, cache.path(), 64).unwrap();
        fs::write(&first.path, b"damaged").unwrap();
        let second = thumbnail(&src, cache.path(), 64).unwrap();
        assert_eq!(second, first);
        assert_eq!(decode(&second.path).dimensions(), (64, 43));
    }

    #[test]
    fn prune_deletes_oldest_beyond_budget() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let names = [
            "01-dandelions-1920x1080.jpg",
            "05-mountains-1600x1200.jpg",
            "08-sunset-square-1440x1440.jpg",
        ];
        let base = SystemTime::now() - Duration::from_secs(600);
        let mut thumbs = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let thumb = thumbnail(&fixture(name), &cache, 200).unwrap();
            // Oldest first: the first thumbnail is 600 s old, the last 400 s.
            let stamp = base + Duration::from_secs(100 * i as u64);
            File::options().write(true).open(&thumb.path).unwrap().set_modified(stamp).unwrap();
            thumbs.push(thumb);
        }
        let sizes: Vec<u64> =
            thumbs.iter().map(|thumb| fs::metadata(&thumb.path).unwrap().len()).collect();
        let unrelated = cache.join("settings.json");
        fs::write(&unrelated, vec![0u8; 100_000]).unwrap();
        let stale_temp = cache.join(format!(".{}.00000000000000aa.tmp", thumbs[0].file_name));
        fs::write(&stale_temp, b"partial").unwrap();
        let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
        File::options().write(true).open(&stale_temp).unwrap().set_modified(two_hours_ago).unwrap();
        let fresh_temp = cache.join(format!(".{}.00000000000000bb.tmp", thumbs[1].file_name));
        fs::write(&fresh_temp, b"in progress").unwrap();

        let budget = sizes[1] + sizes[2];
        let pruned = prune(&cache, budget).unwrap();
        assert!(!thumbs[0].path.exists(), "the oldest thumbnail survived");
        assert!(thumbs[1].path.exists());
        assert!(thumbs[2].path.exists());
        assert!(unrelated.exists(), "prune deleted a file it did not write");
        assert!(!stale_temp.exists(), "the stale temporary file survived");
        assert!(fresh_temp.exists(), "prune deleted a temporary file still being written");
        assert_eq!(pruned.removed_files, 2);
        assert_eq!(pruned.removed_bytes, sizes[0] + 7);
        assert_eq!(pruned.kept_bytes, budget);

        let all_gone = prune(&cache, 0).unwrap();
        assert_eq!(all_gone.kept_bytes, 0);
        assert!(!thumbs[2].path.exists());
        assert!(unrelated.exists());
    }

    #[test]
    fn prune_missing_folder_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let pruned = prune(&dir.path().join("none"), 0).unwrap();
        assert_eq!(pruned, Pruned::default());
    }

    #[test]
    fn fit_within_rounds_and_clamps() {
        assert_eq!(fit_within((1920, 1080), 320), (320, 180));
        assert_eq!(fit_within((1280, 1920), 256), (171, 256));
        assert_eq!(fit_within((10_000, 10), 100), (100, 1));
        assert_eq!(fit_within((50, 40), 100), (50, 40));
    }
}
