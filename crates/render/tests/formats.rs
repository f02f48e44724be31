//! Formats without a fixture file: BMP, TIFF and GIF written by the `image`
//! crate's encoders, plus an animated GIF whose first frame is used.

use std::path::Path;

use image::codecs::gif::GifEncoder;
use image::{Delay, Frame, ImageFormat, RgbImage, RgbaImage};
use segue_render::{ImageError, load_image, probe_image};

/// Builds a four-colour image, exact in every format including GIF's palette.
fn quadrants(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| match (x < width / 2, y < height / 2) {
        (true, true) => image::Rgb([200, 30, 30]),
        (false, true) => image::Rgb([30, 200, 30]),
        (true, false) => image::Rgb([30, 30, 200]),
        (false, false) => image::Rgb([240, 240, 240]),
    })
}

fn round_trip(dir: &Path, format: ImageFormat, name: &str) {
    let image = quadrants(96, 80);
    // The extension is deliberately wrong: the content decides the format.
    let path = dir.join(format!("{name}.jpg"));
    image.save_with_format(&path, format).unwrap();
    let info = probe_image(&path).unwrap();
    assert_eq!(info.format, name, "{name}");
    assert_eq!((info.width, info.height), (96, 80), "{name}");
    let loaded = load_image(&path).unwrap();
    assert!(loaded == image, "{name} decodes to the written pixels");
}

#[test]
fn bmp_tiff_gif_decode_exactly() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(dir.path(), ImageFormat::Bmp, "BMP");
    round_trip(dir.path(), ImageFormat::Tiff, "TIFF");
    round_trip(dir.path(), ImageFormat::Gif, "GIF");
}

#[test]
fn animated_gif_uses_first_frame() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("animated.gif");
    let first = quadrants(80, 64);
    let second = RgbImage::from_pixel(80, 64, image::Rgb([10, 10, 10]));
    let to_frame = |rgb: &RgbImage| {
        let rgba = RgbaImage::from_fn(80, 64, |x, y| {
            let [r, g, b] = rgb.get_pixel(x, y).0;
            image::Rgba([r, g, b, 255])
        });
        Frame::from_parts(rgba, 0, 0, Delay::from_numer_denom_ms(100, 1))
    };
    let mut encoder = GifEncoder::new(std::fs::File::create(&path).unwrap());
    encoder.encode_frames([to_frame(&first), to_frame(&second)]).unwrap();
    drop(encoder);
    let loaded = load_image(&path).unwrap();
    assert!(loaded == first, "the first frame is decoded");
}

#[test]
fn avif_signature_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photo.avif");
    let mut bytes = 24u32.to_be_bytes().to_vec();
    bytes.extend_from_slice(b"ftypavif\0\0\0\0mif1miaf");
    bytes.extend_from_slice(&[0; 64]);
    std::fs::write(&path, bytes).unwrap();
    let error = probe_image(&path).unwrap_err();
    assert!(matches!(error, ImageError::Unsupported { format: "AVIF", .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("photo.avif"), "{message}");
    assert!(message.contains("AVIF images are not supported"), "{message}");
}
