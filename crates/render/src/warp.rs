//! Camera motion: bilinear resampling of an RGB plane through an
//! axis-aligned affine map (zoom around the centre, pan and horizontal
//! offset), written as two separable passes with precomputed column tables.

use std::ops::Range;

/// Borrowed packed RGB pixels, `width * height * 3` bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plane<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) width: usize,
    pub(crate) height: usize,
}

/// Camera placement over one image, in resolution-independent units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct View {
    /// Magnification around the frame centre; 1.0 shows the whole image.
    /// Values below 1.0 are raised to 1.0 so that no border shows.
    pub(crate) zoom: f32,
    /// Horizontal camera position as a fraction of the room that `zoom`
    /// leaves: -1.0 shows the left edge, 1.0 the right edge.
    pub(crate) pan_x: f32,
    /// Vertical camera position, like `pan_x`: -1.0 top, 1.0 bottom.
    pub(crate) pan_y: f32,
    /// Horizontal displacement of the whole layer in frame widths; 0.5 draws
    /// the image half a frame to the right and leaves the left half uncovered.
    pub(crate) offset_x: f32,
}

impl View {
    /// The whole image, unmoved.
    pub(crate) const IDENTITY: View = View { zoom: 1.0, pan_x: 0.0, pan_y: 0.0, offset_x: 0.0 };

    /// Returns the whole image magnified by `zoom` around its centre.
    pub(crate) fn zoomed(zoom: f32) -> View {
        View { zoom, ..View::IDENTITY }
    }

    /// Destination columns this view covers in a frame `width` pixels wide.
    pub(crate) fn columns(&self, width: usize) -> Range<usize> {
        let frame = width as f64;
        let offset = f64::from(self.offset_x);
        let start = (offset * frame).round().clamp(0.0, frame) as usize;
        let end = ((1.0 + offset) * frame).round().clamp(0.0, frame) as usize;
        start..end.max(start)
    }
}

/// Maps destination pixel `(x, y)` to the source position
/// `(scale_x * x + bias_x, scale_y * y + bias_y)`, in source pixels with
/// pixel centres at whole numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct AxisMap {
    pub(crate) scale_x: f64,
    pub(crate) bias_x: f64,
    pub(crate) scale_y: f64,
    pub(crate) bias_y: f64,
}

impl AxisMap {
    /// Map that shows `view` of a `src` image in a `dst` frame. Both sizes
    /// cover the same picture, so they may differ in resolution.
    pub(crate) fn for_view(view: View, src: (usize, usize), dst: (usize, usize)) -> AxisMap {
        let zoom = f64::from(view.zoom.max(1.0));
        let (scale_x, bias_x) =
            axis(zoom, f64::from(view.pan_x), f64::from(view.offset_x), src.0, dst.0);
        let (scale_y, bias_y) = axis(zoom, f64::from(view.pan_y), 0.0, src.1, dst.1);
        AxisMap { scale_x, bias_x, scale_y, bias_y }
    }

    /// Map that resizes a whole `src` image to a `dst` frame.
    pub(crate) fn resize(src: (usize, usize), dst: (usize, usize)) -> AxisMap {
        AxisMap::for_view(View::IDENTITY, src, dst)
    }

    fn is_identity(&self) -> bool {
        (self.scale_x - 1.0).abs() < 1e-9
            && (self.scale_y - 1.0).abs() < 1e-9
            && self.bias_x.abs() < 1e-6
            && self.bias_y.abs() < 1e-6
    }
}

/// Scale and bias along one axis. In normalised frame units `u` in [0, 1],
/// the source position is `(u - offset - 0.5) / zoom + 0.5 + pan * margin`,
/// where `margin = (1 - 1 / zoom) / 2` keeps the view inside the image.
fn axis(zoom: f64, pan: f64, offset: f64, src: usize, dst: usize) -> (f64, f64) {
    let (src, dst) = (src as f64, dst as f64);
    let margin = (1.0 - 1.0 / zoom) / 2.0;
    let scale = src / (dst * zoom);
    let centre = (0.5 / dst - offset - 0.5) / zoom + 0.5 + pan.clamp(-1.0, 1.0) * margin;
    (scale, centre * src - 0.5)
}

/// Fractional weights use 8 bits: 256 puts all weight on the right or lower
/// neighbour.
const WEIGHT_ONE: u16 = 256;

/// Reusable tables and row buffers for resampling through an [`AxisMap`].
///
/// Each output row is the vertical blend of two source rows that were first
/// resampled horizontally. Those rows are cached, and destination rows map
/// to source rows in increasing order, so each source row is resampled at
/// most once per call.
#[derive(Debug, Default)]
pub(crate) struct Sampler {
    /// Byte offset of the left neighbour and the right neighbour's weight,
    /// per destination column.
    columns: Vec<(u32, u16)>,
    rows: [Vec<u8>; 2],
    row_ids: [Option<usize>; 2],
}

impl Sampler {
    /// Resamples `src` through `map` into the `columns` of every row of `dst`,
    /// a packed RGB frame `dst_width` pixels wide. Source positions outside
    /// the image take the nearest edge pixel. The identity map copies exactly.
    pub(crate) fn sample(
        &mut self,
        src: Plane<'_>,
        map: AxisMap,
        dst: &mut [u8],
        dst_width: usize,
        columns: Range<usize>,
    ) {
        let stride = dst_width * 3;
        let span = columns.start * 3..columns.end * 3;
        if src.width == dst_width && src.data.len() == dst.len() && map.is_identity() {
            for (dst_row, src_row) in
                dst.chunks_exact_mut(stride).zip(src.data.chunks_exact(stride))
            {
                dst_row[span.clone()].copy_from_slice(&src_row[span.clone()]);
            }
            return;
        }
        let height = dst.len() / stride.max(1);
        self.for_each_row(src, map, height, columns, |y, top, bottom, weight| {
            let out = &mut dst[y * stride + span.start..y * stride + span.end];
            let keep = WEIGHT_ONE - weight;
            for ((out, &a), &b) in out.iter_mut().zip(top).zip(bottom) {
                *out = ((u16::from(a) * keep + u16::from(b) * weight + 128) >> 8) as u8;
            }
        });
    }

    /// Like [`Sampler::sample`], but crossfades the result over what `dst`
    /// already holds: `dst = dst * (1 - opacity) + sample * opacity`.
    pub(crate) fn sample_over(
        &mut self,
        src: Plane<'_>,
        map: AxisMap,
        dst: &mut [u8],
        dst_width: usize,
        columns: Range<usize>,
        opacity: f32,
    ) {
        let stride = dst_width * 3;
        let span = columns.start * 3..columns.end * 3;
        let height = dst.len() / stride.max(1);
        let alpha = (opacity.clamp(0.0, 1.0) * 256.0).round() as u16;
        let behind = WEIGHT_ONE - alpha;
        self.for_each_row(src, map, height, columns, |y, top, bottom, weight| {
            let out = &mut dst[y * stride + span.start..y * stride + span.end];
            let keep = WEIGHT_ONE - weight;
            for ((out, &a), &b) in out.iter_mut().zip(top).zip(bottom) {
                let value = (u16::from(a) * keep + u16::from(b) * weight + 128) >> 8;
                *out = ((u16::from(*out) * behind + value * alpha + 128) >> 8) as u8;
            }
        });
    }

    /// Like [`Sampler::sample`] over the full width, but adds the result to
    /// `sums`, one `u16` per channel, for averaging several samples.
    pub(crate) fn sample_add(
        &mut self,
        src: Plane<'_>,
        map: AxisMap,
        sums: &mut [u16],
        dst_width: usize,
    ) {
        let stride = dst_width * 3;
        let height = sums.len() / stride.max(1);
        self.for_each_row(src, map, height, 0..dst_width, |y, top, bottom, weight| {
            let out = &mut sums[y * stride..(y + 1) * stride];
            let keep = WEIGHT_ONE - weight;
            for ((sum, &a), &b) in out.iter_mut().zip(top).zip(bottom) {
                *sum += (u16::from(a) * keep + u16::from(b) * weight + 128) >> 8;
            }
        });
    }

    /// Calls `combine(y, top, bottom, weight)` for each destination row with
    /// the two horizontally resampled source rows it lies between and the
    /// lower row's weight.
    fn for_each_row(
        &mut self,
        src: Plane<'_>,
        map: AxisMap,
        height: usize,
        columns: Range<usize>,
        mut combine: impl FnMut(usize, &[u8], &[u8], u16),
    ) {
        if columns.is_empty() || src.width < 2 || src.height < 2 {
            return;
        }
        self.build_columns(src.width, map, columns);
        self.row_ids = [None, None];
        for y in 0..height {
            let (top, weight) = neighbours(map.scale_y * y as f64 + map.bias_y, src.height);
            let top_slot = self.load_row(src, top, None);
            let bottom_slot = self.load_row(src, top + 1, Some(top_slot));
            combine(y, &self.rows[top_slot], &self.rows[bottom_slot], weight);
        }
    }

    fn build_columns(&mut self, src_width: usize, map: AxisMap, columns: Range<usize>) {
        self.columns.clear();
        for x in columns {
            let (left, weight) = neighbours(map.scale_x * x as f64 + map.bias_x, src_width);
            self.columns.push((left as u32 * 3, weight));
        }
    }

    /// Makes sure source row `row` is resampled horizontally into a slot,
    /// never evicting `keep`, and returns the slot.
    fn load_row(&mut self, src: Plane<'_>, row: usize, keep: Option<usize>) -> usize {
        if let Some(slot) = self.row_ids.iter().position(|&id| id == Some(row)) {
            return slot;
        }
        let slot = match keep {
            Some(kept) => 1 - kept,
            // Rows are visited top to bottom, so the upper cached row is the
            // one least likely to be needed again.
            None => match self.row_ids {
                [Some(a), Some(b)] if a > b => 1,
                [Some(_), None] => 1,
                _ => 0,
            },
        };
        let stride = src.width * 3;
        let src_row = &src.data[row * stride..(row + 1) * stride];
        resample_row(&mut self.rows[slot], src_row, &self.columns);
        self.row_ids[slot] = Some(row);
        slot
    }
}

/// Left neighbour index and the right neighbour's weight for a source
/// position in an image `size` (at least 2) pixels long, clamped so that the
/// right neighbour `left + 1` always exists.
fn neighbours(position: f64, size: usize) -> (usize, u16) {
    let last = size - 1;
    let position = position.clamp(0.0, last as f64);
    let left = (position.floor() as usize).min(last - 1);
    let weight = ((position - left as f64) * f64::from(WEIGHT_ONE)).round() as u16;
    (left, weight.min(WEIGHT_ONE))
}

/// Horizontal pass: each output channel is `left * (1 - w) + right * w`,
/// rounded to 8 bits.
fn resample_row(out: &mut Vec<u8>, src_row: &[u8], columns: &[(u32, u16)]) {
    out.resize(columns.len() * 3, 0);
    for (pixel, &(left, weight)) in out.chunks_exact_mut(3).zip(columns) {
        let left = left as usize;
        let pair = &src_row[left..left + 6];
        let keep = WEIGHT_ONE - weight;
        pixel[0] = ((u16::from(pair[0]) * keep + u16::from(pair[3]) * weight + 128) >> 8) as u8;
        pixel[1] = ((u16::from(pair[1]) * keep + u16::from(pair[4]) * weight + 128) >> 8) as u8;
        pixel[2] = ((u16::from(pair[2]) * keep + u16::from(pair[5]) * weight + 128) >> 8) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(width: usize, height: usize) -> Vec<u8> {
        let mut data = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            for x in 0..width {
                data.extend_from_slice(&[(x * 7 % 256) as u8, (y * 5 % 256) as u8, 77]);
            }
        }
        data
    }

    fn run(src: &[u8], size: (usize, usize), dst_size: (usize, usize), view: View) -> Vec<u8> {
        let plane = Plane { data: src, width: size.0, height: size.1 };
        let mut dst = vec![0; dst_size.0 * dst_size.1 * 3];
        let map = AxisMap::for_view(view, size, dst_size);
        Sampler::default().sample(plane, map, &mut dst, dst_size.0, view.columns(dst_size.0));
        dst
    }

    #[test]
    fn identity_view_copies_exactly() {
        let src = gradient(40, 30);
        assert_eq!(run(&src, (40, 30), (40, 30), View::IDENTITY), src);
    }

    #[test]
    fn tiny_zoom_still_matches_source_closely() {
        let src = gradient(40, 30);
        let out = run(&src, (40, 30), (40, 30), View::zoomed(1.0001));
        let worst = src.iter().zip(&out).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(worst <= 1, "worst difference {worst}");
    }

    #[test]
    fn zoom_two_magnifies_the_centre() {
        // Zooming 40 columns by 2 maps column x to source position
        // 9.75 + x / 2, and the red channel is 7 * column.
        let src = gradient(40, 30);
        let out = run(&src, (40, 30), (40, 30), View::zoomed(2.0));
        let red = |x: usize| out[(15 * 40 + x) * 3];
        assert_eq!(red(0), 68, "7 * 9.75 = 68.25");
        assert_eq!(red(20), 138, "7 * 19.75 = 138.25");
    }

    #[test]
    fn pan_stays_inside_the_image() {
        let src = gradient(40, 30);
        let left = run(&src, (40, 30), (40, 30), View { pan_x: -1.0, ..View::zoomed(2.0) });
        let right = run(&src, (40, 30), (40, 30), View { pan_x: 1.0, ..View::zoomed(2.0) });
        // Panned fully left the view starts at source column 0.
        assert!(left[0] <= 3, "left edge red {}", left[0]);
        // Panned fully right it ends at source column 39 (red 39 * 7 % 256 = 17).
        let last = (40 - 1) * 3;
        assert!(right[last].abs_diff(17) <= 4, "right edge red {}", right[last]);
    }

    #[test]
    fn offset_covers_only_its_columns() {
        let src = gradient(40, 30);
        let view = View { offset_x: 0.25, ..View::IDENTITY };
        assert_eq!(view.columns(40), 10..40);
        let out = run(&src, (40, 30), (40, 30), view);
        assert_eq!(&out[..3], &[0, 0, 0], "uncovered column stays untouched");
        // Destination column 10 shows source column 0.
        assert_eq!(&out[30..33], &src[0..3]);
        let split = View { offset_x: -0.4, ..View::IDENTITY }.columns(40);
        let other = View { offset_x: 0.6, ..View::IDENTITY }.columns(40);
        assert_eq!(split.end, other.start, "adjacent layers tile without a gap");
    }

    #[test]
    fn sample_over_crossfades() {
        let src = gradient(8, 4);
        let plane = Plane { data: &src, width: 8, height: 4 };
        let map = AxisMap::for_view(View::IDENTITY, (8, 4), (8, 4));
        let mut dst = vec![0u8; src.len()];
        Sampler::default().sample_over(plane, map, &mut dst, 8, 0..8, 0.5);
        for (out, value) in dst.iter().zip(&src) {
            assert_eq!(*out, ((u16::from(*value) * 128 + 128) >> 8) as u8);
        }
        let mut opaque = vec![9u8; src.len()];
        Sampler::default().sample_over(plane, map, &mut opaque, 8, 0..8, 1.0);
        assert_eq!(opaque, src);
    }

    #[test]
    fn sample_add_sums_samples() {
        let src = gradient(8, 4);
        let plane = Plane { data: &src, width: 8, height: 4 };
        let map = AxisMap::for_view(View::IDENTITY, (8, 4), (8, 4));
        let mut sums = vec![1u16; src.len()];
        let mut sampler = Sampler::default();
        sampler.sample_add(plane, map, &mut sums, 8);
        sampler.sample_add(plane, map, &mut sums, 8);
        for (sum, value) in sums.iter().zip(&src) {
            assert_eq!(*sum, 1 + 2 * u16::from(*value));
        }
    }

    #[test]
    fn resize_maps_whole_image() {
        let src = [10u8, 20, 30, 200, 210, 220].repeat(2);
        let plane = Plane { data: &src, width: 2, height: 2 };
        let mut dst = vec![0; 8 * 2 * 3];
        let map = AxisMap::resize((2, 2), (8, 2));
        Sampler::default().sample(plane, map, &mut dst, 8, 0..8);
        assert_eq!(&dst[..3], &[10, 20, 30]);
        assert_eq!(&dst[21..24], &[200, 210, 220]);
        assert!(dst[12] > 10, "middle red {}", dst[12]);
        assert!(dst[12] < 200, "middle red {}", dst[12]);
    }
}
