//! Segue's desktop app: a Tauri window around [`segue_desk::Desk`].
//!
//! The shell holds windows, plugins and events only. Every command is a
//! few lines in [`commands`] that call the desk.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod drag;

use std::path::PathBuf;
use std::sync::Arc;

use segue_desk::Desk;
use segue_desk::api::events;
use segue_desk::service::{DeskOptions, Shell};
use tauri::{AppHandle, Emitter, Manager, RunEvent};
use tauri_plugin_notification::NotificationExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Sends desk events to the web UI and notifications to the desktop.
struct TauriShell(AppHandle);

impl Shell for TauriShell {
    fn emit(&self, event: &'static str, payload: serde_json::Value) {
        if let Err(err) = self.0.emit(event, payload) {
            tracing::warn!(event, error = %err, "cannot send an event to the window");
        }
    }

    fn notify(&self, title: &str, body: &str) {
        if let Err(err) = self.0.notification().builder().title(title).body(body).show() {
            tracing::warn!(error = %err, "cannot show a desktop notification");
        }
    }
}

/// Logs to stderr and to a daily file in the platform's log folder. The
/// returned guard flushes the file when dropped.
fn init_logging(log_dir: &std::path::Path) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let filter = || EnvFilter::try_from_env("SEGUE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr =
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter());
    match std::fs::create_dir_all(log_dir) {
        Ok(()) => {
            let appender = tracing_appender::rolling::daily(log_dir, "segue-app.log");
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let file = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer)
                .with_filter(filter());
            tracing_subscriber::registry().with(stderr).with(file).init();
            Some(guard)
        }
        Err(err) => {
            tracing_subscriber::registry().with(stderr).init();
            tracing::warn!(dir = %log_dir.display(), error = %err, "cannot create the log folder; logging to stderr only");
            None
        }
    }
}

/// Image paths among a second launch's arguments.
fn file_arguments(argv: &[String], cwd: &str) -> Vec<String> {
    argv.iter()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .map(|arg| {
            let path = PathBuf::from(arg);
            if path.is_absolute() { path } else { PathBuf::from(cwd).join(path) }
        })
        .filter(|path| path.exists())
        .map(|path| path.to_string_lossy().into_owned())
        .collect()
}

fn main() {
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, argv, cwd| {
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.set_focus();
            }
            let paths = file_arguments(&argv, &cwd);
            if paths.is_empty() {
                return;
            }
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let desk = app.state::<Desk>();
                let rule = desk.settings().pairing;
                match desk.import_paths(paths, rule).await {
                    Ok(result) => {
                        let _ = app.emit(events::IMPORTED, result);
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot import the files of a second launch")
                    }
                }
            });
        }))
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .setup(|app| {
            let log_dir = app.path().app_log_dir()?;
            let guard = init_logging(&log_dir);
            app.manage(guard);
            let data_dir = segue_engine::paths::data_dir(None);
            let options = DeskOptions::new(data_dir, log_dir);
            let shell = Arc::new(TauriShell(app.handle().clone()));
            let desk = tauri::async_runtime::block_on(Desk::open(options, shell))
                .map_err(|err| Box::<dyn std::error::Error>::from(err.message))?;
            app.manage(desk);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::import_paths,
            commands::check_requests,
            commands::queue_requests,
            commands::queue_jobs,
            commands::list_jobs,
            commands::job_detail,
            commands::cancel_job,
            commands::retry_job,
            commands::rerun_job,
            commands::run_next,
            commands::delete_jobs,
            commands::pause_queue,
            commands::resume_queue,
            commands::overview,
            commands::set_concurrency,
            commands::get_settings,
            commands::save_settings,
            commands::set_fal_key,
            commands::clear_fal_key,
            commands::reveal_job,
            commands::drag_out,
            commands::open_log_dir,
        ])
        .build(tauri::generate_context!())
        .expect("cannot start the Segue window");
    app.run(|app, event| {
        if let RunEvent::Exit = event
            && let Some(desk) = app.try_state::<Desk>()
        {
            tauri::async_runtime::block_on(desk.shutdown());
        }
    });
}
