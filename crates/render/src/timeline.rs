//! [`Timeline`]: draws any frame of a transition clip from the two conformed
//! images by running the choreography from [`crate::transition`] through the
//! warp, blur and blend primitives.

use std::sync::{Mutex, PoisonError};

use image::RgbImage;

use crate::blend::{self, Accumulator};
use crate::blur::{self, BlurBuffers};
use crate::conform::conform;
use crate::settings::{Fit, TransitionKind};
use crate::transition::{self, Layer, Shot, Source};
use crate::warp::{AxisMap, Plane, Sampler, View};

/// Number of reduced-resolution copies kept of each image; level `k` is
/// `2^k` times smaller.
const LEVELS: usize = 4;
/// Most samples averaged for one zoom-blurred layer.
const MAX_ZOOM_SAMPLES: usize = 8;
/// Zoom blur moves frame corners by at most this many pixels between two
/// samples.
const ZOOM_SAMPLE_SPACING_PX: f32 = 1.5;
/// Zoom blurs whose corner movement exceeds this many pixels are sampled at
/// half resolution.
const ZOOM_HALF_RES_PX: f32 = 3.0;

/// A transition clip between two images of the same size: frame 0 is the
/// front image exactly, the last frame the tail image exactly.
#[derive(Debug)]
pub struct Timeline {
    kind: TransitionKind,
    frames: u32,
    width: usize,
    height: usize,
    front: Pyramid,
    tail: Pyramid,
    scratch: Mutex<Scratch>,
}

impl Timeline {
    /// Builds a timeline of `frames` frames (at least 2) over two images,
    /// normally both conformed to the canvas. A tail of a different size is
    /// conformed to the front's size with [`Fit::Cover`].
    ///
    /// # Panics
    ///
    /// Panics if the front image is smaller than 2x2 pixels.
    pub fn new(front: RgbImage, tail: RgbImage, kind: TransitionKind, frames: u32) -> Self {
        let size = front.dimensions();
        assert!(size.0 >= 2, "a timeline needs images at least 2 pixels wide");
        assert!(size.1 >= 2, "a timeline needs images at least 2 pixels high");
        let tail = if tail.dimensions() == size { tail } else { conform(&tail, size, Fit::Cover) };
        let (width, height) = (size.0 as usize, size.1 as usize);
        Timeline {
            kind,
            frames: frames.max(2),
            width,
            height,
            front: Pyramid::new(front),
            tail: Pyramid::new(tail),
            scratch: Mutex::new(Scratch::default()),
        }
    }

    /// Frame width in pixels.
    pub fn width(&self) -> u32 {
        self.width as u32
    }

    /// Frame height in pixels.
    pub fn height(&self) -> u32 {
        self.height as u32
    }

    /// Number of frames in the clip.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Transition kind the timeline draws.
    pub fn kind(&self) -> TransitionKind {
        self.kind
    }

    /// Draws frame `index` (clamped to the last frame) as a new image.
    pub fn frame(&self, index: u32) -> RgbImage {
        let mut data = vec![0; self.width * self.height * 3];
        self.frame_into(index, &mut data);
        RgbImage::from_raw(self.width as u32, self.height as u32, data)
            .expect("the buffer contains width * height * 3 bytes")
    }

    /// Draws frame `index` (clamped to the last frame) into `out`, packed RGB
    /// of `width * height * 3` bytes. Working buffers are reused, so after the
    /// first frames this allocates nothing.
    ///
    /// # Panics
    ///
    /// Panics if `out` has the wrong length.
    pub fn frame_into(&self, index: u32, out: &mut [u8]) {
        assert_eq!(out.len(), self.width * self.height * 3, "frame buffer size");
        let last = self.frames - 1;
        let t = index.min(last) as f32 / last as f32;
        let shot = transition::shot(self.kind, t, 1.0 / last as f32);
        let mut scratch = self.scratch.lock().unwrap_or_else(PoisonError::into_inner);
        self.compose(&shot, out, &mut scratch);
    }

    fn compose(&self, shot: &Shot, out: &mut [u8], scratch: &mut Scratch) {
        if shot.bottom.view.columns(self.width) != (0..self.width) {
            out.fill(0);
        }
        self.draw_layer(&shot.bottom, 1.0, out, scratch);
        if let Some(top) = &shot.top {
            self.draw_layer(top, top.opacity, out, scratch);
        }
        let streak_px = shot.streak * self.width as f32;
        if streak_px >= 0.5 {
            // Two box passes of a quarter of the length each give a streak
            // with soft ends.
            scratch.blur.streak(out, self.width, streak_px / 4.0);
        }
        blend::mix_toward(out, 0, shot.fade);
        blend::mix_toward(out, 255, shot.flash);
    }

    /// Draws one layer at `opacity` over `dst`, in the columns its view covers.
    fn draw_layer(&self, layer: &Layer, opacity: f32, dst: &mut [u8], scratch: &mut Scratch) {
        let pyramid = match layer.source {
            Source::Front => &self.front,
            Source::Tail => &self.tail,
        };
        let canvas = (self.width, self.height);
        let columns = layer.view.columns(self.width);
        let full_width = columns == (0..self.width);
        let blur_px = layer.blur * self.width.min(self.height) as f32;
        let half_diagonal = (self.width as f32).hypot(self.height as f32) / 2.0;
        let spread_px = layer.zoom_spread * half_diagonal;

        // Layers that cover only part of the frame are drawn sharp at full
        // resolution. Their motion blur is the frame-wide streak.
        if !full_width || (spread_px <= ZOOM_SAMPLE_SPACING_PX && blur_px < 0.5) {
            let map = AxisMap::for_view(layer.view, pyramid.size(0), canvas);
            let source = pyramid.plane(0);
            if opacity >= 1.0 {
                scratch.sampler.sample(source, map, dst, self.width, columns);
            } else {
                scratch.sampler.sample_over(source, map, dst, self.width, columns, opacity);
            }
            return;
        }
        let zoom_level = usize::from(spread_px > ZOOM_HALF_RES_PX);
        let level = blur_level(blur_px).max(zoom_level).min(pyramid.levels.len() - 1);
        let scale = (1 << level) as f32;
        let samples = ((spread_px / scale / ZOOM_SAMPLE_SPACING_PX).ceil() as usize)
            .clamp(1, MAX_ZOOM_SAMPLES);
        let size = pyramid.size(level);
        let mut target = std::mem::take(&mut scratch.small);
        target.resize(size.0 * size.1 * 3, 0);
        let spread = layer.zoom_spread;
        draw_zoom_samples(pyramid.plane(level), layer.view, spread, samples, &mut target, scratch);
        if blur_px >= 0.5 {
            let passes = if level == 0 { 2 } else { 3 };
            scratch.blur.box_blur(&mut target, size, blur_px / scale, passes);
        }
        let drawn = Plane { data: &target, width: size.0, height: size.1 };
        let map = AxisMap::resize(size, canvas);
        if opacity >= 1.0 {
            scratch.sampler.sample(drawn, map, dst, self.width, 0..self.width);
        } else {
            scratch.sampler.sample_over(drawn, map, dst, self.width, 0..self.width, opacity);
        }
        scratch.small = target;
    }
}

/// Pyramid level for a blur of `blur_px` full-resolution pixels, chosen so
/// the box radius stays at 1 to 2 pixels or more on that level.
fn blur_level(blur_px: f32) -> usize {
    match blur_px {
        r if r < 2.0 => 0,
        r if r < 4.0 => 1,
        r if r < 8.0 => 2,
        _ => LEVELS - 1,
    }
}

/// Draws `view` of `src` into `target` (same size as `src`), averaging
/// `samples` zooms spread evenly over `spread` in log scale.
fn draw_zoom_samples(
    src: Plane<'_>,
    view: View,
    spread: f32,
    samples: usize,
    target: &mut [u8],
    scratch: &mut Scratch,
) {
    let size = (src.width, src.height);
    let map_for = |zoom: f32| AxisMap::for_view(View { zoom, ..view }, size, size);
    if samples == 1 {
        scratch.sampler.sample(src, map_for(view.zoom), target, src.width, 0..src.width);
        return;
    }
    scratch.accumulator.reset(target.len());
    for i in 0..samples {
        let position = i as f32 / (samples - 1) as f32 - 0.5;
        let map = map_for(view.zoom * (spread * position).exp());
        let sampler = &mut scratch.sampler;
        scratch.accumulator.add_with(|sums| sampler.sample_add(src, map, sums, src.width));
    }
    scratch.accumulator.write_mean(target);
}

/// An image and its 2x, 4x and 8x reductions.
#[derive(Debug)]
struct Pyramid {
    levels: Vec<(Vec<u8>, (usize, usize))>,
}

impl Pyramid {
    fn new(image: RgbImage) -> Pyramid {
        let size = (image.width() as usize, image.height() as usize);
        let mut levels = vec![(image.into_raw(), size)];
        for _ in 1..LEVELS {
            let (data, size) = levels.last().expect("level 0 exists");
            if size.0 < 4 || size.1 < 4 {
                break;
            }
            let mut half = Vec::new();
            blur::downscale_half(data, *size, &mut half);
            let half_size = blur::half_size(*size);
            levels.push((half, half_size));
        }
        Pyramid { levels }
    }

    fn size(&self, level: usize) -> (usize, usize) {
        self.levels[level].1
    }

    fn plane(&self, level: usize) -> Plane<'_> {
        let (data, (width, height)) = &self.levels[level];
        Plane { data, width: *width, height: *height }
    }
}

/// Working buffers reused from frame to frame.
#[derive(Debug, Default)]
struct Scratch {
    sampler: Sampler,
    accumulator: Accumulator,
    /// A blurred layer, drawn at its pyramid level before it is scaled to
    /// the frame.
    small: Vec<u8>,
    blur: BlurBuffers,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(width: u32, height: u32, seed: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            let v = (x * 3 + y * 5 + seed * 40) % 256;
            image::Rgb([v as u8, ((x * y + seed) % 256) as u8, ((x ^ y) * seed % 256) as u8])
        })
    }

    #[test]
    fn first_and_last_frames_are_exact() {
        let front = pattern(96, 64, 1);
        let tail = pattern(96, 64, 2);
        for kind in TransitionKind::ALL {
            let timeline = Timeline::new(front.clone(), tail.clone(), kind, 20);
            assert!(timeline.frame(0) == front, "{kind} frame 0");
            assert!(timeline.frame(19) == tail, "{kind} last frame");
            assert!(timeline.frame(500) == tail, "{kind} index past the end");
        }
    }

    #[test]
    fn tail_of_other_size_is_conformed() {
        let timeline =
            Timeline::new(pattern(96, 64, 1), pattern(50, 50, 2), TransitionKind::Calm, 10);
        assert_eq!(timeline.frame(9).dimensions(), (96, 64));
    }

    #[test]
    fn blur_level_grows_with_radius() {
        assert_eq!(blur_level(0.0), 0);
        assert_eq!(blur_level(3.0), 1);
        assert_eq!(blur_level(5.0), 2);
        assert_eq!(blur_level(40.0), 3);
    }
}
