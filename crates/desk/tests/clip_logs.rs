//! The clip server's request logs leave out the per-launch token. This is
//! the only test in its binary because a thread-local tracing subscriber
//! misses events whose callsites other tests' threads registered first.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use segue_desk::clips::{ClipResolver, ClipServer};
use segue_engine::job::JobId;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct OneClip(JobId, PathBuf);

#[async_trait]
impl ClipResolver for OneClip {
    async fn clip_path(&self, id: JobId) -> Option<PathBuf> {
        (id == self.0).then(|| self.1.clone())
    }
}

#[tokio::test]
async fn logs_omit_the_token() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace,reqwest=off,hyper_util=off"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    std::fs::write(&clip, vec![7u8; 4096]).unwrap();
    let job = JobId::new();
    let server =
        ClipServer::start(dir.path().join("thumbs"), Arc::new(OneClip(job, clip))).await.unwrap();
    let url = server.clip_url(job);
    let token = url.trim_start_matches(&server.origin()).split('/').nth(1).unwrap().to_string();
    assert!(token.len() >= 32, "token {token:?}");

    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    let near_miss = format!("{}/{}/clip/{job}.mp4", server.origin(), &token[..token.len() - 1]);
    assert_eq!(client.get(&near_miss).send().await.unwrap().status(), 404);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains(&format!("/clip/{job}.mp4")), "no request log in {logs}");
    assert!(!logs.contains(&token[..token.len() - 1]), "the token appears in the logs: {logs}");
    assert!(!format!("{server:?}").contains(&token), "Debug prints the token");
    server.shutdown().await;
}
