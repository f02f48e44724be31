//! The API key never reaches logs, error messages, `Debug` output or the
//! SQLite history, checked by capturing every tracing event at trace level
//! (reqwest and hyper included) and reading the database files' bytes.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use segue_engine::JobState;
use segue_fal::{FalGenerator, FalKey};

use support::{Harness, TEST_KEY, describe, fal_config, start_mock};

const KLING: &str = "fal-ai/kling-video/v2.1/pro/image-to-video";

/// A tracing writer that appends to a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn key_never_leaks() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let mock = start_mock().await;
    let config = fal_config(&mock);
    let harness = Harness::new(config.clone()).await;
    let records = harness
        .run(vec![
            harness.request(KLING, "fine"),
            harness.request(KLING, "[fault:job:completed_error]"),
            harness.request(KLING, "[fault:submit:lost_reply]"),
            harness.request(KLING, "[fault:file_get:expired]"),
        ])
        .await;
    assert_eq!(records[0].state, JobState::Succeeded, "{}", describe(&records[0]));

    // The mock echoes nothing, so a wrong key shows only what Segue adds.
    let wrong =
        Harness::new(fal_config(&mock).with_key(FalKey::new(TEST_KEY.repeat(2)).unwrap())).await;
    let rejected = wrong.run_one(wrong.request(KLING, "auth")).await;
    assert_eq!(rejected.error_kind.as_deref(), Some("auth"), "{}", describe(&rejected));

    let logs = String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned();
    assert!(logs.contains("submitted to fal"), "tracing output was not captured");
    assert!(!logs.contains(TEST_KEY), "the key is in the logs");

    for record in records.iter().chain([&rejected]) {
        let text = format!("{record:?}");
        assert!(!text.contains(TEST_KEY), "the key is in a job record: {text}");
    }
    let generator = FalGenerator::new(config.clone()).unwrap();
    for text in [format!("{config:?}"), format!("{generator:?}")] {
        assert!(!text.contains(TEST_KEY), "the key is in Debug output: {text}");
        assert!(text.contains("FalKey(****)"), "{text}");
    }

    for harness in [&harness, &wrong] {
        let database = harness.database();
        for suffix in ["", "-wal", "-shm"] {
            let path = database.with_file_name(format!("segue.db{suffix}"));
            let Ok(bytes) = std::fs::read(&path) else { continue };
            let found = bytes.windows(TEST_KEY.len()).any(|window| window == TEST_KEY.as_bytes());
            assert!(!found, "the key is in {}", path.display());
        }
    }
}
