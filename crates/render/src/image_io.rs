//! Reading the front and tail images: content sniffing, size checks, decoding
//! with memory limits, EXIF orientation and conversion to 8-bit sRGB, with
//! errors that name the file and give the fix.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use crate::color;
use crate::decode_budget::{self, Reservation};
use crate::sniff::{self, Sniffed};

/// Smallest accepted width and height in pixels.
pub const MIN_SIDE: u32 = 64;
/// Largest accepted width or height in pixels.
pub const MAX_SIDE: u32 = 30_000;
/// Largest accepted pixel count: 100 megapixels.
pub const MAX_PIXELS: u64 = 100_000_000;
/// Largest single allocation a decoder may make, 1 GiB. It covers a
/// 100-megapixel RGBA image with 16 bits per channel, so only a crafted file
/// that claims more memory than its size needs reaches it.
const MAX_DECODER_ALLOC: u64 = 1 << 30;

/// Bytes read for sniffing the format, enough for an ISO BMFF `ftyp` box
/// with a long list of compatible brands.
const SNIFF_BYTES: u64 = 256;

const FORMATS: &str = "JPEG, PNG, WebP, TIFF, BMP or GIF";

/// Error from reading an image file. Every message names the file and states
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file has no bytes.
    #[error("{}: the file is empty (0 bytes); choose a {FORMATS} image", .path.display())]
    Empty {
        /// File that was read.
        path: PathBuf,
    },
    /// The content matches no known image format.
    #[error(
        "{}: not an image (its content is not {FORMATS}, whatever its name says); \
         choose a {FORMATS} image",
        .path.display()
    )]
    NotAnImage {
        /// File that was read.
        path: PathBuf,
    },
    /// HEIC or HEIF, which Segue cannot decode.
    #[error(
        "{}: HEIC/HEIF images are not supported; convert it to JPEG or PNG \
         (on macOS: open it in Preview and choose File > Export; on an iPhone: \
         Settings > Camera > Formats > Most Compatible)",
        .path.display()
    )]
    Heic {
        /// File that was read.
        path: PathBuf,
    },
    /// A recognised image format that Segue does not decode, such as AVIF.
    #[error("{}: {format} images are not supported; convert it to JPEG or PNG", .path.display())]
    Unsupported {
        /// File that was read.
        path: PathBuf,
        /// Name of the detected format.
        format: &'static str,
    },
    /// The file ends early or its data is damaged.
    #[error(
        "{}: the image is truncated or corrupt (its data ends early); \
         copy or export the file again",
        .path.display()
    )]
    Truncated {
        /// File that was read.
        path: PathBuf,
    },
    /// Width or height below [`MIN_SIDE`].
    #[error(
        "{}: the image is {width}x{height} pixels, smaller than the minimum of \
         {min}x{min}; choose a larger image",
        .path.display()
    )]
    TooSmall {
        /// File that was read.
        path: PathBuf,
        /// Width after EXIF orientation.
        width: u32,
        /// Height after EXIF orientation.
        height: u32,
        /// Smallest accepted width and height.
        min: u32,
    },
    /// Pixel count above [`MAX_PIXELS`] or a side above [`MAX_SIDE`].
    #[error(
        "{}: the image is {width}x{height} pixels, larger than the limit of \
         {} megapixels and {max_side} pixels per side; downscale it first",
        .path.display(), .max_pixels / 1_000_000
    )]
    TooLarge {
        /// File that was read.
        path: PathBuf,
        /// Width after EXIF orientation.
        width: u32,
        /// Height after EXIF orientation.
        height: u32,
        /// Largest accepted pixel count.
        max_pixels: u64,
        /// Largest accepted width or height.
        max_side: u32,
    },
    /// Any other decoder failure.
    #[error(
        "{}: cannot decode the image ({message}); open it in an image editor and \
         save it again as JPEG or PNG",
        .path.display()
    )]
    Decode {
        /// File that was read.
        path: PathBuf,
        /// Message from the decoder.
        message: String,
    },
    /// The file cannot be opened or read.
    #[error("{}: cannot read the file ({source}); check the path", .path.display())]
    Io {
        /// File that was read.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
}

impl ImageError {
    /// File the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ImageError::Empty { path }
            | ImageError::NotAnImage { path }
            | ImageError::Heic { path }
            | ImageError::Unsupported { path, .. }
            | ImageError::Truncated { path }
            | ImageError::TooSmall { path, .. }
            | ImageError::TooLarge { path, .. }
            | ImageError::Decode { path, .. }
            | ImageError::Io { path, .. } => path,
        }
    }
}

/// Image facts that [`probe_image`] reads from the headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// File that was probed.
    pub path: PathBuf,
    /// Detected format: "JPEG", "PNG", "WebP", "TIFF", "BMP" or "GIF".
    pub format: &'static str,
    /// Width in pixels after EXIF orientation.
    pub width: u32,
    /// Height in pixels after EXIF orientation.
    pub height: u32,
    /// Whether the EXIF orientation changes how the stored pixels are shown.
    pub orientation_applied: bool,
}

/// Reads an image's headers and runs every check that needs no full decode:
/// format, completeness of JPEG data, and size limits.
///
/// The whole file is read into memory (the JPEG check scans it), but no
/// pixels are decoded.
pub fn probe_image(path: &Path) -> Result<ImageInfo, ImageError> {
    let file = OpenedImage::open(path)?;
    let decoder = file.decoder()?;
    Ok(decoder.info)
}

/// Decodes an image to upright 8-bit sRGB RGB.
///
/// The decode waits for room in the process-wide decode memory budget (see
/// [`crate::DECODE_BUDGET_BYTES`]). The returned image is outside the budget.
pub fn load_image(path: &Path) -> Result<RgbImage, ImageError> {
    let (image, _reservation) = load_image_reserved(path)?;
    Ok(image)
}

/// Like [`load_image`], but also returns the budget reservation so that the
/// caller can keep it while the full-size image is still alive.
pub(crate) fn load_image_reserved(path: &Path) -> Result<(RgbImage, Reservation), ImageError> {
    let file = OpenedImage::open(path)?;
    let decoder = file.decoder()?;
    let reservation = decode_budget::reserve(decoder.peak_bytes_estimate());
    let image = decoder.decode()?;
    Ok((image, reservation))
}

/// An image file read into memory with its format identified.
struct OpenedImage {
    path: PathBuf,
    bytes: Vec<u8>,
    format: ImageFormat,
}

impl OpenedImage {
    /// Reads the file. Its first bytes are sniffed before the rest is read,
    /// so a large file that is not an image is rejected without loading it.
    fn open(path: &Path) -> Result<Self, ImageError> {
        let path_buf = path.to_path_buf();
        let io_error = |source| ImageError::Io { path: path.to_path_buf(), source };
        let mut file = File::open(path).map_err(io_error)?;
        let mut bytes = Vec::new();
        file.by_ref().take(SNIFF_BYTES).read_to_end(&mut bytes).map_err(io_error)?;
        if bytes.is_empty() {
            return Err(ImageError::Empty { path: path_buf });
        }
        let format = match sniff::sniff(&bytes) {
            Sniffed::Supported(format) => format,
            Sniffed::Heic => return Err(ImageError::Heic { path: path_buf }),
            Sniffed::Unsupported(format) => {
                return Err(ImageError::Unsupported { path: path_buf, format });
            }
            Sniffed::Unknown => return Err(ImageError::NotAnImage { path: path_buf }),
        };
        file.read_to_end(&mut bytes).map_err(io_error)?;
        if format == ImageFormat::Jpeg && !sniff::jpeg_is_complete(&bytes) {
            return Err(ImageError::Truncated { path: path_buf });
        }
        Ok(OpenedImage { path: path_buf, bytes, format })
    }

    fn decoder(&self) -> Result<CheckedDecoder<'_>, ImageError> {
        let mut reader = ImageReader::new(Cursor::new(self.bytes.as_slice()));
        reader.set_format(self.format);
        reader.limits(decoder_limits());
        let decoder = reader.into_decoder().map_err(|error| self.map_error(error))?;
        let mut inner: Box<dyn ImageDecoder + '_> = Box::new(decoder);
        let orientation = inner.orientation().unwrap_or(Orientation::NoTransforms);
        let icc = inner.icc_profile().ok().flatten();
        let stored_size = inner.dimensions();
        let info = self.info(stored_size, orientation);
        check_size(&info)?;
        Ok(CheckedDecoder { file: self, inner, orientation, icc, stored_size, info })
    }

    fn info(&self, (width, height): (u32, u32), orientation: Orientation) -> ImageInfo {
        let swaps = matches!(
            orientation,
            Orientation::Rotate90
                | Orientation::Rotate270
                | Orientation::Rotate90FlipH
                | Orientation::Rotate270FlipH
        );
        let (width, height) = if swaps { (height, width) } else { (width, height) };
        ImageInfo {
            path: self.path.clone(),
            format: sniff::format_name(self.format),
            width,
            height,
            orientation_applied: orientation != Orientation::NoTransforms,
        }
    }

    /// Maps a decoder error to the variant a user can act on.
    fn map_error(&self, error: image::ImageError) -> ImageError {
        let path = self.path.clone();
        match error {
            image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                ImageError::Truncated { path }
            }
            other => {
                let message = other.to_string();
                if looks_truncated(&message) {
                    ImageError::Truncated { path }
                } else {
                    ImageError::Decode { path, message }
                }
            }
        }
    }
}

/// Returns whether a decoder message describes data that ends early. The PNG,
/// GIF and WebP decoders report a cut file this way rather than with an I/O
/// error kind.
fn looks_truncated(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    ["unexpected end", "end of file", "unexpected eof", "truncated", "no more data"]
        .iter()
        .any(|needle| lower.contains(needle))
}

fn decoder_limits() -> Limits {
    // Width and height are checked by `check_size` right after the headers
    // are read, so only the allocation cap is set here.
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODER_ALLOC);
    limits
}

fn check_size(info: &ImageInfo) -> Result<(), ImageError> {
    let (width, height) = (info.width, info.height);
    let path = info.path.clone();
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(ImageError::TooSmall { path, width, height, min: MIN_SIDE });
    }
    let pixels = u64::from(width) * u64::from(height);
    if width > MAX_SIDE || height > MAX_SIDE || pixels > MAX_PIXELS {
        return Err(ImageError::TooLarge {
            path,
            width,
            height,
            max_pixels: MAX_PIXELS,
            max_side: MAX_SIDE,
        });
    }
    Ok(())
}

/// A decoder whose headers passed every check.
struct CheckedDecoder<'a> {
    file: &'a OpenedImage,
    inner: Box<dyn ImageDecoder + 'a>,
    orientation: Orientation,
    icc: Option<Vec<u8>>,
    stored_size: (u32, u32),
    info: ImageInfo,
}

impl CheckedDecoder<'_> {
    /// Estimated peak memory of the decode: the file itself, the decoder's
    /// output and about as much again for its working data, an 8-bit RGBA
    /// conversion and an oriented RGB copy.
    fn peak_bytes_estimate(&self) -> u64 {
        let pixels = u64::from(self.stored_size.0) * u64::from(self.stored_size.1);
        let decoded = self.inner.total_bytes();
        self.file.bytes.len() as u64 + decoded * 2 + pixels * 4 + pixels * 3
    }

    fn decode(self) -> Result<RgbImage, ImageError> {
        let file = self.file;
        let info = self.info;
        let decoded = DynamicImage::from_decoder(self.inner).map_err(|error| match error {
            image::ImageError::Limits(_) => ImageError::TooLarge {
                path: info.path.clone(),
                width: info.width,
                height: info.height,
                max_pixels: MAX_PIXELS,
                max_side: MAX_SIDE,
            },
            other => file.map_error(other),
        })?;
        let mut rgb = DynamicImage::ImageRgb8(color::to_srgb8(decoded, self.icc.as_deref()));
        rgb.apply_orientation(self.orientation);
        Ok(rgb.into_rgb8())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(dir: &Path, name: &str, width: u32, height: u32) -> PathBuf {
        let path = dir.join(name);
        let image = RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 9]));
        image.save(&path).unwrap();
        path
    }

    #[test]
    fn probe_reports_png_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_png(dir.path(), "a.png", 100, 70);
        let info = probe_image(&path).unwrap();
        assert_eq!(info.format, "PNG");
        assert_eq!((info.width, info.height), (100, 70));
        assert!(!info.orientation_applied);
        assert_eq!(info.path, path);
    }

    #[test]
    fn missing_file_is_io_error() {
        let path = Path::new("/nonexistent/dir/photo.jpg");
        let error = probe_image(path).unwrap_err();
        assert!(matches!(error, ImageError::Io { .. }), "{error:?}");
        assert_eq!(error.path(), path);
        let message = error.to_string();
        assert!(message.starts_with("/nonexistent/dir/photo.jpg: "), "{message}");
        assert!(message.contains("check the path"), "{message}");
    }

    #[test]
    fn truncated_png_is_reported_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_png(dir.path(), "full.png", 300, 300);
        let bytes = std::fs::read(&path).unwrap();
        let cut = dir.path().join("cut.png");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let error = load_image(&cut).unwrap_err();
        assert!(matches!(error, ImageError::Truncated { .. }), "{error:?}");
    }

    #[test]
    fn too_large_is_rejected_from_header() {
        let info = ImageInfo {
            path: PathBuf::from("big.png"),
            format: "PNG",
            width: 40_000,
            height: 100,
            orientation_applied: false,
        };
        let error = check_size(&info).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("40000x100"), "{message}");
        assert!(message.contains("100 megapixels"), "{message}");
        assert!(message.contains("30000 pixels per side"), "{message}");

        let wide = ImageInfo { width: 12_000, height: 9_000, ..info };
        assert!(matches!(check_size(&wide), Err(ImageError::TooLarge { .. })));
    }

    #[test]
    fn budget_reservation_is_released_after_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_png(dir.path(), "b.png", 64, 64);
        let (image, reservation) = load_image_reserved(&path).unwrap();
        assert_eq!(image.dimensions(), (64, 64));
        assert!(reservation.bytes() >= 64 * 64 * 3);
    }
}
