//! Conversion of any decoded image to 8-bit sRGB RGB: bit depth, grayscale,
//! alpha over the black matte, and embedded ICC profiles through qcms.

use image::{DynamicImage, RgbImage, RgbaImage};
use qcms::{DataType, Intent, Profile, Transform};

/// Matte colour that transparent pixels are composited over.
pub const MATTE_RGB: [u8; 3] = [0, 0, 0];

/// Converts a decoded image to 8-bit sRGB RGB.
///
/// 16-bit and float samples are scaled to 8 bits (16-bit values as
/// `(v + 128) / 257`), grayscale is copied to R, G and B, and straight alpha is
/// composited over [`MATTE_RGB`]. An RGB ICC profile that is not sRGB is
/// converted to sRGB first. Gray and CMYK profiles are not applied.
pub(crate) fn to_srgb8(image: DynamicImage, icc: Option<&[u8]>) -> RgbImage {
    let transform = icc.and_then(transform_to_srgb);
    if image.color().has_alpha() {
        let mut rgba = image.into_rgba8();
        if let Some(transform) = &transform {
            transform.rgba.apply(rgba.as_mut());
        }
        composite_over_matte(&rgba)
    } else {
        let mut rgb = image.into_rgb8();
        if let Some(transform) = &transform {
            transform.rgb.apply(rgb.as_mut());
        }
        rgb
    }
}

/// qcms transforms from one embedded profile to sRGB, for both pixel layouts.
struct SrgbTransform {
    rgb: Transform,
    rgba: Transform,
}

/// Builds a transform from an embedded ICC profile to sRGB, or `None` when the
/// profile is not an RGB profile, does not parse, or already behaves as sRGB.
fn transform_to_srgb(icc: &[u8]) -> Option<SrgbTransform> {
    // Bytes 16..20 of an ICC header are the data colour space signature.
    if icc.get(16..20) != Some(b"RGB ".as_slice()) {
        tracing::debug!("ignoring a non-RGB ICC profile");
        return None;
    }
    let Some(source) = Profile::new_from_slice(icc, false) else {
        tracing::warn!("ignoring an ICC profile that qcms cannot parse");
        return None;
    };
    let mut srgb = Profile::new_sRGB();
    srgb.precache_output_transform();
    let rgb = Transform::new(&source, &srgb, DataType::RGB8, Intent::Perceptual)?;
    let rgba = Transform::new(&source, &srgb, DataType::RGBA8, Intent::Perceptual)?;
    if is_near_identity(&rgb) {
        return None;
    }
    Some(SrgbTransform { rgb, rgba })
}

/// Returns whether a transform moves no channel of a 9x9x9 colour grid by
/// more than one level, which is how an embedded sRGB profile behaves.
fn is_near_identity(transform: &Transform) -> bool {
    let steps: Vec<u8> = (0..9u32).map(|i| (i * 255 / 8) as u8).collect();
    let mut grid = Vec::with_capacity(steps.len().pow(3) * 3);
    for &r in &steps {
        for &g in &steps {
            for &b in &steps {
                grid.extend_from_slice(&[r, g, b]);
            }
        }
    }
    let original = grid.clone();
    transform.apply(&mut grid);
    grid.iter().zip(&original).all(|(&after, &before)| after.abs_diff(before) <= 1)
}

/// Composites straight-alpha RGBA over the matte: `c * a + matte * (1 - a)`.
pub(crate) fn composite_over_matte(rgba: &RgbaImage) -> RgbImage {
    let (width, height) = rgba.dimensions();
    let mut rgb = RgbImage::new(width, height);
    for (out, pixel) in rgb.as_mut().chunks_exact_mut(3).zip(rgba.as_raw().chunks_exact(4)) {
        let alpha = u32::from(pixel[3]);
        for channel in 0..3 {
            let color = u32::from(pixel[channel]) * alpha;
            let matte = u32::from(MATTE_RGB[channel]) * (255 - alpha);
            out[channel] = ((color + matte + 127) / 255) as u8;
        }
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Luma, Rgb, Rgba};

    #[test]
    fn alpha_composites_over_black() {
        let mut rgba = RgbaImage::new(3, 1);
        rgba.put_pixel(0, 0, Rgba([255, 0, 255, 0]));
        rgba.put_pixel(1, 0, Rgba([200, 100, 50, 255]));
        rgba.put_pixel(2, 0, Rgba([200, 100, 50, 128]));
        let rgb = composite_over_matte(&rgba);
        assert_eq!(rgb.get_pixel(0, 0), &Rgb([0, 0, 0]));
        assert_eq!(rgb.get_pixel(1, 0), &Rgb([200, 100, 50]));
        assert_eq!(rgb.get_pixel(2, 0), &Rgb([100, 50, 25]));
    }

    #[test]
    fn sixteen_bit_scales_not_truncates() {
        let image: ImageBuffer<Rgb<u16>, Vec<u16>> =
            ImageBuffer::from_raw(2, 1, vec![65535, 32896, 257, 0x00FF, 0xFF00, 128]).unwrap();
        let rgb = to_srgb8(DynamicImage::ImageRgb16(image), None);
        assert_eq!(rgb.get_pixel(0, 0), &Rgb([255, 128, 1]));
        // The low byte would give 255, 0 and 128 here.
        assert_eq!(rgb.get_pixel(1, 0), &Rgb([1, 254, 0]));
    }

    #[test]
    fn grayscale_becomes_neutral_rgb() {
        let gray: ImageBuffer<Luma<u8>, Vec<u8>> =
            ImageBuffer::from_raw(2, 1, vec![7, 200]).unwrap();
        let rgb = to_srgb8(DynamicImage::ImageLuma8(gray), None);
        assert_eq!(rgb.get_pixel(0, 0), &Rgb([7, 7, 7]));
        assert_eq!(rgb.get_pixel(1, 0), &Rgb([200, 200, 200]));
    }

    #[test]
    fn non_rgb_profile_is_ignored() {
        let mut header = vec![0u8; 128];
        header[16..20].copy_from_slice(b"GRAY");
        assert!(transform_to_srgb(&header).is_none());
        assert!(transform_to_srgb(b"short").is_none());
    }
}
