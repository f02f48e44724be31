//! Content sniffing: which image format a file holds, judged by its bytes and
//! never by its name, plus the JPEG completeness check that the `image`
//! crate's decoder does not make.

use image::ImageFormat;

/// Formats that Segue decodes.
pub(crate) const SUPPORTED: [ImageFormat; 6] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::WebP,
    ImageFormat::Tiff,
    ImageFormat::Bmp,
    ImageFormat::Gif,
];

/// Format indicated by the first bytes of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sniffed {
    /// A format in [`SUPPORTED`].
    Supported(ImageFormat),
    /// HEIC or HEIF: an ISO BMFF `ftyp` box with an HEVC image brand.
    Heic,
    /// An image format that is recognised but not decoded, with its name.
    Unsupported(&'static str),
    /// No known image signature.
    Unknown,
}

/// Brands of the ISO BMFF `ftyp` box that mark AVIF files.
const AVIF_BRANDS: [&[u8; 4]; 2] = [b"avif", b"avis"];
/// Brands of the ISO BMFF `ftyp` box that mark HEIC and HEIF files. `mif1` and
/// `msf1` are generic HEIF brands that AVIF files carry too, so AVIF brands are
/// checked first.
const HEIF_BRANDS: [&[u8; 4]; 10] =
    [b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"];

/// Identifies the image format from the start of the file.
pub(crate) fn sniff(bytes: &[u8]) -> Sniffed {
    if let Some(brands) = ftyp_brands(bytes) {
        if brands.iter().any(|brand| AVIF_BRANDS.contains(brand)) {
            return Sniffed::Unsupported("AVIF");
        }
        if brands.iter().any(|brand| HEIF_BRANDS.contains(brand)) {
            return Sniffed::Heic;
        }
    }
    match image::guess_format(bytes) {
        Ok(format) if SUPPORTED.contains(&format) => Sniffed::Supported(format),
        Ok(format) => Sniffed::Unsupported(format_name(format)),
        Err(_) => Sniffed::Unknown,
    }
}

/// Major and compatible brands of a leading ISO BMFF `ftyp` box, if there is one.
fn ftyp_brands(bytes: &[u8]) -> Option<Vec<&[u8; 4]>> {
    if bytes.len() < 16 || &bytes[4..8] != b"ftyp" {
        return None;
    }
    let declared = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let end = declared.clamp(16, bytes.len());
    // Bytes 8..12 are the major brand, 12..16 the minor version, then the
    // compatible brands follow to the end of the box.
    let major = bytes[8..12].try_into().ok()?;
    let mut brands = vec![major];
    for chunk in bytes[16..end].chunks_exact(4) {
        brands.push(chunk.try_into().ok()?);
    }
    Some(brands)
}

/// Short upper-case name of a format, as [`crate::ImageInfo::format`] reports it.
pub(crate) fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::WebP => "WebP",
        ImageFormat::Tiff => "TIFF",
        ImageFormat::Bmp => "BMP",
        ImageFormat::Gif => "GIF",
        ImageFormat::Avif => "AVIF",
        ImageFormat::Ico => "ICO",
        ImageFormat::Tga => "TGA",
        ImageFormat::Dds => "DDS",
        ImageFormat::Hdr => "Radiance HDR",
        ImageFormat::OpenExr => "OpenEXR",
        ImageFormat::Pnm => "PNM",
        ImageFormat::Farbfeld => "Farbfeld",
        ImageFormat::Qoi => "QOI",
        _ => "this format",
    }
}

/// Returns whether a JPEG file contains its end-of-image marker after the
/// first scan.
///
/// The marker segments before the first start-of-scan (SOS, `FF DA`) are
/// walked by their lengths, so a thumbnail inside an EXIF segment is skipped.
/// Inside entropy-coded data a `FF` byte is always followed by `00` or a
/// restart marker (`D0`-`D7`), so an `FF D9` found after the first SOS is the
/// real end-of-image marker.
pub(crate) fn jpeg_is_complete(bytes: &[u8]) -> bool {
    match first_scan_offset(bytes) {
        Some(scan) => bytes[scan..].windows(2).any(|pair| pair == [0xFF, 0xD9]),
        None => false,
    }
}

/// Offset just past the first SOS marker, or `None` if the headers end first.
fn first_scan_offset(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
        return None;
    }
    let mut pos = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while *bytes.get(pos)? == 0xFF && *bytes.get(pos + 1)? == 0xFF {
            pos += 1;
        }
        if *bytes.get(pos)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(pos + 1)?;
        pos += 2;
        match marker {
            0xDA => return Some(pos),
            // Standalone markers carry no length field.
            0x01 | 0xD0..=0xD7 => continue,
            0xD9 => return None,
            _ => {
                let high = *bytes.get(pos)?;
                let low = *bytes.get(pos + 1)?;
                pos += usize::from(u16::from_be_bytes([high, low]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len();
        let mut bytes = (size as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(b"ftyp");
        bytes.extend_from_slice(major);
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        for brand in compatible {
            bytes.extend_from_slice(*brand);
        }
        bytes.extend_from_slice(&[0, 0, 0, 8, b'm', b'e', b't', b'a']);
        bytes
    }

    #[test]
    fn sniff_detects_heic_brands() {
        assert_eq!(sniff(&ftyp(b"heic", &[b"mif1", b"heic"])), Sniffed::Heic);
        assert_eq!(sniff(&ftyp(b"mif1", &[b"heix"])), Sniffed::Heic);
        assert_eq!(sniff(&ftyp(b"msf1", &[])), Sniffed::Heic);
    }

    #[test]
    fn sniff_detects_avif_before_generic_heif() {
        assert_eq!(sniff(&ftyp(b"avif", &[b"mif1", b"miaf"])), Sniffed::Unsupported("AVIF"));
        assert_eq!(sniff(&ftyp(b"mif1", &[b"avif"])), Sniffed::Unsupported("AVIF"));
    }

    #[test]
    fn sniff_ignores_video_ftyp() {
        assert_eq!(sniff(&ftyp(b"isom", &[b"avc1", b"mp41"])), Sniffed::Unknown);
    }

    #[test]
    fn sniff_recognises_signatures() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\0"), Sniffed::Supported(ImageFormat::Png));
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF"), Sniffed::Supported(ImageFormat::Jpeg));
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Sniffed::Supported(ImageFormat::Gif));
        assert_eq!(sniff(b"qoif\0\0\0\x01\0\0\0\x01"), Sniffed::Unsupported("QOI"));
        assert_eq!(sniff(b"hello, this is text"), Sniffed::Unknown);
        assert_eq!(sniff(b""), Sniffed::Unknown);
    }

    /// Builds a structurally plausible JPEG: SOI, an APP1 segment that contains
    /// its own complete thumbnail, SOS, scan bytes, and an optional EOI.
    fn jpeg_with_thumbnail(with_eoi: bool) -> Vec<u8> {
        let thumbnail = [0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0x11, 0xFF, 0xD9];
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE1];
        bytes.extend_from_slice(&((thumbnail.len() + 2) as u16).to_be_bytes());
        bytes.extend_from_slice(&thumbnail);
        bytes.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02]);
        bytes.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56]);
        if with_eoi {
            bytes.extend_from_slice(&[0xFF, 0xD9]);
        }
        bytes
    }

    #[test]
    fn jpeg_completeness_skips_thumbnail() {
        assert!(jpeg_is_complete(&jpeg_with_thumbnail(true)));
        assert!(!jpeg_is_complete(&jpeg_with_thumbnail(false)));
    }

    #[test]
    fn jpeg_completeness_rejects_cut_headers() {
        let full = jpeg_with_thumbnail(true);
        assert!(!jpeg_is_complete(&full[..6]));
        assert!(!jpeg_is_complete(&[]));
    }
}
