//! Shared set-up of the tests: a fal mock on 127.0.0.1, fixture images, a
//! client configuration with short timeouts, and an engine that runs jobs
//! through `FalGenerator`.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fal_mock::{MockConfig, MockServer};
use segue_engine::{Engine, EngineConfig, JobId, JobRecord, JobRequest, OutputTarget, RetryPolicy};
use segue_fal::{FalConfig, FalGenerator, FalKey, StepRetry};

/// Key the mock accepts. Distinctive, so a test can search output for it.
pub const TEST_KEY: &str = "segue-test-key-7f3a9c1e";

/// Starts a mock with fast timings that accepts [`TEST_KEY`].
pub async fn start_mock() -> MockServer {
    start_mock_with(MockConfig::fast()).await
}

/// Starts a mock with `config` and [`TEST_KEY`] as its key.
pub async fn start_mock_with(config: MockConfig) -> MockServer {
    let config = MockConfig { keys: vec![TEST_KEY.to_string()], ..config };
    MockServer::start(config).await.expect("the mock starts on 127.0.0.1")
}

/// Client settings for `mock`: its base URL, the test key, short timeouts
/// and backoffs, and uploads for every frame (no data URIs).
pub fn fal_config(mock: &MockServer) -> FalConfig {
    let mut config =
        FalConfig::default().with_base_url(&mock.base_url).with_key(FalKey::new(TEST_KEY).unwrap());
    config.connect_timeout = Duration::from_secs(2);
    config.request_timeout = Duration::from_secs(10);
    config.idle_timeout = Duration::from_secs(5);
    config.poll_min = Duration::from_millis(50);
    config.poll_max = Duration::from_millis(200);
    config.retry = StepRetry {
        max_retries: 4,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        max_wait: Duration::from_secs(5),
    };
    config.data_uri_limit = 0;
    config
}

/// Writes two JPEG photos of 800x600 pixels with different content and
/// returns their paths.
pub fn fixture_images(dir: &Path) -> (PathBuf, PathBuf) {
    let front = dir.join("front.jpg");
    let tail = dir.join("tail.jpg");
    let paint = |seed: u32| {
        image::RgbImage::from_fn(800, 600, |x, y| {
            let value = (x * 7 + y * 13 + seed * 31) ^ (x * y / 17 + seed);
            image::Rgb([(value % 251) as u8, ((value / 3) % 253) as u8, ((x + seed) % 256) as u8])
        })
    };
    paint(1).save(&front).unwrap();
    paint(9).save(&tail).unwrap();
    (front, tail)
}

/// An engine with a fal generator, in a temporary folder.
pub struct Harness {
    pub engine: Engine,
    pub dir: tempfile::TempDir,
    pub front: PathBuf,
    pub tail: PathBuf,
}

impl Harness {
    /// Opens an engine whose retries wait 50 to 200 ms, registers a
    /// generator built from `config`, and writes the fixture images.
    pub async fn new(config: FalConfig) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut engine_config = EngineConfig::new(dir.path().join("data"));
        engine_config.retry = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
        };
        engine_config.soft_limit = Duration::from_secs(60);
        engine_config.hard_limit = Duration::from_secs(90);
        let engine = Engine::open(engine_config).await.unwrap();
        engine.register(Arc::new(FalGenerator::new(config).unwrap()));
        let (front, tail) = fixture_images(dir.path());
        Harness { engine, dir, front, tail }
    }

    /// Returns a request for a 5 s clip of `model` with `prompt`.
    pub fn request(&self, model: &str, prompt: &str) -> JobRequest {
        JobRequest {
            front: self.front.clone(),
            tail: self.tail.clone(),
            provider: Some("fal".into()),
            model: Some(model.into()),
            prompt: Some(prompt.into()),
            duration: Some(5.0),
            ..JobRequest::default()
        }
    }

    /// Enqueues the requests, waits (at most 60 s) until all have ended and
    /// returns their records.
    pub async fn run(&self, requests: Vec<JobRequest>) -> Vec<JobRecord> {
        let out = self.dir.path().join("out");
        let batch = requests.into_iter().map(|request| (request, OutputTarget::Dir(out.clone())));
        let ids = self.engine.enqueue(batch.collect()).await.expect("requests are accepted");
        tokio::time::timeout(Duration::from_secs(60), self.engine.wait_idle())
            .await
            .expect("jobs end within 60 s");
        let mut records = Vec::new();
        for id in ids {
            records.push(self.record(id).await);
        }
        records
    }

    /// Runs one request and returns its record.
    pub async fn run_one(&self, request: JobRequest) -> JobRecord {
        self.run(vec![request]).await.remove(0)
    }

    pub async fn record(&self, id: JobId) -> JobRecord {
        self.engine.store().job(id).await.unwrap()
    }

    /// Path of the SQLite database.
    pub fn database(&self) -> PathBuf {
        self.dir.path().join("data").join("segue.db")
    }
}

/// Describes a record for assertion messages.
pub fn describe(record: &JobRecord) -> String {
    format!(
        "state {} kind {:?} message {:?} attempts {}",
        record.state, record.error_kind, record.error_message, record.attempt
    )
}
