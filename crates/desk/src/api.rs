//! Types that cross the IPC boundary between the Rust side and the web UI.
//! Each derives `ts_rs::TS`; `cargo test -p segue-desk` writes their
//! TypeScript forms to `ui/src/bindings/`, and CI fails when the committed
//! copies differ.
//!
//! Every command returns either its value or an [`IpcError`].

use segue_engine::job::{JobId, JobRequest, JobSpec, JobState, Stage};
use segue_engine::store::{AttemptRecord, OutputInfo};
use segue_render::{OutputSettings, TransitionKind};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Names of the events the app sends to the web UI.
pub mod events {
    /// Payload: `segue_engine::event::JobEvent`.
    pub const JOB: &str = "segue://job";
    /// Payload: [`super::Overview`], sent when the queue's state changes.
    pub const OVERVIEW: &str = "segue://overview";
    /// Payload: [`super::WatchNotice`].
    pub const WATCH: &str = "segue://watch";
    /// Payload: [`super::BatchSummary`], sent when the queue drains.
    pub const BATCH_FINISHED: &str = "segue://batch-finished";
    /// Payload: [`super::ImportResult`], sent when a second launch hands its
    /// file arguments to the running instance.
    pub const IMPORTED: &str = "segue://imported";
}

/// The one error shape every command returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS, thiserror::Error)]
#[ts(export)]
#[error("{message}")]
pub struct IpcError {
    /// Class of the error, for the UI to pick a treatment.
    pub kind: IpcErrorKind,
    /// Readable text naming what failed and the fix.
    pub message: String,
}

/// Class of an [`IpcError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum IpcErrorKind {
    /// An argument or a setting is invalid.
    BadInput,
    /// The job, file or folder does not exist.
    NotFound,
    /// The request conflicts with the job's state (cancel a finished job).
    Conflict,
    /// The OS keychain failed.
    Keychain,
    /// Reading or writing a file failed.
    Io,
    /// Anything else: a bug or a failing database.
    Internal,
}

impl IpcError {
    /// Creates an error of `kind`.
    pub fn new(kind: IpcErrorKind, message: impl Into<String>) -> Self {
        IpcError { kind, message: message.into() }
    }

    /// Creates a [`IpcErrorKind::BadInput`] error.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(IpcErrorKind::BadInput, message)
    }

    /// Creates a [`IpcErrorKind::NotFound`] error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(IpcErrorKind::NotFound, message)
    }

    /// Creates a [`IpcErrorKind::Conflict`] error.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(IpcErrorKind::Conflict, message)
    }

    /// Creates a [`IpcErrorKind::Internal`] error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(IpcErrorKind::Internal, message)
    }
}

impl From<segue_engine::store::StoreError> for IpcError {
    fn from(err: segue_engine::store::StoreError) -> Self {
        use segue_engine::store::StoreError;
        let kind = match err {
            StoreError::NotFound(_) => IpcErrorKind::NotFound,
            StoreError::Ambiguous(_) => IpcErrorKind::BadInput,
            _ => IpcErrorKind::Internal,
        };
        IpcError::new(kind, error_chain(&err))
    }
}

impl From<segue_engine::queue::EnqueueError> for IpcError {
    fn from(err: segue_engine::queue::EnqueueError) -> Self {
        use segue_engine::queue::EnqueueError;
        let kind = match err {
            EnqueueError::Store(_) => IpcErrorKind::Internal,
            EnqueueError::Output { .. } => IpcErrorKind::Io,
            _ => IpcErrorKind::BadInput,
        };
        IpcError::new(kind, error_chain(&err))
    }
}

/// Joins an error and its sources with ": ", leaving out a source whose
/// text the outer message already contains.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

/// Rule that turns a list of images into pairs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum PairingRule {
    /// 1→2, 2→3, 3→4: every cut of a sequence.
    #[default]
    Chain,
    /// 1→2, 3→4: independent pairs.
    Pairs,
    /// `NAME_a` → `NAME_b`, matched by name.
    Ab,
}

impl From<PairingRule> for segue_engine::intake::Pairing {
    fn from(rule: PairingRule) -> Self {
        match rule {
            PairingRule::Chain => segue_engine::intake::Pairing::Chain,
            PairingRule::Pairs => segue_engine::intake::Pairing::Pairs,
            PairingRule::Ab => segue_engine::intake::Pairing::Ab,
        }
    }
}

/// One image offered to the queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ImageItem {
    /// Absolute path, exactly as the file system spells it.
    pub path: String,
    /// File name.
    pub name: String,
    /// Width after EXIF orientation, when the file could be read.
    pub width: Option<u32>,
    /// Height after EXIF orientation, when the file could be read.
    pub height: Option<u32>,
    /// Detected format ("JPEG", "PNG", ...).
    pub format: Option<String>,
    /// URL of an upright thumbnail on the clip server.
    pub thumb_url: Option<String>,
    /// Why the image cannot be used, naming the file and the fix.
    pub error: Option<String>,
}

/// A front and a tail image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DraftPair {
    /// Image the clip starts on.
    pub front: ImageItem,
    /// Image the clip ends on.
    pub tail: ImageItem,
}

/// Result of dropping or picking files.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ImportResult {
    /// Usable images in pairing order.
    pub images: Vec<ImageItem>,
    /// Pairs formed from `images` by the rule.
    pub pairs: Vec<DraftPair>,
    /// Usable images the rule left without a partner.
    pub unpaired: Vec<ImageItem>,
    /// Files that cannot be used, each with its error.
    pub rejected: Vec<ImageItem>,
}

/// Validation and price of one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PairCheck {
    /// Problems that block queueing; empty when the request is valid.
    pub errors: Vec<String>,
    /// Estimated price in US dollars; `null` when unknown, 0 for local.
    pub price_usd: Option<f64>,
    /// Provider the request resolves to.
    pub provider: String,
    /// Model the request resolves to.
    pub model: String,
}

/// Validation and price of a batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct BatchCheck {
    /// One entry per request, in order.
    pub pairs: Vec<PairCheck>,
    /// Sum of the known prices.
    pub total_usd: f64,
    /// Requests whose price is unknown.
    pub unpriced: u32,
    /// Whether every request is valid.
    pub ok: bool,
}

/// Filters and page of the history list.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export, optional_fields)]
pub struct HistoryQuery {
    /// Text matched against name, prompt, id, request id and image paths.
    #[serde(default)]
    pub search: Option<String>,
    /// Only these states (all when empty).
    #[serde(default)]
    pub states: Vec<JobState>,
    /// Only this transition type.
    #[serde(default)]
    pub kind: Option<TransitionKind>,
    /// Only this model id.
    #[serde(default)]
    pub model: Option<String>,
    /// Only this provider.
    #[serde(default)]
    pub provider: Option<String>,
    /// Created at or after (Unix ms).
    #[serde(default)]
    #[ts(optional, type = "number")]
    pub since_ms: Option<i64>,
    /// Created before (Unix ms).
    #[serde(default)]
    #[ts(optional, type = "number")]
    pub until_ms: Option<i64>,
    /// Rows to skip.
    #[serde(default)]
    pub offset: Option<u32>,
    /// Rows to return (at most 500; 100 when left out).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// One job as lists show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct JobRow {
    /// Job id.
    pub id: JobId,
    /// First eight hex digits of the id.
    pub short_id: String,
    /// Display name.
    pub name: String,
    /// State.
    pub state: JobState,
    /// Step of a running attempt.
    pub stage: Option<Stage>,
    /// Fraction of the stage done, 0 to 1.
    pub progress: f64,
    /// Attempts started.
    pub attempt: u32,
    /// Attempt budget.
    pub max_attempts: u32,
    /// Provider name.
    pub provider: String,
    /// Model id.
    pub model: String,
    /// Transition type.
    pub kind: TransitionKind,
    /// Clip length in seconds.
    pub duration_s: f64,
    /// Prompt.
    pub prompt: String,
    /// Front image path.
    pub front: String,
    /// Tail image path.
    pub tail: String,
    /// Thumbnail URL of the front image.
    pub front_thumb: Option<String>,
    /// Thumbnail URL of the tail image.
    pub tail_thumb: Option<String>,
    /// Unix ms.
    #[ts(type = "number")]
    pub created_at: i64,
    /// Unix ms of the first attempt's start.
    #[ts(type = "number | null")]
    pub started_at: Option<i64>,
    /// Unix ms of the end.
    #[ts(type = "number | null")]
    pub finished_at: Option<i64>,
    /// Class of the last error.
    pub error_kind: Option<String>,
    /// Text of the last error.
    pub error_message: Option<String>,
    /// Hosted provider's request id.
    pub provider_request_id: Option<String>,
    /// Estimated price in US dollars.
    pub price_usd: Option<f64>,
    /// Path of the clip (reserved while the job runs).
    pub output_path: String,
    /// The finished clip.
    pub output: Option<OutputInfo>,
    /// URL of the finished clip on the loopback clip server.
    pub clip_url: Option<String>,
}

/// A page of history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct HistoryPage {
    /// Rows, newest first.
    pub rows: Vec<JobRow>,
    /// Rows matching the filters in all.
    #[ts(type = "number")]
    pub total: u64,
    /// Offset of the first row.
    pub offset: u32,
}

/// Everything known about one job.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct JobDetail {
    /// The job as lists show it.
    pub row: JobRow,
    /// Its full settings snapshot.
    pub spec: JobSpec,
    /// Its attempts, oldest first.
    pub attempts: Vec<AttemptRecord>,
}

/// Use of one provider's task pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SlotUse {
    /// Provider name.
    pub provider: String,
    /// Jobs running.
    pub in_use: u32,
    /// Concurrency limit.
    pub limit: u32,
    /// Jobs waiting for a slot.
    pub queued: u32,
}

/// Jobs per state, over the whole history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct StateCounts {
    /// Waiting for a slot.
    #[ts(type = "number")]
    pub queued: u64,
    /// Running.
    #[ts(type = "number")]
    pub running: u64,
    /// Waiting to retry.
    #[ts(type = "number")]
    pub retrying: u64,
    /// Finished with a clip.
    #[ts(type = "number")]
    pub succeeded: u64,
    /// Failed for good.
    #[ts(type = "number")]
    pub failed: u64,
    /// Cancelled by the user.
    #[ts(type = "number")]
    pub cancelled: u64,
    /// Stopped at the hard time limit.
    #[ts(type = "number")]
    pub timed_out: u64,
    /// Hosted jobs that need a decision (`remote_expired`, `submit_unknown`).
    #[ts(type = "number")]
    pub needs_action: u64,
}

/// State of the whole queue, for the overview panel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Overview {
    /// Whether new attempts are held back.
    pub paused: bool,
    /// Per provider.
    pub slots: Vec<SlotUse>,
    /// Per state.
    pub counts: StateCounts,
    /// Jobs that failed or timed out in the last 24 hours.
    #[ts(type = "number")]
    pub failures_24h: u64,
}

/// Counts of the batch that just drained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct BatchSummary {
    /// Clips made.
    pub succeeded: u32,
    /// Jobs that failed, timed out or need action.
    pub failed: u32,
    /// Jobs cancelled.
    pub cancelled: u32,
}

/// Something the watch folder did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export)]
pub enum WatchNotice {
    /// A pair was queued.
    Queued {
        /// New job.
        job_id: JobId,
        /// Front image.
        front: String,
        /// Tail image.
        tail: String,
    },
    /// A complete file cannot be used.
    Rejected {
        /// The file.
        path: String,
        /// Why, and the fix.
        error: String,
    },
    /// A complete image waits for its partner.
    Waiting {
        /// The file.
        path: String,
    },
    /// The watch folder stopped working.
    Error {
        /// Why, and the fix.
        error: String,
    },
}

/// Where the fal.ai key comes from, without the key itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct KeyStatus {
    /// Whether a key is available.
    pub present: bool,
    /// `environment` or `keychain`.
    pub source: Option<String>,
    /// The key's last four characters behind a mask, as `••••1a2b`.
    pub masked: Option<String>,
    /// Why the keychain cannot be used, when it cannot.
    pub keychain_error: Option<String>,
}

/// Settings as the settings screen edits them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(default)]
#[ts(export)]
pub struct Settings {
    /// Folder finished clips go to.
    pub output_dir: String,
    /// File name template of new clips, as `{name}` or `{front}-{tail}-{type}`.
    pub file_name_template: String,
    /// Provider of new pairs: `local` or `fal`.
    pub provider: String,
    /// Model of new fal pairs.
    pub fal_model: String,
    /// Transition type of new pairs.
    pub kind: TransitionKind,
    /// Prompt of new pairs.
    pub prompt: String,
    /// Aspect, resolution, frame rate, fit and duration of new pairs.
    pub output: OutputSettings,
    /// Rule for dropped images.
    pub pairing: PairingRule,
    /// Local renders at once.
    pub local_concurrency: u32,
    /// fal requests at once.
    pub fal_concurrency: u32,
    /// Attempts per job, transient errors included.
    pub max_attempts: u32,
    /// Local jobs: soft time limit per attempt, in seconds.
    #[ts(type = "number")]
    pub local_soft_limit_s: u64,
    /// Local jobs: hard time limit per attempt, in seconds.
    #[ts(type = "number")]
    pub local_hard_limit_s: u64,
    /// fal jobs: soft time limit per attempt, in seconds.
    #[ts(type = "number")]
    pub fal_soft_limit_s: u64,
    /// fal jobs: hard time limit per attempt, in seconds.
    #[ts(type = "number")]
    pub fal_hard_limit_s: u64,
    /// Folder whose new images are queued, if any.
    pub watch_dir: Option<String>,
    /// Rule for the watch folder's images.
    pub watch_pairing: PairingRule,
    /// Whether a desktop notification shows when the queue drains.
    pub notify_on_finish: bool,
}

impl Default for Settings {
    fn default() -> Self {
        let output_dir = directories::UserDirs::new()
            .and_then(|dirs| dirs.video_dir().map(|dir| dir.join("Segue")))
            .or_else(|| directories::UserDirs::new().map(|dirs| dirs.home_dir().join("Segue")))
            .unwrap_or_else(|| std::path::PathBuf::from("Segue"));
        Settings {
            output_dir: output_dir.to_string_lossy().into_owned(),
            file_name_template: "{name}".to_string(),
            provider: segue_engine::job::LOCAL_PROVIDER.to_string(),
            fal_model: segue_fal::DEFAULT_MODEL.to_string(),
            kind: TransitionKind::Calm,
            prompt: String::new(),
            output: OutputSettings::default(),
            pairing: PairingRule::Chain,
            local_concurrency: crate::settings::local_core_count(),
            fal_concurrency: 10,
            max_attempts: 3,
            local_soft_limit_s: 10 * 60,
            local_hard_limit_s: 15 * 60,
            fal_soft_limit_s: 40 * 60,
            fal_hard_limit_s: 60 * 60,
            watch_dir: None,
            watch_pairing: PairingRule::Pairs,
            notify_on_finish: true,
        }
    }
}

/// Settings plus the key's status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SettingsView {
    /// Saved settings.
    pub settings: Settings,
    /// The fal.ai key's status.
    pub fal_key: KeyStatus,
    /// Folder of the history database and logs.
    pub data_dir: String,
    /// Folder of the log files.
    pub log_dir: String,
}

/// One transition type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TypeInfo {
    /// Canonical name.
    pub kind: TransitionKind,
    /// What it looks like.
    pub description: String,
}

/// One model a pair can use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ModelChoice {
    /// `local` or `fal`.
    pub provider: String,
    /// Model id as stored with jobs.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Clip lengths in seconds that the model makes.
    pub durations: Vec<u32>,
    /// Estimated price of a 5 s clip in US dollars (0 for local, `null` when
    /// unknown).
    pub price_5s_usd: Option<f64>,
    /// Whether the model reads the prompt.
    pub uses_prompt: bool,
}

/// Everything the UI needs at start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AppInfo {
    /// Version of the app.
    pub version: String,
    /// Transition types.
    pub types: Vec<TypeInfo>,
    /// Models.
    pub models: Vec<ModelChoice>,
    /// Origin of the clip server, as `http://127.0.0.1:PORT`.
    pub clip_origin: String,
    /// Jobs of an earlier run that were resumed at start.
    pub resumed: u32,
}

/// Re-exported so that the UI's bindings name the request type.
pub type PairRequest = JobRequest;
