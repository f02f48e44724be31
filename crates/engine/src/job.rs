//! Job model: what a transition is, the states a job moves through, and the
//! validated specification the queue runs.
//!
//! A [`JobRequest`] is raw input from the CLI, the app or a manifest. It is
//! validated once by [`JobRequest::validate`] into a [`JobSpec`]; nothing past
//! the queue's front door reads raw input. The spec is stored as JSON with the
//! job at enqueue time, so later changes to defaults never change a queued job.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use segue_render::{OutputSettings, TransitionKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Provider name of the embedded local renderer.
pub const LOCAL_PROVIDER: &str = "local";
/// Model name of the embedded local renderer.
pub const LOCAL_MODEL: &str = "segue-local-v1";

/// Identifier of one job (and of its transition): a random UUIDv4. Queue
/// order comes from the store's sequence number, so ids carry no time and
/// an 8-digit prefix is enough to identify a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(transparent)]
pub struct JobId(pub Uuid);

impl JobId {
    /// Creates a new random id.
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }

    /// Returns the first eight hex digits, which is what tables show.
    pub fn short(&self) -> String {
        self.0.simple().to_string()[..8].to_string()
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for JobId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// Lifecycle state of a job. Terminal states are `Succeeded`, `Failed`,
/// `Cancelled` and `TimedOut`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a free slot in its provider's pool.
    Queued,
    /// An attempt is under way; see the job's [`Stage`].
    Running,
    /// The last attempt failed with a transient error; the job waits for its
    /// backoff to end and then becomes `Queued` again.
    Retrying,
    /// The clip is in the output folder.
    Succeeded,
    /// A permanent error, or transient errors until attempts ran out.
    Failed,
    /// Cancelled by the user.
    Cancelled,
    /// An attempt passed the hard time limit, or a hosted job never left
    /// the provider's queue before its start deadline.
    TimedOut,
    /// The hosted provider finished the clip, but its copy expired before it
    /// was downloaded; running the job again regenerates it.
    RemoteExpired,
    /// The process stopped (or the connection broke) while a hosted submit
    /// was in flight, so whether the provider accepted and bills the request
    /// is unknown. The job is not submitted again on its own; `retry` does.
    SubmitUnknown,
}

impl JobState {
    /// All states, in lifecycle order.
    pub const ALL: [JobState; 9] = [
        JobState::Queued,
        JobState::Running,
        JobState::Retrying,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
        JobState::TimedOut,
        JobState::RemoteExpired,
        JobState::SubmitUnknown,
    ];

    /// Returns the name stored in SQLite and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Retrying => "retrying",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::TimedOut => "timed_out",
            JobState::RemoteExpired => "remote_expired",
            JobState::SubmitUnknown => "submit_unknown",
        }
    }

    /// Whether the job will not change again unless the user retries it.
    pub fn is_terminal(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running | JobState::Retrying)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let expected = s.trim().to_ascii_lowercase().replace('-', "_");
        JobState::ALL.into_iter().find(|state| state.as_str() == expected).ok_or_else(|| {
            let names: Vec<_> = JobState::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown job state {s:?}; expected one of {}", names.join(", "))
        })
    }
}

/// Step of a running attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Loading and checking the input images.
    Preparing,
    /// Sending the images to a hosted provider.
    Uploading,
    /// Sending the generation request to a hosted provider.
    Submitting,
    /// Waiting in a hosted provider's queue.
    InProviderQueue,
    /// Rendering or generating frames.
    Generating,
    /// Fetching a hosted provider's result.
    Downloading,
    /// Checking the finished file before it is moved into place.
    Verifying,
}

impl Stage {
    /// Returns the name stored in SQLite and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Preparing => "preparing",
            Stage::Uploading => "uploading",
            Stage::Submitting => "submitting",
            Stage::InProviderQueue => "in_provider_queue",
            Stage::Generating => "generating",
            Stage::Downloading => "downloading",
            Stage::Verifying => "verifying",
        }
    }

    /// Parses a stored stage name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Stage::Preparing,
            Stage::Uploading,
            Stage::Submitting,
            Stage::InProviderQueue,
            Stage::Generating,
            Stage::Downloading,
            Stage::Verifying,
        ]
        .into_iter()
        .find(|stage| stage.as_str() == s)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Class of a failure, stored with the job so that history can be filtered
/// by cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A front or tail image is missing, unreadable or unsupported.
    InvalidInput,
    /// The settings are not possible for the chosen provider.
    InvalidSettings,
    /// A failure the provider may not repeat (network, overload, I/O).
    Transient,
    /// A failure that will repeat on every attempt.
    Permanent,
    /// The hard time limit passed.
    Timeout,
    /// The finished file did not pass verification.
    BadOutput,
    /// The user cancelled the job.
    Cancelled,
    /// The process that ran the job stopped mid-attempt.
    Interrupted,
    /// The provider's API key is missing or was rejected.
    Auth,
    /// The provider's copy of the result expired before it was fetched.
    RemoteExpired,
    /// A submit was in flight when the connection or the process died.
    SubmitUnknown,
}

impl ErrorKind {
    /// Returns the name stored in SQLite.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::InvalidSettings => "invalid_settings",
            ErrorKind::Transient => "transient",
            ErrorKind::Permanent => "permanent",
            ErrorKind::Timeout => "timeout",
            ErrorKind::BadOutput => "bad_output",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::Auth => "auth",
            ErrorKind::RemoteExpired => "remote_expired",
            ErrorKind::SubmitUnknown => "submit_unknown",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Raw request for one transition, as the CLI, the app or a manifest gives
/// it. Optional fields fall back to [`JobDefaults`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, optional_fields))]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// Image the clip starts on.
    pub front: PathBuf,
    /// Image the clip ends on.
    pub tail: PathBuf,
    /// Display name; by default built from the two file names.
    #[serde(default)]
    pub name: Option<String>,
    /// Transition type name, in any case (`calm`, `ENERGETIC`, ...).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Clip length in seconds.
    #[serde(default)]
    pub duration: Option<f64>,
    /// Text prompt for hosted models; the local renderer records it only.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Negative prompt for hosted models.
    #[serde(default)]
    pub negative_prompt: Option<String>,
    /// Seed for hosted models.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub seed: Option<i64>,
    /// Provider name; `local` by default.
    #[serde(default)]
    pub provider: Option<String>,
    /// Model id within the provider.
    #[serde(default)]
    pub model: Option<String>,
    /// `16:9`, `9:16`, `1:1` or `auto`.
    #[serde(default)]
    pub aspect: Option<String>,
    /// `720p` or `1080p`.
    #[serde(default)]
    pub resolution: Option<String>,
    /// 24, 25 or 30.
    #[serde(default)]
    pub fps: Option<u32>,
    /// `cover` or `letterbox`.
    #[serde(default)]
    pub fit: Option<String>,
}

/// Settings that apply where a request leaves a field out.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobDefaults {
    /// Transition type.
    pub kind: TransitionKind,
    /// Output settings, including the duration.
    pub output: OutputSettings,
    /// Provider name.
    pub provider: String,
    /// Model id.
    pub model: String,
    /// Prompt.
    pub prompt: String,
    /// Negative prompt.
    pub negative_prompt: String,
}

impl Default for JobDefaults {
    fn default() -> Self {
        Self {
            kind: TransitionKind::Calm,
            output: OutputSettings::default(),
            provider: LOCAL_PROVIDER.to_string(),
            model: LOCAL_MODEL.to_string(),
            prompt: String::new(),
            negative_prompt: String::new(),
        }
    }
}

/// Validated specification of one transition: the settings snapshot a job
/// runs with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct JobSpec {
    /// Display name.
    pub name: String,
    /// Absolute path of the front image.
    pub front: PathBuf,
    /// Absolute path of the tail image.
    pub tail: PathBuf,
    /// Transition type.
    pub kind: TransitionKind,
    /// Prompt for hosted models.
    pub prompt: String,
    /// Negative prompt for hosted models.
    pub negative_prompt: String,
    /// Seed for hosted models.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub seed: Option<i64>,
    /// Provider name.
    pub provider: String,
    /// Model id.
    pub model: String,
    /// Aspect, resolution, frame rate, fit and duration.
    pub output: OutputSettings,
}

/// A request field that failed validation.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// An image path does not name a readable file.
    #[error("{role} image {path}: file not found; check the path", path = path.display())]
    MissingImage {
        /// `front` or `tail`.
        role: &'static str,
        /// The path as given.
        path: PathBuf,
    },
    /// An image path names a folder.
    #[error("{role} image {path}: is a folder, not an image file; give the path of a JPEG, PNG, WebP, TIFF, BMP or GIF", path = path.display())]
    ImageIsFolder {
        /// `front` or `tail`.
        role: &'static str,
        /// The path as given.
        path: PathBuf,
    },
    /// A field has a value outside its allowed set.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidField {
        /// Field name as the user writes it (`--type`, `fps`, ...).
        field: &'static str,
        /// The rejected value.
        value: String,
        /// Description of the allowed values.
        reason: String,
    },
}

impl JobRequest {
    /// Validates the request against `defaults` and resolves image paths to
    /// absolute paths. Image content is checked later, when the job runs, so
    /// that one bad file fails its own job and no other.
    pub fn validate(&self, defaults: &JobDefaults) -> Result<JobSpec, RequestError> {
        let front = resolve_image("front", &self.front)?;
        let tail = resolve_image("tail", &self.tail)?;
        let kind = match &self.kind {
            Some(name) => {
                name.parse::<TransitionKind>().map_err(|err| RequestError::InvalidField {
                    field: "type",
                    value: name.clone(),
                    reason: err.to_string(),
                })?
            }
            None => defaults.kind,
        };
        let output = self.output_settings(defaults)?;
        let name = self.name.clone().unwrap_or_else(|| default_name(&front, &tail, kind));
        Ok(JobSpec {
            name,
            front,
            tail,
            kind,
            prompt: self.prompt.clone().unwrap_or_else(|| defaults.prompt.clone()),
            negative_prompt: self
                .negative_prompt
                .clone()
                .unwrap_or_else(|| defaults.negative_prompt.clone()),
            seed: self.seed,
            provider: self.provider.clone().unwrap_or_else(|| defaults.provider.clone()),
            model: self.model.clone().unwrap_or_else(|| defaults.model.clone()),
            output,
        })
    }

    fn output_settings(&self, defaults: &JobDefaults) -> Result<OutputSettings, RequestError> {
        let mut output = defaults.output;
        if let Some(aspect) = &self.aspect {
            output.aspect = parse_field("aspect", aspect)?;
        }
        if let Some(resolution) = &self.resolution {
            output.resolution = parse_field("resolution", resolution)?;
        }
        if let Some(fit) = &self.fit {
            output.fit = parse_field("fit", fit)?;
        }
        if let Some(fps) = self.fps {
            output.fps = fps;
        }
        if let Some(duration) = self.duration {
            output.duration_s = duration;
        }
        output.validate().map_err(|err| RequestError::InvalidField {
            field: "output settings",
            value: format!("{} fps, {} s", output.fps, output.duration_s),
            reason: err.to_string(),
        })?;
        Ok(output)
    }
}

fn parse_field<T>(field: &'static str, value: &str) -> Result<T, RequestError>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    value.parse::<T>().map_err(|err| RequestError::InvalidField {
        field,
        value: value.to_string(),
        reason: err.to_string(),
    })
}

fn resolve_image(role: &'static str, path: &std::path::Path) -> Result<PathBuf, RequestError> {
    let missing = || RequestError::MissingImage { role, path: path.to_path_buf() };
    let absolute = std::path::absolute(path).map_err(|_| missing())?;
    if absolute.is_dir() {
        return Err(RequestError::ImageIsFolder { role, path: path.to_path_buf() });
    }
    if !absolute.is_file() {
        return Err(missing());
    }
    Ok(absolute)
}

/// Builds `front-to-tail-type` from the two file stems.
fn default_name(front: &std::path::Path, tail: &std::path::Path, kind: TransitionKind) -> String {
    let stem = |path: &std::path::Path| {
        path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    };
    format!("{}-to-{}-{}", stem(front), stem(tail), kind.to_string().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_for(dir: &std::path::Path) -> JobRequest {
        let front = dir.join("a.jpg");
        let tail = dir.join("b.jpg");
        std::fs::write(&front, b"x").unwrap();
        std::fs::write(&tail, b"x").unwrap();
        JobRequest { front, tail, ..JobRequest::default() }
    }

    #[test]
    fn validate_fills_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let spec = request_for(dir.path()).validate(&JobDefaults::default()).unwrap();
        assert_eq!(spec.kind, TransitionKind::Calm);
        assert_eq!(spec.provider, LOCAL_PROVIDER);
        assert_eq!(spec.name, "a-to-b-calm");
        assert_eq!(spec.output, OutputSettings::default());
        assert!(spec.front.is_absolute());
    }

    #[test]
    fn validate_parses_type_in_any_case() {
        let dir = tempfile::tempdir().unwrap();
        let mut request = request_for(dir.path());
        request.kind = Some("energetic".into());
        let spec = request.validate(&JobDefaults::default()).unwrap();
        assert_eq!(spec.kind, TransitionKind::Energetic);
    }

    #[test]
    fn validate_rejects_unknown_type() {
        let dir = tempfile::tempdir().unwrap();
        let mut request = request_for(dir.path());
        request.kind = Some("sparkle".into());
        let message = request.validate(&JobDefaults::default()).unwrap_err().to_string();
        assert!(message.contains("sparkle"), "{message}");
        assert!(message.contains("CALM"), "{message}");
    }

    #[test]
    fn validate_rejects_missing_image() {
        let dir = tempfile::tempdir().unwrap();
        let mut request = request_for(dir.path());
        request.tail = dir.path().join("nope.png");
        let message = request.validate(&JobDefaults::default()).unwrap_err().to_string();
        assert!(message.contains("nope.png"), "{message}");
        assert!(message.contains("tail"), "{message}");
    }

    #[test]
    fn validate_rejects_bad_fps_and_duration() {
        let dir = tempfile::tempdir().unwrap();
        let mut request = request_for(dir.path());
        request.fps = Some(60);
        assert!(request.validate(&JobDefaults::default()).is_err());
        request.fps = None;
        request.duration = Some(11.0);
        assert!(request.validate(&JobDefaults::default()).is_err());
    }

    #[test]
    fn state_names_round_trip() {
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>().unwrap(), state);
        }
        assert_eq!("timed-out".parse::<JobState>().unwrap(), JobState::TimedOut);
    }
}
