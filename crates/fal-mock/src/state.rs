//! Shared state of one server: jobs and their time-based progress, stored
//! files, fault rules and counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::clip::{ClipHandle, Clips, FrameRole};
use crate::config::MockConfig;
use crate::faults::{Fault, FaultRule, FaultTable, Markers, RequestFacts, RuleStatus, Step};
use crate::models::{self, ModelSpec};
use crate::stats::{CancelCounts, InputCount, JobCounts, Stats, UploadCounts};

/// Log lines of a running job: the fraction of the generation time at which
/// each appears, and its message.
const LOG_SCHEDULE: [(f64, &str); 5] = [
    (0.0, "loading frames"),
    (0.25, "generating video: 25%"),
    (0.5, "generating video: 50%"),
    (0.75, "generating video: 75%"),
    (1.0, "generating video: 100%"),
];

/// State shared by the handlers and the scheduler of one server.
pub(crate) struct Shared {
    pub(crate) config: MockConfig,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub(crate) base_url: String,
    pub(crate) clips: Clips,
    inner: Mutex<Inner>,
    /// Bumped after every change of a job's state, logs or queue position.
    pub(crate) changes: watch::Sender<u64>,
    /// Wakes the scheduler early: after a submission, a cancel or a render.
    pub(crate) wake: Notify,
}

pub(crate) struct Inner {
    jobs: HashMap<String, Job>,
    next_seq: u64,
    files: HashMap<String, StoredFile>,
    uploads: HashMap<String, PendingUpload>,
    faults: FaultTable,
    counters: Counters,
    rng: StdRng,
}

#[derive(Default)]
struct Counters {
    submissions: u64,
    rejected_submissions: u64,
    inputs: BTreeMap<String, InputCount>,
    prompts: BTreeMap<String, u64>,
    expired: u64,
    cancels: CancelCounts,
    uploads: UploadCounts,
    requests: BTreeMap<String, u64>,
    faults_injected: BTreeMap<String, u64>,
}

/// One queued, running or completed request.
pub(crate) struct Job {
    pub(crate) id: String,
    seq: u64,
    pub(crate) model: &'static ModelSpec,
    /// `owner/app`, the prefix of the status, result and cancel URLs.
    pub(crate) app: String,
    input: Value,
    pub(crate) markers: Markers,
    eligible_at: Instant,
    start_deadline: Option<Instant>,
    phase: Phase,
    logs: Vec<Value>,
    outcome_fault: Option<Fault>,
    clip: Option<ClipHandle>,
    file_ttl: Duration,
}

enum Phase {
    Queued,
    Running { started: Instant, finish_at: Instant, logs_emitted: usize },
    Completed { expires_at: Instant, inference_time: Option<f64>, outcome: Outcome },
}

enum Outcome {
    Video {
        file_url: String,
        file_size: u64,
        seed: Option<u64>,
    },
    /// Error returned by the result endpoint while the status shows no error.
    ModelError {
        status: u16,
        body: Value,
    },
    /// Error shown in the status and returned by the result endpoint.
    InfraError {
        status: u16,
        error: String,
        error_type: String,
    },
    Cancelled,
}

/// A file served under `/files/{id}/{name}`.
pub(crate) struct StoredFile {
    pub(crate) bytes: Bytes,
    pub(crate) content_type: String,
    pub(crate) name: String,
    expires_at: Instant,
    /// The job whose result this file is.
    pub(crate) job_id: Option<String>,
}

struct PendingUpload {
    token: String,
    name: String,
    content_type: String,
    url_expires_at: Instant,
    file_ttl: Duration,
}

/// Parts of a new job.
pub(crate) struct NewJob {
    pub(crate) id: String,
    pub(crate) model: &'static ModelSpec,
    pub(crate) app: String,
    pub(crate) input: Value,
    pub(crate) input_key: String,
    pub(crate) markers: Markers,
    pub(crate) start_timeout: Option<Duration>,
    pub(crate) file_ttl: Option<Duration>,
    pub(crate) outcome_fault: Option<Fault>,
    pub(crate) clip: Option<ClipHandle>,
}

/// Facts about a job that fault rules match on.
pub(crate) struct JobFacts {
    pub(crate) model: &'static str,
    pub(crate) markers: Markers,
}

/// Reply of the result endpoint.
pub(crate) enum ResultReply {
    NotFound,
    /// The job has not completed: 202 with its status.
    Pending(Value),
    Done {
        status: u16,
        body: Value,
        error_type: Option<String>,
    },
}

/// Reply of the cancel endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CancelReply {
    Accepted,
    AlreadyCompleted,
    NotFound,
}

/// Outcome of a signed PUT.
pub(crate) enum PutReply {
    Stored,
    NotFound,
    BadToken,
    UrlExpired,
}

impl Shared {
    pub(crate) fn new(config: MockConfig, base_url: String, clips: Clips) -> Self {
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        let inner = Inner {
            jobs: HashMap::new(),
            next_seq: 0,
            files: HashMap::new(),
            uploads: HashMap::new(),
            faults: FaultTable::new(&config.faults),
            counters: Counters::default(),
            rng,
        };
        let (changes, _) = watch::channel(0);
        Shared { config, base_url, clips, inner: Mutex::new(inner), changes, wake: Notify::new() }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn announce_change(&self) {
        self.changes.send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    pub(crate) fn count_request(&self, step: Step) {
        *self.lock().counters.requests.entry(step.name().to_owned()).or_default() += 1;
    }

    pub(crate) fn count_rejected_submission(&self) {
        self.lock().counters.rejected_submissions += 1;
    }

    /// Picks the fault of this request, if a rule fires, and counts it.
    pub(crate) fn pick_fault(&self, facts: &RequestFacts<'_>) -> Option<Fault> {
        let mut inner = self.lock();
        let Inner { faults, rng, counters, .. } = &mut *inner;
        let fault = faults.pick(facts, rng)?;
        let name = format!("{}:{}", facts.step, fault.name());
        *counters.faults_injected.entry(name).or_default() += 1;
        tracing::info!(step = %facts.step, fault = %fault.name(), "injecting fault");
        Some(fault)
    }

    pub(crate) fn add_fault(&self, rule: FaultRule) {
        self.lock().faults.add(rule);
    }

    pub(crate) fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    pub(crate) fn list_faults(&self) -> Vec<RuleStatus> {
        self.lock().faults.list()
    }

    /// Drops every job, file and counter and restores the configured fault
    /// rules with fresh counts.
    pub(crate) fn reset(&self) {
        let mut inner = self.lock();
        inner.jobs.clear();
        inner.files.clear();
        inner.uploads.clear();
        inner.counters = Counters::default();
        inner.faults = FaultTable::new(&self.config.faults);
        drop(inner);
        self.announce_change();
        tracing::info!("state reset");
    }

    /// Returns the model and markers of a live job, for matching rules.
    pub(crate) fn job_facts(&self, app: &str, id: &str) -> Option<JobFacts> {
        let inner = self.lock();
        let job = live_job(&inner, app, id, Instant::now())?;
        Some(JobFacts { model: job.model.id, markers: job.markers.clone() })
    }

    /// Returns the facts of the job whose result file `file_id` is.
    pub(crate) fn file_job_facts(&self, file_id: &str) -> Option<(String, JobFacts)> {
        let inner = self.lock();
        let job_id = inner.files.get(file_id)?.job_id.clone()?;
        let job = inner.jobs.get(&job_id)?;
        Some((job_id, JobFacts { model: job.model.id, markers: job.markers.clone() }))
    }

    pub(crate) fn queued_count(&self) -> usize {
        let inner = self.lock();
        inner.jobs.values().filter(|job| matches!(job.phase, Phase::Queued)).count()
    }

    /// Stores a new job and returns its submit reply body.
    pub(crate) fn create_job(&self, new: NewJob) -> Value {
        let now = Instant::now();
        let mut inner = self.lock();
        let seq = inner.next_seq;
        inner.next_seq += 1;

        let prompt = new.input.get("prompt").and_then(Value::as_str).map(str::to_owned);
        let counters = &mut inner.counters;
        counters.submissions += 1;
        let entry = counters.inputs.entry(new.input_key.clone()).or_insert_with(|| InputCount {
            key: new.input_key.clone(),
            model: new.model.id.to_owned(),
            prompt: prompt.clone(),
            count: 0,
            request_ids: Vec::new(),
        });
        entry.count += 1;
        entry.request_ids.push(new.id.clone());
        if let Some(prompt) = &prompt {
            *counters.prompts.entry(prompt.clone()).or_default() += 1;
        }

        let job = Job {
            id: new.id.clone(),
            seq,
            model: new.model,
            app: new.app,
            input: new.input,
            markers: new.markers,
            eligible_at: now + self.config.queue_time,
            start_deadline: new.start_timeout.map(|timeout| now + timeout),
            phase: Phase::Queued,
            logs: Vec::new(),
            outcome_fault: new.outcome_fault,
            clip: new.clip,
            file_ttl: new.file_ttl.unwrap_or(self.config.file_ttl),
        };
        let mut body = self.urls(&job);
        body["status"] = json!("IN_QUEUE");
        body["queue_position"] = json!(queue_position(&inner, &job));
        tracing::info!(request_id = %job.id, model = job.model.id, "job submitted");
        inner.jobs.insert(job.id.clone(), job);
        drop(inner);

        self.announce_change();
        self.wake.notify_one();
        body
    }

    fn urls(&self, job: &Job) -> Value {
        let response_url = format!("{}/{}/requests/{}", self.base_url, job.app, job.id);
        json!({
            "request_id": job.id,
            "status_url": format!("{response_url}/status"),
            "cancel_url": format!("{response_url}/cancel"),
            "response_url": response_url,
        })
    }

    /// Returns the status of a job, or `None` for an unknown or expired job.
    /// `logs_from` skips log lines a stream has already sent.
    pub(crate) fn status(
        &self,
        app: &str,
        id: &str,
        with_logs: bool,
        logs_from: usize,
    ) -> Option<StatusView> {
        let inner = self.lock();
        let job = live_job(&inner, app, id, Instant::now())?;
        Some(self.status_view(&inner, job, with_logs, logs_from))
    }

    fn status_view(
        &self,
        inner: &Inner,
        job: &Job,
        with_logs: bool,
        logs_from: usize,
    ) -> StatusView {
        let mut body = self.urls(job);
        let logs = || {
            if with_logs {
                Value::Array(job.logs.iter().skip(logs_from).cloned().collect())
            } else {
                Value::Null
            }
        };
        let (status, position, completed) = match &job.phase {
            Phase::Queued => {
                let position = queue_position(inner, job);
                body["queue_position"] = json!(position);
                ("IN_QUEUE", Some(position), false)
            }
            Phase::Running { .. } => {
                body["logs"] = logs();
                ("IN_PROGRESS", None, false)
            }
            Phase::Completed { inference_time, outcome, .. } => {
                body["logs"] = logs();
                body["metrics"] = match inference_time {
                    Some(seconds) => json!({ "inference_time": seconds }),
                    None => json!({}),
                };
                match outcome {
                    Outcome::InfraError { error, error_type, .. } => {
                        body["error"] = json!(error);
                        body["error_type"] = json!(error_type);
                    }
                    Outcome::Cancelled => {
                        body["error"] = json!(CANCELLED_MESSAGE);
                        body["error_type"] = json!("client_cancelled");
                    }
                    Outcome::Video { .. } | Outcome::ModelError { .. } => {}
                }
                ("COMPLETED", None, true)
            }
        };
        body["status"] = json!(status);
        StatusView { body, status, queue_position: position, log_count: job.logs.len(), completed }
    }

    /// Returns the reply of the result endpoint.
    pub(crate) fn result(&self, app: &str, id: &str) -> ResultReply {
        let inner = self.lock();
        let Some(job) = live_job(&inner, app, id, Instant::now()) else {
            return ResultReply::NotFound;
        };
        let Phase::Completed { outcome, .. } = &job.phase else {
            return ResultReply::Pending(self.status_view(&inner, job, false, 0).body);
        };
        match outcome {
            Outcome::Video { .. } => {
                let body = result_body(job, outcome);
                ResultReply::Done { status: 200, body, error_type: None }
            }
            Outcome::ModelError { status, body } => {
                ResultReply::Done { status: *status, body: body.clone(), error_type: None }
            }
            Outcome::InfraError { status, error, error_type } => ResultReply::Done {
                status: *status,
                body: json!({ "detail": error, "error_type": error_type }),
                error_type: Some(error_type.clone()),
            },
            Outcome::Cancelled => ResultReply::Done {
                status: 499,
                body: json!({ "detail": CANCELLED_MESSAGE, "error_type": "client_cancelled" }),
                error_type: Some("client_cancelled".to_owned()),
            },
        }
    }

    /// Cancels a job: a queued job completes at once as cancelled, a running
    /// one too unless the config lets it finish.
    pub(crate) fn cancel(&self, app: &str, id: &str) -> CancelReply {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.counters.cancels.requested += 1;
        let phase = live_job(&inner, app, id, now).map(|job| match job.phase {
            Phase::Queued => "queued",
            Phase::Running { .. } => "running",
            Phase::Completed { .. } => "completed",
        });
        let (reply, changed) = match phase {
            None => (CancelReply::NotFound, false),
            Some("completed") => (CancelReply::AlreadyCompleted, false),
            Some("running") if self.config.finish_cancelled_running => {
                (CancelReply::Accepted, false)
            }
            Some(_) => {
                self.complete(&mut inner, id, now, Outcome::Cancelled);
                (CancelReply::Accepted, true)
            }
        };
        let cancels = &mut inner.counters.cancels;
        match reply {
            CancelReply::Accepted => cancels.accepted += 1,
            CancelReply::AlreadyCompleted => cancels.already_completed += 1,
            CancelReply::NotFound => cancels.not_found += 1,
        }
        drop(inner);
        tracing::info!(request_id = id, reply = ?reply, "cancel requested");
        if changed {
            self.announce_change();
            self.wake.notify_one();
        }
        reply
    }

    /// Registers a signed upload and returns its file id and token.
    pub(crate) fn initiate_upload(
        &self,
        name: &str,
        content_type: &str,
        file_ttl: Option<Duration>,
    ) -> (String, String) {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let token = uuid::Uuid::new_v4().simple().to_string();
        let upload = PendingUpload {
            token: token.clone(),
            name: name.to_owned(),
            content_type: content_type.to_owned(),
            url_expires_at: Instant::now() + self.config.upload_url_ttl,
            file_ttl: file_ttl.unwrap_or(self.config.file_ttl),
        };
        let mut inner = self.lock();
        inner.uploads.insert(id.clone(), upload);
        inner.counters.uploads.initiated += 1;
        (id, token)
    }

    /// Stores the bytes of a signed PUT.
    pub(crate) fn put_upload(
        &self,
        id: &str,
        token: &str,
        bytes: Bytes,
        content_type: Option<&str>,
    ) -> PutReply {
        let now = Instant::now();
        let mut inner = self.lock();
        let Some(upload) = inner.uploads.get(id) else {
            return PutReply::NotFound;
        };
        if upload.token != token {
            return PutReply::BadToken;
        }
        if upload.url_expires_at <= now {
            return PutReply::UrlExpired;
        }
        let file = StoredFile {
            content_type: content_type.unwrap_or(&upload.content_type).to_owned(),
            name: upload.name.clone(),
            expires_at: now + upload.file_ttl,
            job_id: None,
            bytes,
        };
        inner.counters.uploads.stored += 1;
        inner.counters.uploads.bytes += file.bytes.len() as u64;
        inner.files.insert(id.to_owned(), file);
        PutReply::Stored
    }

    /// Stores a file directly and returns its URL.
    pub(crate) fn store_file(&self, bytes: Bytes, content_type: &str, name: &str) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let name = crate::http::safe_file_name(name);
        let url = format!("{}/files/{id}/{name}", self.base_url);
        let file = StoredFile {
            bytes,
            content_type: content_type.to_owned(),
            name,
            expires_at: Instant::now() + self.config.file_ttl,
            job_id: None,
        };
        self.lock().files.insert(id, file);
        url
    }

    /// Returns a live file with this id and name.
    pub(crate) fn file(&self, id: &str, name: &str) -> Option<(Bytes, String)> {
        let inner = self.lock();
        let file = inner.files.get(id)?;
        if file.name != name || file.expires_at <= Instant::now() {
            return None;
        }
        Some((file.bytes.clone(), file.content_type.clone()))
    }

    pub(crate) fn count_download(&self) {
        self.lock().counters.uploads.downloads += 1;
    }

    /// Returns the bytes behind a URL of this mock's file storage.
    pub(crate) fn file_by_url(&self, url: &str) -> Option<Bytes> {
        let path = url.strip_prefix(&self.base_url)?.strip_prefix("/files/")?;
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let (id, name) = path.split_once('/')?;
        self.file(id, name).map(|(bytes, _)| bytes)
    }

    pub(crate) fn stats(&self) -> Stats {
        let now = Instant::now();
        let inner = self.lock();
        let mut jobs = JobCounts { expired: inner.counters.expired, ..JobCounts::default() };
        for job in inner.jobs.values() {
            match &job.phase {
                Phase::Completed { expires_at, .. } if *expires_at <= now => jobs.expired += 1,
                Phase::Queued => jobs.in_queue += 1,
                Phase::Running { .. } => jobs.in_progress += 1,
                Phase::Completed { outcome: Outcome::Video { .. }, .. } => jobs.completed += 1,
                Phase::Completed { outcome: Outcome::Cancelled, .. } => jobs.cancelled += 1,
                Phase::Completed { .. } => jobs.failed += 1,
            }
        }
        let counters = &inner.counters;
        let inputs: Vec<InputCount> = counters.inputs.values().cloned().collect();
        Stats {
            submissions: counters.submissions,
            rejected_submissions: counters.rejected_submissions,
            duplicates: inputs.iter().filter(|input| input.count > 1).cloned().collect(),
            inputs,
            prompts: counters.prompts.clone(),
            jobs,
            cancels: counters.cancels,
            uploads: counters.uploads,
            requests: counters.requests.clone(),
            faults_injected: counters.faults_injected.clone(),
        }
    }

    /// Advances every job to its state at `now` and returns when the next
    /// change is due.
    pub(crate) fn tick(&self, now: Instant) -> Option<Instant> {
        let mut inner = self.lock();
        let mut changed = false;

        let ids: Vec<String> = inner.jobs.keys().cloned().collect();
        for id in &ids {
            changed |= self.advance(&mut inner, id, now);
        }
        changed |= self.start_jobs(&mut inner, now);
        inner.files.retain(|_, file| file.expires_at > now);
        inner.uploads.retain(|_, upload| upload.url_expires_at > now);

        let next = next_due(&inner, self.config.generation_time, now);
        drop(inner);
        if changed {
            self.announce_change();
        }
        next
    }

    /// Moves one job on: deadline, logs, completion or expiry.
    fn advance(&self, inner: &mut Inner, id: &str, now: Instant) -> bool {
        let Some(job) = inner.jobs.get_mut(id) else {
            return false;
        };
        match &mut job.phase {
            Phase::Queued => {
                let missed = job.start_deadline.is_some_and(|deadline| deadline <= now);
                if !missed {
                    return false;
                }
                let outcome = Outcome::InfraError {
                    status: 504,
                    error: "Request timed out before it started".to_owned(),
                    error_type: "request_timeout".to_owned(),
                };
                self.complete(inner, id, now, outcome);
                true
            }
            Phase::Running { started, finish_at, logs_emitted } => {
                let (started, finish_at) = (*started, *finish_at);
                let generation = self.config.generation_time;
                let mut changed = false;
                while let Some((fraction, message)) = LOG_SCHEDULE.get(*logs_emitted) {
                    if started + generation.mul_f64(*fraction) > now {
                        break;
                    }
                    job.logs.push(log_line(message));
                    *logs_emitted += 1;
                    changed = true;
                }
                let clip_ready = job.clip.as_ref().is_none_or(|clip| clip.get().is_some());
                if finish_at > now || !clip_ready {
                    return changed;
                }
                let outcome = outcome_of(job);
                self.complete(inner, id, now, outcome);
                true
            }
            Phase::Completed { expires_at, .. } => {
                if *expires_at > now {
                    return false;
                }
                inner.jobs.remove(id);
                inner.counters.expired += 1;
                tracing::info!(request_id = id, "result expired");
                true
            }
        }
    }

    /// Marks a job COMPLETED. A video outcome stores the clip as a file.
    fn complete(&self, inner: &mut Inner, id: &str, now: Instant, outcome: Outcome) {
        let Some(job) = inner.jobs.get(id) else {
            return;
        };
        let inference_time = match job.phase {
            Phase::Running { started, .. } => Some(now.duration_since(started).as_secs_f64()),
            _ => None,
        };
        let outcome = match outcome {
            Outcome::Video { .. } => {
                let bytes = match job.clip.as_ref().and_then(ClipHandle::get) {
                    Some(Ok(bytes)) => bytes,
                    _ => Bytes::new(),
                };
                let seed = job.model.output_seed.then(|| {
                    job.input
                        .get("seed")
                        .and_then(Value::as_u64)
                        .unwrap_or_else(|| inner.rng.random_range(0..1 << 31))
                });
                let file_id = uuid::Uuid::new_v4().simple().to_string();
                let file_url = format!("{}/files/{file_id}/output.mp4", self.base_url);
                let file_size = bytes.len() as u64;
                let file = StoredFile {
                    bytes,
                    content_type: "video/mp4".to_owned(),
                    name: "output.mp4".to_owned(),
                    expires_at: now + job.file_ttl,
                    job_id: Some(id.to_owned()),
                };
                inner.files.insert(file_id, file);
                Outcome::Video { file_url, file_size, seed }
            }
            other => other,
        };
        let Some(job) = inner.jobs.get_mut(id) else {
            return;
        };
        let result_size = match &outcome {
            Outcome::Video { .. } => result_body(job, &outcome).to_string().len(),
            Outcome::ModelError { body, .. } => body.to_string().len(),
            Outcome::InfraError { error, .. } => error.len(),
            Outcome::Cancelled => 0,
        };
        let ttl = if result_size >= self.config.large_result_bytes {
            self.config.large_result_ttl
        } else {
            self.config.result_ttl
        };
        let kind = match &outcome {
            Outcome::Video { .. } => "video",
            Outcome::ModelError { .. } => "model error",
            Outcome::InfraError { .. } => "error",
            Outcome::Cancelled => "cancelled",
        };
        tracing::info!(request_id = id, outcome = kind, "job completed");
        job.phase = Phase::Completed { expires_at: now + ttl, inference_time, outcome };
    }

    /// Starts the oldest eligible queued jobs while fewer than the
    /// concurrency limit are running.
    fn start_jobs(&self, inner: &mut Inner, now: Instant) -> bool {
        let running =
            inner.jobs.values().filter(|job| matches!(job.phase, Phase::Running { .. })).count();
        let free = self.config.concurrency.saturating_sub(running);
        if free == 0 {
            return false;
        }
        let mut ready: Vec<(u64, String)> = inner
            .jobs
            .values()
            .filter(|job| matches!(job.phase, Phase::Queued))
            .filter(|job| !matches!(job.outcome_fault, Some(Fault::Stuck)))
            .filter(|job| job.eligible_at <= now)
            .map(|job| (job.seq, job.id.clone()))
            .collect();
        ready.sort();
        let mut started_any = false;
        for (_, id) in ready.into_iter().take(free) {
            if let Some(job) = inner.jobs.get_mut(&id) {
                let finish_at = now + self.config.generation_time;
                job.phase = Phase::Running { started: now, finish_at, logs_emitted: 0 };
                started_any = true;
                tracing::debug!(request_id = %id, "job started");
                self.advance(inner, &id, now);
            }
        }
        started_any
    }
}

/// Decides how a finished run ends: by its job fault, its render or
/// success. A video outcome gets its file URL in `Shared::complete`.
fn outcome_of(job: &Job) -> Outcome {
    match &job.outcome_fault {
        Some(Fault::CompletedError { error_type, error }) => Outcome::InfraError {
            status: infra_status(error_type),
            error: error.clone().unwrap_or_else(|| infra_message(error_type).to_owned()),
            error_type: error_type.clone(),
        },
        Some(Fault::ResultError { status, error_type }) => {
            let prompt = job.input.get("prompt").cloned().unwrap_or(Value::Null);
            let detail = models::error(
                json!(["body", "prompt"]),
                "The request was rejected by the model's content checker",
                error_type,
                Some(&prompt),
                None,
            );
            Outcome::ModelError { status: *status, body: json!({ "detail": [detail] }) }
        }
        _ => match job.clip.as_ref().and_then(ClipHandle::get) {
            Some(Err(failure)) => {
                let field = match failure.frame {
                    Some(FrameRole::Last) => job.model.last_frame,
                    _ => job.model.first_frame,
                };
                let input = job.input.get(field).cloned();
                let detail = models::error(
                    json!(["body", field]),
                    &failure.message,
                    "image_load_error",
                    input
                        .as_ref()
                        .filter(|value| value.as_str().is_some_and(|url| url.len() < 2048)),
                    None,
                );
                Outcome::ModelError { status: 422, body: json!({ "detail": [detail] }) }
            }
            _ => Outcome::Video { file_url: String::new(), file_size: 0, seed: None },
        },
    }
}

/// Parts of a status body that a stream compares between events.
pub(crate) struct StatusView {
    pub(crate) body: Value,
    pub(crate) status: &'static str,
    pub(crate) queue_position: Option<u64>,
    pub(crate) log_count: usize,
    pub(crate) completed: bool,
}

const CANCELLED_MESSAGE: &str = "Request was cancelled by the client";

/// Returns a job that exists under `app` and has not expired.
fn live_job<'a>(inner: &'a Inner, app: &str, id: &str, now: Instant) -> Option<&'a Job> {
    let job = inner.jobs.get(id)?;
    if job.app != app {
        return None;
    }
    if let Phase::Completed { expires_at, .. } = job.phase
        && expires_at <= now
    {
        return None;
    }
    Some(job)
}

/// Number of queued jobs ahead of `job`. A stuck job reports 0 and is not
/// counted ahead of others.
fn queue_position(inner: &Inner, job: &Job) -> u64 {
    if matches!(job.outcome_fault, Some(Fault::Stuck)) {
        return 0;
    }
    let ahead = inner
        .jobs
        .values()
        .filter(|other| other.seq < job.seq && matches!(other.phase, Phase::Queued))
        .filter(|other| !matches!(other.outcome_fault, Some(Fault::Stuck)))
        .count();
    ahead as u64
}

fn result_body(job: &Job, outcome: &Outcome) -> Value {
    let Outcome::Video { file_url, file_size, seed } = outcome else {
        return Value::Null;
    };
    let mut body = json!({
        "video": {
            "url": file_url,
            "content_type": "video/mp4",
            "file_name": "output.mp4",
            "file_size": file_size,
        }
    });
    if let (true, Some(seed)) = (job.model.output_seed, seed) {
        body["seed"] = json!(seed);
    }
    body
}

/// Returns the earliest future time at which a job changes.
fn next_due(inner: &Inner, generation: Duration, now: Instant) -> Option<Instant> {
    let mut next: Option<Instant> = None;
    let mut consider = |time: Instant| {
        if time > now && next.is_none_or(|next| time < next) {
            next = Some(time);
        }
    };
    for job in inner.jobs.values() {
        match &job.phase {
            Phase::Queued => {
                if !matches!(job.outcome_fault, Some(Fault::Stuck)) {
                    consider(job.eligible_at);
                }
                if let Some(deadline) = job.start_deadline {
                    consider(deadline);
                }
            }
            Phase::Running { started, finish_at, logs_emitted } => {
                if let Some((fraction, _)) = LOG_SCHEDULE.get(*logs_emitted) {
                    consider(*started + generation.mul_f64(*fraction));
                }
                consider(*finish_at);
            }
            Phase::Completed { expires_at, .. } => consider(*expires_at),
        }
    }
    next
}

fn log_line(message: &str) -> Value {
    let timestamp = time::OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
    json!({ "message": message, "level": "INFO", "source": "USER", "timestamp": timestamp })
}

/// HTTP status of an infrastructure error type, per fal's error table.
pub(crate) fn infra_status(error_type: &str) -> u16 {
    match error_type {
        "request_timeout" | "startup_timeout" => 504,
        "runner_scheduling_failure"
        | "runner_connection_timeout"
        | "runner_disconnected"
        | "runner_connection_refused"
        | "runner_connection_error" => 503,
        "runner_incomplete_response" => 502,
        "client_disconnected" | "client_cancelled" => 499,
        "bad_request" => 400,
        _ => 500,
    }
}

fn infra_message(error_type: &str) -> &'static str {
    match error_type {
        "request_timeout" => "Request timed out",
        "startup_timeout" => "Runner did not start in time",
        "runner_scheduling_failure" => "No runner could be scheduled for the request",
        "runner_connection_timeout" => "Connecting to the runner timed out",
        "runner_disconnected" => "Runner disconnected",
        "runner_connection_refused" => "The runner refused the connection",
        "runner_connection_error" => "Connecting to the runner failed",
        "runner_incomplete_response" => "The runner sent an incomplete response",
        "runner_server_error" => "The runner failed with a server error",
        _ => "Internal error",
    }
}

/// Returns the key under which submissions of the same input are counted:
/// hex SHA-256 of the model id, a newline and the input with sorted keys.
pub(crate) fn input_key(model: &str, input: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(input, &mut canonical);
    let digest = Sha256::digest(format!("{model}\n{canonical}").as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, value)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_key_ignores_key_order() {
        let a = json!({"prompt": "p", "image_url": "u", "nested": {"b": 1, "a": [1, {"y": 2, "x": 1}]}});
        let b = json!({"nested": {"a": [1, {"x": 1, "y": 2}], "b": 1}, "image_url": "u", "prompt": "p"});
        assert_eq!(input_key("m", &a), input_key("m", &b));
        assert_ne!(input_key("m", &a), input_key("other", &a));
        let c = json!({"prompt": "q", "image_url": "u", "nested": {"b": 1, "a": [1, {"y": 2, "x": 1}]}});
        assert_ne!(input_key("m", &a), input_key("m", &c));
        assert_eq!(input_key("m", &a).len(), 64);
    }

    #[test]
    fn infra_status_follows_error_table() {
        assert_eq!(infra_status("runner_disconnected"), 503);
        assert_eq!(infra_status("startup_timeout"), 504);
        assert_eq!(infra_status("runner_incomplete_response"), 502);
        assert_eq!(infra_status("client_cancelled"), 499);
        assert_eq!(infra_status("something_new"), 500);
    }
}
