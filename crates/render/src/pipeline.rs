//! The frame loop: draws each frame of a [`Timeline`], converts it to YUV and
//! encodes it, either interleaved on the calling thread or with drawing and
//! encoding on two threads joined by a small bounded channel.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use crate::encode::Mp4Writer;
use crate::timeline::Timeline;
use crate::yuv::Yuv420;
use crate::{RenderError, RenderProgress, Threads};

/// Frames that may wait between the drawing and the encoding thread.
const QUEUE_DEPTH: usize = 2;
/// YUV buffers in circulation: one being drawn, [`QUEUE_DEPTH`] queued and
/// one being encoded.
const BUFFERS: usize = QUEUE_DEPTH + 2;

/// Encodes every frame of `timeline` into an MP4 at `out` and returns the file
/// size in bytes.
pub(crate) fn encode_timeline(
    timeline: &Timeline,
    out: &Path,
    fps: u32,
    threads: Threads,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(RenderProgress),
) -> Result<u64, RenderError> {
    match threads {
        Threads::Single => encode_interleaved(timeline, out, fps, cancel, progress),
        Threads::Pipelined => encode_pipelined(timeline, out, fps, cancel, progress),
    }
}

fn encode_interleaved(
    timeline: &Timeline,
    out: &Path,
    fps: u32,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(RenderProgress),
) -> Result<u64, RenderError> {
    let (width, height) = (timeline.width(), timeline.height());
    let mut writer = Mp4Writer::create(out, width, height, fps)?;
    let mut rgb = vec![0; width as usize * height as usize * 3];
    let mut yuv = Yuv420::new(width as usize, height as usize);
    let frames = timeline.frames();
    for index in 0..frames {
        if cancel.load(Ordering::Relaxed) {
            return Err(RenderError::Cancelled);
        }
        timeline.frame_into(index, &mut rgb);
        yuv.fill_from_rgb(&rgb);
        writer.write_frame(&yuv)?;
        progress(RenderProgress { frame: index + 1, frames });
    }
    writer.finish()
}

fn encode_pipelined(
    timeline: &Timeline,
    out: &Path,
    fps: u32,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(RenderProgress),
) -> Result<u64, RenderError> {
    let (width, height) = (timeline.width() as usize, timeline.height() as usize);
    let (drawn_sender, drawn) = mpsc::sync_channel::<Yuv420>(QUEUE_DEPTH);
    let (free_sender, free) = mpsc::channel::<Yuv420>();
    for _ in 0..BUFFERS {
        free_sender.send(Yuv420::new(width, height)).expect("the receiver is alive");
    }
    std::thread::scope(|scope| {
        let drawer = std::thread::Builder::new()
            .name("segue-draw".into())
            .spawn_scoped(scope, move || draw_frames(timeline, cancel, &free, &drawn_sender))
            .map_err(|error| {
                RenderError::Encode(format!("cannot start the drawing thread: {error}"))
            })?;
        let result = encode_frames(timeline, out, fps, cancel, &drawn, &free_sender, progress);
        // Dropping both channel ends unblocks the drawing thread if it waits.
        drop(drawn);
        drop(free_sender);
        if let Err(panic) = drawer.join() {
            std::panic::resume_unwind(panic);
        }
        result
    })
}

/// Drawing thread: fills free buffers with frames in order until all are
/// drawn, the run is cancelled or the encoding side hangs up.
fn draw_frames(
    timeline: &Timeline,
    cancel: &AtomicBool,
    free: &mpsc::Receiver<Yuv420>,
    drawn: &mpsc::SyncSender<Yuv420>,
) {
    let mut rgb = vec![0; timeline.width() as usize * timeline.height() as usize * 3];
    for index in 0..timeline.frames() {
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        let Ok(mut yuv) = free.recv() else { return };
        timeline.frame_into(index, &mut rgb);
        yuv.fill_from_rgb(&rgb);
        if drawn.send(yuv).is_err() {
            return;
        }
    }
}

/// Encoding side of [`encode_pipelined`], on the calling thread so that
/// `progress` is called there.
fn encode_frames(
    timeline: &Timeline,
    out: &Path,
    fps: u32,
    cancel: &AtomicBool,
    drawn: &mpsc::Receiver<Yuv420>,
    free: &mpsc::Sender<Yuv420>,
    progress: &mut dyn FnMut(RenderProgress),
) -> Result<u64, RenderError> {
    let frames = timeline.frames();
    let mut writer = Mp4Writer::create(out, timeline.width(), timeline.height(), fps)?;
    for index in 0..frames {
        if cancel.load(Ordering::Relaxed) {
            return Err(RenderError::Cancelled);
        }
        let Ok(yuv) = drawn.recv() else {
            if cancel.load(Ordering::Relaxed) {
                return Err(RenderError::Cancelled);
            }
            return Err(RenderError::Encode(format!(
                "the drawing thread stopped before frame {index}"
            )));
        };
        writer.write_frame(&yuv)?;
        // The drawing thread may already have finished and dropped its end.
        let _ = free.send(yuv);
        progress(RenderProgress { frame: index + 1, frames });
    }
    writer.finish()
}
