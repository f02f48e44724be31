//! Typed progress events, sent on a broadcast channel to every front end
//! (CLI progress bars, the desktop app, tests).

use serde::{Deserialize, Serialize};

use crate::job::{ErrorKind, JobId, Stage};
use crate::store::OutputInfo;

/// Something that happened to one job. Serialized with an `event` tag, so a
/// JSON line reads `{"event":"started","job_id":"...","attempt":1,...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JobEvent {
    /// The job was stored and waits for a slot.
    Queued {
        /// Job id.
        job_id: JobId,
        /// Display name.
        name: String,
        /// Provider name.
        provider: String,
    },
    /// An attempt started.
    Started {
        /// Job id.
        job_id: JobId,
        /// 1-based attempt number.
        attempt: u32,
        /// Attempt budget.
        max_attempts: u32,
    },
    /// A running attempt moved to another stage or made progress.
    Progress {
        /// Job id.
        job_id: JobId,
        /// Current stage.
        stage: Stage,
        /// Fraction of the stage done, 0 to 1.
        fraction: f64,
    },
    /// A hosted job's position in its provider's queue changed (0 = next).
    QueuePosition {
        /// Job id.
        job_id: JobId,
        /// Requests ahead of this one.
        position: u32,
    },
    /// A hosted provider sent a log line for the job.
    ProviderLog {
        /// Job id.
        job_id: JobId,
        /// The provider's log text.
        message: String,
    },
    /// A running attempt passed its soft time limit; the provider was asked
    /// to stop.
    Warning {
        /// Job id.
        job_id: JobId,
        /// What happened.
        message: String,
    },
    /// An attempt failed with a transient error; another follows after
    /// `delay_ms`.
    Retrying {
        /// Job id.
        job_id: JobId,
        /// The attempt that failed.
        attempt: u32,
        /// Backoff before the next attempt, in milliseconds.
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        delay_ms: u64,
        /// Error of the failed attempt.
        error: String,
    },
    /// The clip is in place.
    Succeeded {
        /// Job id.
        job_id: JobId,
        /// The finished clip.
        output: OutputInfo,
    },
    /// The job failed for good.
    Failed {
        /// Job id.
        job_id: JobId,
        /// Class of the error.
        kind: ErrorKind,
        /// Text of the error.
        error: String,
    },
    /// An attempt passed the hard time limit.
    TimedOut {
        /// Job id.
        job_id: JobId,
        /// Text of the error.
        error: String,
    },
    /// The user cancelled the job.
    Cancelled {
        /// Job id.
        job_id: JobId,
    },
    /// A hosted job ended in `remote_expired` or `submit_unknown`.
    NeedsAction {
        /// Job id.
        job_id: JobId,
        /// `remote_expired` or `submit_unknown`.
        state: crate::job::JobState,
        /// Description of the problem and the fix.
        error: String,
    },
}

impl JobEvent {
    /// Returns the id of the job the event is about.
    pub fn job_id(&self) -> JobId {
        match self {
            JobEvent::Queued { job_id, .. }
            | JobEvent::Started { job_id, .. }
            | JobEvent::Progress { job_id, .. }
            | JobEvent::QueuePosition { job_id, .. }
            | JobEvent::ProviderLog { job_id, .. }
            | JobEvent::Warning { job_id, .. }
            | JobEvent::Retrying { job_id, .. }
            | JobEvent::Succeeded { job_id, .. }
            | JobEvent::Failed { job_id, .. }
            | JobEvent::TimedOut { job_id, .. }
            | JobEvent::Cancelled { job_id }
            | JobEvent::NeedsAction { job_id, .. } => *job_id,
        }
    }

    /// Returns whether the event ends the job.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobEvent::Succeeded { .. }
                | JobEvent::Failed { .. }
                | JobEvent::TimedOut { .. }
                | JobEvent::Cancelled { .. }
                | JobEvent::NeedsAction { .. }
        )
    }
}
