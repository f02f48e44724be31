//! Times Segue's H.264 encoder and MP4 muxer alone, on frames drawn once.
//!
//! ```text
//! encode_only render FRONT TAIL [--resolution 1080p] [--kind calm] --out-dir DIR [--yuv FILE]
//! encode_only encode FILE --size WIDTHxHEIGHT [--fps 30] --out CLIP.mp4
//! ```
//!
//! `render` fits both photos to the 16:9 frame as `segue generate` does and
//! writes them to `DIR/front.png` and `DIR/tail.png`. With `--yuv` it also
//! draws every frame of the 5 s, 30 fps clip, converts it to BT.709 YUV 4:2:0
//! and appends it to FILE as raw I420, the layout ffmpeg reads with
//! `-f rawvideo -pix_fmt yuv420p`.
//!
//! `encode` reads such a file into memory, then encodes and muxes every frame
//! with the settings `segue generate` uses. Only the encoding and muxing are
//! timed. Both commands print one JSON object.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use segue_render::{
    Mp4Writer, OutputSettings, Resolution, Timeline, TransitionKind, Yuv420, canvas_size, conform,
    load_image,
};

const USAGE: &str = "usage:
  encode_only render FRONT TAIL [--resolution 1080p] [--kind calm] --out-dir DIR [--yuv FILE]
  encode_only encode FILE --size WIDTHxHEIGHT [--fps 30] --out CLIP.mp4";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("render") => render(&args[1..]),
        Some("encode") => encode(&args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

/// Positional arguments and `--name value` options of one command.
struct Args {
    positional: Vec<String>,
    options: Vec<(String, String)>,
}

impl Args {
    fn parse(args: &[String]) -> Result<Args, String> {
        let mut parsed = Args { positional: Vec::new(), options: Vec::new() };
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            if let Some(name) = arg.strip_prefix("--") {
                let value =
                    iter.next().ok_or_else(|| format!("--{name} needs a value\n{USAGE}"))?;
                parsed.options.push((name.to_string(), value.clone()));
            } else {
                parsed.positional.push(arg.clone());
            }
        }
        Ok(parsed)
    }

    fn option(&self, name: &str) -> Option<&str> {
        self.options.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, String> {
        self.option(name).ok_or_else(|| format!("--{name} is required\n{USAGE}"))
    }
}

fn render(args: &[String]) -> Result<String, String> {
    let args = Args::parse(args)?;
    let [front, tail] = args.positional.as_slice() else {
        return Err(format!("render takes FRONT and TAIL\n{USAGE}"));
    };
    let resolution: Resolution =
        args.option("resolution").unwrap_or("1080p").parse().map_err(|e| format!("{e}"))?;
    let kind: TransitionKind =
        args.option("kind").unwrap_or("calm").parse().map_err(|e| format!("{e}"))?;
    let out_dir = PathBuf::from(args.required("out-dir")?);
    let settings = OutputSettings { resolution, ..OutputSettings::default() };

    let started = Instant::now();
    let front = load_image(Path::new(front)).map_err(|e| e.to_string())?;
    let tail = load_image(Path::new(tail)).map_err(|e| e.to_string())?;
    let canvas = canvas_size(&settings, front.dimensions());
    let front = conform(&front, canvas, settings.fit);
    let tail = conform(&tail, canvas, settings.fit);
    let load_s = started.elapsed().as_secs_f64();

    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    for (image, name) in [(&front, "front.png"), (&tail, "tail.png")] {
        let path = out_dir.join(name);
        image.save(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }

    let frames = settings.frame_count();
    let (mut draw_s, mut convert_s) = (0.0, 0.0);
    if let Some(yuv_path) = args.option("yuv") {
        let timeline = Timeline::new(front, tail, kind, frames);
        let io_error = |e: std::io::Error| format!("{yuv_path}: {e}");
        let mut file = BufWriter::new(File::create(yuv_path).map_err(io_error)?);
        let mut rgb = vec![0; canvas.0 as usize * canvas.1 as usize * 3];
        let mut yuv = Yuv420::new(canvas.0 as usize, canvas.1 as usize);
        for index in 0..frames {
            let started = Instant::now();
            timeline.frame_into(index, &mut rgb);
            let drawn = Instant::now();
            yuv.fill_from_rgb(&rgb);
            draw_s += (drawn - started).as_secs_f64();
            convert_s += drawn.elapsed().as_secs_f64();
            yuv.write_i420(&mut file).map_err(io_error)?;
        }
        file.flush().map_err(io_error)?;
    }
    let report = serde_json::json!({
        "width": canvas.0, "height": canvas.1, "frames": frames,
        "load_s": load_s, "draw_s": draw_s, "convert_s": convert_s,
    });
    Ok(report.to_string())
}

fn encode(args: &[String]) -> Result<String, String> {
    let args = Args::parse(args)?;
    let [input] = args.positional.as_slice() else {
        return Err(format!("encode takes one raw YUV file\n{USAGE}"));
    };
    let size = args.required("size")?;
    let (width, height) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .ok_or_else(|| format!("--size {size} is not WIDTHxHEIGHT"))?;
    let fps: u32 = args.option("fps").unwrap_or("30").parse().map_err(|e| format!("--fps: {e}"))?;
    let out = PathBuf::from(args.required("out")?);

    let mut raw = Vec::new();
    File::open(input)
        .and_then(|mut file| file.read_to_end(&mut raw))
        .map_err(|e| format!("{input}: {e}"))?;
    let frame_len = Yuv420::i420_len(width as usize, height as usize);
    if raw.is_empty() || raw.len() % frame_len != 0 {
        return Err(format!(
            "{input}: {} bytes is not a whole number of {width}x{height} I420 frames",
            raw.len()
        ));
    }
    let frames: Vec<Yuv420> = raw
        .chunks_exact(frame_len)
        .map(|frame| Yuv420::from_i420(width as usize, height as usize, frame))
        .collect();
    drop(raw);

    let started = Instant::now();
    let mut writer = Mp4Writer::create(&out, width, height, fps).map_err(|e| format!("{e}"))?;
    for frame in &frames {
        writer.write_frame(frame).map_err(|e| format!("{e}"))?;
    }
    let bytes = writer.finish().map_err(|e| format!("{e}"))?;
    let encode_s = started.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "width": width, "height": height, "frames": frames.len(),
        "encode_s": encode_s, "bytes": bytes,
    });
    Ok(report.to_string())
}
