//! MP4 bytes of the results: rendered with `segue-render` from each job's
//! frames or from a fixture pair, or read from a file.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use bytes::Bytes;
use segue_render::{Aspect, Fit, OutputSettings, RenderError, RenderJob, Resolution, Threads};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::config::ClipSource;

/// Input frame that a render failure concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FrameRole {
    First,
    Last,
}

/// Reason a clip could not be rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RenderFailure {
    /// The frame at fault, when the failure is about one image.
    pub(crate) frame: Option<FrameRole>,
    pub(crate) message: String,
}

pub(crate) type ClipResult = Result<Bytes, RenderFailure>;

/// Renders started in this process, by a hash of their frames and aspect
/// ratio, so that tests with many servers and repeated inputs render once.
static RENDERS: Mutex<BTreeMap<[u8; 32], watch::Receiver<Option<ClipResult>>>> =
    Mutex::new(BTreeMap::new());

/// Held by the thread that is rendering, so renders run one at a time and
/// leave the other cores to the code under test.
static RENDER_TURN: Mutex<()> = Mutex::new(());

/// Number of cached renders above which finished ones are dropped.
const MAX_CACHED_RENDERS: usize = 64;

/// Source of the clips of one server.
#[derive(Clone, Debug)]
pub(crate) enum Clips {
    /// The same bytes for every job.
    Fixed(Bytes),
    /// A render of each job's frames.
    RenderInputs,
}

/// Clip of one job, ready or in the making.
#[derive(Clone, Debug)]
pub(crate) struct ClipHandle(watch::Receiver<Option<ClipResult>>);

impl ClipHandle {
    /// Returns the clip once it is rendered.
    pub(crate) fn get(&self) -> Option<ClipResult> {
        let value = self.0.borrow().clone();
        if value.is_none() && self.0.has_changed().is_err() {
            let message = "the render thread stopped without a result".to_owned();
            return Some(Err(RenderFailure { frame: None, message }));
        }
        value
    }

    /// Waits until the clip is rendered or its render thread has stopped.
    pub(crate) async fn wait(mut self) {
        let _ = self.0.wait_for(Option::is_some).await;
    }
}

impl Clips {
    /// Prepares the clips of `source`: renders or reads the fixed clip.
    pub(crate) async fn from_source(source: &ClipSource) -> io::Result<Clips> {
        match source {
            ClipSource::RenderInputs => Ok(Clips::RenderInputs),
            ClipSource::File { path } => {
                let bytes = tokio::fs::read(path).await.map_err(|error| {
                    io::Error::new(
                        error.kind(),
                        format!("cannot read the clip file {}: {error}", path.display()),
                    )
                })?;
                Ok(Clips::Fixed(Bytes::from(bytes)))
            }
            ClipSource::RenderFixture { front, tail } => {
                let first = read_image(front).await?;
                let last = read_image(tail).await?;
                let handle = request_render(Some(first), Some(last), Aspect::Landscape16x9);
                handle.clone().wait().await;
                match handle.get() {
                    Some(Ok(bytes)) => Ok(Clips::Fixed(bytes)),
                    Some(Err(failure)) => Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "cannot render the fixture clip from {} and {}: {}",
                            front.display(),
                            tail.display(),
                            failure.message
                        ),
                    )),
                    None => Err(io::Error::other("the fixture render returned no result")),
                }
            }
        }
    }

    /// Returns the clip of a job with these frames.
    pub(crate) fn clip_for(
        &self,
        first: Option<Bytes>,
        last: Option<Bytes>,
        aspect: Aspect,
    ) -> ClipHandle {
        match self {
            Clips::Fixed(bytes) => {
                let (_sender, receiver) = watch::channel(Some(Ok(bytes.clone())));
                ClipHandle(receiver)
            }
            Clips::RenderInputs => request_render(first, last, aspect),
        }
    }
}

async fn read_image(path: &Path) -> io::Result<Bytes> {
    let bytes = tokio::fs::read(path).await.map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot read the fixture image {}: {error}", path.display()),
        )
    })?;
    Ok(Bytes::from(bytes))
}

/// Maps a model's `aspect_ratio` input onto the renderer's aspect ratios.
// NOTE: ratios the renderer lacks (4:3, 3:4, 21:9, 9:21) render as 16:9.
pub(crate) fn aspect_of(input: &serde_json::Value) -> Aspect {
    match input.get("aspect_ratio").and_then(|value| value.as_str()) {
        Some("9:16") => Aspect::Portrait9x16,
        Some("1:1") => Aspect::Square1x1,
        Some("auto") => Aspect::Auto,
        _ => Aspect::Landscape16x9,
    }
}

/// Returns the cached render of these frames, starting it on a render
/// thread if it is new.
fn request_render(first: Option<Bytes>, last: Option<Bytes>, aspect: Aspect) -> ClipHandle {
    let key = render_key(first.as_deref(), last.as_deref(), aspect);
    let mut renders = RENDERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(receiver) = renders.get(&key) {
        return ClipHandle(receiver.clone());
    }
    if renders.len() >= MAX_CACHED_RENDERS {
        renders.retain(|_, receiver| receiver.borrow().is_none());
    }
    let (sender, receiver) = watch::channel(None);
    renders.insert(key, receiver.clone());
    drop(renders);

    // A plain thread, not a runtime task, so a render outlives the test
    // runtime that started it and other runtimes can wait on it.
    let spawned = std::thread::Builder::new().name("fal-mock-render".to_owned()).spawn(move || {
        let _turn = RENDER_TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let result = render_frames(first, last, aspect);
        if let Err(failure) = &result {
            tracing::warn!(error = %failure.message, "clip render failed");
        }
        let _ = sender.send(Some(result));
    });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start a render thread");
    }
    ClipHandle(receiver)
}

fn render_key(first: Option<&[u8]>, last: Option<&[u8]>, aspect: Aspect) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(aspect.name().as_bytes());
    for frame in [first, last] {
        match frame {
            Some(bytes) => {
                hasher.update((bytes.len() as u64).to_le_bytes());
                hasher.update(bytes);
            }
            None => hasher.update(u64::MAX.to_le_bytes()),
        }
    }
    hasher.finalize().into()
}

/// Renders a 1-second 720p clip at 24 fps, the smallest clip the renderer
/// makes. A missing frame is replaced by the other one, and two missing
/// frames by a plain grey image.
fn render_frames(first: Option<Bytes>, last: Option<Bytes>, aspect: Aspect) -> ClipResult {
    let failure = |frame, message: String| RenderFailure { frame, message };
    let dir = tempfile::tempdir()
        .map_err(|error| failure(None, format!("cannot create a temporary folder: {error}")))?;
    let front = dir.path().join("first-frame");
    let tail = dir.path().join("last-frame");
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes)
            .map_err(|error| failure(None, format!("cannot write a frame: {error}")))
    };
    match (first.as_ref().or(last.as_ref()), last.as_ref().or(first.as_ref())) {
        (Some(front_bytes), Some(tail_bytes)) => {
            write(&front, front_bytes)?;
            write(&tail, tail_bytes)?;
        }
        _ => {
            let grey = image::RgbImage::from_pixel(320, 180, image::Rgb([128, 128, 128]));
            for path in [&front, &tail] {
                grey.save_with_format(path, image::ImageFormat::Png).map_err(|error| {
                    failure(None, format!("cannot write a grey frame: {error}"))
                })?;
            }
        }
    }

    let out = dir.path().join("output.mp4");
    let job = RenderJob {
        front: front.clone(),
        tail: tail.clone(),
        kind: segue_render::TransitionKind::Calm,
        settings: OutputSettings {
            aspect,
            resolution: Resolution::P720,
            fps: 24,
            fit: Fit::Cover,
            duration_s: 1.0,
        },
    };
    let cancel = AtomicBool::new(false);
    match segue_render::render(&job, &out, Threads::Single, &cancel, &mut |_| {}) {
        Ok(_) => {}
        Err(RenderError::Image(error)) => {
            let message = error.to_string();
            let frame = if message.contains(&*tail.to_string_lossy()) && last.is_some() {
                FrameRole::Last
            } else {
                FrameRole::First
            };
            let message = message
                .replace(&*front.to_string_lossy(), "first frame")
                .replace(&*tail.to_string_lossy(), "last frame");
            return Err(failure(Some(frame), message));
        }
        Err(error) => return Err(failure(None, error.to_string())),
    }
    let bytes = std::fs::read(&out)
        .map_err(|error| failure(None, format!("cannot read the rendered clip: {error}")))?;
    Ok(Bytes::from(bytes))
}
