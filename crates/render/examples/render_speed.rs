//! Measures render speed: frames per second of drawing alone and of full
//! renders (draw, convert, encode, mux) with `Threads::Single` and
//! `Threads::Pipelined`, at 720p and 1080p, 30 fps, 5 s.
//!
//! Usage: `cargo run --release -p segue-render --example render_speed -- FRONT TAIL [KIND...]`
//! With no KIND every transition kind is measured.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use segue_render::{
    OutputSettings, RenderJob, Resolution, Threads, Timeline, TransitionKind, canvas_size, conform,
    load_image, render,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: render_speed FRONT TAIL [KIND...]");
        return ExitCode::from(2);
    }
    let (front, tail) = (PathBuf::from(&args[0]), PathBuf::from(&args[1]));
    let kinds: Result<Vec<TransitionKind>, _> = args[2..].iter().map(|a| a.parse()).collect();
    let kinds = match kinds {
        Ok(kinds) if kinds.is_empty() => TransitionKind::ALL.to_vec(),
        Ok(kinds) => kinds,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let scratch = tempfile::tempdir().expect("a temporary folder");
    println!(
        "{:<14} {:>6} {:>10} {:>10} {:>11} {:>9}",
        "kind", "res", "draw fps", "single fps", "pipelined fps", "MB"
    );
    for resolution in [Resolution::P720, Resolution::P1080] {
        for &kind in &kinds {
            let settings = OutputSettings { resolution, ..OutputSettings::default() };
            let job = RenderJob { front: front.clone(), tail: tail.clone(), kind, settings };
            let draw = match draw_fps(&job) {
                Ok(fps) => fps,
                Err(error) => {
                    eprintln!("{error}");
                    return ExitCode::FAILURE;
                }
            };
            let out = scratch.path().join("speed.mp4");
            let mut results = Vec::new();
            for threads in [Threads::Single, Threads::Pipelined] {
                let started = Instant::now();
                match render(&job, &out, threads, &AtomicBool::new(false), &mut |_| {}) {
                    Ok(output) => {
                        let fps = f64::from(output.frames) / started.elapsed().as_secs_f64();
                        results.push((fps, output.bytes));
                    }
                    Err(error) => {
                        eprintln!("{error}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            let megabytes = results[1].1 as f64 / 1e6;
            println!(
                "{:<14} {:>6} {:>10.1} {:>10.1} {:>11.1} {:>9.2}",
                kind.to_string(),
                resolution.to_string(),
                draw,
                results[0].0,
                results[1].0,
                megabytes
            );
        }
    }
    ExitCode::SUCCESS
}

/// Frames per second of drawing alone, after loading and conforming.
fn draw_fps(job: &RenderJob) -> Result<f64, segue_render::ImageError> {
    let front = load_image(&job.front)?;
    let tail = load_image(&job.tail)?;
    let canvas = canvas_size(&job.settings, front.dimensions());
    let fit = job.settings.fit;
    let frames = job.settings.frame_count();
    let timeline =
        Timeline::new(conform(&front, canvas, fit), conform(&tail, canvas, fit), job.kind, frames);
    let mut buffer = vec![0; canvas.0 as usize * canvas.1 as usize * 3];
    let started = Instant::now();
    for index in 0..frames {
        timeline.frame_into(index, &mut buffer);
    }
    Ok(f64::from(frames) / started.elapsed().as_secs_f64())
}
