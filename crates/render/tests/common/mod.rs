//! Helpers shared by the integration tests: fixture paths, image
//! comparisons, and decoding MP4 files with the system ffmpeg and ffprobe.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;

use image::RgbImage;

/// Folder holding the image fixtures and their README.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/images");

/// Path of a fixture file by name.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

/// Mean absolute difference per channel, on a 0-255 scale.
pub fn mad(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "images must have the same size");
    let total: u64 =
        a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    total as f64 / a.as_raw().len() as f64
}

/// Peak signal-to-noise ratio in dB over all channels.
pub fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "images must have the same size");
    let squared: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| {
            let d = f64::from(*x) - f64::from(*y);
            d * d
        })
        .sum();
    let mse = squared / a.as_raw().len() as f64;
    if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0 * 255.0 / mse).log10() }
}

/// One stream's fields from `ffprobe -show_streams -show_format`, as
/// `key=value` lines.
pub struct Probe {
    text: String,
}

impl Probe {
    /// Value of `key`, the first time it appears.
    pub fn get(&self, key: &str) -> &str {
        let prefix = format!("{key}=");
        self.text
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("ffprobe output has no {key}:\n{}", self.text))
    }
}

/// Runs `ffprobe -v error -count_frames -show_streams -show_format` on `path`.
pub fn ffprobe(path: &Path) -> Probe {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_streams", "-show_format"])
        .arg(path)
        .output()
        .expect("ffprobe is installed");
    assert!(output.status.success(), "ffprobe failed: {}", String::from_utf8_lossy(&output.stderr));
    Probe { text: String::from_utf8(output.stdout).expect("ffprobe prints UTF-8") }
}

/// Decodes the whole file with `ffmpeg -v error -f null` and returns what
/// ffmpeg printed to stderr (empty for a clean stream).
pub fn ffmpeg_decode_errors(path: &Path) -> String {
    let output = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg is installed");
    assert!(output.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Decodes every frame to raw yuv420p with ffmpeg and converts each to RGB
/// with the BT.709 limited-range inverse, independently of the encoder's
/// own conversion.
pub fn decode_frames(path: &Path, width: u32, height: u32) -> Vec<RgbImage> {
    let output = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .output()
        .expect("ffmpeg is installed");
    assert!(output.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&output.stderr));
    let (w, h) = (width as usize, height as usize);
    let frame_len = w * h * 3 / 2;
    assert_eq!(output.stdout.len() % frame_len, 0, "raw output is whole frames");
    output.stdout.chunks_exact(frame_len).map(|frame| yuv420_to_rgb(frame, width, height)).collect()
}

/// BT.709 limited-range YUV 4:2:0 (planar, even size) to RGB, with each
/// chroma sample shared by its 2x2 block.
pub fn yuv420_to_rgb(frame: &[u8], width: u32, height: u32) -> RgbImage {
    let (w, h) = (width as usize, height as usize);
    let (luma, chroma) = frame.split_at(w * h);
    let (u_plane, v_plane) = chroma.split_at(w * h / 4);
    RgbImage::from_fn(width, height, |x, y| {
        let (x, y) = (x as usize, y as usize);
        let c = (y / 2) * (w / 2) + x / 2;
        let luma = (f64::from(luma[y * w + x]) - 16.0) * 255.0 / 219.0;
        let cb = (f64::from(u_plane[c]) - 128.0) * 255.0 / 224.0;
        let cr = (f64::from(v_plane[c]) - 128.0) * 255.0 / 224.0;
        let r = luma + 1.5748 * cr;
        let g = luma - 0.187_324 * cb - 0.468_124 * cr;
        let b = luma + 1.8556 * cb;
        let clamp = |v: f64| v.round().clamp(0.0, 255.0) as u8;
        image::Rgb([clamp(r), clamp(g), clamp(b)])
    })
}

/// Top-level MP4 box types in file order.
pub fn mp4_boxes(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).expect("the MP4 file is readable");
    let mut boxes = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        boxes.push(String::from_utf8_lossy(&bytes[pos + 4..pos + 8]).into_owned());
        if size < 8 {
            break;
        }
        pos += size;
    }
    boxes
}
