//! Configuration of a mock server: keys, timings, retention, the source of
//! the result clips and the fault rules in force at start.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::faults::FaultRule;

/// Settings of a [`MockServer`](crate::MockServer).
///
/// The JSON form uses the field names below. Durations are either a number of
/// milliseconds or a string such as `"250ms"`, `"2s"` or `"6m"`. Missing
/// fields take their [`Default`] values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockConfig {
    /// Socket address to listen on. It must be a loopback address, and port 0
    /// picks a free port.
    pub listen: SocketAddr,
    /// Accepted API keys: a request must send `Authorization: Key <key>` with
    /// one of them.
    pub keys: Vec<String>,
    /// Minimum time a job spends IN_QUEUE before it can start.
    #[serde(with = "duration_serde")]
    pub queue_time: Duration,
    /// Time a job spends IN_PROGRESS.
    #[serde(with = "duration_serde")]
    pub generation_time: Duration,
    /// Maximum number of jobs IN_PROGRESS at once. Other jobs wait IN_QUEUE.
    pub concurrency: usize,
    /// Time a completed job's result stays available when its JSON body is
    /// smaller than `large_result_bytes`.
    #[serde(with = "duration_serde")]
    pub result_ttl: Duration,
    /// Time a completed job's result stays available when its JSON body is at
    /// least `large_result_bytes` long.
    #[serde(with = "duration_serde")]
    pub large_result_ttl: Duration,
    /// Result body size in bytes from which `large_result_ttl` applies.
    pub large_result_bytes: usize,
    /// Time an uploaded file or a generated clip stays downloadable, unless
    /// the request sets a lifecycle header.
    #[serde(with = "duration_serde")]
    pub file_ttl: Duration,
    /// Time a signed upload URL accepts a PUT.
    #[serde(with = "duration_serde")]
    pub upload_url_ttl: Duration,
    /// Interval between `: ping` comments on a status stream.
    #[serde(with = "duration_serde")]
    pub ping_interval: Duration,
    /// Source of the MP4 bytes of each result.
    pub clip: ClipSource,
    /// Fault rules in force from the start, in matching order.
    pub faults: Vec<FaultRule>,
    /// Seed of the random numbers behind probabilistic faults, for repeatable
    /// runs; `None` seeds from the operating system.
    pub seed: Option<u64>,
    /// Whether a job cancelled while IN_PROGRESS still runs to a normal
    /// completion. When `false` it completes at once with a
    /// `client_cancelled` error.
    pub finish_cancelled_running: bool,
    /// Maximum size in bytes of a request body: a submission with data URIs
    /// or an uploaded file.
    pub max_body_bytes: usize,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            keys: vec!["test-key".to_owned()],
            queue_time: Duration::from_millis(500),
            generation_time: Duration::from_secs(2),
            concurrency: 2,
            result_ttl: Duration::from_secs(3600),
            large_result_ttl: Duration::from_secs(360),
            large_result_bytes: 10 * 1024,
            file_ttl: Duration::from_secs(7 * 24 * 3600),
            upload_url_ttl: Duration::from_secs(3600),
            ping_interval: Duration::from_secs(15),
            clip: ClipSource::RenderInputs,
            faults: Vec::new(),
            seed: None,
            finish_cancelled_running: false,
            max_body_bytes: 100 * 1024 * 1024,
        }
    }
}

impl MockConfig {
    /// Returns the default configuration with timings short enough for tests:
    /// 50 ms in the queue, 200 ms of generation and a ping every second.
    pub fn fast() -> Self {
        MockConfig {
            queue_time: Duration::from_millis(50),
            generation_time: Duration::from_millis(200),
            ping_interval: Duration::from_secs(1),
            ..MockConfig::default()
        }
    }

    /// Checks the listen address, keys, concurrency, ping interval and fault
    /// rules.
    pub fn validate(&self) -> Result<(), String> {
        if !self.listen.ip().is_loopback() {
            return Err(format!(
                "invalid listen address {}: the mock listens only on a loopback address \
                 such as 127.0.0.1 or [::1]",
                self.listen
            ));
        }
        if self.keys.is_empty() || self.keys.iter().any(|key| key.is_empty()) {
            return Err("invalid keys: give at least one non-empty API key".to_owned());
        }
        if self.concurrency == 0 {
            return Err("invalid concurrency 0: allow at least one job IN_PROGRESS".to_owned());
        }
        if self.ping_interval.is_zero() {
            return Err("invalid ping interval 0: choose a positive duration".to_owned());
        }
        for rule in &self.faults {
            rule.validate()?;
        }
        Ok(())
    }
}

/// Source of the MP4 bytes served for every successful job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ClipSource {
    /// Render a 1-second 720p clip from each job's own first and last frames
    /// with `segue-render`. Clips are cached per pair of frames within the
    /// process, so repeated inputs render once.
    RenderInputs,
    /// Render one clip from two image files at start and serve it for every
    /// job.
    RenderFixture {
        /// Image the clip starts on.
        front: PathBuf,
        /// Image the clip ends on.
        tail: PathBuf,
    },
    /// Serve the bytes of an existing MP4 file for every job.
    File {
        /// MP4 file to serve.
        path: PathBuf,
    },
}

/// Serde form of a [`Duration`]: a number of milliseconds or a humantime
/// string ("250ms", "2s", "1h") on input, a humantime string on output.
pub(crate) mod duration_serde {
    use std::time::Duration;

    use serde::de::{self, Deserializer, Visitor};
    use serde::ser::Serializer;

    pub(crate) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*value).to_string())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("a number of milliseconds or a duration such as \"2s\"")
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Duration, E> {
            Ok(Duration::from_millis(value))
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Duration, E> {
            u64::try_from(value)
                .map(Duration::from_millis)
                .map_err(|_| E::custom(format!("invalid duration {value} ms: it is negative")))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Duration, E> {
            Duration::try_from_secs_f64(value / 1000.0)
                .map_err(|_| E::custom(format!("invalid duration {value} ms")))
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Duration, E> {
            humantime::parse_duration(value)
                .map_err(|error| E::custom(format!("invalid duration {value:?}: {error}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_accepts_both_duration_forms() {
        let json = r#"{"queue_time": 120, "generation_time": "1s", "result_ttl": "6m"}"#;
        let config: MockConfig = serde_json::from_str(json).unwrap();
        assert_eq!(config.queue_time, Duration::from_millis(120));
        assert_eq!(config.generation_time, Duration::from_secs(1));
        assert_eq!(config.result_ttl, Duration::from_secs(360));
        assert_eq!(config.concurrency, 2);
    }

    #[test]
    fn config_json_round_trips() {
        let config = MockConfig {
            clip: ClipSource::File { path: PathBuf::from("/tmp/clip.mp4") },
            ..MockConfig::fast()
        };
        let json = serde_json::to_string(&config).unwrap();
        assert!(json.contains("\"200ms\""), "{json}");
        let back: MockConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn config_rejects_unknown_field() {
        let error = serde_json::from_str::<MockConfig>(r#"{"queue_tme": 5}"#).unwrap_err();
        assert!(error.to_string().contains("queue_tme"), "{error}");
    }

    #[test]
    fn validate_rejects_non_loopback_listen() {
        let config = MockConfig { listen: "0.0.0.0:0".parse().unwrap(), ..MockConfig::default() };
        let error = config.validate().unwrap_err();
        assert!(error.contains("loopback"), "{error}");
        let config = MockConfig { listen: "[::1]:0".parse().unwrap(), ..MockConfig::default() };
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn validate_rejects_empty_keys_and_zero_concurrency() {
        let config = MockConfig { keys: Vec::new(), ..MockConfig::default() };
        assert!(config.validate().is_err());
        let config = MockConfig { concurrency: 0, ..MockConfig::default() };
        assert!(config.validate().is_err());
    }
}
