//! Output frame size and fitting images to it: [`canvas_size`] picks the frame
//! size from the settings, and [`conform`] scales an image to that size by the
//! fit rule, without ever stretching it.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use crate::color::MATTE_RGB;
use crate::settings::{Aspect, Fit, OutputSettings};

/// Narrowest aspect ratio (width / height) that [`Aspect::Auto`] produces: 9:21.
const MIN_AUTO_RATIO: f64 = 9.0 / 21.0;
/// Widest aspect ratio that [`Aspect::Auto`] produces: 21:9.
const MAX_AUTO_RATIO: f64 = 21.0 / 9.0;

/// Output frame size `(width, height)` for the settings and the front image's
/// upright size.
///
/// The short side is the resolution's (720 or 1080). For [`Aspect::Auto`] the
/// long side follows the front image's aspect ratio, clamped to between 9:21
/// and 21:9 and rounded to the nearest even number, because yuv420p video
/// needs even sizes.
pub fn canvas_size(settings: &OutputSettings, front: (u32, u32)) -> (u32, u32) {
    let short = settings.resolution.short_side();
    let long_16x9 = short * 16 / 9;
    match settings.aspect {
        Aspect::Landscape16x9 => (long_16x9, short),
        Aspect::Portrait9x16 => (short, long_16x9),
        Aspect::Square1x1 => (short, short),
        Aspect::Auto => auto_canvas(short, front),
    }
}

fn auto_canvas(short: u32, (width, height): (u32, u32)) -> (u32, u32) {
    if width == 0 || height == 0 {
        return (short, short);
    }
    let ratio = (f64::from(width) / f64::from(height)).clamp(MIN_AUTO_RATIO, MAX_AUTO_RATIO);
    if ratio >= 1.0 {
        (round_even(f64::from(short) * ratio), short)
    } else {
        (short, round_even(f64::from(short) / ratio))
    }
}

fn round_even(value: f64) -> u32 {
    ((value / 2.0).round() as u32 * 2).max(2)
}

/// Scales `img` to exactly `canvas` by the fit rule, keeping its aspect ratio.
///
/// [`Fit::Cover`] fills the canvas and crops the overflow equally on both
/// sides. [`Fit::Letterbox`] fits the whole image inside and fills the rest
/// with [`MATTE_RGB`] bars whose widths differ by at most one pixel.
/// Resampling is Lanczos3.
///
/// # Panics
///
/// Panics if `img` or `canvas` has a side of zero pixels.
pub fn conform(img: &RgbImage, canvas: (u32, u32), fit: Fit) -> RgbImage {
    let (canvas_w, canvas_h) = canvas;
    if img.dimensions() == canvas {
        return img.clone();
    }
    match fit {
        Fit::Cover => {
            let options = ResizeOptions::new().fit_into_destination(Some((0.5, 0.5)));
            resize(img, canvas_w, canvas_h, &options)
        }
        Fit::Letterbox => letterbox(img, canvas_w, canvas_h),
    }
}

fn letterbox(img: &RgbImage, canvas_w: u32, canvas_h: u32) -> RgbImage {
    let (width, height) = img.dimensions();
    let scale =
        (f64::from(canvas_w) / f64::from(width)).min(f64::from(canvas_h) / f64::from(height));
    let inner_w = ((f64::from(width) * scale).round() as u32).clamp(1, canvas_w);
    let inner_h = ((f64::from(height) * scale).round() as u32).clamp(1, canvas_h);
    let inner = resize(img, inner_w, inner_h, &ResizeOptions::new());

    let mut canvas = RgbImage::from_pixel(canvas_w, canvas_h, image::Rgb(MATTE_RGB));
    let left = ((canvas_w - inner_w) / 2) as usize;
    let top = ((canvas_h - inner_h) / 2) as usize;
    let canvas_stride = canvas_w as usize * 3;
    let inner_stride = inner_w as usize * 3;
    let rows = canvas.chunks_exact_mut(canvas_stride).skip(top);
    for (dst_row, src_row) in rows.zip(inner.as_raw().chunks_exact(inner_stride)) {
        dst_row[left * 3..left * 3 + inner_stride].copy_from_slice(src_row);
    }
    canvas
}

fn resize(img: &RgbImage, width: u32, height: u32, options: &ResizeOptions) -> RgbImage {
    let (src_w, src_h) = img.dimensions();
    let options = options.resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    let src = ImageRef::new(src_w, src_h, img.as_raw(), PixelType::U8x3)
        .expect("an RgbImage buffer contains width * height * 3 bytes");
    let mut dst = Image::new(width, height, PixelType::U8x3);
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .expect("source and destination are both U8x3 with nonzero sizes");
    RgbImage::from_raw(width, height, dst.into_vec())
        .expect("the destination buffer contains width * height * 3 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Resolution;

    fn settings(aspect: Aspect, resolution: Resolution) -> OutputSettings {
        OutputSettings { aspect, resolution, ..OutputSettings::default() }
    }

    #[test]
    fn canvas_fixed_aspects() {
        let front = (640, 480);
        let cases = [
            (Aspect::Landscape16x9, Resolution::P1080, (1920, 1080)),
            (Aspect::Portrait9x16, Resolution::P1080, (1080, 1920)),
            (Aspect::Square1x1, Resolution::P1080, (1080, 1080)),
            (Aspect::Landscape16x9, Resolution::P720, (1280, 720)),
            (Aspect::Portrait9x16, Resolution::P720, (720, 1280)),
            (Aspect::Square1x1, Resolution::P720, (720, 720)),
        ];
        for (aspect, resolution, expected) in cases {
            assert_eq!(canvas_size(&settings(aspect, resolution), front), expected, "{aspect}");
        }
    }

    #[test]
    fn canvas_auto_follows_front() {
        let auto = settings(Aspect::Auto, Resolution::P1080);
        assert_eq!(canvas_size(&auto, (1920, 1299)), (1596, 1080));
        assert_eq!(canvas_size(&auto, (1280, 1920)), (1080, 1620));
        assert_eq!(canvas_size(&auto, (1440, 1440)), (1080, 1080));
        let auto_720 = settings(Aspect::Auto, Resolution::P720);
        assert_eq!(canvas_size(&auto_720, (1600, 1200)), (960, 720));
    }

    #[test]
    fn canvas_auto_clamps_and_stays_even() {
        let auto = settings(Aspect::Auto, Resolution::P1080);
        assert_eq!(canvas_size(&auto, (10_000, 100)), (2520, 1080));
        assert_eq!(canvas_size(&auto, (100, 10_000)), (1080, 2520));
        for width in 1000..1100 {
            let (w, h) = canvas_size(&auto, (width, 777));
            assert_eq!(w % 2, 0, "width {w} for {width}x777");
            assert_eq!(h % 2, 0, "height {h} for {width}x777");
        }
    }

    /// Builds a portrait image, left half red and right half blue, so that
    /// stretching or cropping moves the column where the colour changes.
    fn two_colour_portrait() -> RgbImage {
        RgbImage::from_fn(200, 300, |x, _| {
            if x < 100 { image::Rgb([220, 30, 30]) } else { image::Rgb([30, 30, 220]) }
        })
    }

    #[test]
    fn letterbox_centres_with_black_bars() {
        let out = conform(&two_colour_portrait(), (320, 180), Fit::Letterbox);
        assert_eq!(out.dimensions(), (320, 180));
        // 200x300 scaled to height 180 is 120 wide, leaving 100-pixel bars.
        for y in [0, 90, 179] {
            assert_eq!(out.get_pixel(5, y), &image::Rgb([0, 0, 0]), "left bar at y {y}");
            assert_eq!(out.get_pixel(99, y), &image::Rgb([0, 0, 0]), "left bar edge at y {y}");
            assert_eq!(out.get_pixel(220, y), &image::Rgb([0, 0, 0]), "right bar at y {y}");
            assert_eq!(out.get_pixel(314, y), &image::Rgb([0, 0, 0]), "right bar at y {y}");
        }
        let red = out.get_pixel(130, 90);
        let blue = out.get_pixel(190, 90);
        assert!(red[0] > 200, "{red:?}");
        assert!(red[2] < 50, "{red:?}");
        assert!(blue[2] > 200, "{blue:?}");
        assert!(blue[0] < 50, "{blue:?}");
    }

    #[test]
    fn cover_fills_and_crops_centre() {
        let out = conform(&two_colour_portrait(), (320, 180), Fit::Cover);
        assert_eq!(out.dimensions(), (320, 180));
        // Scaled to width 320 the split stays at the centre column.
        let left = out.get_pixel(150, 90);
        let right = out.get_pixel(170, 90);
        assert!(left[0] > 200, "{left:?}");
        assert!(left[2] < 50, "{left:?}");
        assert!(right[2] > 200, "{right:?}");
        assert!(right[0] < 50, "{right:?}");
        assert!(out.pixels().all(|p| p.0 != [0, 0, 0]), "cover must not leave bars");
    }

    #[test]
    fn cover_keeps_aspect_of_circle() {
        // A dark disc on white, conformed to a wider canvas, must stay round.
        let source = RgbImage::from_fn(400, 400, |x, y| {
            let (dx, dy) = (f64::from(x) - 200.0, f64::from(y) - 200.0);
            if dx * dx + dy * dy < 100.0 * 100.0 {
                image::Rgb([0, 0, 0])
            } else {
                image::Rgb([255, 255, 255])
            }
        });
        let out = conform(&source, (640, 360), Fit::Cover);
        let dark = |x: u32, y: u32| out.get_pixel(x, y)[0] < 128;
        let width = (0..640).filter(|&x| dark(x, 180)).count();
        let height = (0..360).filter(|&y| dark(320, y)).count();
        // 400 -> 640 is a scale of 1.6, so the 200-pixel disc becomes 320.
        assert!(width.abs_diff(320) <= 2, "disc width {width}");
        assert!(height.abs_diff(320) <= 2, "disc height {height}");
    }

    #[test]
    fn same_size_is_unchanged() {
        let image = two_colour_portrait();
        assert_eq!(conform(&image, (200, 300), Fit::Cover), image);
    }
}
