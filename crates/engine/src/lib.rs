//! Segue's engine: the job model, the SQLite history, the task pool and the
//! generator interface. It has no GUI dependency; the `segue` command-line
//! tool, the desktop app and the tests all drive it through [`Engine`].

pub mod event;
pub mod intake;
pub mod job;
pub mod limiter;
pub mod output;
pub mod paths;
pub mod provider;
pub mod queue;
pub mod retry;
pub mod runner;
pub mod store;
pub mod template;

pub use event::JobEvent;
pub use job::{ErrorKind, JobDefaults, JobId, JobRequest, JobSpec, JobState, Stage};
pub use provider::{AttemptContext, ErrorClass, GenerateError, Generated, Generator, Reporter};
pub use queue::{CancelOutcome, Engine, EngineConfig, EnqueueError, OutputTarget, SlotInfo};
pub use retry::RetryPolicy;
pub use store::{AttemptRecord, JobFilter, JobRecord, OutputInfo, StateCounts, Store, StoreError};
pub use template::{TemplateError, validate_template};
