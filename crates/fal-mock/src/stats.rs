//! Counters a test reads to check what a client did, as returned by
//! [`MockServer::stats`](crate::MockServer::stats) and `GET /_mock/stats`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Snapshot of the mock's counters since start or the last reset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Accepted submissions: jobs created, including ones whose reply was
    /// lost to a fault.
    pub submissions: u64,
    /// Submissions rejected before a job was created: bad key, invalid
    /// input, unknown model, full queue or an injected error.
    pub rejected_submissions: u64,
    /// Accepted submissions per distinct input, sorted by key.
    pub inputs: Vec<InputCount>,
    /// The entries of `inputs` submitted more than once.
    pub duplicates: Vec<InputCount>,
    /// Accepted submissions per prompt text.
    pub prompts: BTreeMap<String, u64>,
    /// Jobs by state.
    pub jobs: JobCounts,
    /// Cancel requests by reply.
    pub cancels: CancelCounts,
    /// Storage uploads.
    pub uploads: UploadCounts,
    /// Requests received per step name (`submit`, `status`, ...), counted
    /// before authentication.
    pub requests: BTreeMap<String, u64>,
    /// Injected faults per `STEP:KIND`, such as `status:503`.
    pub faults_injected: BTreeMap<String, u64>,
}

/// Accepted submissions of one distinct input.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputCount {
    /// Hex SHA-256 of the model id, a newline and the input JSON with its
    /// object keys sorted.
    pub key: String,
    /// Model id the input was submitted to.
    pub model: String,
    /// The input's `prompt`, if it has one.
    pub prompt: Option<String>,
    /// Number of accepted submissions.
    pub count: u64,
    /// Request ids of those submissions, oldest first.
    pub request_ids: Vec<String>,
}

/// Jobs by state. Expired jobs are no longer stored and only counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCounts {
    /// Jobs IN_QUEUE.
    pub in_queue: u64,
    /// Jobs IN_PROGRESS.
    pub in_progress: u64,
    /// Jobs COMPLETED with a video.
    pub completed: u64,
    /// Jobs COMPLETED with an error in their status or result.
    pub failed: u64,
    /// Jobs cancelled before they completed.
    pub cancelled: u64,
    /// Completed jobs whose result has expired.
    pub expired: u64,
}

/// Cancel requests by reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelCounts {
    /// All cancel requests that passed authentication.
    pub requested: u64,
    /// Replies 202 `CANCELLATION_REQUESTED`.
    pub accepted: u64,
    /// Replies 400 `ALREADY_COMPLETED`.
    pub already_completed: u64,
    /// Replies 404 `NOT_FOUND`.
    pub not_found: u64,
}

/// Storage uploads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadCounts {
    /// Accepted `POST /storage/upload/initiate` requests.
    pub initiated: u64,
    /// Files stored by a signed PUT.
    pub stored: u64,
    /// Bytes stored by signed PUTs.
    pub bytes: u64,
    /// Successful file downloads, of uploads and of generated clips.
    pub downloads: u64,
}
