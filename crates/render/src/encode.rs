//! H.264 encoding with openh264 and MP4 muxing with muxide: constant frame
//! rate, BT.709 limited-range colour tags, periodic IDR frames, near-constant
//! quality that never skips a frame, and the `moov` box at the front of the
//! file (fast start).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use muxide::api::{Muxer, MuxerBuilder, MuxerError, VideoCodec};
use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, QpRange,
    RateControlMode, VuiConfig,
};

use crate::RenderError;
use crate::yuv::Yuv420;

/// Bitrate at 1920x1080 and 30 fps, in bits per second, given to the encoder
/// as its nominal target. Other sizes and rates scale it by their pixel rate.
const BITRATE_1080P30: f64 = 8_000_000.0;
/// Smallest quantiser the encoder may pick. With the largest at 22 this keeps
/// the quality nearly constant: 5 s at 1080p30 measured 3.4 to 7.6 MB on the
/// sample photos (about 6 to 12 Mbit/s).
const MIN_QP: u8 = 20;
/// Largest quantiser the encoder may pick. At 24 the first frame of a 720p
/// clip of the detailed mountain photo decoded at 34.6 dB PSNR against the
/// fitted source; at 22 every fixture passes the 35 dB the tests require.
// NOTE: the tests render 1 to 2 s clips. In a 5 s 720p CALM clip from
// samples/01 to samples/05 the last frame measured 34.9 dB (bench/render.py).
const MAX_QP: u8 = 22;
/// Seconds between IDR frames. Clips last at most 10 s, so each clip has a
/// single IDR frame at the start: an IDR every 2 s showed as a visible
/// change in picture quality at every keyframe.
const KEYFRAME_INTERVAL_S: u32 = 10;

/// Target bitrate for a frame size and rate: [`BITRATE_1080P30`] scaled by
/// pixels per second, never below 1 Mbit/s.
pub(crate) fn bitrate_bps(width: u32, height: u32, fps: u32) -> u32 {
    let pixel_rate = f64::from(width) * f64::from(height) * f64::from(fps);
    let reference = 1920.0 * 1080.0 * 30.0;
    (BITRATE_1080P30 * pixel_rate / reference).clamp(1_000_000.0, 100_000_000.0) as u32
}

/// Encodes frames with OpenH264 and writes them into an MP4 file with the
/// settings of every Segue clip.
pub struct Mp4Writer {
    encoder: Encoder,
    muxer: Muxer<BufWriter<File>>,
    path: PathBuf,
    fps: u32,
    frames: u64,
    packet: Vec<u8>,
}

impl Mp4Writer {
    /// Creates `path` and sets up an encoder for `width` x `height` frames at
    /// `fps`. Both sizes must be even.
    pub fn create(path: &Path, width: u32, height: u32, fps: u32) -> Result<Self, RenderError> {
        let io_error = |source| RenderError::Io { path: path.to_path_buf(), source };
        let file = File::create(path).map_err(io_error)?;
        let muxer = MuxerBuilder::new(BufWriter::with_capacity(1 << 20, file))
            .video(VideoCodec::H264, width, height, f64::from(fps))
            .with_fast_start(true)
            .build()
            .map_err(|error| muxer_error(path, error))?;
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(bitrate_bps(width, height, fps)))
            .max_frame_rate(FrameRate::from_hz(fps as f32))
            // Buffer-based rate control with a narrow QP range gives near-constant
            // quality. The bitrate modes print a warning to standard error
            // from inside openh264 when frame skipping is off, which breaks
            // the CLI's progress bars, and skipping frames is not acceptable.
            .rate_control_mode(RateControlMode::Bufferbased)
            .skip_frames(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(KEYFRAME_INTERVAL_S * fps))
            // Scene change detection put a second IDR frame at ENERGETIC's
            // white flash. With it off, the first frame is the only IDR frame.
            .scene_change_detect(false)
            .vui(VuiConfig::bt709())
            .qp(QpRange::new(MIN_QP, MAX_QP))
            // Low complexity searches fewer modes. On the frames of the 01-to-05
            // sample clip it encoded 15% (1080p) and 19% (720p) faster than
            // medium, the default, with 0.02 dB less mean PSNR and the same
            // file size (bench/render.py on a shared 2-core machine).
            .complexity(Complexity::Low)
            // The renderer runs on its own thread, so one encoder thread keeps
            // the two busy without oversubscribing the cores.
            .num_threads(1);
        let encoder =
            Encoder::with_api_config(OpenH264API::from_source(), config).map_err(|error| {
                RenderError::Encode(format!("cannot start the H.264 encoder: {error}"))
            })?;
        Ok(Mp4Writer {
            encoder,
            muxer,
            path: path.to_path_buf(),
            fps,
            frames: 0,
            packet: Vec::new(),
        })
    }

    /// Encodes one frame and appends it to the file. Frame `n` is shown at
    /// `n / fps` seconds.
    pub fn write_frame(&mut self, frame: &Yuv420) -> Result<(), RenderError> {
        let bitstream = self.encoder.encode(frame).map_err(|error| {
            RenderError::Encode(format!("H.264 encoding failed at frame {}: {error}", self.frames))
        })?;
        let is_keyframe = matches!(bitstream.frame_type(), FrameType::IDR | FrameType::I);
        self.packet.clear();
        bitstream.write_vec(&mut self.packet);
        if self.packet.is_empty() {
            return Err(RenderError::Encode(format!(
                "the H.264 encoder dropped frame {}",
                self.frames
            )));
        }
        let pts = self.frames as f64 / f64::from(self.fps);
        self.muxer
            .write_video(pts, &self.packet, is_keyframe)
            .map_err(|error| muxer_error(&self.path, error))?;
        self.frames += 1;
        Ok(())
    }

    /// Writes the index and flushes the file; returns the file size in bytes.
    pub fn finish(mut self) -> Result<u64, RenderError> {
        let stats = self
            .muxer
            .finish_in_place_with_stats()
            .map_err(|error| muxer_error(&self.path, error))?;
        let mut writer = self.muxer.into_writer();
        writer.flush().map_err(|source| RenderError::Io { path: self.path.clone(), source })?;
        Ok(stats.bytes_written)
    }
}

fn muxer_error(path: &Path, error: MuxerError) -> RenderError {
    match error {
        MuxerError::Io(source) => RenderError::Io { path: path.to_path_buf(), source },
        other => RenderError::Encode(format!("MP4 muxing failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrate_scales_with_pixel_rate() {
        assert_eq!(bitrate_bps(1920, 1080, 30), 8_000_000);
        assert_eq!(bitrate_bps(1280, 720, 30), 3_555_555);
        assert_eq!(bitrate_bps(1920, 1080, 24), 6_400_000);
        assert_eq!(bitrate_bps(64, 64, 24), 1_000_000);
    }

    #[test]
    fn unwritable_path_is_io_error() {
        let path = Path::new("/nonexistent/dir/out.mp4");
        let error = Mp4Writer::create(path, 64, 64, 30).err().expect("creating must fail");
        assert!(matches!(error, RenderError::Io { .. }), "{error:?}");
    }
}
