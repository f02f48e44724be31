//! The commands the web UI calls. Each forwards to [`Desk`]; errors reach
//! the UI as `{kind, message}`.

use segue_desk::Desk;
use segue_desk::api::{
    AppInfo, BatchCheck, HistoryPage, HistoryQuery, ImportResult, IpcError, JobDetail, JobRow,
    KeyStatus, Overview, PairingRule, Settings, SettingsView,
};
use segue_engine::job::{JobId, JobRequest};
use tauri::{AppHandle, State, WebviewWindow};
use tauri_plugin_opener::OpenerExt;

type Result<T> = std::result::Result<T, IpcError>;

#[tauri::command]
pub(crate) fn app_info(desk: State<'_, Desk>) -> AppInfo {
    desk.app_info()
}

#[tauri::command]
pub(crate) async fn import_paths(
    desk: State<'_, Desk>,
    paths: Vec<String>,
    rule: PairingRule,
) -> Result<ImportResult> {
    desk.import_paths(paths, rule).await
}

#[tauri::command]
pub(crate) fn check_requests(desk: State<'_, Desk>, requests: Vec<JobRequest>) -> BatchCheck {
    desk.check_requests(requests)
}

#[tauri::command]
pub(crate) async fn queue_requests(
    desk: State<'_, Desk>,
    requests: Vec<JobRequest>,
) -> Result<Vec<JobId>> {
    desk.queue_requests(requests).await
}

#[tauri::command]
pub(crate) async fn queue_jobs(desk: State<'_, Desk>) -> Result<Vec<JobRow>> {
    desk.queue_jobs().await
}

#[tauri::command]
pub(crate) async fn list_jobs(desk: State<'_, Desk>, query: HistoryQuery) -> Result<HistoryPage> {
    desk.list_jobs(query).await
}

#[tauri::command]
pub(crate) async fn job_detail(desk: State<'_, Desk>, id: JobId) -> Result<JobDetail> {
    desk.job_detail(id).await
}

#[tauri::command]
pub(crate) async fn cancel_job(desk: State<'_, Desk>, id: JobId) -> Result<()> {
    desk.cancel_job(id).await
}

#[tauri::command]
pub(crate) async fn retry_job(desk: State<'_, Desk>, id: JobId) -> Result<()> {
    desk.retry_job(id).await
}

#[tauri::command]
pub(crate) async fn rerun_job(desk: State<'_, Desk>, id: JobId) -> Result<JobId> {
    desk.rerun_job(id).await
}

#[tauri::command]
pub(crate) async fn run_next(desk: State<'_, Desk>, id: JobId) -> Result<()> {
    desk.run_next(id).await
}

#[tauri::command]
pub(crate) async fn delete_jobs(desk: State<'_, Desk>, ids: Vec<JobId>) -> Result<u64> {
    desk.delete_jobs(ids).await
}

#[tauri::command]
pub(crate) async fn pause_queue(desk: State<'_, Desk>) -> Result<Overview> {
    desk.pause_queue().await
}

#[tauri::command]
pub(crate) async fn resume_queue(desk: State<'_, Desk>) -> Result<Overview> {
    desk.resume_queue().await
}

#[tauri::command]
pub(crate) async fn overview(desk: State<'_, Desk>) -> Result<Overview> {
    desk.overview().await
}

#[tauri::command]
pub(crate) async fn set_concurrency(
    desk: State<'_, Desk>,
    provider: String,
    limit: u32,
) -> Result<Overview> {
    desk.set_concurrency(provider, limit).await
}

#[tauri::command]
pub(crate) fn get_settings(desk: State<'_, Desk>) -> SettingsView {
    desk.get_settings()
}

#[tauri::command]
pub(crate) async fn save_settings(
    desk: State<'_, Desk>,
    settings: Settings,
) -> Result<SettingsView> {
    desk.save_settings(settings).await
}

#[tauri::command]
pub(crate) fn set_fal_key(desk: State<'_, Desk>, key: String) -> Result<KeyStatus> {
    desk.set_fal_key(key)
}

#[tauri::command]
pub(crate) fn clear_fal_key(desk: State<'_, Desk>) -> Result<KeyStatus> {
    desk.clear_fal_key()
}

#[tauri::command]
pub(crate) async fn reveal_job(app: AppHandle, desk: State<'_, Desk>, id: JobId) -> Result<()> {
    let path = desk.clip_path(id).await?;
    app.opener().reveal_item_in_dir(&path).map_err(|err| {
        IpcError::internal(format!("cannot open the file manager at {}: {err}", path.display()))
    })
}

#[tauri::command]
pub(crate) async fn drag_out(
    window: WebviewWindow,
    desk: State<'_, Desk>,
    id: JobId,
) -> Result<()> {
    let path = desk.clip_path(id).await?;
    let icon = desk.drag_icon(id).await;
    crate::drag::start(&window, path, icon)
}

#[tauri::command]
pub(crate) fn open_log_dir(app: AppHandle, desk: State<'_, Desk>) -> Result<()> {
    let dir = desk.log_dir().to_string_lossy().into_owned();
    app.opener()
        .open_path(&dir, None::<&str>)
        .map_err(|err| IpcError::internal(format!("cannot open {dir}: {err}")))
}
