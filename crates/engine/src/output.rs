//! Output files: unique names, temporary paths, verification and the atomic
//! move into the output folder.
//!
//! A clip is written under `<data dir>/tmp/`, checked (it parses as an MP4
//! with one H.264 video track), hashed, and then renamed into the output
//! folder, so the output folder never contains a partial clip. When the two
//! folders are on different file systems the file is copied next to its
//! final name under a hidden `.part` name first and renamed from there.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::job::JobId;
use crate::store::OutputInfo;
pub use crate::template::validate_template;

/// Maximum length of a file stem built from a transition name, in characters.
const MAX_STEM_CHARS: usize = 120;

/// Turns a transition name into a file stem. Path separators, control
/// characters and characters Windows forbids become `_`. Letters of any
/// script, spaces and other punctuation stay as they are.
pub fn file_stem(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_control() || r#"/\:*?"<>|"#.contains(c) { '_' } else { c })
        .take(MAX_STEM_CHARS)
        .collect();
    let trimmed = cleaned.trim().trim_matches('.');
    if trimmed.is_empty() { "transition".to_string() } else { trimmed.to_string() }
}

/// Returns `dir/stem.mp4`, or `dir/stem-2.mp4`, `-3`, ... so that the path
/// names no existing file and `is_taken` accepts it.
pub fn unique_path(dir: &Path, stem: &str, mut is_taken: impl FnMut(&Path) -> bool) -> PathBuf {
    let mut candidate = dir.join(format!("{stem}.mp4"));
    let mut n = 2;
    while candidate.exists() || is_taken(&candidate) {
        candidate = dir.join(format!("{stem}-{n}.mp4"));
        n += 1;
    }
    candidate
}

/// Returns the temporary path an attempt writes to.
pub fn temp_path(data_dir: &Path, id: JobId, attempt: u32) -> PathBuf {
    data_dir.join("tmp").join(format!("{id}-{attempt}.mp4"))
}

/// Facts read back from a finished MP4.
#[derive(Clone, Debug, PartialEq)]
pub struct Mp4Facts {
    /// Duration of the video track in seconds.
    pub duration_s: f64,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Number of video samples (frames).
    pub frames: u32,
}

/// A file that is not a playable clip.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}", path = path.display())]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The checked clip could not be moved to its final path.
    #[error("cannot move the finished clip to {path}: {source}; check that the folder exists and is writable", path = path.display())]
    Move {
        /// Final path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The file is not a valid MP4 with an H.264 video track.
    #[error("{path} is not a valid MP4 clip: {reason}", path = path.display())]
    Invalid {
        /// File.
        path: PathBuf,
        /// Description of the problem.
        reason: String,
    },
}

/// Parses `path` as an MP4 and returns its video track's facts.
pub fn verify_mp4(path: &Path) -> Result<Mp4Facts, VerifyError> {
    let invalid = |reason: String| VerifyError::Invalid { path: path.to_path_buf(), reason };
    let mut file =
        File::open(path).map_err(|source| VerifyError::Io { path: path.to_path_buf(), source })?;
    let context = mp4parse::read_mp4(&mut file).map_err(|err| invalid(format!("{err:?}")))?;
    let track = context
        .tracks
        .iter()
        .find(|track| track.track_type == mp4parse::TrackType::Video)
        .ok_or_else(|| invalid("no video track".to_string()))?;
    let is_h264 = track.stsd.as_ref().is_some_and(|stsd| {
        stsd.descriptions.iter().any(|entry| {
            matches!(entry, mp4parse::SampleEntry::Video(video) if video.codec_type == mp4parse::CodecType::H264)
        })
    });
    if !is_h264 {
        return Err(invalid("the video track is not H.264".to_string()));
    }
    let tkhd = track.tkhd.as_ref().ok_or_else(|| invalid("no track header".to_string()))?;
    let frames: u32 = track
        .stts
        .as_ref()
        .map(|stts| stts.samples.iter().map(|sample| sample.sample_count).sum())
        .unwrap_or(0);
    if frames == 0 {
        return Err(invalid("the video track has no frames".to_string()));
    }
    let timescale = track.timescale.map(|t| t.0).filter(|&t| t > 0);
    let duration = track.duration.map(|d| d.0);
    let duration_s = match (duration, timescale) {
        (Some(duration), Some(scale)) => duration as f64 / scale as f64,
        _ => return Err(invalid("the video track has no duration".to_string())),
    };
    Ok(Mp4Facts { duration_s, width: tkhd.width >> 16, height: tkhd.height >> 16, frames })
}

/// Returns the file's SHA-256 as lowercase hex and its size in bytes.
pub fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        total += read as u64;
    }
    let digest = hasher.finalize();
    let hex = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok((hex, total))
}

/// Verifies the clip at `temp`, then moves it to `target` atomically and
/// returns what is recorded in history.
pub fn finalize(temp: &Path, target: &Path) -> Result<OutputInfo, VerifyError> {
    let facts = verify_mp4(temp)?;
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| VerifyError::Io { path, source }
    };
    File::open(temp).and_then(|file| file.sync_all()).map_err(io_err(temp))?;
    let (sha256, bytes) = sha256_file(temp).map_err(io_err(temp))?;
    let move_err = |source| VerifyError::Move { path: target.to_path_buf(), source };
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(move_err)?;
    }
    move_into_place(temp, target).map_err(move_err)?;
    Ok(OutputInfo {
        path: target.to_path_buf(),
        bytes,
        duration_s: facts.duration_s,
        width: facts.width,
        height: facts.height,
        fps: f64::from(facts.frames) / facts.duration_s,
        frames: facts.frames,
        sha256,
    })
}

fn move_into_place(temp: &Path, target: &Path) -> io::Result<()> {
    match std::fs::rename(temp, target) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::CrossesDevices => {
            let name =
                target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let part = target.with_file_name(format!(".{name}.part"));
            std::fs::copy(temp, &part)?;
            File::open(&part)?.sync_all()?;
            std::fs::rename(&part, target)?;
            std::fs::remove_file(temp)
        }
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stem_keeps_unicode_and_replaces_separators() {
        assert_eq!(file_stem("café crème d'été 写真"), "café crème d'été 写真");
        assert_eq!(file_stem("a/b\\c:d"), "a_b_c_d");
        assert_eq!(file_stem("  ..  "), "transition");
    }

    #[test]
    fn unique_path_skips_existing_and_taken() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("clip.mp4"), b"x").unwrap();
        let taken = dir.path().join("clip-2.mp4");
        let path = unique_path(dir.path(), "clip", |p| p == taken);
        assert_eq!(path, dir.path().join("clip-3.mp4"));
    }

    #[test]
    fn verify_rejects_non_mp4() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.mp4");
        std::fs::write(&path, b"not a movie at all").unwrap();
        let err = verify_mp4(&path).unwrap_err().to_string();
        assert!(err.contains("bad.mp4"), "{err}");
    }

    #[test]
    fn sha256_of_known_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        let (hex, bytes) = sha256_file(&path).unwrap();
        assert_eq!(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(bytes, 3);
    }
}
