//! Times the frame preparation of one fal job: decoding both images,
//! conforming them to a 1280x720 frame (kling-2.1-pro at 720p) and encoding
//! them as JPEG at quality 92.
//!
//! ```text
//! cargo run --release -p segue-fal --example frame_encode_timing -- [ROUNDS] [FRONT TAIL]
//! ```
//!
//! Each round runs every variant once, in turn, so that load from other
//! processes falls on all of them alike. The variants are `prepare_frames`
//! in this build, the same steps with the `image` crate's JPEG encoder, and
//! each encoder alone on the conformed frames. The program prints the median
//! time per job (two frames), the encoded sizes and the PSNR of each
//! encoding against the conformed frames. The default images are the pair
//! that bench/queue_bench.py uploads.

use std::hint::black_box;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use segue_engine::job::JobSpec;
use segue_fal::{frame_size, plan, prepare_frames};
use segue_render::{Aspect, OutputSettings, Resolution, TransitionKind, conform, load_image};

const QUALITY: u8 = 92;
const DEFAULT_ROUNDS: usize = 30;

/// A JPEG encoder under test: takes a frame and returns the file bytes.
type EncodeFn = fn(&RgbImage) -> Vec<u8>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds = match args.first() {
        Some(value) => value.parse().ok().filter(|&rounds: &usize| rounds > 0),
        None => Some(DEFAULT_ROUNDS),
    }
    .expect("ROUNDS must be a positive integer");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/images");
    let (front, tail) = match (args.get(1), args.get(2)) {
        (Some(front), Some(tail)) => (PathBuf::from(front), PathBuf::from(tail)),
        _ => (fixtures.join("04-coffee-600x400.jpg"), fixtures.join("03-astronaut-512x512.jpg")),
    };
    let spec = job_spec(front, tail);
    let plan = plan(&spec).expect("kling-2.1-pro accepts a 720p 16:9 job");

    let front_image = load_image(&spec.front).expect("front image decodes");
    let tail_image = load_image(&spec.tail).expect("tail image decodes");
    let (size, _) = frame_size(&spec, &plan, front_image.dimensions());
    let frames =
        [conform(&front_image, size, spec.output.fit), conform(&tail_image, size, spec.output.fit)];
    println!("frame size {}x{}, {rounds} rounds, medians per job (two frames)", size.0, size.1);

    let encoders: [(&str, EncodeFn); 3] = [
        ("image 0.25 JpegEncoder (4:4:4)", encode_with_image),
        ("jpeg-encoder 4:4:4", |frame| encode_with_jpeg_encoder(frame, SamplingFactor::R_4_4_4)),
        ("jpeg-encoder 4:2:0", |frame| encode_with_jpeg_encoder(frame, SamplingFactor::R_4_2_0)),
    ];
    let mut prepare_new = Vec::with_capacity(rounds);
    let mut prepare_image = Vec::with_capacity(rounds);
    let mut encode_times = vec![Vec::with_capacity(rounds); encoders.len()];
    for _ in 0..rounds {
        prepare_new.push(time(|| {
            black_box(prepare_frames(&spec, &plan).expect("frames prepare"));
        }));
        prepare_image.push(time(|| {
            for path in [&spec.front, &spec.tail] {
                let image = load_image(path).expect("image decodes");
                black_box(encode_with_image(&conform(&image, size, spec.output.fit)));
            }
        }));
        for ((_, encode), times) in encoders.iter().zip(&mut encode_times) {
            times.push(time(|| {
                for frame in &frames {
                    black_box(encode(frame));
                }
            }));
        }
    }

    println!("prepare_frames in this build:         {:7.2} ms", median_ms(&mut prepare_new));
    println!("same steps, image 0.25 JpegEncoder:   {:7.2} ms", median_ms(&mut prepare_image));
    for ((name, encode), times) in encoders.iter().zip(&mut encode_times) {
        let sizes: Vec<usize> = frames.iter().map(|frame| encode(frame).len()).collect();
        let psnr: Vec<String> =
            frames.iter().map(|frame| format!("{:.2}", psnr_db(frame, &encode(frame)))).collect();
        println!(
            "encode only, {name:<31} {:7.2} ms, {} bytes, PSNR {} dB",
            median_ms(times),
            sizes.iter().map(usize::to_string).collect::<Vec<_>>().join(" + "),
            psnr.join(" / "),
        );
    }
}

fn job_spec(front: PathBuf, tail: PathBuf) -> JobSpec {
    JobSpec {
        name: "timing".into(),
        front,
        tail,
        kind: TransitionKind::Calm,
        prompt: String::new(),
        negative_prompt: String::new(),
        seed: None,
        provider: "fal".into(),
        model: "kling-2.1-pro".into(),
        output: OutputSettings {
            aspect: Aspect::Landscape16x9,
            resolution: Resolution::P720,
            duration_s: 5.0,
            ..OutputSettings::default()
        },
    }
}

fn encode_with_image(frame: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    let encoder = JpegEncoder::new_with_quality(Cursor::new(&mut bytes), QUALITY);
    frame.write_with_encoder(encoder).expect("image encodes the frame");
    bytes
}

fn encode_with_jpeg_encoder(frame: &RgbImage, sampling: SamplingFactor) -> Vec<u8> {
    let (width, height) = frame.dimensions();
    let mut bytes = Vec::new();
    let mut encoder = Encoder::new(&mut bytes, QUALITY);
    encoder.set_sampling_factor(sampling);
    let (width, height) = (width.try_into().unwrap(), height.try_into().unwrap());
    encoder.encode(frame.as_raw(), width, height, ColorType::Rgb).expect("jpeg-encoder encodes");
    bytes
}

fn time(run: impl FnOnce()) -> Duration {
    let start = Instant::now();
    run();
    start.elapsed()
}

fn median_ms(times: &mut [Duration]) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1000.0
}

/// Returns the PSNR over all RGB samples of `jpeg` decoded, against `source`.
fn psnr_db(source: &RgbImage, jpeg: &[u8]) -> f64 {
    let decoded = image::load_from_memory(jpeg).expect("JPEG decodes").to_rgb8();
    assert_eq!(decoded.dimensions(), source.dimensions());
    let squared_error: f64 = source
        .as_raw()
        .iter()
        .zip(decoded.as_raw())
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
        .sum();
    let mse = squared_error / source.as_raw().len() as f64;
    10.0 * (255.0_f64 * 255.0 / mse).log10()
}
