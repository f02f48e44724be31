//! Per-pixel mixing of packed RGB frames: fades toward a flat colour and
//! averaging of several samples for motion blur. Weights are 8-bit fixed
//! point so the loops vectorise.

/// Converts a weight in [0, 1] to 1/256ths; 0 and 1 map exactly.
fn weight_256(weight: f32) -> u32 {
    (weight.clamp(0.0, 1.0) * 256.0).round() as u32
}

/// Moves every channel of `dst` toward `value` by `amount` in [0, 1].
pub(crate) fn mix_toward(dst: &mut [u8], value: u8, amount: f32) {
    let w = weight_256(amount);
    if w == 0 {
        return;
    }
    let keep = 256 - w;
    let target = u32::from(value) * w + 128;
    for out in dst.iter_mut() {
        *out = ((u32::from(*out) * keep + target) >> 8) as u8;
    }
}

/// Running sum of up to 256 frames, for averaging samples.
#[derive(Debug, Default)]
pub(crate) struct Accumulator {
    sums: Vec<u16>,
    count: u32,
}

impl Accumulator {
    /// Clears the sum for frames of `len` bytes.
    pub(crate) fn reset(&mut self, len: usize) {
        self.sums.clear();
        self.sums.resize(len, 0);
        self.count = 0;
    }

    /// Adds one frame.
    #[cfg(test)]
    pub(crate) fn add(&mut self, frame: &[u8]) {
        self.add_with(|sums| {
            for (sum, &value) in sums.iter_mut().zip(frame) {
                *sum += u16::from(value);
            }
        });
    }

    /// Adds one frame that `add` writes straight into the sums.
    pub(crate) fn add_with(&mut self, add: impl FnOnce(&mut [u16])) {
        debug_assert!(self.count < 257, "u16 sums hold at most 257 frames of 255");
        add(&mut self.sums);
        self.count += 1;
    }

    /// Writes the rounded mean of the added frames to `dst`.
    pub(crate) fn write_mean(&self, dst: &mut [u8]) {
        let count = self.count.max(1);
        let reciprocal = ((1u32 << 16) + count / 2) / count;
        for (out, &sum) in dst.iter_mut().zip(&self.sums) {
            *out = ((u32::from(sum) * reciprocal + (1 << 15)) >> 16).min(255) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_toward_white_and_black() {
        let mut dst = vec![0u8, 128, 255];
        mix_toward(&mut dst, 255, 1.0);
        assert_eq!(dst, vec![255, 255, 255]);
        mix_toward(&mut dst, 0, 0.5);
        assert_eq!(dst, vec![128, 128, 128]);
        mix_toward(&mut dst, 0, 1.0);
        assert_eq!(dst, vec![0, 0, 0]);
    }

    #[test]
    fn accumulator_means_frames() {
        let mut acc = Accumulator::default();
        acc.reset(3);
        acc.add(&[0, 255, 10]);
        acc.add(&[255, 255, 11]);
        acc.add(&[0, 255, 12]);
        let mut out = vec![0; 3];
        acc.write_mean(&mut out);
        assert_eq!(out, vec![85, 255, 11]);
    }
}
