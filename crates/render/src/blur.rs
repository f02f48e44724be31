//! Blur primitives on packed RGB frames: running-sum box blurs along rows and
//! columns whose cost per pixel does not depend on the radius, and 2x2
//! downscaling for the reduced-resolution copies that large blurs work on.

/// Fixed-point shift of the reciprocal that replaces a per-pixel division.
const RECIPROCAL_SHIFT: u32 = 24;

/// Box kernel with a fractional radius `whole + fraction`: weight 1 inside
/// `-whole..=whole` and `fraction` on the two taps just outside, in 1/256ths.
#[derive(Clone, Copy, Debug)]
struct Kernel {
    whole: usize,
    edge_weight: u64,
    reciprocal: u64,
}

impl Kernel {
    fn new(radius: f32) -> Kernel {
        let radius = radius.max(0.0);
        let whole = radius.floor() as usize;
        let edge_weight = ((radius - whole as f32) * 256.0).round() as u64;
        let norm = (2 * whole as u64 + 1) * 256 + 2 * edge_weight;
        let reciprocal = ((1u64 << RECIPROCAL_SHIFT) + norm / 2) / norm;
        Kernel { whole, edge_weight, reciprocal }
    }

    /// Weighted mean of the inner taps' sum and the two outer taps' sum.
    fn normalise(&self, inner_sum: u32, edges: u32) -> u8 {
        let weighted = u64::from(inner_sum) * 256 + u64::from(edges) * self.edge_weight;
        let value =
            (weighted * self.reciprocal + (1 << (RECIPROCAL_SHIFT - 1))) >> RECIPROCAL_SHIFT;
        value.min(255) as u8
    }
}

/// Working buffers for the box blurs, reused from frame to frame.
#[derive(Debug, Default)]
pub(crate) struct BlurBuffers {
    frame: Vec<u8>,
    padded_row: Vec<u8>,
    column_sums: Vec<u32>,
}

impl BlurBuffers {
    /// Blurs each row of `src` into `dst` with a box of `radius` pixels. Taps
    /// past the ends repeat the edge pixel.
    pub(crate) fn blur_rows(&mut self, src: &[u8], dst: &mut [u8], width: usize, radius: f32) {
        if width == 0 {
            return;
        }
        let kernel = Kernel::new(radius);
        let stride = width * 3;
        for (src_row, dst_row) in src.chunks_exact(stride).zip(dst.chunks_exact_mut(stride)) {
            blur_row(src_row, dst_row, kernel, &mut self.padded_row);
        }
    }

    /// Blurs each column of `src` into `dst` with a box of `radius` pixels,
    /// keeping one running sum per column and channel so that rows are read
    /// in memory order.
    pub(crate) fn blur_columns(
        &mut self,
        src: &[u8],
        dst: &mut [u8],
        (width, height): (usize, usize),
        radius: f32,
    ) {
        if width == 0 || height == 0 {
            return;
        }
        let kernel = Kernel::new(radius);
        let stride = width * 3;
        let last = height as isize - 1;
        let row = |y: isize| {
            let y = y.clamp(0, last) as usize;
            &src[y * stride..(y + 1) * stride]
        };
        let whole = kernel.whole as isize;
        let sums = &mut self.column_sums;
        sums.clear();
        sums.resize(stride, 0);
        for k in -whole..=whole {
            for (sum, &value) in sums.iter_mut().zip(row(k)) {
                *sum += u32::from(value);
            }
        }
        for (y, dst_row) in dst.chunks_exact_mut(stride).take(height).enumerate() {
            let y = y as isize;
            let (above, below) = (row(y - whole - 1), row(y + whole + 1));
            let taps = sums.iter().zip(above).zip(below);
            for (out, ((&sum, &a), &b)) in dst_row.iter_mut().zip(taps) {
                *out = kernel.normalise(sum, u32::from(a) + u32::from(b));
            }
            let leaving = row(y - whole);
            for ((sum, &entering), &left) in sums.iter_mut().zip(below).zip(leaving) {
                *sum = *sum + u32::from(entering) - u32::from(left);
            }
        }
    }

    /// Blurs `frame` in place with `passes` rounds of a row and a column box
    /// blur, which approaches a Gaussian as passes grow.
    pub(crate) fn box_blur(
        &mut self,
        frame: &mut [u8],
        size: (usize, usize),
        radius: f32,
        passes: usize,
    ) {
        let mut between = std::mem::take(&mut self.frame);
        between.resize(frame.len(), 0);
        for _ in 0..passes {
            self.blur_rows(frame, &mut between, size.0, radius);
            self.blur_columns(&between, frame, size, radius);
        }
        self.frame = between;
    }

    /// Smears `frame` horizontally in place with two row passes of `radius`.
    pub(crate) fn streak(&mut self, frame: &mut [u8], width: usize, radius: f32) {
        let mut between = std::mem::take(&mut self.frame);
        between.resize(frame.len(), 0);
        self.blur_rows(frame, &mut between, width, radius);
        self.blur_rows(&between, frame, width, radius);
        self.frame = between;
    }
}

/// Blurs one packed RGB row. The row is first copied with `whole + 1` edge
/// pixels repeated on each side so the running sum needs no bounds clamping.
fn blur_row(src: &[u8], dst: &mut [u8], kernel: Kernel, padded: &mut Vec<u8>) {
    let width = src.len() / 3;
    let pad = kernel.whole + 1;
    padded.clear();
    for _ in 0..pad {
        padded.extend_from_slice(&src[..3]);
    }
    padded.extend_from_slice(src);
    for _ in 0..pad {
        padded.extend_from_slice(&src[src.len() - 3..]);
    }
    // Output pixel x is centred on padded pixel x + pad. Its inner taps are
    // padded pixels x + 1 ..= x + span and its outer taps x and x + span + 1.
    let span = 2 * kernel.whole + 1;
    let mut sums = [0u32; 3];
    for tap in padded[3..(span + 1) * 3].chunks_exact(3) {
        for (sum, &value) in sums.iter_mut().zip(tap) {
            *sum += u32::from(value);
        }
    }
    for (x, out) in dst.chunks_exact_mut(3).enumerate().take(width) {
        let outer_left = &padded[x * 3..x * 3 + 6];
        let outer_right = &padded[(x + span + 1) * 3..(x + span + 2) * 3];
        for channel in 0..3 {
            let entering = u32::from(outer_right[channel]);
            let edges = u32::from(outer_left[channel]) + entering;
            out[channel] = kernel.normalise(sums[channel], edges);
            sums[channel] = sums[channel] + entering - u32::from(outer_left[channel + 3]);
        }
    }
}

/// Size of a frame after [`downscale_half`]: each side halved, rounded up.
pub(crate) fn half_size((width, height): (usize, usize)) -> (usize, usize) {
    (width.div_ceil(2), height.div_ceil(2))
}

/// Averages each 2x2 block of `src` into one pixel of `dst`. An odd last row
/// or column averages with itself.
pub(crate) fn downscale_half(src: &[u8], (width, height): (usize, usize), dst: &mut Vec<u8>) {
    let (half_w, half_h) = half_size((width, height));
    dst.clear();
    dst.resize(half_w * half_h * 3, 0);
    let stride = width * 3;
    for (y, dst_row) in dst.chunks_exact_mut(half_w * 3).enumerate() {
        let top = &src[2 * y * stride..(2 * y + 1) * stride];
        let bottom_y = (2 * y + 1).min(height - 1);
        let bottom = &src[bottom_y * stride..(bottom_y + 1) * stride];
        for (x, out) in dst_row.chunks_exact_mut(3).enumerate() {
            let left = 2 * x * 3;
            let right = (2 * x + 1).min(width - 1) * 3;
            for channel in 0..3 {
                let sum = u32::from(top[left + channel])
                    + u32::from(top[right + channel])
                    + u32::from(bottom[left + channel])
                    + u32::from(bottom[right + channel]);
                out[channel] = ((sum + 2) / 4) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a black frame with one white vertical line at column `line`.
    fn line_frame(width: usize, height: usize, line: usize) -> Vec<u8> {
        let mut frame = vec![0u8; width * height * 3];
        for y in 0..height {
            frame[(y * width + line) * 3..(y * width + line) * 3 + 3].fill(255);
        }
        frame
    }

    #[test]
    fn zero_radius_is_identity() {
        let src: Vec<u8> = (0..60).map(|i| (i * 4) as u8).collect();
        let mut dst = vec![0; 60];
        let mut buffers = BlurBuffers::default();
        buffers.blur_rows(&src, &mut dst, 10, 0.0);
        assert_eq!(dst, src);
        buffers.blur_columns(&src, &mut dst, (4, 5), 0.0);
        assert_eq!(dst, src);
    }

    #[test]
    fn row_blur_spreads_line_evenly() {
        let src = line_frame(21, 1, 10);
        let mut dst = vec![0; src.len()];
        BlurBuffers::default().blur_rows(&src, &mut dst, 21, 2.0);
        // A radius-2 box spreads the line over 5 columns at 255 / 5 each.
        for x in 8..=12 {
            assert_eq!(dst[x * 3], 51, "column {x}");
        }
        assert_eq!(dst[7 * 3], 0);
        assert_eq!(dst[13 * 3], 0);
    }

    #[test]
    fn fractional_radius_weights_outer_taps() {
        let src = line_frame(21, 1, 10);
        let mut dst = vec![0; src.len()];
        BlurBuffers::default().blur_rows(&src, &mut dst, 21, 1.5);
        // Kernel 0.5, 1, 1, 1, 0.5 sums to 4: 255 / 4 inside, half at the edge.
        assert_eq!(dst[10 * 3], 64);
        assert_eq!(dst[9 * 3], 64);
        assert_eq!(dst[8 * 3], 32);
        assert_eq!(dst[7 * 3], 0);
    }

    #[test]
    fn row_blur_repeats_edges() {
        // A white first pixel blurred with radius 3 weighs 4 of 7 taps at x = 0.
        let mut src = vec![0u8; 10 * 3];
        src[..3].fill(255);
        let mut dst = vec![0; src.len()];
        BlurBuffers::default().blur_rows(&src, &mut dst, 10, 3.0);
        assert_eq!(dst[0], 146);
        assert_eq!(dst[9 * 3], 0);
    }

    #[test]
    fn column_blur_matches_row_blur() {
        // A vertical line blurred along rows equals a horizontal line blurred
        // along columns, transposed.
        let rows = line_frame(21, 1, 10);
        let mut row_out = vec![0; rows.len()];
        BlurBuffers::default().blur_rows(&rows, &mut row_out, 21, 2.5);
        let mut column_out = vec![0; rows.len()];
        BlurBuffers::default().blur_columns(&rows, &mut column_out, (1, 21), 2.5);
        let as_rows: Vec<u8> = column_out.chunks_exact(3).map(|p| p[0]).collect();
        let expected: Vec<u8> = row_out.chunks_exact(3).map(|p| p[0]).collect();
        assert_eq!(as_rows, expected);
    }

    #[test]
    fn column_blur_keeps_flat_colour() {
        let src = vec![90u8; 7 * 9 * 3];
        let mut dst = vec![0; src.len()];
        BlurBuffers::default().blur_columns(&src, &mut dst, (7, 9), 12.3);
        assert!(dst.iter().all(|&v| v == 90));
    }

    #[test]
    fn blur_preserves_mean_brightness() {
        let (width, height) = (32, 24);
        let src: Vec<u8> = (0..width * height * 3).map(|i| ((i * 37) % 251) as u8).collect();
        let mut frame = src.clone();
        BlurBuffers::default().box_blur(&mut frame, (width, height), 3.0, 2);
        let mean =
            |data: &[u8]| data.iter().map(|&v| f64::from(v)).sum::<f64>() / data.len() as f64;
        assert!((mean(&frame) - mean(&src)).abs() < 2.0);
        let spread = |data: &[u8]| data.windows(3).map(|w| w[0].abs_diff(w[2]) as u32).sum::<u32>();
        assert!(spread(&frame) * 3 < spread(&src), "blur must smooth the pattern");
    }

    #[test]
    fn downscale_averages_blocks() {
        // 3x2 frame: the odd third column averages with itself.
        let src =
            vec![0, 0, 0, 100, 100, 100, 40, 40, 40, 200, 200, 200, 100, 100, 100, 80, 80, 80];
        let mut dst = Vec::new();
        downscale_half(&src, (3, 2), &mut dst);
        assert_eq!(half_size((3, 2)), (2, 1));
        assert_eq!(dst, vec![100, 100, 100, 60, 60, 60]);
    }
}
