//! [`Desk`]: one method per command of the desktop app, on top of the
//! engine. The Tauri shell wraps each in a `#[tauri::command]` of a few
//! lines; tests call them directly.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use segue_engine::event::JobEvent;
use segue_engine::intake;
use segue_engine::job::{JobId, JobRequest, JobState, LOCAL_MODEL, LOCAL_PROVIDER};
use segue_engine::provider::local::LocalGenerator;
use segue_engine::queue::{CancelOutcome, Engine, EngineConfig, OutputTarget};
use segue_engine::store::{JobFilter, JobRecord, Store, now_ms};
use segue_fal::{FalConfig, FalGenerator, FalKey};
use segue_render::TransitionKind;
use tokio::sync::Mutex as AsyncMutex;

use crate::api::{
    AppInfo, BatchCheck, BatchSummary, DraftPair, HistoryPage, HistoryQuery, ImageItem,
    ImportResult, IpcError, IpcErrorKind, JobDetail, JobRow, KeyStatus, ModelChoice, Overview,
    PairCheck, PairingRule, Settings, SettingsView, SlotUse, StateCounts, TypeInfo, WatchNotice,
    error_chain, events,
};
use crate::clips::{ClipResolver, ClipServer};
use crate::settings::{self, KeyStore};
use crate::thumbs;
use crate::watch::{FolderWatcher, WatchConfig, WatchEvent};

/// Long edge of list thumbnails, in pixels.
pub const THUMB_EDGE: u32 = 320;
/// Most rows one history page returns.
const MAX_PAGE: u32 = 500;
/// Rows of a history page when the query names no limit.
const DEFAULT_PAGE: u32 = 100;
/// Shortest time between two overview events.
const OVERVIEW_INTERVAL: Duration = Duration::from_millis(250);

/// What the desk needs from the window system: events to the web UI and
/// desktop notifications. The Tauri shell implements it; tests record calls.
pub trait Shell: Send + Sync + 'static {
    /// Sends `payload` to the web UI as event `event`.
    fn emit(&self, event: &'static str, payload: serde_json::Value);
    /// Shows a desktop notification.
    fn notify(&self, title: &str, body: &str);
}

/// Where the desk keeps its files and how it reaches fal.ai.
pub struct DeskOptions {
    /// Folder of the history database, settings, thumbnails and temporary
    /// files.
    pub data_dir: PathBuf,
    /// Folder of the log files (shown in settings).
    pub log_dir: PathBuf,
    /// Store of the fal.ai key.
    pub key_store: Arc<dyn KeyStore>,
    /// fal.ai client settings without the key; `None` reads the base URLs
    /// from the environment.
    pub fal_config: Option<FalConfig>,
    /// Reads an environment variable (the key may come from `FAL_KEY`).
    pub env: fn(&str) -> Option<String>,
}

impl DeskOptions {
    /// Options for the app: the OS keychain and the process environment.
    pub fn new(data_dir: PathBuf, log_dir: PathBuf) -> Self {
        DeskOptions {
            data_dir,
            log_dir,
            key_store: Arc::new(settings::OsKeychain),
            fal_config: None,
            env: |name| std::env::var(name).ok(),
        }
    }
}

/// The desktop app's state. Cheap to clone.
#[derive(Clone)]
pub struct Desk {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    fal: Arc<FalGenerator>,
    settings: RwLock<Settings>,
    settings_path: PathBuf,
    data_dir: PathBuf,
    log_dir: PathBuf,
    thumbs_dir: PathBuf,
    clips: ClipServer,
    shell: Arc<dyn Shell>,
    key_store: Arc<dyn KeyStore>,
    env: fn(&str) -> Option<String>,
    key_status: RwLock<KeyStatus>,
    session_start_ms: i64,
    resumed: u32,
    watcher: AsyncMutex<Option<FolderWatcher>>,
    /// Jobs of the current batch that have not ended, and the tally of those
    /// that have.
    batch: Mutex<Batch>,
}

#[derive(Default)]
struct Batch {
    open: HashSet<JobId>,
    summary: Option<BatchSummary>,
}

struct StoreResolver(Store);

#[async_trait]
impl ClipResolver for StoreResolver {
    async fn clip_path(&self, id: JobId) -> Option<PathBuf> {
        let job = self.0.job(id).await.ok()?;
        (job.state == JobState::Succeeded).then(|| job.output.map(|output| output.path)).flatten()
    }
}

fn engine_config(data_dir: &Path, settings: &Settings) -> EngineConfig {
    let mut config = EngineConfig::new(data_dir.to_path_buf());
    config.retry.max_attempts = settings.max_attempts;
    config.soft_limit = Duration::from_secs(settings.local_soft_limit_s);
    config.hard_limit = Duration::from_secs(settings.local_hard_limit_s);
    config.file_name_template = settings.file_name_template.clone();
    config.defaults.kind = settings.kind;
    config.defaults.output = settings.output;
    config.defaults.prompt = settings.prompt.clone();
    config
}

impl Desk {
    /// Opens the history, starts the task pools, the clip server and the
    /// watch folder, and resumes jobs that an earlier run left unfinished.
    pub async fn open(options: DeskOptions, shell: Arc<dyn Shell>) -> Result<Desk, IpcError> {
        let io = |path: &Path, err: std::io::Error| {
            IpcError::new(IpcErrorKind::Io, format!("cannot create {}: {err}", path.display()))
        };
        std::fs::create_dir_all(&options.data_dir).map_err(|err| io(&options.data_dir, err))?;
        let thumbs_dir = options.data_dir.join("thumbs");
        std::fs::create_dir_all(&thumbs_dir).map_err(|err| io(&thumbs_dir, err))?;
        let settings_path = settings::settings_path(&options.data_dir);
        let settings = settings::load(&settings_path);

        let engine = Engine::open(engine_config(&options.data_dir, &settings)).await?;
        engine.set_limits(
            segue_fal::PROVIDER,
            Duration::from_secs(settings.fal_soft_limit_s),
            Duration::from_secs(settings.fal_hard_limit_s),
        );
        engine.register(Arc::new(LocalGenerator::new()));
        let (key, key_status) = settings::resolve_key(options.key_store.as_ref(), options.env);
        let mut fal_config =
            options.fal_config.unwrap_or_else(|| FalConfig::from_lookup(options.env));
        fal_config.key = key;
        let fal = Arc::new(
            FalGenerator::new(fal_config).map_err(|err| IpcError::bad_input(error_chain(&err)))?,
        );
        engine.register(fal.clone());
        engine.set_concurrency(LOCAL_PROVIDER, settings.local_concurrency as usize);
        engine.set_concurrency(segue_fal::PROVIDER, settings.fal_concurrency as usize);

        let resolver = Arc::new(StoreResolver(engine.store().clone()));
        let clips = ClipServer::start(thumbs_dir.clone(), resolver).await.map_err(|err| {
            IpcError::new(IpcErrorKind::Io, format!("cannot start the clip server: {err}"))
        })?;

        let events = engine.subscribe();
        let resumed_ids = engine.resume_orphans().await?;
        let resumed = resumed_ids.len() as u32;
        let desk = Desk {
            inner: Arc::new(Inner {
                engine,
                fal,
                settings: RwLock::new(settings),
                settings_path,
                data_dir: options.data_dir,
                log_dir: options.log_dir,
                thumbs_dir,
                clips,
                shell,
                key_store: options.key_store,
                env: options.env,
                key_status: RwLock::new(key_status),
                session_start_ms: now_ms(),
                resumed,
                watcher: AsyncMutex::new(None),
                batch: Mutex::new(Batch::default()),
            }),
        };
        desk.open_batch(&resumed_ids);
        desk.spawn_event_forwarder(events);
        if let Err(err) = desk.restart_watcher().await {
            desk.inner
                .shell
                .emit(events::WATCH, to_json(&WatchNotice::Error { error: err.message }));
        }
        tracing::info!(clip_origin = %desk.inner.clips.origin(), resumed, "desk open");
        Ok(desk)
    }

    /// Returns the engine, for tests and the shell's shutdown.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Returns the loopback clip server.
    pub fn clips(&self) -> &ClipServer {
        &self.inner.clips
    }

    /// Types, models, the clip server's origin and resumed jobs.
    pub fn app_info(&self) -> AppInfo {
        AppInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            types: TransitionKind::ALL
                .iter()
                .map(|kind| TypeInfo { kind: *kind, description: kind.description().to_string() })
                .collect(),
            models: model_choices(),
            clip_origin: self.inner.clips.origin(),
            resumed: self.inner.resumed,
        }
    }

    /// Turns dropped or picked files and folders into images and pairs.
    /// Folders contribute their images in natural name order; files keep
    /// the order given. Unusable files come back in `rejected` with their
    /// error; they never fail the call.
    pub async fn import_paths(
        &self,
        paths: Vec<String>,
        rule: PairingRule,
    ) -> Result<ImportResult, IpcError> {
        let thumbs_dir = self.inner.thumbs_dir.clone();
        let clips_origin = self.inner.clips.clone_urls();
        tokio::task::spawn_blocking(move || {
            import_blocking(&paths, rule, &thumbs_dir, &clips_origin)
        })
        .await
        .map_err(|err| IpcError::internal(format!("import stopped: {err}")))
    }

    /// Fills the provider and model of a request from the settings: a
    /// request without a provider uses the default one, and a fal request
    /// without a model uses the default fal model.
    fn complete(&self, mut request: JobRequest) -> JobRequest {
        let settings = self.settings();
        let provider = request.provider.get_or_insert_with(|| settings.provider.clone()).clone();
        let output = settings.output;
        request.kind.get_or_insert_with(|| settings.kind.name().to_string());
        request.duration.get_or_insert(output.duration_s);
        request.aspect.get_or_insert_with(|| output.aspect.name().to_string());
        request.resolution.get_or_insert_with(|| output.resolution.name().to_string());
        request.fps.get_or_insert(output.fps);
        request.fit.get_or_insert_with(|| output.fit.name().to_string());
        if request.prompt.is_none() && !settings.prompt.is_empty() {
            request.prompt = Some(settings.prompt.clone());
        }
        if request.model.as_deref().is_none_or(str::is_empty) {
            request.model = Some(if provider == LOCAL_PROVIDER {
                LOCAL_MODEL.to_string()
            } else {
                settings.fal_model.clone()
            });
        }
        request
    }

    /// Validates each request and estimates its price. Nothing is stored.
    pub fn check_requests(&self, requests: Vec<JobRequest>) -> BatchCheck {
        let out = self.output_target();
        let mut total = 0.0;
        let mut unpriced = 0;
        let mut ok = !requests.is_empty();
        let pairs = requests
            .into_iter()
            .map(|request| {
                let request = self.complete(request);
                let provider = request.provider.clone().unwrap_or_default();
                let model = request.model.clone().unwrap_or_default();
                match self.inner.engine.estimate(&[(request, out.clone())]) {
                    Ok(prices) => {
                        let price = if provider == LOCAL_PROVIDER { Some(0.0) } else { prices[0] };
                        match price {
                            Some(price) => total += price,
                            None => unpriced += 1,
                        }
                        PairCheck { errors: Vec::new(), price_usd: price, provider, model }
                    }
                    Err(err) => {
                        ok = false;
                        let message = error_chain(&err);
                        let message =
                            message.strip_prefix("request 1: ").unwrap_or(&message).to_string();
                        PairCheck { errors: vec![message], price_usd: None, provider, model }
                    }
                }
            })
            .collect();
        BatchCheck { pairs, total_usd: total, unpriced, ok }
    }

    /// Queues `requests` (all or none) into the output folder.
    pub async fn queue_requests(&self, requests: Vec<JobRequest>) -> Result<Vec<JobId>, IpcError> {
        if requests.is_empty() {
            return Err(IpcError::bad_input("nothing to queue; add an image pair first"));
        }
        let out = self.output_target();
        let requests = requests.into_iter().map(|r| (self.complete(r), out.clone())).collect();
        let ids = self.inner.engine.enqueue(requests).await?;
        self.open_batch(&ids);
        Ok(ids)
    }

    /// Jobs that have not ended, plus the jobs that ended since the app
    /// started, in queue order.
    pub async fn queue_jobs(&self) -> Result<Vec<JobRow>, IpcError> {
        let store = self.inner.engine.store();
        let unfinished = JobFilter {
            states: vec![JobState::Queued, JobState::Running, JobState::Retrying],
            ..JobFilter::default()
        };
        let recent =
            JobFilter { since_ms: Some(self.inner.session_start_ms), ..JobFilter::default() };
        let mut records = store.list_jobs(&unfinished).await?;
        let seen: HashSet<JobId> = records.iter().map(|job| job.id).collect();
        records.extend(
            store.list_jobs(&recent).await?.into_iter().filter(|job| !seen.contains(&job.id)),
        );
        records.sort_by_key(|job| (-job.priority, job.seq));
        Ok(records.iter().map(|job| self.row(job)).collect())
    }

    /// One page of history.
    pub async fn list_jobs(&self, query: HistoryQuery) -> Result<HistoryPage, IpcError> {
        let offset = query.offset.unwrap_or(0);
        let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let filter = JobFilter {
            states: query.states,
            kind: query.kind.map(|kind| kind.name().to_string()),
            provider: query.provider.filter(|p| !p.is_empty()),
            model: query.model.filter(|m| !m.is_empty()),
            since_ms: query.since_ms,
            until_ms: query.until_ms,
            search: query.search.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
            offset: Some(offset),
            limit: Some(limit),
            ..JobFilter::default()
        };
        let store = self.inner.engine.store();
        let total = store.count_jobs(&filter).await?;
        let rows = store.list_jobs(&filter).await?.iter().map(|job| self.row(job)).collect();
        Ok(HistoryPage { rows, total, offset })
    }

    /// Everything about one job.
    pub async fn job_detail(&self, id: JobId) -> Result<JobDetail, IpcError> {
        let store = self.inner.engine.store();
        let job = store.job(id).await?;
        let attempts = store.attempts(id).await?;
        Ok(JobDetail { row: self.row(&job), spec: job.spec.clone(), attempts })
    }

    /// Cancels a job. A job that already ended is a conflict.
    pub async fn cancel_job(&self, id: JobId) -> Result<(), IpcError> {
        match self.inner.engine.cancel(id).await? {
            CancelOutcome::Cancelled | CancelOutcome::Requested => Ok(()),
            CancelOutcome::AlreadyFinished(state) => Err(IpcError::conflict(format!(
                "the job already ended as {state}; nothing to cancel"
            ))),
        }
    }

    /// Queues a failed, timed-out or cancelled job again.
    pub async fn retry_job(&self, id: JobId) -> Result<(), IpcError> {
        if self.inner.engine.retry(id).await? {
            self.open_batch(&[id]);
            Ok(())
        } else {
            let state = self.inner.engine.store().job(id).await?.state;
            Err(IpcError::conflict(format!(
                "a {state} job cannot be retried; re-run it to make a new clip with the same settings"
            )))
        }
    }

    /// Queues a new job with the settings of `id`.
    pub async fn rerun_job(&self, id: JobId) -> Result<JobId, IpcError> {
        let new_id = self.inner.engine.rerun(id).await?;
        self.open_batch(&[new_id]);
        Ok(new_id)
    }

    /// Moves a queued job to the front of its provider's queue.
    pub async fn run_next(&self, id: JobId) -> Result<(), IpcError> {
        if self.inner.engine.run_next(id).await? {
            Ok(())
        } else {
            Err(IpcError::conflict("only a queued job can be moved to the front"))
        }
    }

    /// Deletes ended jobs from the history; their clips stay on disk.
    pub async fn delete_jobs(&self, ids: Vec<JobId>) -> Result<u64, IpcError> {
        let deleted = self.inner.engine.delete_jobs(&ids).await?;
        self.overview_changed().await;
        Ok(deleted as u64)
    }

    /// Holds back new attempts; running ones finish.
    pub async fn pause_queue(&self) -> Result<Overview, IpcError> {
        self.inner.engine.pause();
        self.overview_changed().await;
        self.overview().await
    }

    /// Lets new attempts start again.
    pub async fn resume_queue(&self) -> Result<Overview, IpcError> {
        self.inner.engine.resume();
        self.overview_changed().await;
        self.overview().await
    }

    /// Slots, counts and failures.
    pub async fn overview(&self) -> Result<Overview, IpcError> {
        let engine = &self.inner.engine;
        let store = engine.store();
        let mut counts = StateCounts::default();
        for (state, n) in store.state_counts().await? {
            match state {
                JobState::Queued => counts.queued += n,
                JobState::Running => counts.running += n,
                JobState::Retrying => counts.retrying += n,
                JobState::Succeeded => counts.succeeded += n,
                JobState::Failed => counts.failed += n,
                JobState::Cancelled => counts.cancelled += n,
                JobState::TimedOut => counts.timed_out += n,
                JobState::RemoteExpired | JobState::SubmitUnknown => counts.needs_action += n,
            }
        }
        let failures = JobFilter {
            states: vec![JobState::Failed, JobState::TimedOut],
            since_ms: Some(now_ms() - 24 * 3600 * 1000),
            ..JobFilter::default()
        };
        let slots = engine
            .slots()
            .into_iter()
            .map(|slot| SlotUse {
                provider: slot.provider,
                in_use: slot.in_use as u32,
                limit: slot.limit as u32,
                queued: slot.queued as u32,
            })
            .collect();
        Ok(Overview {
            paused: engine.is_paused(),
            slots,
            counts,
            failures_24h: store.count_jobs(&failures).await?,
        })
    }

    /// Changes a provider's concurrency and saves it as the default.
    pub async fn set_concurrency(
        &self,
        provider: String,
        limit: u32,
    ) -> Result<Overview, IpcError> {
        let applied =
            self.inner.engine.set_concurrency(&provider, limit.max(1) as usize).ok_or_else(
                || IpcError::bad_input(format!("unknown provider {provider:?}; use local or fal")),
            )?;
        let mut settings = self.settings();
        match provider.as_str() {
            LOCAL_PROVIDER => settings.local_concurrency = applied as u32,
            _ => settings.fal_concurrency = applied as u32,
        }
        settings::save(&self.inner.settings_path, &settings)?;
        *self.inner.settings.write().expect("settings lock poisoned") = settings;
        self.overview_changed().await;
        self.overview().await
    }

    /// Current settings.
    pub fn settings(&self) -> Settings {
        self.inner.settings.read().expect("settings lock poisoned").clone()
    }

    /// Settings, key status and folders.
    pub fn get_settings(&self) -> SettingsView {
        SettingsView {
            settings: self.settings(),
            fal_key: self.inner.key_status.read().expect("key status lock poisoned").clone(),
            data_dir: self.inner.data_dir.to_string_lossy().into_owned(),
            log_dir: self.inner.log_dir.to_string_lossy().into_owned(),
        }
    }

    /// Validates, saves and applies `settings`.
    pub async fn save_settings(&self, mut settings: Settings) -> Result<SettingsView, IpcError> {
        settings.output_dir = settings.output_dir.trim().to_string();
        settings.watch_dir =
            settings.watch_dir.map(|d| d.trim().to_string()).filter(|d| !d.is_empty());
        settings::validate(&settings)?;
        let old = self.settings();
        settings::save(&self.inner.settings_path, &settings)?;
        *self.inner.settings.write().expect("settings lock poisoned") = settings.clone();
        let engine = &self.inner.engine;
        engine.set_concurrency(LOCAL_PROVIDER, settings.local_concurrency as usize);
        engine.set_concurrency(segue_fal::PROVIDER, settings.fal_concurrency as usize);
        engine.set_limits(
            LOCAL_PROVIDER,
            Duration::from_secs(settings.local_soft_limit_s),
            Duration::from_secs(settings.local_hard_limit_s),
        );
        engine.set_limits(
            segue_fal::PROVIDER,
            Duration::from_secs(settings.fal_soft_limit_s),
            Duration::from_secs(settings.fal_hard_limit_s),
        );
        engine.set_max_attempts(settings.max_attempts);
        engine.set_file_name_template(settings.file_name_template.clone());
        if old.watch_dir != settings.watch_dir || old.watch_pairing != settings.watch_pairing {
            self.restart_watcher().await?;
        }
        self.overview_changed().await;
        Ok(self.get_settings())
    }

    /// Saves the fal.ai key in the key store and starts using it.
    pub fn set_fal_key(&self, key: String) -> Result<KeyStatus, IpcError> {
        let key = FalKey::new(key).map_err(|err| IpcError::bad_input(err.to_string()))?;
        self.inner
            .key_store
            .save(&key)
            .map_err(|err| IpcError::new(IpcErrorKind::Keychain, err.to_string()))?;
        self.inner.fal.client().set_key(key);
        Ok(self.refresh_key_status())
    }

    /// Removes the saved key. A key from `FAL_KEY` stays in use.
    pub fn clear_fal_key(&self) -> Result<KeyStatus, IpcError> {
        self.inner
            .key_store
            .delete()
            .map_err(|err| IpcError::new(IpcErrorKind::Keychain, err.to_string()))?;
        let status = self.refresh_key_status();
        match settings::resolve_key(self.inner.key_store.as_ref(), self.inner.env).0 {
            Some(key) => self.inner.fal.client().set_key(key),
            None => self.inner.fal.client().clear_key(),
        }
        Ok(status)
    }

    fn refresh_key_status(&self) -> KeyStatus {
        let (_, status) = settings::resolve_key(self.inner.key_store.as_ref(), self.inner.env);
        *self.inner.key_status.write().expect("key status lock poisoned") = status.clone();
        status
    }

    /// Path of a finished job's clip, for reveal and drag out.
    pub async fn clip_path(&self, id: JobId) -> Result<PathBuf, IpcError> {
        let job = self.inner.engine.store().job(id).await?;
        match (job.state, job.output) {
            (JobState::Succeeded, Some(output)) if output.path.is_file() => Ok(output.path),
            (JobState::Succeeded, Some(output)) => Err(IpcError::not_found(format!(
                "the clip {} was moved or deleted; re-run the job to make it again",
                output.path.display()
            ))),
            (state, _) => {
                Err(IpcError::conflict(format!("the job is {state}; it has no clip yet")))
            }
        }
    }

    /// Thumbnail file of a job's front image, made if missing, for the drag
    /// icon.
    pub async fn drag_icon(&self, id: JobId) -> Option<PathBuf> {
        let job = self.inner.engine.store().job(id).await.ok()?;
        let dir = self.inner.thumbs_dir.clone();
        tokio::task::spawn_blocking(move || {
            thumbs::thumbnail(&job.spec.front, &dir, 128).ok().map(|t| t.path)
        })
        .await
        .ok()
        .flatten()
    }

    /// Folder of the log files.
    pub fn log_dir(&self) -> &Path {
        &self.inner.log_dir
    }

    /// Waits until no job of this process is unfinished.
    pub async fn wait_idle(&self) {
        self.inner.engine.wait_idle().await;
    }

    /// Stops the watch folder and the task pools.
    pub async fn shutdown(&self) {
        if let Some(watcher) = self.inner.watcher.lock().await.take() {
            watcher.stop().await;
        }
        self.inner.engine.shutdown();
    }

    fn output_target(&self) -> OutputTarget {
        OutputTarget::Dir(PathBuf::from(self.settings().output_dir))
    }

    fn open_batch(&self, ids: &[JobId]) {
        let mut batch = self.inner.batch.lock().expect("batch lock poisoned");
        if batch.open.is_empty() {
            batch.summary = Some(BatchSummary { succeeded: 0, failed: 0, cancelled: 0 });
        }
        batch.open.extend(ids.iter().copied());
    }

    /// Records the end of a job; returns the summary when it closed the
    /// batch.
    fn close_in_batch(&self, event: &JobEvent) -> Option<BatchSummary> {
        let mut batch = self.inner.batch.lock().expect("batch lock poisoned");
        if !batch.open.remove(&event.job_id()) {
            return None;
        }
        let summary =
            batch.summary.get_or_insert(BatchSummary { succeeded: 0, failed: 0, cancelled: 0 });
        match event {
            JobEvent::Succeeded { .. } => summary.succeeded += 1,
            JobEvent::Cancelled { .. } => summary.cancelled += 1,
            _ => summary.failed += 1,
        }
        if batch.open.is_empty() { batch.summary.take() } else { None }
    }

    fn row(&self, job: &JobRecord) -> JobRow {
        let thumb = |path: &Path| {
            thumbs::cached_thumbnail(path, &self.inner.thumbs_dir, THUMB_EDGE)
                .map(|name| self.inner.clips.thumb_url(&name))
        };
        JobRow {
            id: job.id,
            short_id: job.id.short(),
            name: job.spec.name.clone(),
            state: job.state,
            stage: job.stage,
            progress: job.progress,
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            provider: job.provider.clone(),
            model: job.spec.model.clone(),
            kind: job.spec.kind,
            duration_s: job.spec.output.duration_s,
            prompt: job.spec.prompt.clone(),
            front: job.spec.front.to_string_lossy().into_owned(),
            tail: job.spec.tail.to_string_lossy().into_owned(),
            front_thumb: thumb(&job.spec.front),
            tail_thumb: thumb(&job.spec.tail),
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            error_kind: job.error_kind.clone(),
            error_message: job.error_message.clone(),
            provider_request_id: job.provider_request_id.clone(),
            price_usd: job.price_estimate_usd,
            output_path: job.output_path.to_string_lossy().into_owned(),
            output: job.output.clone(),
            clip_url: (job.state == JobState::Succeeded).then(|| self.inner.clips.clip_url(job.id)),
        }
    }

    async fn overview_changed(&self) {
        match self.overview().await {
            Ok(overview) => self.inner.shell.emit(events::OVERVIEW, to_json(&overview)),
            Err(err) => tracing::warn!(error = %err, "cannot read the queue overview"),
        }
    }

    fn spawn_event_forwarder(&self, mut events: tokio::sync::broadcast::Receiver<JobEvent>) {
        let desk = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(OVERVIEW_INTERVAL);
            let mut dirty = false;
            loop {
                tokio::select! {
                    received = events.recv() => match received {
                        Ok(event) => {
                            if !matches!(event, JobEvent::Progress { .. } | JobEvent::ProviderLog { .. }) {
                                dirty = true;
                            }
                            desk.inner.shell.emit(events::JOB, to_json(&event));
                            if event.is_terminal()
                                && let Some(summary) = desk.close_in_batch(&event)
                            {
                                desk.batch_finished(summary);
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "the UI event forwarder fell behind");
                            dirty = true;
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    },
                    _ = tick.tick() => {
                        if dirty {
                            dirty = false;
                            desk.overview_changed().await;
                        }
                    }
                }
            }
        });
    }

    fn batch_finished(&self, summary: BatchSummary) {
        tracing::info!(
            succeeded = summary.succeeded,
            failed = summary.failed,
            cancelled = summary.cancelled,
            "batch finished"
        );
        self.inner.shell.emit(events::BATCH_FINISHED, to_json(&summary));
        if self.settings().notify_on_finish {
            let mut body = format!("{} clip{} made", summary.succeeded, plural(summary.succeeded));
            if summary.failed > 0 {
                body.push_str(&format!(", {} failed", summary.failed));
            }
            if summary.cancelled > 0 {
                body.push_str(&format!(", {} cancelled", summary.cancelled));
            }
            self.inner.shell.notify("Segue: batch finished", &body);
        }
    }

    /// Stops the current watch folder and starts the one in the settings.
    async fn restart_watcher(&self) -> Result<(), IpcError> {
        let mut slot = self.inner.watcher.lock().await;
        if let Some(watcher) = slot.take() {
            watcher.stop().await;
        }
        let settings = self.settings();
        let Some(dir) = settings.watch_dir.clone() else { return Ok(()) };
        let dir = PathBuf::from(dir);
        let ledger = crate::watch::ledger_path(&self.inner.data_dir, &dir);
        let config = WatchConfig::new(dir.clone(), settings.watch_pairing.into(), ledger);
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let watcher = FolderWatcher::start(config, sender).map_err(|err| {
            let kind = match err {
                crate::watch::WatchError::NotFound { .. }
                | crate::watch::WatchError::NotADirectory { .. } => IpcErrorKind::BadInput,
                _ => IpcErrorKind::Io,
            };
            IpcError::new(kind, format!("Watch folder: {}", error_chain(&err)))
        })?;
        *slot = Some(watcher);
        let desk = self.clone();
        tokio::spawn(async move {
            while let Some(event) = receiver.recv().await {
                desk.on_watch_event(event).await;
            }
        });
        tracing::info!(dir = %dir.display(), "watching folder");
        Ok(())
    }

    async fn on_watch_event(&self, event: WatchEvent) {
        let notice = match event {
            WatchEvent::Pair(pair) => {
                let settings = self.settings();
                let request = JobRequest {
                    front: pair.front.clone(),
                    tail: pair.tail.clone(),
                    provider: Some(settings.provider.clone()),
                    prompt: Some(settings.prompt.clone()).filter(|p| !p.is_empty()),
                    ..JobRequest::default()
                };
                match self.queue_requests(vec![request]).await {
                    Ok(ids) => WatchNotice::Queued {
                        job_id: ids[0],
                        front: pair.front.to_string_lossy().into_owned(),
                        tail: pair.tail.to_string_lossy().into_owned(),
                    },
                    Err(err) => WatchNotice::Rejected {
                        path: pair.front.to_string_lossy().into_owned(),
                        error: err.message,
                    },
                }
            }
            WatchEvent::Rejected { path, error } => {
                WatchNotice::Rejected { path: path.to_string_lossy().into_owned(), error }
            }
            WatchEvent::Waiting { path } => {
                WatchNotice::Waiting { path: path.to_string_lossy().into_owned() }
            }
        };
        self.inner.shell.emit(events::WATCH, to_json(&notice));
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("IPC types serialize to JSON")
}

fn model_choices() -> Vec<ModelChoice> {
    let mut choices = vec![ModelChoice {
        provider: LOCAL_PROVIDER.to_string(),
        id: LOCAL_MODEL.to_string(),
        name: "Segue local renderer".to_string(),
        durations: (1..=10).collect(),
        price_5s_usd: Some(0.0),
        uses_prompt: false,
    }];
    for model in segue_fal::models() {
        let durations: Vec<u32> = match model.durations {
            segue_fal::Durations::Choices(choices) => choices.iter().map(|(s, _)| *s).collect(),
            segue_fal::Durations::Fixed(seconds) => vec![seconds],
            segue_fal::Durations::Frames { min_frames, max_frames, min_fps, max_fps, .. } => {
                let shortest = min_frames.div_ceil(max_fps).max(1);
                let longest = max_frames / min_fps.max(1);
                (shortest..=longest).collect()
            }
        };
        let price = model.price.map(|price| {
            price(&segue_fal::PriceInput {
                seconds: 5.0,
                resolution: model.resolutions.first().copied().unwrap_or("720p"),
                num_frames: None,
            })
        });
        choices.push(ModelChoice {
            provider: segue_fal::PROVIDER.to_string(),
            id: model.id.to_string(),
            name: model.name.to_string(),
            durations,
            price_5s_usd: price,
            uses_prompt: true,
        });
    }
    choices
}

/// Expands folders, probes and thumbnails each image, and pairs them.
fn import_blocking(
    paths: &[String],
    rule: PairingRule,
    thumbs_dir: &Path,
    urls: &crate::clips::UrlMaker,
) -> ImportResult {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut result = ImportResult::default();
    let mut seen = HashSet::new();
    for raw in paths {
        let path = PathBuf::from(raw);
        if path.is_dir() {
            match intake::list_images(&path) {
                Ok(images) => files.extend(images),
                Err(err) => result.rejected.push(rejected(&path, error_chain(&err))),
            }
        } else if !path.exists() {
            result.rejected.push(rejected(
                &path,
                format!("{} does not exist; it may have been moved", path.display()),
            ));
        } else if !intake::has_image_extension(&path) {
            result.rejected.push(rejected(
                &path,
                format!(
                    "{} is not an image file; drop JPEG, PNG, WebP, TIFF, BMP or GIF files",
                    path.display()
                ),
            ));
        } else {
            files.push(path);
        }
    }
    files.retain(|path| seen.insert(path.clone()));
    let items = probe_all(&files, thumbs_dir, urls);
    let mut usable: Vec<PathBuf> = Vec::new();
    let mut by_path: HashMap<PathBuf, ImageItem> = HashMap::new();
    for (path, item) in files.into_iter().zip(items) {
        if item.error.is_some() {
            result.rejected.push(item);
        } else {
            usable.push(path.clone());
            by_path.insert(path, item.clone());
            result.images.push(item);
        }
    }
    let pairs = intake::pair_images(&usable, rule.into());
    result.pairs = pairs
        .pairs
        .iter()
        .map(|pair| DraftPair {
            front: by_path[&pair.front].clone(),
            tail: by_path[&pair.tail].clone(),
        })
        .collect();
    result.unpaired = pairs.unpaired.iter().map(|path| by_path[path].clone()).collect();
    result
}

fn rejected(path: &Path, error: String) -> ImageItem {
    ImageItem {
        path: path.to_string_lossy().into_owned(),
        name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        width: None,
        height: None,
        format: None,
        thumb_url: None,
        error: Some(error),
    }
}

/// Probes and thumbnails `files` on all cores, keeping their order.
fn probe_all(
    files: &[PathBuf],
    thumbs_dir: &Path,
    urls: &crate::clips::UrlMaker,
) -> Vec<ImageItem> {
    let workers =
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(files.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<ImageItem>>> = files.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(path) = files.get(index) else { break };
                    *slots[index].lock().expect("slot lock poisoned") =
                        Some(probe_one(path, thumbs_dir, urls));
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| slot.into_inner().expect("slot lock poisoned").expect("every slot filled"))
        .collect()
}

fn probe_one(path: &Path, thumbs_dir: &Path, urls: &crate::clips::UrlMaker) -> ImageItem {
    let mut item = rejected(path, String::new());
    item.error = None;
    match segue_render::probe_image(path) {
        Ok(info) => {
            item.width = Some(info.width);
            item.height = Some(info.height);
            item.format = Some(info.format.to_string());
        }
        Err(err) => {
            item.error = Some(err.to_string());
            return item;
        }
    }
    match thumbs::thumbnail(path, thumbs_dir, THUMB_EDGE) {
        Ok(thumb) => item.thumb_url = Some(urls.thumb_url(&thumb.file_name)),
        Err(err) => item.error = Some(err.to_string()),
    }
    item
}
