//! Timeline frames of every transition kind on real photos: exact first and
//! last frames, middle frames unlike either photo, and kinds unlike each
//! other.

mod common;

use common::{fixture, mad};
use image::RgbImage;
use segue_render::{Fit, Timeline, TransitionKind, conform, load_image};

const CANVAS: (u32, u32) = (320, 180);
const FRAMES: u32 = 60;

fn photos() -> (RgbImage, RgbImage) {
    let front = load_image(&fixture("01-dandelions-1920x1080.jpg")).unwrap();
    let tail = load_image(&fixture("05-mountains-1600x1200.jpg")).unwrap();
    (conform(&front, CANVAS, Fit::Cover), conform(&tail, CANVAS, Fit::Cover))
}

#[test]
fn ends_are_exact_and_middle_differs() {
    let (front, tail) = photos();
    for kind in TransitionKind::ALL {
        let timeline = Timeline::new(front.clone(), tail.clone(), kind, FRAMES);
        assert_eq!(timeline.frames(), FRAMES);
        assert!(timeline.frame(0) == front, "{kind}: frame 0 is the front image");
        assert!(timeline.frame(FRAMES - 1) == tail, "{kind}: last frame is the tail image");
        let middle = timeline.frame(FRAMES / 2);
        let from_front = mad(&middle, &front);
        let from_tail = mad(&middle, &tail);
        assert!(from_front > 8.0, "{kind}: middle vs front MAD {from_front}");
        assert!(from_tail > 8.0, "{kind}: middle vs tail MAD {from_tail}");
    }
}

#[test]
fn kinds_differ_from_each_other() {
    let (front, tail) = photos();
    let frames: Vec<(TransitionKind, Vec<RgbImage>)> = TransitionKind::ALL
        .iter()
        .map(|&kind| {
            let timeline = Timeline::new(front.clone(), tail.clone(), kind, FRAMES);
            let samples =
                [0.4, 0.5, 0.6].map(|t| timeline.frame((t * (FRAMES - 1) as f32).round() as u32));
            (kind, samples.to_vec())
        })
        .collect();
    for (i, (kind_a, frames_a)) in frames.iter().enumerate() {
        for (kind_b, frames_b) in &frames[i + 1..] {
            let total: f64 = frames_a.iter().zip(frames_b).map(|(a, b)| mad(a, b)).sum();
            assert!(total > 6.0, "{kind_a} and {kind_b} look alike: summed MAD {total}");
        }
    }
}

#[test]
fn motion_is_gradual() {
    // Consecutive frames change far less than the photos differ, so nothing
    // pops, except at the cut of the zoom-through and the whip.
    let (front, tail) = photos();
    let photo_gap = mad(&front, &tail);
    for kind in [TransitionKind::Calm, TransitionKind::FadeBlack, TransitionKind::BlurDissolve] {
        let timeline = Timeline::new(front.clone(), tail.clone(), kind, FRAMES);
        let mut previous = timeline.frame(0);
        for index in 1..FRAMES {
            let frame = timeline.frame(index);
            let step = mad(&frame, &previous);
            assert!(step < photo_gap / 4.0, "{kind} frame {index}: step {step} vs gap {photo_gap}");
            previous = frame;
        }
    }
}

#[test]
fn fade_black_is_black_at_midpoint() {
    let (front, tail) = photos();
    let timeline = Timeline::new(front, tail, TransitionKind::FadeBlack, 61);
    let middle = timeline.frame(30);
    assert!(middle.as_raw().iter().all(|&v| v == 0), "the hold is pure black");
}

#[test]
fn energetic_flashes_near_cut() {
    let (front, tail) = photos();
    let timeline = Timeline::new(front.clone(), tail, TransitionKind::Energetic, 61);
    let mean = |img: &RgbImage| {
        img.as_raw().iter().map(|&v| f64::from(v)).sum::<f64>() / img.as_raw().len() as f64
    };
    let cut = mean(&timeline.frame(30));
    assert!(cut > 200.0, "flash mean {cut}");
    assert!(cut > mean(&front) + 50.0);
}

#[test]
fn slide_shows_both_photos_side_by_side() {
    let (front, tail) = photos();
    let timeline = Timeline::new(front.clone(), tail.clone(), TransitionKind::Slide, 61);
    let middle = timeline.frame(30);
    // Half-way through the push the tail's left part fills the right half.
    let right = image::imageops::crop_imm(&middle, 200, 60, 100, 60).to_image();
    let tail_left = image::imageops::crop_imm(&tail, 40, 60, 100, 60).to_image();
    let front_right = image::imageops::crop_imm(&front, 40, 60, 100, 60).to_image();
    assert!(mad(&right, &tail_left) < mad(&right, &front_right));
}
