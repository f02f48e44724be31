//! Every image fixture handled the way its README states a correct app must.

mod common;

use common::{fixture, mad};
use segue_render::{Fit, ImageError, conform, load_image, probe_image};

#[test]
fn photographs_probe_with_their_sizes() {
    let cases = [
        ("01-dandelions-1920x1080.jpg", (1920, 1080)),
        ("02-interior-portrait-1280x1920.jpg", (1280, 1920)),
        ("03-astronaut-512x512.jpg", (512, 512)),
        ("04-coffee-600x400.jpg", (600, 400)),
        ("05-mountains-1600x1200.jpg", (1600, 1200)),
        ("06-storm-road-1920x1280.jpg", (1920, 1280)),
        ("07-fig-odd-height-1920x1299.jpg", (1920, 1299)),
        ("08-sunset-square-1440x1440.jpg", (1440, 1440)),
    ];
    for (name, size) in cases {
        let info = probe_image(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(info.format, "JPEG", "{name}");
        assert_eq!((info.width, info.height), size, "{name}");
        assert!(!info.orientation_applied, "{name}");
        let image = load_image(&fixture(name)).unwrap();
        assert_eq!(image.dimensions(), size, "{name}");
    }
}

#[test]
fn exif_orientation_is_applied() {
    let path = fixture("exif-orientation-6.jpg");
    let info = probe_image(&path).unwrap();
    assert_eq!((info.width, info.height), (1280, 1920));
    assert!(info.orientation_applied);

    let rotated = load_image(&path).unwrap();
    assert_eq!(rotated.dimensions(), (1280, 1920));
    let upright = load_image(&fixture("02-interior-portrait-1280x1920.jpg")).unwrap();
    let difference = mad(&rotated, &upright);
    // The fixture README measures 0.70 with Pillow; sideways would be far off.
    assert!(difference < 2.0, "MAD {difference}");
}

#[test]
fn cmyk_jpeg_looks_like_rgb_original() {
    let cmyk = load_image(&fixture("cmyk.jpg")).unwrap();
    let original = load_image(&fixture("04-coffee-600x400.jpg")).unwrap();
    let difference = mad(&cmyk, &original);
    assert!(difference < 6.0, "MAD {difference}, inverted colours give over 100");
}

#[test]
fn sixteen_bit_png_is_scaled_to_eight_bits() {
    let deep = load_image(&fixture("rgb-16bit.png")).unwrap();
    assert_eq!(deep.dimensions(), (400, 400));
    let square = load_image(&fixture("08-sunset-square-1440x1440.jpg")).unwrap();
    let reference = conform(&square, (400, 400), Fit::Cover);
    let difference = mad(&deep, &reference);
    // Taking the low byte instead of scaling gives noise with MAD near 64.
    assert!(difference < 2.5, "MAD {difference}");
}

#[test]
fn alpha_composites_over_black_without_magenta() {
    let image = load_image(&fixture("alpha-magenta-under-transparent.png")).unwrap();
    assert_eq!(image.dimensions(), (512, 512));
    // The corners are fully transparent and store magenta underneath.
    for (x, y) in [(0, 0), (511, 0), (0, 511), (511, 511)] {
        assert_eq!(image.get_pixel(x, y).0, [0, 0, 0], "corner ({x}, {y})");
    }

    let near_magenta = image.pixels().filter(|p| p[0] > 200 && p[1] < 40 && p[2] > 200).count();
    assert_eq!(near_magenta, 0, "pixels close to pure magenta");
    // Compare with the straight-alpha source: transparent pixels turn black,
    // partly transparent ones are their colour scaled by alpha.
    let rgba = image::open(fixture("alpha-magenta-under-transparent.png")).unwrap().to_rgba8();
    let mut transparent = 0;
    for (out, source) in image.pixels().zip(rgba.pixels()) {
        let alpha = u32::from(source[3]);
        if alpha == 0 {
            transparent += 1;
        }
        for channel in 0..3 {
            let expected = (u32::from(source[channel]) * alpha + 127) / 255;
            assert_eq!(u32::from(out[channel]), expected, "source pixel {source:?}");
        }
    }
    assert_eq!(transparent, 104_343, "transparent pixel count from the fixture README");

    // The centre of the disc is the opaque astronaut photo.
    let astronaut = load_image(&fixture("03-astronaut-512x512.jpg")).unwrap();
    let centre =
        |img: &image::RgbImage| image::imageops::crop_imm(img, 206, 206, 100, 100).to_image();
    // The PNG keeps the lossless original, the JPEG adds compression error.
    let difference = mad(&centre(&image), &centre(&astronaut));
    assert!(difference < 6.0, "centre MAD {difference}");
}

#[test]
fn grayscale_decodes_to_neutral_rgb() {
    let image = load_image(&fixture("grayscale.jpg")).unwrap();
    assert_eq!(image.dimensions(), (1920, 1280));
    assert!(image.pixels().all(|p| p[0] == p[1] && p[1] == p[2]), "every pixel R = G = B");
    assert!(image.pixels().any(|p| p[0] > 100), "not a black image");
}

#[test]
fn webp_looks_like_jpeg_original() {
    let info = probe_image(&fixture("mountains.webp")).unwrap();
    assert_eq!(info.format, "WebP");
    let webp = load_image(&fixture("mountains.webp")).unwrap();
    let original = load_image(&fixture("05-mountains-1600x1200.jpg")).unwrap();
    let difference = mad(&webp, &original);
    assert!(difference < 6.0, "MAD {difference}");
}

#[test]
fn heic_is_rejected_with_conversion_hint() {
    let path = fixture("fig.heic");
    for error in [probe_image(&path).unwrap_err(), load_image(&path).unwrap_err()] {
        assert!(matches!(error, ImageError::Heic { .. }), "{error:?}");
        assert_eq!(error.path(), path);
        let message = error.to_string();
        assert!(message.contains("fig.heic"), "{message}");
        assert!(message.contains("not supported"), "{message}");
        assert!(message.contains("JPEG or PNG"), "{message}");
    }
}

#[test]
fn tiny_image_is_rejected_with_sizes() {
    let error = probe_image(&fixture("tiny-8x8.png")).unwrap_err();
    assert!(
        matches!(error, ImageError::TooSmall { width: 8, height: 8, min: 64, .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("tiny-8x8.png"), "{message}");
    assert!(message.contains("8x8"), "{message}");
    assert!(message.contains("64x64"), "{message}");
}

#[test]
fn truncated_jpeg_is_rejected() {
    let path = fixture("truncated.jpg");
    for error in [probe_image(&path).unwrap_err(), load_image(&path).unwrap_err()] {
        assert!(matches!(error, ImageError::Truncated { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("truncated.jpg"), "{message}");
        assert!(message.contains("truncated or corrupt"), "{message}");
    }
}

#[test]
fn empty_file_is_rejected() {
    let error = load_image(&fixture("empty.jpg")).unwrap_err();
    assert!(matches!(error, ImageError::Empty { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("empty.jpg"), "{message}");
    assert!(message.contains("empty"), "{message}");
}

#[test]
fn text_file_is_not_an_image() {
    let error = probe_image(&fixture("not-an-image.jpg")).unwrap_err();
    assert!(matches!(error, ImageError::NotAnImage { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("not-an-image.jpg"), "{message}");
    assert!(message.contains("not an image"), "{message}");
}

#[test]
fn huge_image_is_accepted() {
    let path = fixture("huge-12000x8000.jpg");
    let info = probe_image(&path).unwrap();
    assert_eq!((info.width, info.height), (12000, 8000));
    let image = load_image(&path).unwrap();
    assert_eq!(image.dimensions(), (12000, 8000));
    let conformed = conform(&image, (1280, 720), Fit::Cover);
    let dandelions = load_image(&fixture("01-dandelions-1920x1080.jpg")).unwrap();
    let reference = conform(&dandelions, (1280, 720), Fit::Cover);
    // A 120x80 reduction blown up: similar colours, no fine detail.
    assert!(mad(&conformed, &reference) < 30.0);
}

#[test]
fn non_ascii_name_kept_intact() {
    let name = "café crème d'été 写真.jpg";
    let image = load_image(&fixture(name)).unwrap();
    let original = load_image(&fixture("04-coffee-600x400.jpg")).unwrap();
    assert!(image == original, "same bytes decode the same");

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("café crème d'été 写真 (cut).jpg");
    let bytes = std::fs::read(fixture(name)).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();
    let error = load_image(&broken).unwrap_err();
    assert!(matches!(error, ImageError::Truncated { .. }), "{error:?}");
    assert_eq!(error.path(), broken);
    assert!(error.to_string().contains("café crème d'été 写真 (cut).jpg"), "{error}");
}

#[test]
fn content_decides_format_not_extension() {
    let dir = tempfile::tempdir().unwrap();
    let disguised = dir.path().join("really-a-jpeg.png");
    std::fs::copy(fixture("04-coffee-600x400.jpg"), &disguised).unwrap();
    let info = probe_image(&disguised).unwrap();
    assert_eq!(info.format, "JPEG");
    assert_eq!(load_image(&disguised).unwrap().dimensions(), (600, 400));
}
