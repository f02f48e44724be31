//! Checks that the web UI is built, then runs tauri-build with the app's
//! command list, so that each command needs a permission in a capability.

use std::path::Path;

/// Every command the web UI may call.
const COMMANDS: &[&str] = &[
    "app_info",
    "import_paths",
    "check_requests",
    "queue_requests",
    "queue_jobs",
    "list_jobs",
    "job_detail",
    "cancel_job",
    "retry_job",
    "rerun_job",
    "run_next",
    "delete_jobs",
    "pause_queue",
    "resume_queue",
    "overview",
    "set_concurrency",
    "get_settings",
    "save_settings",
    "set_fal_key",
    "clear_fal_key",
    "reveal_job",
    "drag_out",
    "open_log_dir",
];

fn main() {
    let index = Path::new("../ui/dist/index.html");
    println!("cargo:rerun-if-changed=../ui/dist");
    if !index.exists() {
        panic!(
            "the web UI is not built ({} is missing); run `scripts/setup.sh --app` and then \
             `npm --prefix ui run build` at the top of the repository",
            index.display()
        );
    }
    let manifest = tauri_build::AppManifest::new().commands(COMMANDS);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri-build failed");
}
