//! End-to-end renders checked with the system ffprobe and ffmpeg: stream
//! format, colour tags, frame count and timing, fast start, and decoded
//! frames against the conformed photos.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{decode_frames, ffmpeg_decode_errors, ffprobe, fixture, mp4_boxes, psnr};
use image::RgbImage;
use segue_render::{
    Aspect, Fit, ImageError, OutputSettings, RenderError, RenderJob, RenderOutput, Resolution,
    Threads, TransitionKind, canvas_size, conform, load_image, render,
};

fn job(front: &str, tail: &str, kind: TransitionKind, settings: OutputSettings) -> RenderJob {
    RenderJob { front: fixture(front), tail: fixture(tail), kind, settings }
}

/// 720p, 30 fps, one second: the smallest clip the settings allow.
fn short_settings() -> OutputSettings {
    OutputSettings { resolution: Resolution::P720, duration_s: 1.0, ..OutputSettings::default() }
}

fn run(job: &RenderJob, out: &Path, threads: Threads) -> RenderOutput {
    let mut reports = Vec::new();
    let output = render(job, out, threads, &AtomicBool::new(false), &mut |p| reports.push(p))
        .unwrap_or_else(|error| panic!("render failed: {error}"));
    assert_eq!(reports.len() as u32, output.frames, "one progress report per frame");
    assert_eq!(reports.last().map(|p| (p.frame, p.frames)), Some((output.frames, output.frames)));
    output
}

fn conformed(name: &str, job: &RenderJob, canvas: (u32, u32)) -> RgbImage {
    conform(&load_image(&fixture(name)).unwrap(), canvas, job.settings.fit)
}

#[test]
fn clip_probes_as_tagged_h264() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("calm.mp4");
    let job = job(
        "01-dandelions-1920x1080.jpg",
        "05-mountains-1600x1200.jpg",
        TransitionKind::Calm,
        short_settings(),
    );
    let output = run(&job, &out, Threads::Pipelined);
    assert_eq!((output.width, output.height, output.fps, output.frames), (1280, 720, 30, 30));
    assert_eq!(output.duration_s, 1.0);
    assert_eq!(output.bytes, std::fs::metadata(&out).unwrap().len());

    let probe = ffprobe(&out);
    assert_eq!(probe.get("codec_name"), "h264");
    assert_eq!(probe.get("pix_fmt"), "yuv420p");
    assert_eq!(probe.get("width"), "1280");
    assert_eq!(probe.get("height"), "720");
    assert_eq!(probe.get("color_space"), "bt709");
    assert_eq!(probe.get("color_primaries"), "bt709");
    assert_eq!(probe.get("color_transfer"), "bt709");
    assert_eq!(probe.get("color_range"), "tv");
    assert_eq!(probe.get("r_frame_rate"), "30/1");
    assert_eq!(probe.get("nb_read_frames"), "30");
    let duration: f64 = probe.get("duration").parse().unwrap();
    assert!((duration - 1.0).abs() < 1e-3, "duration {duration}");

    let boxes = mp4_boxes(&out);
    let moov = boxes.iter().position(|b| b == "moov").expect("a moov box");
    let mdat = boxes.iter().position(|b| b == "mdat").expect("an mdat box");
    assert!(moov < mdat, "fast start puts moov first: {boxes:?}");
    assert_eq!(ffmpeg_decode_errors(&out), "", "ffmpeg reports decode errors");
}

#[test]
fn every_kind_starts_and_ends_on_the_photos() {
    let dir = tempfile::tempdir().unwrap();
    let settings = OutputSettings { fps: 24, ..short_settings() };
    for (i, kind) in TransitionKind::ALL.into_iter().enumerate() {
        let job = job(
            "01-dandelions-1920x1080.jpg",
            "02-interior-portrait-1280x1920.jpg",
            kind,
            settings,
        );
        let threads = if i % 2 == 0 { Threads::Pipelined } else { Threads::Single };
        let out = dir.path().join(format!("{kind}.mp4"));
        let output = run(&job, &out, threads);
        assert_eq!(output.frames, 24);

        let canvas = (output.width, output.height);
        let frames = decode_frames(&out, canvas.0, canvas.1);
        assert_eq!(frames.len(), 24, "{kind}: decoded frame count");
        let front = conformed("01-dandelions-1920x1080.jpg", &job, canvas);
        let tail = conformed("02-interior-portrait-1280x1920.jpg", &job, canvas);
        let first = psnr(&frames[0], &front);
        let last = psnr(&frames[23], &tail);
        assert!(first >= 35.0, "{kind}: first frame PSNR {first:.1} dB");
        assert!(last >= 35.0, "{kind}: last frame PSNR {last:.1} dB");
        let middle = &frames[12];
        assert!(psnr(middle, &front) < 25.0, "{kind}: middle frame looks like the front");
        assert!(psnr(middle, &tail) < 25.0, "{kind}: middle frame looks like the tail");
    }
}

/// Picture types of every frame of `path` (`I`, `P` or `B`), from ffprobe.
fn picture_types(path: &Path) -> String {
    let output = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pict_type"])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe is installed");
    assert!(output.status.success(), "ffprobe failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("ffprobe prints UTF-8").split_whitespace().collect()
}

#[test]
fn every_kind_has_one_keyframe() {
    let dir = tempfile::tempdir().unwrap();
    let settings = OutputSettings { duration_s: 2.0, ..short_settings() };
    for kind in TransitionKind::ALL {
        let job =
            job("05-mountains-1600x1200.jpg", "08-sunset-square-1440x1440.jpg", kind, settings);
        let out = dir.path().join(format!("{kind}.mp4"));
        run(&job, &out, Threads::Pipelined);
        let types = picture_types(&out);
        assert_eq!(types.len(), 60, "{kind}: frame count");
        assert!(types.starts_with('I'), "{kind}: first frame is {types}");
        assert_eq!(types.matches('I').count(), 1, "{kind}: picture types {types}");
    }
}

#[test]
fn frame_count_and_duration_follow_settings() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fade.mp4");
    let settings = OutputSettings { fps: 25, duration_s: 2.0, ..short_settings() };
    let job = job(
        "03-astronaut-512x512.jpg",
        "08-sunset-square-1440x1440.jpg",
        TransitionKind::FadeBlack,
        settings,
    );
    let output = run(&job, &out, Threads::Single);
    assert_eq!(output.frames, 50);
    let probe = ffprobe(&out);
    assert_eq!(probe.get("nb_read_frames"), "50");
    assert_eq!(probe.get("r_frame_rate"), "25/1");
    let duration: f64 = probe.get("duration").parse().unwrap();
    assert!((duration - 2.0).abs() < 1e-3, "duration {duration}");
}

#[test]
fn auto_aspect_with_odd_height_gives_even_frame() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("auto.mp4");
    let settings = OutputSettings { aspect: Aspect::Auto, ..short_settings() };
    let job = job(
        "07-fig-odd-height-1920x1299.jpg",
        "05-mountains-1600x1200.jpg",
        TransitionKind::Slide,
        settings,
    );
    let output = run(&job, &out, Threads::Pipelined);
    // 720 * 1920 / 1299 = 1064.2, rounded to the nearest even width.
    assert_eq!((output.width, output.height), (1064, 720));
    let probe = ffprobe(&out);
    assert_eq!(probe.get("width"), "1064");
    assert_eq!(probe.get("height"), "720");
    assert_eq!(ffmpeg_decode_errors(&out), "");
    let frames = decode_frames(&out, 1064, 720);
    let front = conformed("07-fig-odd-height-1920x1299.jpg", &job, (1064, 720));
    let first = psnr(&frames[0], &front);
    assert!(first >= 35.0, "first frame PSNR {first:.1} dB");
    // An edge line would show as a bright or dark last row or column.
    let last_row = image::imageops::crop_imm(&frames[0], 0, 719, 1064, 1).to_image();
    let front_row = image::imageops::crop_imm(&front, 0, 719, 1064, 1).to_image();
    assert!(common::mad(&last_row, &front_row) < 8.0, "stray line in the last row");
}

#[test]
fn letterboxed_portrait_has_side_bars() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("letterbox.mp4");
    let settings = OutputSettings { fit: Fit::Letterbox, ..short_settings() };
    let job = job(
        "02-interior-portrait-1280x1920.jpg",
        "01-dandelions-1920x1080.jpg",
        TransitionKind::Calm,
        settings,
    );
    run(&job, &out, Threads::Pipelined);
    let first = &decode_frames(&out, 1280, 720)[0];
    // 1280x1920 fitted into 720 rows is 480 wide, leaving 400-pixel bars.
    let column_mean =
        |x: u32| (0..720).map(|y| u32::from(first.get_pixel(x, y)[1])).sum::<u32>() / 720;
    for x in [0, 200, 380, 900, 1279] {
        assert!(column_mean(x) <= 3, "bar column {x} mean {}", column_mean(x));
    }
    assert!(column_mean(640) > 20, "the photo is centred");
}

#[test]
fn grayscale_stays_neutral_through_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gray.mp4");
    let job = job("grayscale.jpg", "grayscale.jpg", TransitionKind::BlurDissolve, short_settings());
    run(&job, &out, Threads::Pipelined);
    let frames = decode_frames(&out, 1280, 720);
    for index in [0, 15, 29] {
        let worst = frames[index]
            .pixels()
            .map(|p| p[0].abs_diff(p[1]).max(p[1].abs_diff(p[2])).max(p[0].abs_diff(p[2])))
            .max()
            .unwrap();
        assert!(worst <= 2, "frame {index}: channels differ by {worst}");
    }
}

#[test]
fn alpha_fixture_shows_no_magenta_in_video() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("alpha.mp4");
    let job = job(
        "alpha-magenta-under-transparent.png",
        "04-coffee-600x400.jpg",
        TransitionKind::Whip,
        short_settings(),
    );
    run(&job, &out, Threads::Single);
    let frames = decode_frames(&out, 1280, 720);
    for (index, frame) in frames.iter().enumerate().take(10) {
        let magenta = frame.pixels().filter(|p| p[0] > 200 && p[1] < 40 && p[2] > 200).count();
        assert_eq!(magenta, 0, "frame {index} has magenta pixels");
    }
}

#[test]
fn huge_front_renders() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("huge.mp4");
    let job = job(
        "huge-12000x8000.jpg",
        "café crème d'été 写真.jpg",
        TransitionKind::Energetic,
        short_settings(),
    );
    let output = run(&job, &out, Threads::Pipelined);
    assert_eq!((output.width, output.height), (1280, 720));
    assert_eq!(ffmpeg_decode_errors(&out), "");
}

#[test]
fn cancel_stops_with_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let settings = OutputSettings { duration_s: 3.0, ..short_settings() };
    let job = job(
        "01-dandelions-1920x1080.jpg",
        "05-mountains-1600x1200.jpg",
        TransitionKind::Calm,
        settings,
    );
    for threads in [Threads::Single, Threads::Pipelined] {
        let out = dir.path().join("cancelled.mp4");
        let cancel = AtomicBool::new(false);
        let mut reports = 0;
        let result = render(&job, &out, threads, &cancel, &mut |progress| {
            reports += 1;
            if progress.frame == 5 {
                cancel.store(true, Ordering::Relaxed);
            }
        });
        assert!(matches!(result, Err(RenderError::Cancelled)), "{threads:?}: {result:?}");
        assert_eq!(reports, 5, "{threads:?}: no frame is encoded after the flag is set");
        assert!(!out.exists(), "{threads:?}: the partial file is removed");
    }
}

#[test]
fn cancel_before_start_renders_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.mp4");
    let job = job(
        "01-dandelions-1920x1080.jpg",
        "05-mountains-1600x1200.jpg",
        TransitionKind::Calm,
        short_settings(),
    );
    let result = render(&job, &out, Threads::Pipelined, &AtomicBool::new(true), &mut |_| {
        panic!("no frame may be encoded")
    });
    assert!(matches!(result, Err(RenderError::Cancelled)), "{result:?}");
    assert!(!out.exists());
}

#[test]
fn bad_inputs_fail_permanently() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bad.mp4");
    let bad_fps = OutputSettings { fps: 60, ..short_settings() };
    let settings_job = job(
        "01-dandelions-1920x1080.jpg",
        "05-mountains-1600x1200.jpg",
        TransitionKind::Calm,
        bad_fps,
    );
    let error = render(&settings_job, &out, Threads::Single, &AtomicBool::new(false), &mut |_| {})
        .unwrap_err();
    assert!(matches!(error, RenderError::Settings(_)), "{error:?}");
    assert!(error.is_permanent());

    let image_job =
        job("01-dandelions-1920x1080.jpg", "empty.jpg", TransitionKind::Calm, short_settings());
    let error = render(&image_job, &out, Threads::Pipelined, &AtomicBool::new(false), &mut |_| {})
        .unwrap_err();
    assert!(matches!(error, RenderError::Image(ImageError::Empty { .. })), "{error:?}");
    assert!(error.is_permanent());
    assert!(error.to_string().contains("empty.jpg"), "{error}");
    assert!(!out.exists(), "nothing is written for a bad image");
}

#[test]
fn unwritable_output_is_transient_io_error() {
    let job = job(
        "01-dandelions-1920x1080.jpg",
        "05-mountains-1600x1200.jpg",
        TransitionKind::Calm,
        short_settings(),
    );
    let out = Path::new("/nonexistent/folder/clip.mp4");
    for threads in [Threads::Single, Threads::Pipelined] {
        let error = render(&job, out, threads, &AtomicBool::new(false), &mut |_| {}).unwrap_err();
        assert!(matches!(error, RenderError::Io { .. }), "{threads:?}: {error:?}");
        assert!(!error.is_permanent());
        assert!(error.to_string().contains("/nonexistent/folder/clip.mp4"), "{error}");
    }
}

#[test]
fn canvas_matches_render_output() {
    let settings = OutputSettings { aspect: Aspect::Portrait9x16, ..short_settings() };
    assert_eq!(canvas_size(&settings, (1920, 1080)), (720, 1280));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("portrait.mp4");
    let job = job(
        "02-interior-portrait-1280x1920.jpg",
        "06-storm-road-1920x1280.jpg",
        TransitionKind::Whip,
        settings,
    );
    let output = run(&job, &out, Threads::Pipelined);
    assert_eq!((output.width, output.height), (720, 1280));
    assert_eq!(ffprobe(&out).get("height"), "1280");
}
