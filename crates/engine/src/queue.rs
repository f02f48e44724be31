//! The task pool: stores jobs, runs them per provider with bounded
//! concurrency, retries transient failures, enforces time limits, cancels and
//! resumes.
//!
//! ```text
//! queued ──► running ──► succeeded
//!   ▲          │ ├─────► failed     (permanent error, or attempts used up)
//!   │          │ ├─────► timed_out  (hard time limit)
//!   │          │ └─────► cancelled
//!   └─ retrying ◄┘       (transient error; back to queued after the backoff)
//! ```
//!
//! Every transition is committed to the store before the pool acts on it. A
//! process owns the jobs it enqueued; when it dies, `resume_orphans` in any
//! other process takes them over (see `runner`).

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::event::JobEvent;
use crate::job::{
    ErrorKind, JobDefaults, JobId, JobRequest, JobSpec, JobState, RequestError, Stage,
};
use crate::limiter::{Limiter, Permit};
use crate::output;
use crate::provider::{
    AttemptContext, ErrorClass, GenerateError, Generator, ProgressUpdate, Reporter,
};
use crate::retry::RetryPolicy;
use crate::runner::{self, RunnerLock};
use crate::store::{AttemptFailure, JobRecord, NewJob, Store, StoreError, now_ms};
use crate::template::{self, NameFields, TemplateError};

/// How often the pool looks for cancel requests from other processes.
const CANCEL_POLL: Duration = Duration::from_millis(400);
/// How often progress is written to the store (events go out on every
/// update).
const PROGRESS_STORE_INTERVAL: Duration = Duration::from_millis(500);
/// How long a generator may take to wind down after a cancel.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Capacity of the event channel; slow subscribers miss progress events
/// beyond this, never the store's state.
const EVENT_CAPACITY: usize = 4096;

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Folder holding the database, runner locks and temporary files.
    pub data_dir: PathBuf,
    /// Attempt budget and backoff.
    pub retry: RetryPolicy,
    /// Per attempt: after this the provider is asked to stop.
    pub soft_limit: Duration,
    /// Per attempt: after this the attempt ends as timed out.
    pub hard_limit: Duration,
    /// Defaults for fields a request leaves out.
    pub defaults: JobDefaults,
    /// Template for the names of clips written into an output folder
    /// ([`OutputTarget::Dir`]). [`crate::template`] lists the
    /// placeholders. Clips with an exact path ([`OutputTarget::File`]) do
    /// not use it.
    pub file_name_template: String,
}

impl EngineConfig {
    /// Default settings with the given data folder.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            retry: RetryPolicy::default(),
            soft_limit: Duration::from_secs(10 * 60),
            hard_limit: Duration::from_secs(15 * 60),
            defaults: JobDefaults::default(),
            file_name_template: template::DEFAULT_TEMPLATE.to_string(),
        }
    }
}

/// Destination of a job's clip.
#[derive(Clone, Debug)]
pub enum OutputTarget {
    /// Into this folder, under a unique name built from
    /// [`EngineConfig::file_name_template`].
    Dir(PathBuf),
    /// At exactly this path (replaced if it exists).
    File(PathBuf),
}

/// A failed enqueue.
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    /// A request is invalid.
    #[error("request {index}: {source}", index = index + 1)]
    Request {
        /// 0-based position in the batch.
        index: usize,
        /// Cause.
        #[source]
        source: RequestError,
    },
    /// The provider rejected the settings.
    #[error("request {index}: {source}", index = index + 1)]
    Rejected {
        /// 0-based position in the batch.
        index: usize,
        /// Cause.
        #[source]
        source: GenerateError,
    },
    /// The output folder cannot be created or written.
    #[error("output folder {path}: {reason}", path = path.display())]
    Output {
        /// The folder.
        path: PathBuf,
        /// Reason, with the fix.
        reason: String,
    },
    /// No generator is registered under the provider name.
    #[error("unknown provider {0:?}; available: {1}")]
    UnknownProvider(String, String),
    /// [`EngineConfig::file_name_template`] is invalid. The message names
    /// the unknown placeholder and lists the valid ones.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The result of [`Engine::cancel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The job is cancelled.
    Cancelled,
    /// The job runs in another process, which was asked to cancel it.
    Requested,
    /// The job had already ended in this state.
    AlreadyFinished(JobState),
}

/// Concurrency of one registered provider, as [`Engine::slots`] reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SlotInfo {
    /// Provider name.
    pub provider: String,
    /// Attempts of this process running now. It reads one higher while the
    /// dispatcher has taken a slot for a job it is about to start.
    pub in_use: usize,
    /// Concurrency limit.
    pub limit: usize,
    /// Queued jobs of this process waiting for a slot. Jobs waiting out a
    /// retry backoff are not counted until the backoff ends.
    pub queued: usize,
}

/// Dispatch order of a ready job: higher priority first, then lower `seq`.
type ReadyKey = (Reverse<i64>, i64);

fn ready_key(record: &JobRecord) -> ReadyKey {
    (Reverse(record.priority), record.seq)
}

struct ProviderSlot {
    generator: Arc<dyn Generator>,
    limiter: Arc<Limiter>,
    ready: Mutex<BTreeMap<ReadyKey, JobId>>,
    wake: Notify,
}

struct Inner {
    config: EngineConfig,
    store: Store,
    runner: RunnerLock,
    events: broadcast::Sender<JobEvent>,
    providers: RwLock<HashMap<String, Arc<ProviderSlot>>>,
    /// Cancel tokens of jobs this process owns and has not finished.
    tokens: Mutex<HashMap<JobId, CancellationToken>>,
    /// Jobs this process owns that have not reached a terminal state.
    pending: Mutex<HashSet<JobId>>,
    idle: Notify,
    /// Set by [`Engine::pause`]: dispatchers start no attempt while it is.
    paused: AtomicBool,
    /// Woken by [`Engine::resume`].
    resumed: Notify,
    shutdown: CancellationToken,
    /// Settings a front end may change while the engine runs.
    tunables: RwLock<Tunables>,
}

/// Settings that apply to jobs queued from now on.
#[derive(Clone, Debug)]
struct Tunables {
    max_attempts: u32,
    file_name_template: String,
    /// Soft and hard limit per provider; others use the config's.
    limits: HashMap<String, (Duration, Duration)>,
}

/// The engine: one per process. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("runner_id", &self.inner.runner.id()).finish()
    }
}

impl Engine {
    /// Opens the store in `config.data_dir` and starts the engine. Must be
    /// called inside a tokio runtime.
    pub async fn open(config: EngineConfig) -> Result<Self, StoreError> {
        let store = Store::open(&config.data_dir.join("segue.db")).await?;
        let runner = RunnerLock::acquire(&config.data_dir).map_err(|err| StoreError::Open {
            path: config.data_dir.join("runners"),
            source: sqlx::Error::Io(err),
        })?;
        std::fs::create_dir_all(config.data_dir.join("tmp")).map_err(|err| StoreError::Open {
            path: config.data_dir.join("tmp"),
            source: sqlx::Error::Io(err),
        })?;
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        tracing::info!(runner_id = runner.id(), database = %store.path().display(), "engine started");
        let inner = Arc::new(Inner {
            store,
            runner,
            events,
            providers: RwLock::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashSet::new()),
            idle: Notify::new(),
            paused: AtomicBool::new(false),
            resumed: Notify::new(),
            shutdown: CancellationToken::new(),
            tunables: RwLock::new(Tunables {
                max_attempts: config.retry.max_attempts,
                file_name_template: config.file_name_template.clone(),
                limits: HashMap::new(),
            }),
            config,
        });
        tokio::spawn(poll_cancel_requests(Arc::clone(&inner)));
        Ok(Self { inner })
    }

    /// Adds a generator and starts its dispatcher with its default
    /// concurrency.
    pub fn register(&self, generator: Arc<dyn Generator>) {
        let name = generator.provider().to_string();
        let limit = generator.default_concurrency().clamp(1, generator.max_concurrency().max(1));
        let slot = Arc::new(ProviderSlot {
            generator,
            limiter: Limiter::new(limit),
            ready: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
        });
        tracing::debug!(provider = %name, concurrency = limit, "provider registered");
        self.inner
            .providers
            .write()
            .expect("providers lock poisoned")
            .insert(name, Arc::clone(&slot));
        tokio::spawn(dispatch(Arc::clone(&self.inner), slot));
    }

    /// Changes how many jobs of `provider` run at once, clamped to
    /// 1..=the generator's maximum. Returns the limit applied, or `None` for
    /// an unknown provider.
    pub fn set_concurrency(&self, provider: &str, limit: usize) -> Option<usize> {
        let slot = self.inner.slot(provider)?;
        let applied = limit.clamp(1, slot.generator.max_concurrency().max(1));
        if applied != limit {
            tracing::warn!(provider, requested = limit, applied, "concurrency clamped");
        }
        slot.limiter.set_limit(applied);
        Some(applied)
    }

    /// Returns the concurrency limit of `provider`.
    pub fn concurrency(&self, provider: &str) -> Option<usize> {
        self.inner.slot(provider).map(|slot| slot.limiter.limit())
    }

    /// Sets the soft and hard time limit of `provider`'s jobs queued or
    /// retried from now on. Jobs already queued keep theirs.
    pub fn set_limits(&self, provider: &str, soft: Duration, hard: Duration) {
        let soft = soft.min(hard);
        self.inner
            .tunables
            .write()
            .expect("tunables lock poisoned")
            .limits
            .insert(provider.to_string(), (soft, hard));
    }

    /// Sets the attempt budget of jobs queued or retried from now on.
    pub fn set_max_attempts(&self, attempts: u32) {
        self.inner.tunables.write().expect("tunables lock poisoned").max_attempts = attempts.max(1);
    }

    /// Sets the file-name template of clips queued from now on. An invalid
    /// template makes later enqueues fail with its error.
    pub fn set_file_name_template(&self, template: String) {
        self.inner.tunables.write().expect("tunables lock poisoned").file_name_template = template;
    }

    /// Subscribes to job events.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.inner.events.subscribe()
    }

    /// Returns the history store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// This process's runner id.
    pub fn runner_id(&self) -> &str {
        self.inner.runner.id()
    }

    /// Returns the engine settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Validates `requests` as [`Engine::enqueue`] would and returns each
    /// job's estimated price in US dollars (`None` where the provider's
    /// price is unknown). Nothing is stored.
    pub fn estimate(
        &self,
        requests: &[(JobRequest, OutputTarget)],
    ) -> Result<Vec<Option<f64>>, EnqueueError> {
        template::check_template(&self.inner.file_name_template())?;
        let mut prices = Vec::with_capacity(requests.len());
        for (index, (request, _)) in requests.iter().enumerate() {
            let spec = request
                .validate(&self.inner.config.defaults)
                .map_err(|source| EnqueueError::Request { index, source })?;
            let slot = self.inner.slot(&spec.provider).ok_or_else(|| {
                EnqueueError::UnknownProvider(spec.provider.clone(), self.inner.provider_names())
            })?;
            slot.generator
                .check(&spec)
                .map_err(|source| EnqueueError::Rejected { index, source })?;
            prices.push(slot.generator.estimate_price(&spec));
        }
        Ok(prices)
    }

    /// Validates and stores `requests` as queued jobs (all or none) and
    /// schedules them. Returns the job ids in request order.
    pub async fn enqueue(
        &self,
        requests: Vec<(JobRequest, OutputTarget)>,
    ) -> Result<Vec<JobId>, EnqueueError> {
        let config = &self.inner.config;
        template::check_template(&self.inner.file_name_template())?;
        // One timestamp for the batch, so `{date}` and `{time}` agree
        // across its clips.
        let enqueued_at = time::OffsetDateTime::now_utc();
        let mut jobs = Vec::with_capacity(requests.len());
        let mut reserved: HashSet<PathBuf> = HashSet::new();
        for (index, (request, target)) in requests.into_iter().enumerate() {
            let spec = request
                .validate(&config.defaults)
                .map_err(|source| EnqueueError::Request { index, source })?;
            let slot = self.inner.slot(&spec.provider).ok_or_else(|| {
                EnqueueError::UnknownProvider(spec.provider.clone(), self.inner.provider_names())
            })?;
            slot.generator
                .check(&spec)
                .map_err(|source| EnqueueError::Rejected { index, source })?;
            let price_estimate_usd = slot.generator.estimate_price(&spec);
            let id = JobId::new();
            let fields = NameFields { spec: &spec, id, index: index + 1, time: enqueued_at };
            let output_path = self.reserve_templated(&fields, target, &reserved).await?;
            reserved.insert(output_path.clone());
            let (soft_limit, hard_limit) = self.inner.limits_for(&spec.provider);
            jobs.push(NewJob {
                id,
                spec,
                output_path,
                max_attempts: self.inner.max_attempts(),
                soft_limit,
                hard_limit,
                runner_id: self.runner_id().to_string(),
                price_estimate_usd,
            });
        }
        self.inner.store.insert_jobs(&jobs).await?;
        let mut ids = Vec::with_capacity(jobs.len());
        for job in &jobs {
            let record = self.inner.store.job(job.id).await?;
            self.inner.emit(JobEvent::Queued {
                job_id: job.id,
                name: job.spec.name.clone(),
                provider: job.spec.provider.clone(),
            });
            self.inner.schedule(&record);
            ids.push(job.id);
        }
        Ok(ids)
    }

    /// Reserves the output path of a new job, naming a clip in a folder
    /// with the engine's file-name template.
    async fn reserve_templated(
        &self,
        fields: &NameFields<'_>,
        target: OutputTarget,
        reserved: &HashSet<PathBuf>,
    ) -> Result<PathBuf, EnqueueError> {
        let stem = match &target {
            OutputTarget::Dir(_) => {
                let name = template::render_template(&self.inner.file_name_template(), fields)?;
                output::file_stem(&name)
            }
            OutputTarget::File(_) => String::new(),
        };
        self.reserve_output(&stem, target, reserved).await
    }

    /// Reserves an output path: `target` itself for a file, or a free
    /// `<stem>.mp4`, `<stem>-2.mp4`, ... in a folder. `stem` must already
    /// be a file stem from [`output::file_stem`].
    async fn reserve_output(
        &self,
        stem: &str,
        target: OutputTarget,
        reserved: &HashSet<PathBuf>,
    ) -> Result<PathBuf, EnqueueError> {
        match target {
            OutputTarget::File(path) => {
                let path = std::path::absolute(&path).unwrap_or(path);
                if path.is_dir() {
                    return Err(EnqueueError::Output {
                        path,
                        reason: "is a folder; give a file name ending in .mp4 or the folder itself"
                            .into(),
                    });
                }
                if let Some(parent) = path.parent() {
                    check_writable_dir(parent)?;
                }
                Ok(path)
            }
            OutputTarget::Dir(dir) => {
                let dir = std::path::absolute(&dir).unwrap_or(dir);
                check_writable_dir(&dir)?;
                // Names reserved by unfinished jobs in the store are skipped
                // too, so two queued jobs never share an output path.
                let mut skipped: HashSet<PathBuf> = HashSet::new();
                loop {
                    let candidate = output::unique_path(&dir, stem, |p| {
                        reserved.contains(p) || skipped.contains(p)
                    });
                    if !self.inner.store.output_path_taken(&candidate).await? {
                        return Ok(candidate);
                    }
                    skipped.insert(candidate);
                }
            }
        }
    }

    /// Cancels a job by id. A queued or retrying job is cancelled at once; a
    /// running one is stopped (in this process) or flagged for the process
    /// that runs it.
    pub async fn cancel(&self, id: JobId) -> Result<CancelOutcome, StoreError> {
        let record = self.inner.store.job(id).await?;
        if record.state.is_terminal() {
            return Ok(CancelOutcome::AlreadyFinished(record.state));
        }
        if self.inner.store.cancel_waiting(id).await? {
            self.inner.forget_waiting(id, &record.provider);
            self.inner.emit(JobEvent::Cancelled { job_id: id });
            self.inner.mark_done(id);
            return Ok(CancelOutcome::Cancelled);
        }
        let token = self.inner.tokens.lock().expect("tokens lock poisoned").get(&id).cloned();
        if let Some(token) = token {
            token.cancel();
            return Ok(CancelOutcome::Cancelled);
        }
        self.inner.store.request_cancel(id).await?;
        Ok(CancelOutcome::Requested)
    }

    /// Queues a failed, timed-out, cancelled or expired job again in this
    /// process with a fresh attempt budget and this engine's time limits.
    /// When its output path now names a file or another job's clip, a free
    /// name in the same folder is used. Returns false when the job is
    /// unfinished or succeeded.
    pub async fn retry(&self, id: JobId) -> Result<bool, EnqueueError> {
        let record = self.inner.store.job(id).await?;
        if !record.state.is_terminal() || record.state == JobState::Succeeded {
            return Ok(false);
        }
        let mut output_path = record.output_path.clone();
        let taken = output_path.exists()
            || self.inner.store.output_path_taken_by_other(&output_path, id).await?;
        if taken {
            let dir = output_path.parent().map(Path::to_path_buf).unwrap_or_default();
            let stem = output::file_stem(&record.spec.name);
            output_path =
                self.reserve_output(&stem, OutputTarget::Dir(dir), &HashSet::new()).await?;
        }
        let (soft_limit, hard_limit) = self.inner.limits_for(&record.provider);
        let reset = crate::store::RetryReset {
            extra_attempts: self.inner.max_attempts(),
            soft_limit,
            hard_limit,
            output_path,
        };
        if !self.inner.store.reset_for_retry(id, self.runner_id(), &reset).await? {
            return Ok(false);
        }
        let record = self.inner.store.job(id).await?;
        self.inner.emit(JobEvent::Queued {
            job_id: id,
            name: record.spec.name.clone(),
            provider: record.provider.clone(),
        });
        self.inner.schedule(&record);
        Ok(true)
    }

    /// Takes over the unfinished jobs of processes that are no longer
    /// running (a crash, `kill -9`, a power cut) and schedules them here.
    /// Returns the ids taken over.
    pub async fn resume_orphans(&self) -> Result<Vec<JobId>, StoreError> {
        let me = self.runner_id().to_string();
        let mut adopted = Vec::new();
        for other in self.inner.store.other_runners(&me).await? {
            if runner::is_alive(&self.inner.config.data_dir, &other) {
                continue;
            }
            let ids = self.inner.store.adopt(&other, &me).await?;
            tracing::info!(dead_runner = %other, jobs = ids.len(), "resuming jobs of a stopped process");
            adopted.extend(ids);
        }
        let mut records = Vec::with_capacity(adopted.len());
        for &id in &adopted {
            let record = self.inner.store.job(id).await?;
            remove_stale_temps(&self.inner.config.data_dir, id);
            if record.cancel_requested && self.inner.store.cancel_waiting(id).await? {
                self.inner.emit(JobEvent::Cancelled { job_id: id });
                continue;
            }
            records.push(record);
        }
        // A dispatcher may start the first job scheduled before the rest
        // are in its queue, so they are scheduled in dispatch order.
        records.sort_by_key(ready_key);
        for record in &records {
            self.inner.schedule(record);
        }
        Ok(adopted)
    }

    /// Counts the unfinished jobs owned by processes that are no longer
    /// running, without taking them over.
    pub async fn orphan_count(&self) -> Result<usize, StoreError> {
        let mut count = 0;
        for other in self.inner.store.other_runners(self.runner_id()).await? {
            if !runner::is_alive(&self.inner.config.data_dir, &other) {
                count += self.inner.store.runner_jobs(&other).await?.len();
            }
        }
        Ok(count)
    }

    /// Waits until every job this process owns has reached a terminal state.
    pub async fn wait_idle(&self) {
        loop {
            let idle = self.inner.idle.notified();
            if self.inner.pending.lock().expect("pending lock poisoned").is_empty() {
                return;
            }
            idle.await;
        }
    }

    /// Number of jobs this process owns that have not finished.
    pub fn pending_count(&self) -> usize {
        self.inner.pending.lock().expect("pending lock poisoned").len()
    }

    /// Stops dispatching new attempts. Running attempts continue until the
    /// process exits; their jobs are resumed by the next `resume_orphans`.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// Pauses the queue after the attempts running now: no provider starts
    /// another attempt until [`Engine::resume`]. Running attempts finish
    /// normally, queued jobs stay queued, and a retrying job whose backoff
    /// ends moves to queued and waits there. A job that a dispatcher took
    /// from its queue just before the call still starts. The pause is not
    /// stored: it lasts as long as this engine, and a new process starts
    /// unpaused.
    pub fn pause(&self) {
        if !self.inner.paused.swap(true, Ordering::SeqCst) {
            tracing::info!("queue paused");
        }
    }

    /// Ends a [`Engine::pause`] and wakes every provider's dispatcher.
    pub fn resume(&self) {
        if self.inner.paused.swap(false, Ordering::SeqCst) {
            tracing::info!("queue resumed");
        }
        self.inner.resumed.notify_waiters();
    }

    /// Returns whether the queue is paused.
    pub fn is_paused(&self) -> bool {
        self.inner.is_paused()
    }

    /// Moves a queued job of this process to the front of its provider's
    /// dispatch order, so it starts when the next slot frees. The order is
    /// stored, so a process that resumes the job keeps it. Returns false
    /// when the job is not queued (running, retrying, finished) or belongs
    /// to another process.
    pub async fn run_next(&self, id: JobId) -> Result<bool, StoreError> {
        let Some(priority) = self.inner.store.prioritize(id, self.runner_id()).await? else {
            return Ok(false);
        };
        let record = self.inner.store.job(id).await?;
        if let Some(slot) = self.inner.slot(&record.provider) {
            let mut ready = slot.ready.lock().expect("ready lock poisoned");
            let old_key = ready.iter().find(|(_, job)| **job == id).map(|(key, _)| *key);
            // A job missing from the map was taken by the dispatcher just
            // now and is starting, so there is nothing to reorder.
            if let Some(old_key) = old_key {
                ready.remove(&old_key);
                ready.insert((Reverse(priority), old_key.1), id);
            }
        }
        tracing::info!(job_id = %id, priority, "job moved to the front of its queue");
        Ok(true)
    }

    /// Deletes finished jobs and their attempts from the history. Only
    /// jobs in a terminal state are deleted: succeeded, failed, cancelled,
    /// timed_out, and also remote_expired and submit_unknown, which change
    /// only when the user retries them. Queued, running and retrying jobs
    /// and unknown ids are skipped. Clip files are not deleted. Returns the
    /// number of jobs deleted.
    pub async fn delete_jobs(&self, ids: &[JobId]) -> Result<usize, StoreError> {
        let deleted = self.inner.store.delete_jobs(ids).await?;
        tracing::info!(requested = ids.len(), deleted, "jobs deleted from the history");
        Ok(deleted)
    }

    /// Queues a new job with the settings snapshot of job `id`, which may
    /// be in any state. The clip goes into the folder of the original's
    /// output, under a name from this engine's file-name template (with
    /// the new job's id and `{n}` = 1) made unique in that folder. The new
    /// job gets this engine's attempt budget and time limits. Returns the
    /// new job's id.
    pub async fn rerun(&self, id: JobId) -> Result<JobId, EnqueueError> {
        let original = self.inner.store.job(id).await?;
        let spec = original.spec.clone();
        check_images(&spec)?;
        let slot = self.inner.slot(&spec.provider).ok_or_else(|| {
            EnqueueError::UnknownProvider(spec.provider.clone(), self.inner.provider_names())
        })?;
        slot.generator
            .check(&spec)
            .map_err(|source| EnqueueError::Rejected { index: 0, source })?;

        let new_id = JobId::new();
        let dir = original.output_path.parent().map(Path::to_path_buf).unwrap_or_default();
        let fields =
            NameFields { spec: &spec, id: new_id, index: 1, time: time::OffsetDateTime::now_utc() };
        let output_path =
            self.reserve_templated(&fields, OutputTarget::Dir(dir), &HashSet::new()).await?;
        let (soft_limit, hard_limit) = self.inner.limits_for(&spec.provider);
        let job = NewJob {
            id: new_id,
            price_estimate_usd: slot.generator.estimate_price(&spec),
            spec,
            output_path,
            max_attempts: self.inner.max_attempts(),
            soft_limit,
            hard_limit,
            runner_id: self.runner_id().to_string(),
        };

        self.inner.store.insert_jobs(std::slice::from_ref(&job)).await?;
        let record = self.inner.store.job(new_id).await?;
        tracing::info!(job_id = %new_id, original = %id, "job queued again as a new job");
        self.inner.emit(JobEvent::Queued {
            job_id: new_id,
            name: job.spec.name.clone(),
            provider: job.spec.provider.clone(),
        });
        self.inner.schedule(&record);
        Ok(new_id)
    }

    /// Returns the slot use of every registered provider, sorted by name.
    pub fn slots(&self) -> Vec<SlotInfo> {
        let providers = self.inner.providers.read().expect("providers lock poisoned");
        let mut slots: Vec<SlotInfo> = providers
            .iter()
            .map(|(name, slot)| SlotInfo {
                provider: name.clone(),
                in_use: slot.limiter.in_use(),
                limit: slot.limiter.limit(),
                queued: slot.ready.lock().expect("ready lock poisoned").len(),
            })
            .collect();
        slots.sort_by(|a, b| a.provider.cmp(&b.provider));
        slots
    }
}

/// Checks that a stored spec's images are still files, as
/// [`JobRequest::validate`] does for a new request.
fn check_images(spec: &JobSpec) -> Result<(), EnqueueError> {
    for (role, path) in [("front", &spec.front), ("tail", &spec.tail)] {
        let source = if path.is_dir() {
            RequestError::ImageIsFolder { role, path: path.clone() }
        } else if !path.is_file() {
            RequestError::MissingImage { role, path: path.clone() }
        } else {
            continue;
        };
        return Err(EnqueueError::Request { index: 0, source });
    }
    Ok(())
}

impl Inner {
    fn limits_for(&self, provider: &str) -> (Duration, Duration) {
        let tunables = self.tunables.read().expect("tunables lock poisoned");
        tunables
            .limits
            .get(provider)
            .copied()
            .unwrap_or((self.config.soft_limit, self.config.hard_limit))
    }

    fn max_attempts(&self) -> u32 {
        self.tunables.read().expect("tunables lock poisoned").max_attempts.max(1)
    }

    fn file_name_template(&self) -> String {
        self.tunables.read().expect("tunables lock poisoned").file_name_template.clone()
    }

    fn slot(&self, provider: &str) -> Option<Arc<ProviderSlot>> {
        self.providers.read().expect("providers lock poisoned").get(provider).cloned()
    }

    fn provider_names(&self) -> String {
        let providers = self.providers.read().expect("providers lock poisoned");
        let mut names: Vec<_> = providers.keys().cloned().collect();
        names.sort();
        names.join(", ")
    }

    fn emit(&self, event: JobEvent) {
        let _ = self.events.send(event);
    }

    fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Puts an owned, unfinished job where it belongs: in its provider's
    /// ready queue, or waiting out its backoff.
    fn schedule(self: &Arc<Self>, record: &JobRecord) {
        let Some(slot) = self.slot(&record.provider) else {
            tracing::error!(job_id = %record.id, provider = %record.provider, "no generator for this provider; the job stays queued");
            return;
        };
        self.pending.lock().expect("pending lock poisoned").insert(record.id);
        self.tokens.lock().expect("tokens lock poisoned").entry(record.id).or_default();
        match record.state {
            JobState::Retrying => {
                let wait = record.next_attempt_at.map(|at| at - now_ms()).unwrap_or(0).max(0);
                tokio::spawn(backoff_then_requeue(
                    Arc::clone(self),
                    slot,
                    record.id,
                    ready_key(record),
                    Duration::from_millis(wait as u64),
                ));
            }
            _ => {
                slot.ready
                    .lock()
                    .expect("ready lock poisoned")
                    .insert(ready_key(record), record.id);
                slot.wake.notify_one();
            }
        }
    }

    fn forget_waiting(&self, id: JobId, provider: &str) {
        if let Some(slot) = self.slot(provider) {
            slot.ready.lock().expect("ready lock poisoned").retain(|_, job| *job != id);
        }
        if let Some(token) = self.tokens.lock().expect("tokens lock poisoned").get(&id) {
            token.cancel();
        }
    }

    fn mark_done(&self, id: JobId) {
        self.tokens.lock().expect("tokens lock poisoned").remove(&id);
        let mut pending = self.pending.lock().expect("pending lock poisoned");
        pending.remove(&id);
        if pending.is_empty() {
            self.idle.notify_waiters();
        }
    }

    fn token(&self, id: JobId) -> CancellationToken {
        self.tokens.lock().expect("tokens lock poisoned").entry(id).or_default().clone()
    }
}

/// Starts the first ready job of one provider, in dispatch order, whenever
/// a slot is free and the queue is not paused.
async fn dispatch(inner: Arc<Inner>, slot: Arc<ProviderSlot>) {
    loop {
        // A slot is taken only once a job is ready, so that the limiter's
        // count is the number of attempts running.
        loop {
            // Both futures exist before the checks, so a wake or resume
            // that happens after a check is not missed.
            let wake = slot.wake.notified();
            let resumed = inner.resumed.notified();
            let has_ready = !slot.ready.lock().expect("ready lock poisoned").is_empty();
            if has_ready && !inner.is_paused() {
                break;
            }
            tokio::select! {
                _ = wake => {}
                _ = resumed => {}
                _ = inner.shutdown.cancelled() => return,
            }
        }
        let permit = tokio::select! {
            permit = slot.limiter.acquire() => permit,
            _ = inner.shutdown.cancelled() => return,
        };
        // While this waited for a slot, the queue may have been paused or
        // the ready jobs cancelled. The permit goes back on `continue`.
        if inner.is_paused() {
            continue;
        }
        let Some((key, id)) = slot.ready.lock().expect("ready lock poisoned").pop_first() else {
            continue;
        };
        let ready_left = slot.ready.lock().expect("ready lock poisoned").len();
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let parallelism = (cores / (slot.limiter.in_use() + ready_left).max(1)).max(1);
        start_and_spawn(&inner, &slot, id, key, permit, parallelism).await;
    }
}

/// Way an attempt's future ended.
enum Ending {
    Finished(Result<crate::provider::Generated, GenerateError>),
    HardLimit,
    Cancelled,
}

/// Claims a dispatched job in the store and runs its attempt in a task of
/// its own. The claim happens here, in dispatch order, so jobs start (and
/// their `started` events go out) in dispatch order.
async fn start_and_spawn(
    inner: &Arc<Inner>,
    slot: &Arc<ProviderSlot>,
    id: JobId,
    key: ReadyKey,
    permit: Permit,
    parallelism: usize,
) {
    let runner_id = inner.runner.id().to_string();
    let attempt = match inner.store.start_attempt(id, &runner_id).await {
        Ok(Some(attempt)) => attempt,
        Ok(None) => {
            // Cancelled or taken elsewhere between dispatch and start.
            finish_if_terminal(inner, id).await;
            return;
        }
        Err(err) => {
            tracing::error!(job_id = %id, error = %err, "cannot start attempt; the job stays queued");
            return;
        }
    };
    let record = match inner.store.job(id).await {
        Ok(record) => record,
        Err(err) => {
            tracing::error!(job_id = %id, error = %err, "cannot load the started job");
            return;
        }
    };
    inner.emit(JobEvent::Started { job_id: id, attempt, max_attempts: record.max_attempts });
    let span = tracing::info_span!("job", job_id = %id, attempt);
    let (inner, slot) = (Arc::clone(inner), Arc::clone(slot));
    tokio::spawn(
        async move { attempt_body(&inner, &slot, record, attempt, key, permit, parallelism).await }
            .instrument(span),
    );
}

async fn attempt_body(
    inner: &Arc<Inner>,
    slot: &Arc<ProviderSlot>,
    record: JobRecord,
    attempt: u32,
    key: ReadyKey,
    permit: Permit,
    parallelism: usize,
) {
    let id = record.id;
    tracing::info!(provider = %record.provider, name = %record.spec.name, "attempt started");
    let temp = output::temp_path(&inner.config.data_dir, id, attempt);
    let (progress_tx, progress_rx) = mpsc::unbounded_channel();
    let ctx = AttemptContext {
        job_id: id,
        attempt,
        spec: record.spec.clone(),
        output: temp.clone(),
        stop: CancellationToken::new(),
        reporter: Reporter::new(id, attempt, inner.store.clone(), progress_tx),
        parallelism,
        resume_request_id: record.provider_request_id.clone(),
        resume_result: record.provider_result.clone(),
    };
    let cancel = inner.token(id);
    let limits =
        (Duration::from_millis(record.soft_limit_ms), Duration::from_millis(record.hard_limit_ms));
    let (ending, soft_fired) =
        supervise(inner, slot.generator.as_ref(), &ctx, &cancel, limits, progress_rx).await;
    let dropped = matches!(ending, Ending::HardLimit | Ending::Cancelled);
    let outcome = match ending {
        Ending::Finished(Ok(_)) => finish_success(inner, &record, attempt, &temp).await,
        Ending::Finished(Err(err)) if soft_fired && err.class == ErrorClass::Stopped => {
            Outcome::TimedOut(format!(
                "stopped after the soft time limit of {} s",
                record.soft_limit_ms / 1000
            ))
        }
        Ending::Finished(Err(err)) if err.class == ErrorClass::Stopped => Outcome::Cancelled,
        Ending::Finished(Err(err)) => Outcome::Error(err),
        Ending::HardLimit => Outcome::TimedOut(format!(
            "timed out: the attempt ran past the hard time limit of {} s",
            record.hard_limit_ms / 1000
        )),
        Ending::Cancelled => Outcome::Cancelled,
    };
    // The hard limit and a cancel drop the generator's future, which may be
    // in the middle of a hosted submit. Whether the provider accepted (and
    // bills) that request is then unknown, and so is its request id.
    let outcome = if dropped && submit_in_flight(inner, id).await {
        tracing::error!("the attempt was stopped while its submit was in flight");
        Outcome::Error(GenerateError::permanent(
            ErrorKind::SubmitUnknown,
            STOPPED_SUBMIT_MESSAGE.to_string(),
        ))
    } else {
        outcome
    };
    let _ = std::fs::remove_file(&temp);
    record_outcome(inner, slot, &record, attempt, key, outcome).await;
    // The slot is held until the outcome is stored and announced, so that
    // observers never see more jobs running than the limit allows.
    drop(permit);
}

/// Error text of a job whose attempt was stopped with a hosted submit in
/// flight.
const STOPPED_SUBMIT_MESSAGE: &str = "the attempt was stopped (hard time limit or cancel) while \
     the request was being submitted, so whether the provider accepted (and bills) it is unknown; \
     check the provider's dashboard, then run `segue retry` to submit it again";

/// Returns whether the job's submit journal shows a hosted submit that
/// started and stored no request id.
async fn submit_in_flight(inner: &Arc<Inner>, id: JobId) -> bool {
    match inner.store.job(id).await {
        Ok(record) => record.submit_started_at.is_some() && record.provider_request_id.is_none(),
        Err(err) => {
            tracing::error!(job_id = %id, error = %err, "cannot read the submit journal");
            false
        }
    }
}

/// Runs the generator under the time limits and the cancel token, relaying
/// progress. Returns how it ended and whether the soft limit fired.
async fn supervise(
    inner: &Arc<Inner>,
    generator: &dyn Generator,
    ctx: &AttemptContext,
    cancel: &CancellationToken,
    (soft_limit, hard_limit): (Duration, Duration),
    mut progress_rx: mpsc::UnboundedReceiver<ProgressUpdate>,
) -> (Ending, bool) {
    let started = Instant::now();
    let soft_deadline = started + soft_limit;
    let hard_deadline = started + hard_limit;
    let mut soft_fired = false;
    let mut last_store = Instant::now() - PROGRESS_STORE_INTERVAL;
    let mut last_stage = None;
    let generation = generator.generate(ctx);
    tokio::pin!(generation);
    let ending = loop {
        tokio::select! {
            result = &mut generation => break Ending::Finished(result),
            Some(update) = progress_rx.recv() => {
                let (stage, fraction) = match update {
                    ProgressUpdate::Stage { stage, fraction } => (stage, fraction),
                    ProgressUpdate::QueuePosition(position) => {
                        inner.emit(JobEvent::QueuePosition { job_id: ctx.job_id, position });
                        continue;
                    }
                    ProgressUpdate::Log(message) => {
                        tracing::debug!(provider_log = %message);
                        inner.emit(JobEvent::ProviderLog { job_id: ctx.job_id, message });
                        continue;
                    }
                };
                inner.emit(JobEvent::Progress { job_id: ctx.job_id, stage, fraction });
                let stage_changed = last_stage != Some(stage);
                if stage_changed || last_store.elapsed() >= PROGRESS_STORE_INTERVAL {
                    last_stage = Some(stage);
                    last_store = Instant::now();
                    if let Err(err) = inner.store.set_stage(ctx.job_id, stage, fraction).await {
                        tracing::warn!(error = %err, "cannot store progress");
                    }
                }
            }
            _ = tokio::time::sleep_until(soft_deadline), if !soft_fired => {
                soft_fired = true;
                let message = format!("soft time limit of {} s passed; asking the provider to stop", soft_limit.as_secs());
                tracing::warn!("{message}");
                inner.emit(JobEvent::Warning { job_id: ctx.job_id, message });
                ctx.stop.cancel();
            }
            _ = tokio::time::sleep_until(hard_deadline) => {
                tracing::warn!(limit_s = hard_limit.as_secs(), "hard time limit passed");
                ctx.stop.cancel();
                break Ending::HardLimit;
            }
            _ = cancel.cancelled() => {
                ctx.stop.cancel();
                // Give the generator a moment to stop cleanly (a render
                // thread, a provider-side cancel request).
                let _ = tokio::time::timeout(STOP_GRACE, &mut generation).await;
                break Ending::Cancelled;
            }
        }
    };
    (ending, soft_fired)
}

enum Outcome {
    Succeeded(crate::store::OutputInfo),
    Error(GenerateError),
    TimedOut(String),
    Cancelled,
}

async fn finish_success(
    inner: &Arc<Inner>,
    record: &JobRecord,
    attempt: u32,
    temp: &Path,
) -> Outcome {
    if let Err(err) = inner.store.set_stage(record.id, Stage::Verifying, 0.0).await {
        tracing::warn!(error = %err, "cannot store the verifying stage");
    }
    inner.emit(JobEvent::Progress { job_id: record.id, stage: Stage::Verifying, fraction: 0.0 });
    let temp = temp.to_path_buf();
    let target = record.output_path.clone();
    let finalized = tokio::task::spawn_blocking(move || output::finalize(&temp, &target)).await;
    match finalized {
        Ok(Ok(info)) => Outcome::Succeeded(info),
        Ok(Err(err)) => {
            Outcome::Error(GenerateError::transient(ErrorKind::BadOutput, err.to_string()))
        }
        Err(join) => Outcome::Error(GenerateError::transient(
            ErrorKind::BadOutput,
            format!("verifying attempt {attempt} failed: {join}"),
        )),
    }
}

async fn record_outcome(
    inner: &Arc<Inner>,
    slot: &Arc<ProviderSlot>,
    record: &JobRecord,
    attempt: u32,
    key: ReadyKey,
    outcome: Outcome,
) {
    let id = record.id;
    let stored = match outcome {
        Outcome::Succeeded(info) => {
            let stored = inner.store.finish_succeeded(id, attempt, &info).await;
            if stored.is_ok() {
                tracing::info!(output = %info.path.display(), bytes = info.bytes, "job succeeded");
                inner.emit(JobEvent::Succeeded { job_id: id, output: info });
                inner.mark_done(id);
            }
            stored
        }
        Outcome::Cancelled => {
            let failure = terminal(
                JobState::Cancelled,
                "cancelled",
                ErrorKind::Cancelled,
                "cancelled by the user",
                false,
            );
            let stored = inner.store.finish_failed(id, attempt, &failure).await;
            if stored.is_ok() {
                tracing::info!("job cancelled");
                inner.emit(JobEvent::Cancelled { job_id: id });
                inner.mark_done(id);
            }
            stored
        }
        Outcome::TimedOut(message) => {
            let failure =
                terminal(JobState::TimedOut, "timed_out", ErrorKind::Timeout, &message, true);
            let stored = inner.store.finish_failed(id, attempt, &failure).await;
            if stored.is_ok() {
                tracing::error!(error = %message, "job timed out");
                inner.emit(JobEvent::TimedOut { job_id: id, error: message });
                inner.mark_done(id);
            }
            stored
        }
        Outcome::Error(err) => record_error(inner, slot, record, attempt, key, err).await,
    };
    if let Err(err) = stored {
        // The state change could not be stored even after retrying busy
        // errors. The job keeps its last stored state, and the next resume
        // picks it up.
        tracing::error!(job_id = %id, error = %err, "cannot store the attempt's outcome");
    }
}

async fn record_error(
    inner: &Arc<Inner>,
    slot: &Arc<ProviderSlot>,
    record: &JobRecord,
    attempt: u32,
    key: ReadyKey,
    err: GenerateError,
) -> Result<(), StoreError> {
    let id = record.id;
    let charged = record.charged_attempts + 1;
    let retry_after = match err.class {
        ErrorClass::Transient { retry_after } if charged < record.max_attempts => Some(retry_after),
        _ => None,
    };
    let Some(retry_after) = retry_after else {
        let message = if matches!(err.class, ErrorClass::Transient { .. }) {
            format!("{} (gave up after {charged} attempts)", err.message)
        } else {
            err.message.clone()
        };
        let (state, outcome) = match err.kind {
            ErrorKind::Timeout => (JobState::TimedOut, "timed_out"),
            ErrorKind::RemoteExpired => (JobState::RemoteExpired, "remote_expired"),
            ErrorKind::SubmitUnknown => (JobState::SubmitUnknown, "submit_unknown"),
            _ => (JobState::Failed, "failed"),
        };
        let failure = terminal(state, outcome, err.kind, &message, true);
        inner.store.finish_failed(id, attempt, &failure).await?;
        tracing::error!(kind = %err.kind, error = %message, state = %state, "job failed");
        let event = match state {
            JobState::TimedOut => JobEvent::TimedOut { job_id: id, error: message },
            JobState::Failed => JobEvent::Failed { job_id: id, kind: err.kind, error: message },
            _ => JobEvent::NeedsAction { job_id: id, state, error: message },
        };
        inner.emit(event);
        inner.mark_done(id);
        return Ok(());
    };
    let delay = inner.config.retry.delay(charged, retry_after);
    let failure = AttemptFailure {
        state: JobState::Retrying,
        outcome: "retrying",
        kind: err.kind,
        message: err.message.clone(),
        charged: true,
        next_attempt_at: Some(now_ms() + delay.as_millis() as i64),
    };
    inner.store.finish_failed(id, attempt, &failure).await?;
    tracing::warn!(error = %err.message, delay_ms = delay.as_millis() as u64, "attempt failed; retrying");
    inner.emit(JobEvent::Retrying {
        job_id: id,
        attempt,
        delay_ms: delay.as_millis() as u64,
        error: err.message,
    });
    tokio::spawn(backoff_then_requeue(Arc::clone(inner), Arc::clone(slot), id, key, delay));
    Ok(())
}

fn terminal(
    state: JobState,
    outcome: &'static str,
    kind: ErrorKind,
    message: &str,
    charged: bool,
) -> AttemptFailure {
    AttemptFailure {
        state,
        outcome,
        kind,
        message: message.to_string(),
        charged,
        next_attempt_at: None,
    }
}

async fn backoff_then_requeue(
    inner: Arc<Inner>,
    slot: Arc<ProviderSlot>,
    id: JobId,
    key: ReadyKey,
    delay: Duration,
) {
    let cancel = inner.token(id);
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = cancel.cancelled() => {}
    }
    if cancel.is_cancelled() {
        if let Ok(true) = inner.store.cancel_waiting(id).await {
            inner.emit(JobEvent::Cancelled { job_id: id });
        }
        finish_if_terminal(&inner, id).await;
        return;
    }
    match inner.store.requeue(id).await {
        Ok(true) => {
            slot.ready.lock().expect("ready lock poisoned").insert(key, id);
            slot.wake.notify_one();
        }
        Ok(false) => finish_if_terminal(&inner, id).await,
        Err(err) => tracing::error!(job_id = %id, error = %err, "cannot requeue after backoff"),
    }
}

/// Drops a job from the pending set when its stored state is terminal.
async fn finish_if_terminal(inner: &Arc<Inner>, id: JobId) {
    if let Ok(record) = inner.store.job(id).await
        && record.state.is_terminal()
    {
        inner.mark_done(id);
    }
}

/// Cancels owned jobs that another process asked to cancel.
async fn poll_cancel_requests(inner: Arc<Inner>) {
    let mut tick = tokio::time::interval(CANCEL_POLL);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = inner.shutdown.cancelled() => return,
        }
        let requested = match inner.store.cancel_requests(inner.runner.id()).await {
            Ok(ids) => ids,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read cancel requests");
                continue;
            }
        };
        for id in requested {
            let Ok(record) = inner.store.job(id).await else { continue };
            if matches!(record.state, JobState::Queued | JobState::Retrying) {
                if let Ok(true) = inner.store.cancel_waiting(id).await {
                    inner.forget_waiting(id, &record.provider);
                    inner.emit(JobEvent::Cancelled { job_id: id });
                    inner.mark_done(id);
                }
            } else {
                inner.token(id).cancel();
            }
        }
    }
}

/// Creates `dir` when missing and checks that files can be created in it,
/// so that a bad output folder fails before anything renders.
fn check_writable_dir(dir: &Path) -> Result<(), EnqueueError> {
    let fail = |reason: String| EnqueueError::Output { path: dir.to_path_buf(), reason };
    if dir.exists() && !dir.is_dir() {
        return Err(fail("is a file, not a folder; choose a folder for the clips".into()));
    }
    std::fs::create_dir_all(dir).map_err(|err| {
        fail(format!("cannot be created ({err}); choose a folder you can write to"))
    })?;
    let probe = dir.join(format!(".segue-write-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::File::create(&probe).map_err(|err| {
        fail(format!("is not writable ({err}); choose a folder you can write to"))
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn remove_stale_temps(data_dir: &Path, id: JobId) {
    let prefix = id.to_string();
    let Ok(entries) = std::fs::read_dir(data_dir.join("tmp")) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
