//! A local mock of fal.ai's queue, storage and file endpoints, for testing a
//! fal client without network access.
//!
//! One listener on a loopback address serves everything, so the queue base
//! URL and the REST (storage) base URL of a client are both
//! [`MockServer::base_url`]:
//!
//! - `POST /{owner}/{app}/{path}` submits a job; `GET .../requests/{id}/status`,
//!   `GET .../requests/{id}/status/stream` (server-sent events),
//!   `GET .../requests/{id}` and `PUT .../requests/{id}/cancel` use only
//!   `owner/app` before `/requests/`.
//! - `POST /storage/upload/initiate` returns a signed `upload_url` and a
//!   `file_url`; `PUT {upload_url}` stores bytes; `GET /files/{id}/{name}`
//!   serves uploads and generated clips.
//! - `GET /_mock/stats`, `GET|POST|DELETE /_mock/faults` and
//!   `POST /_mock/reset` let a test read counters and change fault rules.
//!
//! Jobs move through IN_QUEUE and IN_PROGRESS by time, with a limit on how
//! many run at once, and complete with a real H.264 MP4 (see
//! [`ClipSource`]). Inputs are validated against the schema of each served
//! model, and input images must be files of the mock's storage or data URIs.
//! Faults are injected per request by [`FaultRule`]s.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! let server = fal_mock::MockServer::start(fal_mock::MockConfig::fast()).await?;
//! println!("queue and storage at {}", server.base_url);
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod clip;
mod config;
mod conn;
mod faults;
mod http;
mod inject;
mod models;
mod state;
mod stats;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{ClipSource, MockConfig};
pub use faults::{Fault, FaultRule, RuleCounts, RuleStatus, Step};
pub use stats::{CancelCounts, InputCount, JobCounts, Stats, UploadCounts};

use state::Shared;

/// Model endpoint ids whose inputs the mock validates and accepts.
pub fn served_models() -> Vec<&'static str> {
    models::MODELS.iter().map(|model| model.id).collect()
}

/// A running mock server. Dropping it stops the server; [`shutdown`]
/// also waits for its tasks to end.
///
/// [`shutdown`]: MockServer::shutdown
pub struct MockServer {
    /// `http://127.0.0.1:PORT` (or `http://[::1]:PORT`), without a trailing
    /// slash: the base of the queue, storage and file URLs.
    pub base_url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl MockServer {
    /// Validates `config`, prepares the clip source (rendering the fixture
    /// clip if one is configured), binds the listener and starts serving.
    pub async fn start(config: MockConfig) -> io::Result<MockServer> {
        config
            .validate()
            .map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message))?;
        let clips = clip::Clips::from_source(&config.clip).await?;
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let shared = Arc::new(Shared::new(config, base_url.clone(), clips));
        let stop = CancellationToken::new();

        let router = http::router(Arc::clone(&shared));
        let accept = tokio::spawn(conn::accept_loop(listener, router, stop.clone()));
        let scheduler = tokio::spawn(run_scheduler(Arc::clone(&shared), stop.clone()));
        tracing::info!(%base_url, "fal mock listening");
        Ok(MockServer { base_url, addr, shared, stop, tasks: vec![accept, scheduler] })
    }

    /// Address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns the counters since start or the last [`reset`](Self::reset).
    pub async fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Adds a fault rule after the ones already in force.
    ///
    /// # Panics
    ///
    /// Panics if the rule is invalid (see [`FaultRule::validate`]); use
    /// [`try_add_fault`](Self::try_add_fault) to get the error instead.
    pub fn add_fault(&self, rule: FaultRule) {
        if let Err(error) = self.try_add_fault(rule) {
            panic!("invalid fault rule: {error}");
        }
    }

    /// Adds a fault rule after the ones already in force, or returns why it
    /// is invalid.
    pub fn try_add_fault(&self, rule: FaultRule) -> Result<(), String> {
        rule.validate()?;
        self.shared.add_fault(rule);
        Ok(())
    }

    /// Removes every fault rule, the configured ones included.
    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// Returns the fault rules in force with their counts.
    pub fn faults(&self) -> Vec<RuleStatus> {
        self.shared.list_faults()
    }

    /// Drops all jobs, files and counters, and restores the configured fault
    /// rules with fresh counts.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Stores a file in the mock's storage without an upload and returns its
    /// URL, for use as a model input.
    pub fn store_file(
        &self,
        bytes: impl Into<Bytes>,
        content_type: &str,
        file_name: &str,
    ) -> String {
        self.shared.store_file(bytes.into(), content_type, file_name)
    }

    /// Stops accepting connections, drops open ones and waits for the
    /// server's tasks to end.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        tracing::info!(base_url = %self.base_url, "fal mock stopped");
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Runs a mock server with `config` until `signal` completes, calling
/// `on_start` with the running server first (to print its URL, say).
pub async fn serve(
    config: MockConfig,
    on_start: impl FnOnce(&MockServer),
    signal: impl Future<Output = ()>,
) -> io::Result<()> {
    let server = MockServer::start(config).await?;
    on_start(&server);
    signal.await;
    server.shutdown().await;
    Ok(())
}

/// Advances jobs whenever one is due to change or a handler wakes it.
async fn run_scheduler(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let now = tokio::time::Instant::now();
        let next = shared.tick(now);
        let sleep = match next {
            Some(next) => tokio::time::sleep_until(next),
            None => tokio::time::sleep(std::time::Duration::from_secs(3600)),
        };
        tokio::select! {
            () = stop.cancelled() => break,
            () = shared.wake.notified() => {}
            () = sleep => {}
        }
    }
}
