//! fal.ai provider for Segue: a client of fal's queue and storage APIs, a
//! registry of first/last-frame video models, and [`FalGenerator`], the
//! [`segue_engine::Generator`] that turns a job into a fal request.
//!
//! The client talks to `https://queue.fal.run` and `https://rest.fal.ai` by
//! default; [`FalConfig::queue_url`] and [`FalConfig::rest_url`] (or the
//! `SEGUE_FAL_QUEUE_URL` and `SEGUE_FAL_REST_URL` environment variables)
//! point it elsewhere, such as a local mock. The API key comes from
//! `FAL_KEY` or the OS keychain ([`FalKey::resolve`]) and is sent only to
//! those two hosts.
//!
//! ```no_run
//! # fn example(engine: &segue_engine::Engine) -> Result<(), segue_fal::FalError> {
//! let generator = segue_fal::FalGenerator::from_env()?;
//! engine.register(std::sync::Arc::new(generator));
//! # Ok(())
//! # }
//! ```

mod client;
mod config;
mod error;
mod follow;
mod generator;
mod inputs;
mod key;
mod models;
mod sse;
mod storage;

pub use client::{
    CancelReply, FalClient, LogEntry, QueueRequest, QueueState, QueueStatus, ResultReply,
    StatusStream, Submitted,
};
pub use config::{
    DEFAULT_QUEUE_URL, DEFAULT_REST_URL, FalConfig, QUEUE_URL_ENV, REST_URL_ENV, StepRetry,
};
pub use error::FalError;
pub use follow::{FollowError, FollowEvent, follow};
pub use generator::{FalGenerator, PROVIDER};
pub use inputs::{EncodedFrame, PreparedFrames, frame_size, prepare_frames};
pub use key::{FalKey, KEYCHAIN_SERVICE, KEYCHAIN_USER, KeyError};
pub use models::{
    AspectPlan, DEFAULT_MODEL, Durations, FrameLimits, LengthPlan, ModelInfo, MotionControl, Plan,
    PlanError, PriceInput, PromptLimit, find_model, models, motion_words, plan, transition_prompt,
};
