//! Helpers shared by the integration tests: fixture paths, the `segue`
//! binary, MP4 probing and frame decoding with the system ffmpeg, PSNR.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image::RgbImage;

/// Path of a file in tests/fixtures/images.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images").join(name)
}

/// Every image fixture (all files but the README, checksums and script).
pub fn all_fixture_images() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/images exists")
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            !matches!(name.as_str(), "README.md" | "SHA256SUMS" | "make_fixtures.py")
        })
        .collect();
    files.sort();
    files
}

/// Builds a `segue` command with its data folder set.
pub fn segue(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_segue"));
    command.env("SEGUE_DATA_DIR", data_dir).env_remove("SEGUE_LOG");
    command
}

/// Runs a command and returns its output, printing stderr on failure to
/// make test failures readable.
pub fn run(command: &mut Command) -> Output {
    let output = command.output().expect("command starts");
    if !output.status.success() {
        eprintln!("--- stderr ---\n{}", String::from_utf8_lossy(&output.stderr));
    }
    output
}

/// Stream facts from ffprobe.
#[derive(Debug)]
pub struct Probe {
    pub codec: String,
    pub pix_fmt: String,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub duration_s: f64,
    pub frames: u32,
    pub color_space: String,
}

/// Probes the first video stream of `path` with ffprobe.
pub fn probe(path: &Path) -> Probe {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs (install ffmpeg)");
    assert!(
        output.status.success(),
        "ffprobe failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let stream = &json["streams"][0];
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let rate = text(&stream["r_frame_rate"]);
    let (num, den) = rate.split_once('/').unwrap_or(("0", "1"));
    let fps = num.parse::<f64>().unwrap() / den.parse::<f64>().unwrap();
    let duration_s = text(&stream["duration"])
        .parse::<f64>()
        .unwrap_or_else(|_| text(&json["format"]["duration"]).parse::<f64>().unwrap());
    Probe {
        codec: text(&stream["codec_name"]),
        pix_fmt: text(&stream["pix_fmt"]),
        width: stream["width"].as_u64().unwrap() as u32,
        height: stream["height"].as_u64().unwrap() as u32,
        fps,
        duration_s,
        frames: text(&stream["nb_read_frames"]).parse().unwrap_or(0),
        color_space: text(&stream["color_space"]),
    }
}

/// Decodes frame `index` of `path` to RGB with ffmpeg, converting with the
/// BT.709 limited-range matrix the clips are tagged with.
pub fn decode_frame(path: &Path, index: u32, width: u32, height: u32) -> RgbImage {
    let filter = format!(
        "select=eq(n\\,{index}),scale=in_color_matrix=bt709:in_range=tv:out_range=pc:flags=bicubic+accurate_rnd+full_chroma_int,format=rgb24"
    );
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-vf", &filter, "-frames:v", "1", "-f", "rawvideo", "-"])
        .output()
        .expect("ffmpeg runs (install ffmpeg)");
    assert!(output.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        output.stdout.len(),
        (width * height * 3) as usize,
        "frame {index} of {} has the wrong size",
        path.display()
    );
    RgbImage::from_raw(width, height, output.stdout).unwrap()
}

/// Decodes the whole clip with ffmpeg and returns whether it reported no
/// error.
pub fn decodes_cleanly(path: &Path) -> bool {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    output.status.success() && output.stderr.is_empty()
}

/// Peak signal-to-noise ratio over all RGB samples, in dB.
pub fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let mse = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| {
            let d = f64::from(x) - f64::from(y);
            d * d
        })
        .sum::<f64>()
        / a.as_raw().len() as f64;
    if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0 * 255.0 / mse).log10() }
}

/// Loads and fits an image to the canvas with the renderer's own functions,
/// as the renderer does for the first and last frames.
pub fn fitted(path: &Path, settings: &segue_render::OutputSettings, front: &Path) -> RgbImage {
    let front_info = segue_render::probe_image(front).unwrap();
    let canvas = segue_render::canvas_size(settings, (front_info.width, front_info.height));
    let image = segue_render::load_image(path).unwrap();
    segue_render::conform(&image, canvas, settings.fit)
}

/// Files in `dir`, sorted.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// Opens the history database read-only through the engine's store.
pub async fn store(data_dir: &Path) -> segue_engine::Store {
    segue_engine::Store::open(&data_dir.join("segue.db")).await.unwrap()
}
