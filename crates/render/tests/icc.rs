//! Embedded ICC profiles: a non-sRGB profile is converted to sRGB, an sRGB
//! profile leaves the pixels alone. The profiles are built here as minimal
//! ICC v2 matrix/TRC display profiles.

use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};
use segue_render::load_image;

/// sRGB primaries adapted to the D50 profile connection space, as the
/// rXYZ, gXYZ and bXYZ tags of common sRGB profiles store them.
const SRGB_D50_COLORANTS: [[f64; 3]; 3] = [
    [0.436_074_7, 0.222_504_5, 0.013_932_2],
    [0.385_064_9, 0.716_878_6, 0.097_104_5],
    [0.143_080_4, 0.060_616_9, 0.714_173_3],
];
const D50: [f64; 3] = [0.9642, 1.0, 0.8249];

fn s15_fixed16(value: f64) -> [u8; 4] {
    ((value * 65536.0).round() as i32).to_be_bytes()
}

fn xyz_tag(xyz: [f64; 3]) -> Vec<u8> {
    let mut tag = b"XYZ \0\0\0\0".to_vec();
    for component in xyz {
        tag.extend_from_slice(&s15_fixed16(component));
    }
    tag
}

/// `curv` tag with a single gamma value.
fn gamma_tag(gamma: f64) -> Vec<u8> {
    let mut tag = b"curv\0\0\0\0".to_vec();
    tag.extend_from_slice(&1u32.to_be_bytes());
    tag.extend_from_slice(&((gamma * 256.0).round() as u16).to_be_bytes());
    tag.extend_from_slice(&[0, 0]);
    tag
}

/// `para` tag of function type 3, the sRGB transfer curve.
fn srgb_curve_tag() -> Vec<u8> {
    let mut tag = b"para\0\0\0\0".to_vec();
    tag.extend_from_slice(&3u16.to_be_bytes());
    tag.extend_from_slice(&[0, 0]);
    for value in [2.4, 1.0 / 1.055, 0.055 / 1.055, 1.0 / 12.92, 0.04045] {
        tag.extend_from_slice(&s15_fixed16(value));
    }
    tag
}

/// Builds a display profile with sRGB primaries and the given transfer curve tag.
fn rgb_profile(curve: Vec<u8>) -> Vec<u8> {
    let mut tags: Vec<(&[u8; 4], Vec<u8>)> = vec![(b"wtpt", xyz_tag(D50))];
    for (signature, colorant) in [b"rXYZ", b"gXYZ", b"bXYZ"].into_iter().zip(SRGB_D50_COLORANTS) {
        tags.push((signature, xyz_tag(colorant)));
    }
    for signature in [b"rTRC", b"gTRC", b"bTRC"] {
        tags.push((signature, curve.clone()));
    }

    let table_len = 4 + 12 * tags.len();
    let mut offset = 128 + table_len;
    let mut table = (tags.len() as u32).to_be_bytes().to_vec();
    let mut data = Vec::new();
    for (signature, tag) in &tags {
        table.extend_from_slice(*signature);
        table.extend_from_slice(&(offset as u32).to_be_bytes());
        table.extend_from_slice(&(tag.len() as u32).to_be_bytes());
        data.extend_from_slice(tag);
        while data.len() % 4 != 0 {
            data.push(0);
        }
        offset = 128 + table_len + data.len();
    }

    let mut header = vec![0u8; 128];
    let size = 128 + table.len() + data.len();
    header[0..4].copy_from_slice(&(size as u32).to_be_bytes());
    header[8..12].copy_from_slice(&[2, 0x10, 0, 0]);
    header[12..16].copy_from_slice(b"mntr");
    header[16..20].copy_from_slice(b"RGB ");
    header[20..24].copy_from_slice(b"XYZ ");
    header[36..40].copy_from_slice(b"acsp");
    for (i, component) in D50.into_iter().enumerate() {
        header[68 + 4 * i..72 + 4 * i].copy_from_slice(&s15_fixed16(component));
    }
    [header, table, data].concat()
}

fn flat_image(value: u8) -> RgbImage {
    RgbImage::from_pixel(64, 64, image::Rgb([value, value, value]))
}

fn write_png(path: &Path, image: &RgbImage, icc: Vec<u8>) {
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = PngEncoder::new(file);
    encoder.set_icc_profile(icc).expect("PNG stores ICC profiles");
    encoder.write_image(image.as_raw(), 64, 64, ExtendedColorType::Rgb8).unwrap();
}

#[test]
fn linear_profile_png_is_converted_to_srgb() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("linear.png");
    write_png(&path, &flat_image(128), rgb_profile(gamma_tag(1.0)));
    let image = load_image(&path).unwrap();
    // Linear 128/255 = 0.502 is sRGB 0.735, level 188.
    let pixel = image.get_pixel(32, 32).0;
    for channel in pixel {
        assert!(channel.abs_diff(188) <= 3, "converted pixel {pixel:?}");
    }
}

#[test]
fn linear_profile_jpeg_is_converted_to_srgb() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("linear.jpg");
    let file = std::fs::File::create(&path).unwrap();
    let mut encoder = JpegEncoder::new_with_quality(file, 95);
    encoder.set_icc_profile(rgb_profile(gamma_tag(1.0))).expect("JPEG stores ICC profiles");
    encoder.write_image(flat_image(128).as_raw(), 64, 64, ExtendedColorType::Rgb8).unwrap();
    let pixel = load_image(&path).unwrap().get_pixel(32, 32).0;
    for channel in pixel {
        assert!(channel.abs_diff(188) <= 3, "converted pixel {pixel:?}");
    }
}

#[test]
fn srgb_profile_leaves_pixels_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("srgb.png");
    let image = RgbImage::from_fn(64, 64, |x, y| image::Rgb([(x * 4) as u8, (y * 4) as u8, 100]));
    write_png(&path, &image, rgb_profile(srgb_curve_tag()));
    let loaded = load_image(&path).unwrap();
    let worst = loaded.as_raw().iter().zip(image.as_raw()).map(|(a, b)| a.abs_diff(*b)).max();
    assert!(worst <= Some(1), "worst difference {worst:?}");
}
