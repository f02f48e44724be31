//! RGB to YUV 4:2:0 conversion with BT.709 coefficients in limited (TV)
//! range, matching the colour tags the encoder writes into the stream.

use openh264::formats::YUVSource;

/// Luma weights for R, G and B: BT.709's 0.2126, 0.7152 and 0.0722 scaled by
/// 219/255 (limited range) in 16-bit fixed point.
const Y_COEFFS: [i32; 3] = [11966, 40254, 4064];
/// Cb weights: BT.709's (-0.1146, -0.3854, 0.5) scaled by 224/255 in 16-bit
/// fixed point, rounded so that they sum to zero and grey keeps Cb = 128.
const U_COEFFS: [i32; 3] = [-6596, -22188, 28784];
/// Cr weights: BT.709's (0.5, -0.4542, -0.0458) scaled by 224/255 in 16-bit
/// fixed point, summing to zero like [`U_COEFFS`].
const V_COEFFS: [i32; 3] = [28784, -26145, -2639];

/// A YUV 4:2:0 frame with tightly packed planes; chroma planes are half the
/// luma size, rounded up.
#[derive(Clone, Debug, Default)]
pub(crate) struct Yuv420 {
    width: usize,
    height: usize,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl Yuv420 {
    /// Creates a black frame of the given size.
    pub(crate) fn new(width: usize, height: usize) -> Yuv420 {
        let chroma = width.div_ceil(2) * height.div_ceil(2);
        Yuv420 {
            width,
            height,
            y: vec![16; width * height],
            u: vec![128; chroma],
            v: vec![128; chroma],
        }
    }

    /// Luma plane.
    #[cfg(test)]
    pub(crate) fn y_plane(&self) -> &[u8] {
        &self.y
    }

    /// Cb and Cr planes.
    #[cfg(test)]
    pub(crate) fn chroma_planes(&self) -> (&[u8], &[u8]) {
        (&self.u, &self.v)
    }

    /// Converts packed RGB of this frame's size into the planes. Each chroma
    /// sample is computed from the mean RGB of its 2x2 block; an odd last
    /// row or column pairs with itself.
    pub(crate) fn fill_from_rgb(&mut self, rgb: &[u8]) {
        assert_eq!(rgb.len(), self.width * self.height * 3, "RGB buffer size");
        let (width, height) = (self.width, self.height);
        let stride = width * 3;
        let chroma_width = width.div_ceil(2);
        let mut odd_row = Vec::new();
        let luma_pairs = self.y.chunks_mut(2 * width);
        let chroma_rows =
            self.u.chunks_exact_mut(chroma_width).zip(self.v.chunks_exact_mut(chroma_width));
        for (pair, (luma, (u, v))) in luma_pairs.zip(chroma_rows).enumerate() {
            let top = 2 * pair;
            let bottom = (top + 1).min(height - 1);
            let top_rgb = &rgb[top * stride..(top + 1) * stride];
            let bottom_rgb = &rgb[bottom * stride..(bottom + 1) * stride];
            let (y_top, y_bottom) = if luma.len() == 2 * width {
                luma.split_at_mut(width)
            } else {
                odd_row.resize(width, 0);
                (luma, odd_row.as_mut_slice())
            };
            convert_row_pair(RowPair { top: top_rgb, bottom: bottom_rgb }, y_top, y_bottom, u, v);
        }
    }
}

/// Two RGB rows that share one row of chroma samples.
#[derive(Clone, Copy)]
struct RowPair<'a> {
    top: &'a [u8],
    bottom: &'a [u8],
}

fn convert_row_pair(
    rows: RowPair<'_>,
    y_top: &mut [u8],
    y_bottom: &mut [u8],
    u: &mut [u8],
    v: &mut [u8],
) {
    let blocks = rows.top.chunks_exact(6).zip(rows.bottom.chunks_exact(6));
    let luma = y_top.chunks_exact_mut(2).zip(y_bottom.chunks_exact_mut(2));
    let chroma_out = u.iter_mut().zip(v.iter_mut());
    for (((top, bottom), (luma_top, luma_bottom)), (out_u, out_v)) in
        blocks.zip(luma).zip(chroma_out)
    {
        luma_top[0] = luma_of(&top[0..3]);
        luma_top[1] = luma_of(&top[3..6]);
        luma_bottom[0] = luma_of(&bottom[0..3]);
        luma_bottom[1] = luma_of(&bottom[3..6]);
        let sum = [0, 1, 2].map(|c| {
            i32::from(top[c])
                + i32::from(top[c + 3])
                + i32::from(bottom[c])
                + i32::from(bottom[c + 3])
        });
        *out_u = chroma(U_COEFFS, sum);
        *out_v = chroma(V_COEFFS, sum);
    }
    // An odd width leaves one column whose block is that column twice.
    let width = y_top.len();
    if width % 2 == 1 {
        let x = width - 1;
        let (top, bottom) = (&rows.top[x * 3..x * 3 + 3], &rows.bottom[x * 3..x * 3 + 3]);
        y_top[x] = luma_of(top);
        y_bottom[x] = luma_of(bottom);
        let sum = [0, 1, 2].map(|c| 2 * (i32::from(top[c]) + i32::from(bottom[c])));
        u[x / 2] = chroma(U_COEFFS, sum);
        v[x / 2] = chroma(V_COEFFS, sum);
    }
}

fn luma_of(pixel: &[u8]) -> u8 {
    let weighted = Y_COEFFS[0] * i32::from(pixel[0])
        + Y_COEFFS[1] * i32::from(pixel[1])
        + Y_COEFFS[2] * i32::from(pixel[2]);
    (16 + ((weighted + (1 << 15)) >> 16)) as u8
}

/// Computes one chroma sample from the sum of four RGB pixels. The weights
/// are 16-bit fixed point and the sum is four times the mean, so the shift
/// is 18.
fn chroma(coeffs: [i32; 3], sum: [i32; 3]) -> u8 {
    let weighted = coeffs[0] * sum[0] + coeffs[1] * sum[1] + coeffs[2] * sum[2];
    (128 + ((weighted + (1 << 17)) >> 18)).clamp(0, 255) as u8
}

impl YUVSource for Yuv420 {
    fn dimensions(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn strides(&self) -> (usize, usize, usize) {
        let chroma = self.width.div_ceil(2);
        (self.width, chroma, chroma)
    }

    fn y(&self) -> &[u8] {
        &self.y
    }

    fn u(&self) -> &[u8] {
        &self.u
    }

    fn v(&self) -> &[u8] {
        &self.v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(width: usize, height: usize, rgb: &[u8]) -> Yuv420 {
        let mut frame = Yuv420::new(width, height);
        frame.fill_from_rgb(rgb);
        frame
    }

    #[test]
    fn greys_stay_neutral() {
        for level in 0..=255u8 {
            let frame = convert(2, 2, &[level; 12]);
            let (u, v) = frame.chroma_planes();
            assert_eq!((u[0], v[0]), (128, 128), "grey {level}");
        }
    }

    #[test]
    fn black_and_white_hit_limited_range() {
        assert_eq!(convert(2, 2, &[0; 12]).y_plane(), &[16; 4]);
        assert_eq!(convert(2, 2, &[255; 12]).y_plane(), &[235; 4]);
    }

    #[test]
    fn primaries_match_bt709() {
        // BT.709 limited-range YCbCr of full red, green and blue.
        let cases = [
            ([255, 0, 0], (63, 102, 240)),
            ([0, 255, 0], (173, 42, 26)),
            ([0, 0, 255], (32, 240, 118)),
        ];
        for (rgb, expected) in cases {
            let frame = convert(2, 2, &rgb.repeat(4));
            let (u, v) = frame.chroma_planes();
            assert_eq!((frame.y_plane()[0], u[0], v[0]), expected, "{rgb:?}");
        }
    }

    #[test]
    fn chroma_averages_two_by_two() {
        // Left column red, right column blue: chroma is their mean.
        let rgb = [255, 0, 0, 0, 0, 255, 255, 0, 0, 0, 0, 255];
        let frame = convert(2, 2, &rgb);
        let mean = convert(2, 2, &[128, 0, 128].repeat(4));
        let (u, v) = frame.chroma_planes();
        let (mean_u, mean_v) = mean.chroma_planes();
        assert!(u[0].abs_diff(mean_u[0]) <= 1);
        assert!(v[0].abs_diff(mean_v[0]) <= 1);
    }

    /// BT.709 limited-range inverse with each chroma sample shared by its
    /// 2x2 block.
    fn to_rgb(frame: &Yuv420) -> Vec<u8> {
        let (width, height) = frame.dimensions();
        let chroma_width = width.div_ceil(2);
        let mut rgb = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            for x in 0..width {
                let c = (y / 2) * chroma_width + x / 2;
                let luma = (f64::from(frame.y[y * width + x]) - 16.0) * 255.0 / 219.0;
                let cb = (f64::from(frame.u[c]) - 128.0) * 255.0 / 224.0;
                let cr = (f64::from(frame.v[c]) - 128.0) * 255.0 / 224.0;
                for value in
                    [luma + 1.5748 * cr, luma - 0.187_324 * cb - 0.468_124 * cr, luma + 1.8556 * cb]
                {
                    rgb.push(value.round().clamp(0.0, 255.0) as u8);
                }
            }
        }
        rgb
    }

    #[test]
    fn photo_round_trip_is_close() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/images/07-fig-odd-height-1920x1299.jpg"
        );
        let photo = image::open(path).unwrap().to_rgb8();
        let photo = crate::conform(&photo, (1064, 720), crate::Fit::Cover);
        let frame = convert(1064, 720, photo.as_raw());
        let back = to_rgb(&frame);
        let mse = photo
            .as_raw()
            .iter()
            .zip(&back)
            .map(|(a, b)| f64::from(a.abs_diff(*b)).powi(2))
            .sum::<f64>()
            / back.len() as f64;
        let psnr = 10.0 * (255.0f64 * 255.0 / mse).log10();
        // 4:2:0 loses chroma detail only: the fig photo keeps about 42 dB.
        assert!(psnr > 40.0, "round trip PSNR {psnr:.1} dB");
    }

    #[test]
    fn odd_sizes_round_chroma_up() {
        let frame = convert(3, 3, &[200; 27]);
        assert_eq!(frame.strides(), (3, 2, 2));
        assert_eq!(frame.chroma_planes().0.len(), 4);
        assert!(frame.y_plane().iter().all(|&y| y == frame.y_plane()[0]));
    }
}
