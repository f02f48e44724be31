//! Settings of the fal client and generator: hosts, key, timeouts, polling,
//! retries and limits.

use std::time::Duration;

use crate::key::{FalKey, KeyError};

/// fal's queue host.
pub const DEFAULT_QUEUE_URL: &str = "https://queue.fal.run";
/// fal's REST host, which serves storage uploads.
pub const DEFAULT_REST_URL: &str = "https://rest.fal.ai";
/// Environment variable that overrides [`FalConfig::queue_url`].
pub const QUEUE_URL_ENV: &str = "SEGUE_FAL_QUEUE_URL";
/// Environment variable that overrides [`FalConfig::rest_url`].
pub const REST_URL_ENV: &str = "SEGUE_FAL_REST_URL";

/// Settings of [`FalClient`](crate::FalClient) and
/// [`FalGenerator`](crate::FalGenerator).
#[derive(Clone, Debug)]
pub struct FalConfig {
    /// Base URL of the queue API, without a trailing slash.
    pub queue_url: String,
    /// Base URL of the REST API (storage uploads), without a trailing slash.
    pub rest_url: String,
    /// API key. When `None`, [`FalKey::resolve`] is tried again when a job
    /// runs, so a key saved after start-up is picked up.
    pub key: Option<FalKey>,
    /// Time allowed to open a TCP and TLS connection.
    pub connect_timeout: Duration,
    /// Time allowed for one whole request and response, status stream and
    /// clip downloads excepted.
    pub request_timeout: Duration,
    /// Time a status stream or a download may go without receiving a byte
    /// before it counts as broken. fal sends a keep-alive comment on status
    /// streams every 15 s, so this must be longer than that.
    pub idle_timeout: Duration,
    /// Follows status with the server-sent event stream first. When `false`
    /// status is only polled.
    pub use_stream: bool,
    /// Number of times a status stream that ends before COMPLETED is opened
    /// again before the client switches to polling.
    pub stream_reconnects: u32,
    /// First interval between status polls; it grows by half after each poll
    /// up to `poll_max`.
    pub poll_min: Duration,
    /// Maximum interval between status polls.
    pub poll_max: Duration,
    /// How long a request may stay IN_QUEUE, counted from when this attempt
    /// began following it. Past it the request is cancelled at fal and the
    /// job ends as timed out.
    pub start_deadline: Duration,
    /// Retries of one step (a status poll, an upload, a download) within one
    /// attempt.
    pub retry: StepRetry,
    /// Frames whose encoded size is below this many bytes are sent inline as
    /// data URIs instead of being uploaded.
    pub data_uri_limit: usize,
    /// Downloads of the finished clip per attempt before the attempt fails.
    pub download_attempts: u32,
    /// Jobs run at once by default.
    pub default_concurrency: usize,
    /// Largest number of jobs run at once.
    pub max_concurrency: usize,
}

/// Backoff of retried requests within one step: exponential from
/// `base_delay`, capped at `max_delay`, with ±25 % jitter. A `Retry-After`
/// from fal replaces the computed delay.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRetry {
    /// Retries after the first try.
    pub max_retries: u32,
    /// Delay before the first retry.
    pub base_delay: Duration,
    /// Upper bound of a computed delay.
    pub max_delay: Duration,
    /// Longest `Retry-After` waited out within the step. A longer one ends
    /// the attempt with a transient error that carries it, so the engine
    /// waits instead.
    pub max_wait: Duration,
}

impl Default for StepRetry {
    fn default() -> Self {
        StepRetry {
            max_retries: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_wait: Duration::from_secs(60),
        }
    }
}

impl StepRetry {
    /// Returns the delay before retry number `retry` (1-based): the
    /// `Retry-After` when fal sent one, else the jittered backoff.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after;
        }
        let exponent = retry.saturating_sub(1).min(16);
        let full = self.base_delay.saturating_mul(1 << exponent).min(self.max_delay);
        let jitter = rand::random_range(0.75..=1.25);
        full.mul_f64(jitter)
    }
}

impl Default for FalConfig {
    fn default() -> Self {
        FalConfig {
            queue_url: DEFAULT_QUEUE_URL.to_string(),
            rest_url: DEFAULT_REST_URL.to_string(),
            key: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(45),
            use_stream: true,
            stream_reconnects: 3,
            poll_min: Duration::from_secs(1),
            poll_max: Duration::from_secs(5),
            start_deadline: Duration::from_secs(30 * 60),
            retry: StepRetry::default(),
            data_uri_limit: 64 * 1024,
            download_attempts: 3,
            default_concurrency: 10,
            max_concurrency: 64,
        }
    }
}

impl FalConfig {
    /// Returns the default settings with the base URLs from
    /// `SEGUE_FAL_QUEUE_URL` and `SEGUE_FAL_REST_URL` when set, and the key
    /// from [`FalKey::resolve`] (`FAL_KEY`, then the OS keychain). A missing
    /// key leaves `key` empty, so that jobs fail with a message saying where
    /// to set it.
    pub fn from_env() -> Self {
        let mut config = FalConfig::from_lookup(|name| std::env::var(name).ok());
        match FalKey::resolve() {
            Ok(key) => config.key = Some(key),
            Err(KeyError::Missing) => {}
            Err(err) => tracing::warn!(error = %err, "the fal.ai API key cannot be used"),
        }
        config
    }

    /// Returns the default settings with the base URLs read through
    /// `lookup`, and no key.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut config = FalConfig::default();
        let non_empty = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        if let Some(url) = non_empty(QUEUE_URL_ENV) {
            config.queue_url = url.trim().trim_end_matches('/').to_string();
        }
        if let Some(url) = non_empty(REST_URL_ENV) {
            config.rest_url = url.trim().trim_end_matches('/').to_string();
        }
        config
    }

    /// Returns these settings with both base URLs set to `base_url`, as for a
    /// local mock that serves queue and storage on one address.
    pub fn with_base_url(mut self, base_url: &str) -> Self {
        let base = base_url.trim_end_matches('/').to_string();
        self.queue_url = base.clone();
        self.rest_url = base;
        self
    }

    /// Returns these settings with `key`.
    pub fn with_key(mut self, key: FalKey) -> Self {
        self.key = Some(key);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_real_hosts() {
        let config = FalConfig::default();
        assert_eq!(config.queue_url, "https://queue.fal.run");
        assert_eq!(config.rest_url, "https://rest.fal.ai");
        assert!(config.key.is_none());
    }

    #[test]
    fn lookup_overrides_base_urls() {
        let lookup = |name: &str| match name {
            QUEUE_URL_ENV => Some("http://127.0.0.1:9/".to_string()),
            REST_URL_ENV => Some("http://127.0.0.1:10".to_string()),
            _ => None,
        };
        let config = FalConfig::from_lookup(lookup);
        assert_eq!(config.queue_url, "http://127.0.0.1:9");
        assert_eq!(config.rest_url, "http://127.0.0.1:10");
    }

    #[test]
    fn retry_delay_grows_and_honours_retry_after() {
        let retry = StepRetry::default();
        for _ in 0..50 {
            let first = retry.delay(1, None);
            assert!(first >= Duration::from_millis(750), "{first:?}");
            assert!(first <= Duration::from_millis(1250), "{first:?}");
            let late = retry.delay(10, None);
            assert!(late <= Duration::from_millis(37_500), "{late:?}");
        }
        assert_eq!(retry.delay(3, Some(Duration::from_secs(7))), Duration::from_secs(7));
    }
}
