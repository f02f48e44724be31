//! The desktop app's logic, kept free of any GUI library so that it builds
//! and tests headless: the commands the web UI calls, persisted settings,
//! the loopback clip server, image thumbnails and the watch folder. The
//! Tauri shell in `src-tauri` only forwards to [`Desk`].

pub mod api;
pub mod clips;
pub mod service;
pub mod settings;
pub mod thumbs;
pub mod watch;

pub use api::{IpcError, IpcErrorKind};
pub use service::Desk;
