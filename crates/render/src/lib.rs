//! Local transition renderer for Segue.
//!
//! [`render`] turns two photos, a front image where the clip starts and a
//! tail image where it ends, into an H.264 MP4 clip: it loads and checks both
//! images ([`probe_image`], [`load_image`]), fits them to the output frame
//! ([`canvas_size`], [`conform`]), draws every frame of the chosen
//! [`TransitionKind`] ([`Timeline`]) and encodes the frames with openh264 into
//! an MP4 written by muxide.
//!
//! Memory: image decodes share a process-wide budget of
//! [`DECODE_BUDGET_BYTES`], so many large photos queued at once decode a few
//! at a time.

mod blend;
mod blur;
mod color;
mod conform;
mod decode_budget;
mod encode;
mod image_io;
mod pipeline;
mod settings;
mod sniff;
mod timeline;
mod transition;
mod warp;
mod yuv;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

pub use color::MATTE_RGB;
pub use conform::{canvas_size, conform};
pub use decode_budget::DECODE_BUDGET_BYTES;
pub use encode::Mp4Writer;
pub use image_io::{
    ImageError, ImageInfo, MAX_PIXELS, MAX_SIDE, MIN_SIDE, load_image, probe_image,
};
pub use settings::{
    ALLOWED_FPS, Aspect, Fit, MAX_DURATION_S, MIN_DURATION_S, OutputSettings, ParseSettingError,
    Resolution, SettingsError, TransitionKind,
};
pub use timeline::Timeline;
pub use yuv::Yuv420;

use image::RgbImage;

/// One clip to render.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderJob {
    /// Image the clip starts on.
    pub front: PathBuf,
    /// Image the clip ends on.
    pub tail: PathBuf,
    /// Transition style.
    pub kind: TransitionKind,
    /// Frame size, rate, fit and duration.
    pub settings: OutputSettings,
}

/// Progress report, sent after each encoded frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderProgress {
    /// Frames encoded so far.
    pub frame: u32,
    /// Frames in the clip.
    pub frames: u32,
}

/// Facts about a finished clip.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RenderOutput {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Number of frames.
    pub frames: u32,
    /// Duration in seconds: `frames / fps`.
    pub duration_s: f64,
    /// Size of the MP4 file in bytes.
    pub bytes: u64,
}

/// Thread layout of [`render`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Threads {
    /// Draw and encode each frame in turn on the calling thread, for when
    /// every core is already busy with other jobs.
    Single,
    /// Draw frames on a second thread while the calling thread encodes, with
    /// a queue of two frames between them, so both cores work at once.
    Pipelined,
}

/// Error from [`render`].
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The front or tail image cannot be used.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The output settings are invalid.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The cancel flag was set.
    #[error("rendering was cancelled")]
    Cancelled,
    /// The encoder or muxer failed.
    #[error("{0}")]
    Encode(String),
    /// The output file cannot be written.
    #[error("{}: cannot write the video ({source}); check that the folder exists, is writable and has free space", .path.display())]
    Io {
        /// Output file.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
}

impl RenderError {
    /// Returns whether retrying the same job cannot succeed: bad images and
    /// bad settings stay bad, while encoder and disk failures may be
    /// transient. A cancelled job returns `false`.
    pub fn is_permanent(&self) -> bool {
        matches!(self, RenderError::Image(_) | RenderError::Settings(_))
    }
}

/// Renders `job` into a complete MP4 file at `out`.
///
/// Blocks until the file is written. Both images are probed before either is
/// decoded, so a bad tail fails fast. `cancel` is checked before every frame,
/// and a set flag returns [`RenderError::Cancelled`]. `progress` is called on
/// the calling thread after each encoded frame. On any error the partly
/// written file is removed.
pub fn render(
    job: &RenderJob,
    out: &Path,
    threads: Threads,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(RenderProgress),
) -> Result<RenderOutput, RenderError> {
    let settings = job.settings;
    settings.validate()?;
    let front_info = probe_image(&job.front)?;
    probe_image(&job.tail)?;
    let canvas = canvas_size(&settings, (front_info.width, front_info.height));

    // Decoding a large photo takes a while, so cancellation is checked on
    // both sides of it.
    let cancelled = || cancel.load(Ordering::Relaxed);
    if cancelled() {
        return Err(RenderError::Cancelled);
    }
    let (front, tail) = load_both(job, canvas, threads)?;
    if cancelled() {
        return Err(RenderError::Cancelled);
    }

    let frames = settings.frame_count();
    let timeline = Timeline::new(front, tail, job.kind, frames);
    let started = std::time::Instant::now();
    let result = pipeline::encode_timeline(&timeline, out, settings.fps, threads, cancel, progress);
    let bytes = match result {
        Ok(bytes) => bytes,
        Err(error) => {
            // The file may not exist if creating it was what failed.
            let _ = std::fs::remove_file(out);
            return Err(error);
        }
    };

    tracing::debug!(
        frames,
        width = canvas.0,
        height = canvas.1,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "encoded transition"
    );
    Ok(RenderOutput {
        width: canvas.0,
        height: canvas.1,
        fps: settings.fps,
        frames,
        duration_s: f64::from(frames) / f64::from(settings.fps),
        bytes,
    })
}

/// Loads and conforms both images, on two threads when pipelined.
fn load_both(
    job: &RenderJob,
    canvas: (u32, u32),
    threads: Threads,
) -> Result<(RgbImage, RgbImage), ImageError> {
    let fit = job.settings.fit;
    match threads {
        Threads::Single => {
            let front = load_conformed(&job.front, canvas, fit)?;
            Ok((front, load_conformed(&job.tail, canvas, fit)?))
        }
        Threads::Pipelined => std::thread::scope(|scope| {
            let tail = scope.spawn(|| load_conformed(&job.tail, canvas, fit));
            let front = load_conformed(&job.front, canvas, fit);
            let tail = tail.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            Ok((front?, tail?))
        }),
    }
}

/// Decodes an image and conforms it to the canvas while its decode budget
/// reservation is held, so the full-size pixels are covered by the budget.
fn load_conformed(path: &Path, canvas: (u32, u32), fit: Fit) -> Result<RgbImage, ImageError> {
    let (image, reservation) = image_io::load_image_reserved(path)?;
    let conformed = conform(&image, canvas, fit);
    drop(image);
    drop(reservation);
    Ok(conformed)
}
