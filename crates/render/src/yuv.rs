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
pub struct Yuv420 {
    width: usize,
    height: usize,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl Yuv420 {
    /// Creates a black frame of the given size.
    pub fn new(width: usize, height: usize) -> Yuv420 {
        let chroma = width.div_ceil(2) * height.div_ceil(2);
        Yuv420 {
            width,
            height,
            y: vec![16; width * height],
            u: vec![128; chroma],
            v: vec![128; chroma],
        }
    }

    /// Bytes of one frame of this size in raw I420 layout: the Y, U and V
    /// planes one after another.
    pub fn i420_len(width: usize, height: usize) -> usize {
        width * height + 2 * width.div_ceil(2) * height.div_ceil(2)
    }

    /// Creates a frame from raw I420 bytes, as written by [`Yuv420::write_i420`]
    /// or by ffmpeg's `-f rawvideo -pix_fmt yuv420p`.
    ///
    /// # Panics
    ///
    /// Panics if `data` is not [`Yuv420::i420_len`] bytes long.
    pub fn from_i420(width: usize, height: usize, data: &[u8]) -> Yuv420 {
        assert_eq!(data.len(), Self::i420_len(width, height), "I420 frame size");
        let chroma = width.div_ceil(2) * height.div_ceil(2);
        let (y, rest) = data.split_at(width * height);
        let (u, v) = rest.split_at(chroma);
        Yuv420 { width, height, y: y.to_vec(), u: u.to_vec(), v: v.to_vec() }
    }

    /// Writes the frame as raw I420: the Y, U and V planes one after another.
    pub fn write_i420(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        out.write_all(&self.y)?;
        out.write_all(&self.u)?;
        out.write_all(&self.v)
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
    pub fn fill_from_rgb(&mut self, rgb: &[u8]) {
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
    // Each 6-byte chunk is destructured into named bytes, so the loop has no
    // bounds checks and no closure calls. An array `map` over the channels
    // here was not inlined and took about half of the conversion time.
    let blocks = rows.top.chunks_exact(6).zip(rows.bottom.chunks_exact(6));
    let luma_pairs = y_top.chunks_exact_mut(2).zip(y_bottom.chunks_exact_mut(2));
    let chroma_out = u.iter_mut().zip(v.iter_mut());
    for (((top, bottom), (luma_top, luma_bottom)), (out_u, out_v)) in
        blocks.zip(luma_pairs).zip(chroma_out)
    {
        let &[r0, g0, b0, r1, g1, b1] = top else { unreachable!("chunks of 6 bytes") };
        let &[r2, g2, b2, r3, g3, b3] = bottom else { unreachable!("chunks of 6 bytes") };
        luma_top[0] = luma(r0, g0, b0);
        luma_top[1] = luma(r1, g1, b1);
        luma_bottom[0] = luma(r2, g2, b2);
        luma_bottom[1] = luma(r3, g3, b3);
        let add =
            |a: u8, b: u8, c: u8, d: u8| i32::from(a) + i32::from(b) + i32::from(c) + i32::from(d);
        let sum = [add(r0, r1, r2, r3), add(g0, g1, g2, g3), add(b0, b1, b2, b3)];
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

fn luma(r: u8, g: u8, b: u8) -> u8 {
    let weighted =
        Y_COEFFS[0] * i32::from(r) + Y_COEFFS[1] * i32::from(g) + Y_COEFFS[2] * i32::from(b);
    (16 + ((weighted + (1 << 15)) >> 16)) as u8
}

fn luma_of(pixel: &[u8]) -> u8 {
    luma(pixel[0], pixel[1], pixel[2])
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

    /// Per-pixel BT.709 limited-range conversion with the same fixed-point
    /// weights and rounding, written without the row-pair loop.
    fn reference(width: usize, height: usize, rgb: &[u8]) -> Vec<u8> {
        let pixel = |x: usize, y: usize| {
            let at = (y.min(height - 1) * width + x.min(width - 1)) * 3;
            [0, 1, 2].map(|c| i32::from(rgb[at + c]))
        };
        let mut planes = Vec::new();
        for y in 0..height {
            for x in 0..width {
                let weighted: i32 = (0..3).map(|c| Y_COEFFS[c] * pixel(x, y)[c]).sum();
                planes.push((16 + ((weighted + (1 << 15)) >> 16)) as u8);
            }
        }
        for coeffs in [U_COEFFS, V_COEFFS] {
            for y in (0..height).step_by(2) {
                for x in (0..width).step_by(2) {
                    let block =
                        [pixel(x, y), pixel(x + 1, y), pixel(x, y + 1), pixel(x + 1, y + 1)];
                    let weighted: i32 =
                        (0..3).map(|c| coeffs[c] * block.iter().map(|p| p[c]).sum::<i32>()).sum();
                    planes.push((128 + ((weighted + (1 << 17)) >> 18)).clamp(0, 255) as u8);
                }
            }
        }
        planes
    }

    #[test]
    fn matches_per_pixel_reference() {
        let mut state = 0x2545_f491_u32;
        for (width, height) in [(64, 48), (37, 23), (2, 1), (1, 2)] {
            let rgb: Vec<u8> = (0..width * height * 3)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    (state >> 24) as u8
                })
                .collect();
            let frame = convert(width, height, &rgb);
            let mut planes = Vec::new();
            frame.write_i420(&mut planes).unwrap();
            assert_eq!(planes, reference(width, height, &rgb), "{width}x{height}");
        }
    }

    #[test]
    fn i420_round_trip() {
        let rgb: Vec<u8> = (0..6 * 4 * 3).map(|i| (i * 11 % 256) as u8).collect();
        let frame = convert(6, 4, &rgb);
        let mut bytes = Vec::new();
        frame.write_i420(&mut bytes).unwrap();
        assert_eq!(bytes.len(), Yuv420::i420_len(6, 4));
        let back = Yuv420::from_i420(6, 4, &bytes);
        assert_eq!(back.y_plane(), frame.y_plane());
        assert_eq!(back.chroma_planes(), frame.chroma_planes());
    }

    #[test]
    fn odd_sizes_round_chroma_up() {
        let frame = convert(3, 3, &[200; 27]);
        assert_eq!(frame.strides(), (3, 2, 2));
        assert_eq!(frame.chroma_planes().0.len(), 4);
        assert!(frame.y_plane().iter().all(|&y| y == frame.y_plane()[0]));
    }
}
