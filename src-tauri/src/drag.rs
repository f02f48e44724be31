//! Dragging a finished clip out of the window into an editor's timeline or
//! a file manager, as a native file drag.

use std::path::PathBuf;

use segue_desk::api::IpcError;
use tauri::WebviewWindow;

/// Starts a native drag of `clip` with `icon` (a thumbnail file) under the
/// pointer. Returns once the drag has started.
pub(crate) fn start(
    window: &WebviewWindow,
    clip: PathBuf,
    icon: Option<PathBuf>,
) -> Result<(), IpcError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let target = window.clone();
    window
        .run_on_main_thread(move || {
            let image = match icon {
                Some(path) => drag::Image::File(path),
                None => drag::Image::Raw(Vec::new()),
            };
            let item = drag::DragItem::Files(vec![clip.clone()]);
            let on_end = move |result: drag::DragResult, _: drag::CursorPosition| {
                tracing::debug!(?result, "clip drag ended");
            };
            #[cfg(target_os = "linux")]
            let started = target.gtk_window().map_err(|err| err.to_string()).and_then(|gtk| {
                drag::start_drag(&gtk, item, image, on_end, drag::Options::default())
                    .map_err(|err| err.to_string())
            });
            #[cfg(not(target_os = "linux"))]
            let started = drag::start_drag(&target, item, image, on_end, drag::Options::default())
                .map_err(|err| err.to_string());
            let _ = sender.send(started);
        })
        .map_err(|err| IpcError::internal(format!("cannot start the drag: {err}")))?;
    match receiver.recv() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(IpcError::internal(format!("cannot drag the clip: {err}"))),
        Err(_) => Err(IpcError::internal("the drag did not start")),
    }
}
