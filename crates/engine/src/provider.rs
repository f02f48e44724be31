//! The interface every generator implements, hosted or local.
//!
//! A generator turns one [`JobSpec`] into an MP4 at a path the queue gives
//! it. It reports progress through [`Reporter`] and classifies its own
//! errors; it never writes job state. The queue stores every state change,
//! verifies the file and moves it into the output folder.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::job::{ErrorKind, JobId, JobSpec, Stage};
use crate::store::{Store, StoreError};

pub mod local;

/// Retry class of a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Worth another attempt, after at least `retry_after` when given.
    Transient {
        /// The provider's own wait hint (Retry-After).
        retry_after: Option<Duration>,
    },
    /// Will fail the same way again.
    Permanent,
    /// The generator stopped because the queue asked it to (cancel or soft
    /// time limit).
    Stopped,
}

/// A failed attempt, classified by the generator.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct GenerateError {
    /// Retry class.
    pub class: ErrorClass,
    /// Cause, stored in history.
    pub kind: ErrorKind,
    /// Text for the user: what failed, on which file or value, and the fix.
    pub message: String,
}

impl GenerateError {
    /// Creates a transient error.
    pub fn transient(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { class: ErrorClass::Transient { retry_after: None }, kind, message: message.into() }
    }

    /// Creates a permanent error.
    pub fn permanent(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { class: ErrorClass::Permanent, kind, message: message.into() }
    }

    /// Creates the error a generator returns after it was asked to stop.
    pub fn stopped() -> Self {
        Self {
            class: ErrorClass::Stopped,
            kind: ErrorKind::Cancelled,
            message: "stopped on request".to_string(),
        }
    }
}

/// Result of a successful attempt besides the file.
#[derive(Clone, Debug, Default)]
pub struct Generated {
    /// Hosted provider's request id, when there is one.
    pub request_id: Option<String>,
}

/// Progress message from a generator to the queue.
#[derive(Clone, Debug)]
pub(crate) enum ProgressUpdate {
    Stage { stage: Stage, fraction: f64 },
    QueuePosition(u32),
    Log(String),
}

/// Channel through which a generator reports progress and request ids.
#[derive(Clone, Debug)]
pub struct Reporter {
    job_id: JobId,
    attempt: u32,
    store: Store,
    progress: mpsc::UnboundedSender<ProgressUpdate>,
}

impl Reporter {
    pub(crate) fn new(
        job_id: JobId,
        attempt: u32,
        store: Store,
        progress: mpsc::UnboundedSender<ProgressUpdate>,
    ) -> Self {
        Self { job_id, attempt, store, progress }
    }

    /// Reports the current stage and the fraction of it done (0 to 1). Cheap
    /// and non-blocking: callable from a rendering thread once per frame.
    pub fn progress(&self, stage: Stage, fraction: f64) {
        let fraction = fraction.clamp(0.0, 1.0);
        let _ = self.progress.send(ProgressUpdate::Stage { stage, fraction });
    }

    /// Reports the job's position in a hosted provider's queue (0 = next).
    pub fn queue_position(&self, position: u32) {
        let _ = self.progress.send(ProgressUpdate::QueuePosition(position));
    }

    /// Reports one log line from a hosted provider.
    pub fn provider_log(&self, line: impl Into<String>) {
        let _ = self.progress.send(ProgressUpdate::Log(line.into()));
    }

    /// Journals that a submit request is about to be sent. Returns once it
    /// is committed. A job that dies between this call and
    /// [`Reporter::request_id`] ends as `submit_unknown` on resume instead of
    /// being submitted (and paid for) again.
    pub async fn submitting(&self) -> Result<(), StoreError> {
        self.store.set_submitting(self.job_id).await
    }

    /// Closes the journal entry of [`Reporter::submitting`] after the
    /// provider rejected the submit, so that a job that dies before its next
    /// submit is resumed instead of ending as `submit_unknown`.
    pub async fn submit_rejected(&self) -> Result<(), StoreError> {
        self.store.clear_submitting(self.job_id).await
    }

    /// Stores a hosted provider's request id. Returns once it is committed,
    /// so a crash after this call resumes the request instead of paying for
    /// a new one.
    pub async fn request_id(&self, request_id: &str) -> Result<(), StoreError> {
        self.store.set_request_id(self.job_id, self.attempt, request_id).await
    }

    /// Stores a hosted provider's result JSON (its video URL) as soon as it
    /// is fetched, so a restart can download it without fetching it again.
    pub async fn provider_result(&self, result: &str) -> Result<(), StoreError> {
        self.store.set_provider_result(self.job_id, result).await
    }
}

/// Everything one attempt needs.
#[derive(Debug)]
pub struct AttemptContext {
    /// Job id.
    pub job_id: JobId,
    /// 1-based attempt number.
    pub attempt: u32,
    /// Settings snapshot.
    pub spec: JobSpec,
    /// Temporary path for the MP4. The queue moves the file into the output
    /// folder after verifying it.
    pub output: PathBuf,
    /// Cancelled when the generator should wind down: the user cancelled the
    /// job or the soft time limit passed.
    pub stop: CancellationToken,
    /// Progress channel.
    pub reporter: Reporter,
    /// Cores this attempt may keep busy without oversubscribing the machine.
    pub parallelism: usize,
    /// Request id stored by an earlier attempt or process, to resume instead
    /// of submitting again.
    pub resume_request_id: Option<String>,
    /// Result JSON stored by an earlier attempt or process.
    pub resume_result: Option<String>,
}

/// A source of transition clips.
#[async_trait]
pub trait Generator: Send + Sync + 'static {
    /// Provider name, as stored with jobs (`local`, `fal`, ...).
    fn provider(&self) -> &str;

    /// Default number of jobs run at once.
    fn default_concurrency(&self) -> usize;

    /// Largest number of jobs run at once.
    fn max_concurrency(&self) -> usize;

    /// Checks a spec before it is queued, so that impossible settings are
    /// rejected before anything runs or is paid for.
    fn check(&self, _spec: &JobSpec) -> Result<(), GenerateError> {
        Ok(())
    }

    /// Estimates the price of one job in US dollars, when it is known.
    fn estimate_price(&self, _spec: &JobSpec) -> Option<f64> {
        None
    }

    /// Runs one attempt: writes the clip to `ctx.output`.
    async fn generate(&self, ctx: &AttemptContext) -> Result<Generated, GenerateError>;
}
