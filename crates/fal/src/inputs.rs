//! Conforming the front and tail images to one frame size for a model, and
//! encoding them for upload.
//!
//! Both images are decoded with `segue_render::load_image` (EXIF orientation
//! applied, converted to sRGB) and fitted to the same canvas with
//! `segue_render::conform`, so a model receives two frames of equal size
//! whose shape matches the `aspect_ratio` sent.

use std::path::Path;

use image::RgbImage;
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use segue_engine::job::JobSpec;
use segue_render::{ImageError, canvas_size, conform, load_image};

use crate::models::{AspectPlan, FrameLimits, Plan, nearest_aspect, ratio_of};

/// JPEG quality of uploaded frames: high enough that compression leaves no
/// visible blocks for the model to animate.
const JPEG_QUALITY: u8 = 92;

/// One encoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedFrame {
    /// File bytes.
    pub bytes: Vec<u8>,
    /// MIME type.
    pub content_type: &'static str,
    /// File name sent to storage.
    pub file_name: String,
}

/// Both frames, conformed and encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedFrames {
    /// Frame width and height in pixels, equal for both frames.
    pub size: (u32, u32),
    /// `aspect_ratio` value to send, for models that have the field.
    pub aspect_ratio: Option<&'static str>,
    /// Front (first) frame.
    pub front: EncodedFrame,
    /// Tail (last) frame.
    pub tail: EncodedFrame,
}

/// Loads, conforms and encodes both frames of `spec` for `plan`. Blocks:
/// run it on a blocking thread.
pub fn prepare_frames(spec: &JobSpec, plan: &Plan) -> Result<PreparedFrames, ImageError> {
    let front = load_image(&spec.front)?;
    let tail = load_image(&spec.tail)?;
    let (size, aspect_ratio) = frame_size(spec, plan, front.dimensions());
    let fit = spec.output.fit;
    let front = encode(&conform(&front, size, fit), "front", &spec.front)?;
    let tail = encode(&conform(&tail, size, fit), "tail", &spec.tail)?;
    Ok(PreparedFrames { size, aspect_ratio, front, tail })
}

/// Returns the frame size and the `aspect_ratio` value for a front image of
/// `front` pixels.
///
/// The shape is the plan's aspect; `auto` takes the front image's ratio
/// within the model's limits, or the model's nearest listed ratio. The size
/// starts from `segue_render::canvas_size` (the short side is the job's
/// resolution) and shrinks to the model's longest side.
pub fn frame_size(
    spec: &JobSpec,
    plan: &Plan,
    front: (u32, u32),
) -> ((u32, u32), Option<&'static str>) {
    let limits = plan.model.frames;
    let (base_w, base_h) = canvas_size(&spec.output, front);
    let base_ratio = f64::from(base_w) / f64::from(base_h);
    let (ratio, aspect_ratio) = match plan.aspect {
        AspectPlan::FollowFrames(ratio) => (ratio.unwrap_or(base_ratio), None),
        AspectPlan::Fixed(value) => (ratio_of(value).unwrap_or(base_ratio), Some(value)),
        AspectPlan::Auto => (base_ratio, Some("auto")),
        AspectPlan::Nearest(values) => {
            let value = nearest_aspect(values, base_ratio);
            (value.and_then(ratio_of).unwrap_or(base_ratio), value)
        }
    };
    let short = base_w.min(base_h);
    (fit_size(ratio, short, &limits), aspect_ratio)
}

/// Returns an even width and height with `ratio` (clamped to the limits),
/// `short` pixels on the short side, and at most `max_side` on the long one.
fn fit_size(ratio: f64, short: u32, limits: &FrameLimits) -> (u32, u32) {
    let ratio = ratio.clamp(limits.min_ratio, limits.max_ratio);
    let long_over_short = if ratio >= 1.0 { ratio } else { 1.0 / ratio };
    let mut short_side = f64::from(short.max(limits.min_side));
    let mut long_side = short_side * long_over_short;
    if long_side > f64::from(limits.max_side) {
        long_side = f64::from(limits.max_side);
        short_side = long_side / long_over_short;
    }
    let even = |value: f64| ((value / 2.0).round() as u32 * 2).max(2);
    let (short_side, long_side) = (even(short_side).max(limits.min_side), even(long_side));
    if ratio >= 1.0 { (long_side, short_side) } else { (short_side, long_side) }
}

/// Encodes `image` as a baseline JPEG with a JFIF header and no EXIF or ICC
/// segment, so decoders read it as sRGB.
///
/// Chroma keeps full resolution (4:4:4), the only sampling that the `image`
/// 0.25 encoder writes. jpeg-encoder encodes a 1280x720 frame in about half
/// the time of `image` 0.25, as examples/frame_encode_timing.rs measures.
fn encode(image: &RgbImage, role: &str, source: &Path) -> Result<EncodedFrame, ImageError> {
    let failed = |message: String| ImageError::Decode {
        path: source.to_path_buf(),
        message: format!("encoding the {role} frame as JPEG failed: {message}"),
    };
    let (width, height) = image.dimensions();
    let (Ok(jpeg_width), Ok(jpeg_height)) = (u16::try_from(width), u16::try_from(height)) else {
        return Err(failed(format!("{width}x{height} exceeds the JPEG maximum of 65535 a side")));
    };
    let mut bytes = Vec::new();
    let mut encoder = Encoder::new(&mut bytes, JPEG_QUALITY);
    encoder.set_sampling_factor(SamplingFactor::R_4_4_4);
    encoder
        .encode(image.as_raw(), jpeg_width, jpeg_height, ColorType::Rgb)
        .map_err(|err| failed(err.to_string()))?;
    Ok(EncodedFrame { bytes, content_type: "image/jpeg", file_name: format!("{role}.jpg") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{find_model, plan};
    use segue_render::{Aspect, OutputSettings, Resolution, TransitionKind};

    fn spec(model: &str, aspect: Aspect, resolution: Resolution) -> JobSpec {
        JobSpec {
            name: "t".into(),
            front: "/nonexistent/front.jpg".into(),
            tail: "/nonexistent/tail.jpg".into(),
            kind: TransitionKind::Calm,
            prompt: String::new(),
            negative_prompt: String::new(),
            seed: None,
            provider: "fal".into(),
            model: model.into(),
            output: OutputSettings {
                aspect,
                resolution,
                duration_s: 5.0,
                ..OutputSettings::default()
            },
        }
    }

    #[test]
    fn fixed_aspect_keeps_resolution() {
        let spec = spec("kling-2.1-pro", Aspect::Landscape16x9, Resolution::P1080);
        let plan = plan(&spec).unwrap();
        assert_eq!(frame_size(&spec, &plan, (4000, 3000)), ((1920, 1080), None));
    }

    #[test]
    fn long_side_is_capped_for_720p_models() {
        let spec = spec("wan-flf2v", Aspect::Landscape16x9, Resolution::P720);
        let plan = plan(&spec).unwrap();
        assert_eq!(frame_size(&spec, &plan, (4000, 3000)), ((1280, 720), Some("16:9")));
    }

    #[test]
    fn auto_picks_nearest_listed_ratio() {
        let spec = spec("pixverse-5-transition", Aspect::Auto, Resolution::P720);
        let plan = plan(&spec).unwrap();
        let (size, value) = frame_size(&spec, &plan, (4000, 3000));
        assert_eq!(value, Some("4:3"));
        assert_eq!(size, (960, 720));
    }

    #[test]
    fn auto_with_model_auto_follows_front() {
        let mut spec = spec("veo-3.1", Aspect::Auto, Resolution::P720);
        spec.output.duration_s = 8.0;
        let plan = plan(&spec).unwrap();
        let (size, value) = frame_size(&spec, &plan, (3000, 1000));
        assert_eq!(value, Some("auto"));
        // canvas_size clamps 3:1 to 21:9.
        assert_eq!(size, (1680, 720));
    }

    #[test]
    fn portrait_and_square_sizes_are_even() {
        let limits = find_model("kling-2.6-pro").unwrap().frames;
        assert_eq!(fit_size(9.0 / 16.0, 1080, &limits), (1080, 1920));
        assert_eq!(fit_size(1.0, 720, &limits), (720, 720));
        let (w, h) = fit_size(16.0 / 9.0, 1081, &limits);
        assert_eq!(w % 2, 0, "{w}x{h}");
        assert_eq!(h % 2, 0, "{w}x{h}");
    }

    #[test]
    fn encode_writes_jpeg() {
        let image = RgbImage::from_pixel(64, 36, image::Rgb([200, 30, 30]));
        let frame = encode(&image, "front", Path::new("front.png")).unwrap();
        assert!(frame.bytes.starts_with(&[0xFF, 0xD8, 0xFF]));
        assert_eq!(frame.content_type, "image/jpeg");
        assert_eq!(frame.file_name, "front.jpg");
    }

    /// Returns the marker and offset of each segment up to the first scan.
    fn header_segments(jpeg: &[u8]) -> Vec<(u8, usize)> {
        let mut segments = Vec::new();
        let mut at = 2;
        while at + 4 <= jpeg.len() && jpeg[at] == 0xFF {
            let marker = jpeg[at + 1];
            segments.push((marker, at));
            if marker == 0xDA {
                break;
            }
            let length = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
            at += 2 + length;
        }
        segments
    }

    #[test]
    fn encoded_frame_decodes_close_to_source() {
        // 100x60 is not a multiple of the 8x8 block, so the edge blocks are
        // padded. Each channel follows its own gradient, so swapped or shifted
        // channels fail the per-channel check.
        let source = RgbImage::from_fn(100, 60, |x, y| {
            image::Rgb([(x * 255 / 99) as u8, (y * 255 / 59) as u8, ((x + y) * 255 / 158) as u8])
        });
        let frame = encode(&source, "tail", Path::new("tail.png")).unwrap();

        let format = image::guess_format(&frame.bytes).unwrap();
        assert_eq!(format, image::ImageFormat::Jpeg);
        let decoded = image::load_from_memory(&frame.bytes).unwrap();
        assert_eq!(decoded.color(), image::ColorType::Rgb8);
        let decoded = decoded.to_rgb8();
        assert_eq!(decoded.dimensions(), source.dimensions());

        for channel in 0..3 {
            let (mut squared_error, mut signed_error) = (0.0, 0.0);
            for (a, b) in source.pixels().zip(decoded.pixels()) {
                let difference = f64::from(b[channel]) - f64::from(a[channel]);
                squared_error += difference * difference;
                signed_error += difference;
            }
            let samples = f64::from(source.width() * source.height());
            let psnr = 10.0 * (255.0 * 255.0 / (squared_error / samples)).log10();
            assert!(psnr > 40.0, "channel {channel}: PSNR {psnr:.1} dB");
            let mean_shift = signed_error / samples;
            assert!(mean_shift.abs() < 1.0, "channel {channel}: mean shift {mean_shift:.2}");
        }
    }

    #[test]
    fn encoded_frame_has_jfif_and_no_metadata() {
        let source = RgbImage::from_pixel(32, 16, image::Rgb([10, 120, 240]));
        let frame = encode(&source, "front", Path::new("front.png")).unwrap();
        let segments = header_segments(&frame.bytes);
        let markers: Vec<u8> = segments.iter().map(|&(marker, _)| marker).collect();
        assert_eq!(markers.first(), Some(&0xE0), "JFIF APP0 first: {markers:02X?}");
        assert_eq!(&frame.bytes[6..11], b"JFIF\0");
        assert_eq!(markers.last(), Some(&0xDA), "header ends in a scan: {markers:02X?}");
        assert!(!markers.contains(&0xE1), "EXIF APP1 segment: {markers:02X?}");
        assert!(!markers.contains(&0xE2), "ICC APP2 segment: {markers:02X?}");

        // SOF0 contains the precision, height, width and component count, then
        // an id, a sampling byte and a table per component. A sampling byte
        // of 0x11 on Y, Cb and Cr is 4:4:4.
        let &(_, sof) = segments.iter().find(|&&(marker, _)| marker == 0xC0).unwrap();
        let frame_header = &frame.bytes[sof + 4..sof + 19];
        assert_eq!(frame_header[0], 8, "sample precision");
        assert_eq!(&frame_header[1..5], [0, 16, 0, 32], "height and width");
        assert_eq!(frame_header[5], 3, "component count");
        for component in frame_header[6..].chunks(3) {
            assert_eq!(component[1], 0x11, "sampling of component {}", component[0]);
        }
    }
}
