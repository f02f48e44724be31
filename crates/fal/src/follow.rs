//! Following a queued request until it completes: the status event stream
//! first, opened again when it ends early, then polling with a growing
//! interval. Reports queue positions, new log lines and the start of
//! generation, and enforces the start deadline.

use std::collections::HashSet;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{FalClient, LogEntry, QueueRequest, QueueState, QueueStatus};
use crate::error::FalError;

/// Change reported while following a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FollowEvent {
    /// The request waits in fal's queue with this many requests ahead.
    Queued(Option<u32>),
    /// A runner is generating the clip.
    Running,
    /// A new runner log line.
    Log(String),
}

/// Reason that following ended without a COMPLETED status.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The stop token was cancelled.
    #[error("stopped on request")]
    Stopped,
    /// The request stayed IN_QUEUE past the start deadline.
    #[error("still in queue after {} s", waited.as_secs())]
    StartDeadline {
        /// Last reported queue position.
        position: Option<u32>,
        /// Time spent following while in queue.
        waited: Duration,
    },
    /// Status could not be read, after retries where retrying made sense.
    #[error(transparent)]
    Fal(FalError),
}

/// Ending of one status stream.
enum StreamEnd {
    /// COMPLETED arrived.
    Completed(QueueStatus),
    /// The stream ended or broke before COMPLETED; open it again.
    Reconnect,
    /// The stream cannot be used; poll instead.
    Poll,
}

/// Follows `request` until COMPLETED and returns that status. `on_event` is
/// called for every change.
pub async fn follow(
    client: &FalClient,
    request: &QueueRequest,
    stop: &CancellationToken,
    on_event: &mut (dyn FnMut(FollowEvent) + Send),
) -> Result<QueueStatus, FollowError> {
    let mut follower = Follower {
        client,
        request,
        stop,
        on_event,
        started: Instant::now(),
        deadline: Instant::now() + client.config().start_deadline,
        last_position: None,
        last_state: None,
        seen_logs: HashSet::new(),
    };
    follower.run().await
}

struct Follower<'a> {
    client: &'a FalClient,
    request: &'a QueueRequest,
    stop: &'a CancellationToken,
    on_event: &'a mut (dyn FnMut(FollowEvent) + Send),
    started: Instant,
    deadline: Instant,
    last_position: Option<u32>,
    last_state: Option<QueueState>,
    /// Log lines already reported, because polls repeat every line and a
    /// reopened stream may too.
    seen_logs: HashSet<(Option<String>, Option<String>, String)>,
}

impl Follower<'_> {
    async fn run(&mut self) -> Result<QueueStatus, FollowError> {
        let config = self.client.config();
        let mut streams_left = if config.use_stream { config.stream_reconnects + 1 } else { 0 };
        while streams_left > 0 {
            streams_left -= 1;
            match self.stream_once().await? {
                StreamEnd::Completed(status) => return Ok(status),
                StreamEnd::Reconnect => {}
                StreamEnd::Poll => break,
            }
        }
        if config.use_stream {
            tracing::info!(request_id = %self.request.request_id, "following status by polling");
        }
        self.poll().await
    }

    /// Reads one status stream until it completes, ends or fails.
    async fn stream_once(&mut self) -> Result<StreamEnd, FollowError> {
        let request_id = &self.request.request_id;
        let opened = tokio::select! {
            opened = self.client.open_status_stream(self.request) => opened,
            () = self.stop.cancelled() => return Err(FollowError::Stopped),
        };
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(err @ FalError::Status { status: 401 | 403 | 404, .. }) => {
                return Err(FollowError::Fal(err));
            }
            Err(err) => {
                tracing::warn!(%request_id, error = %err, "cannot open the status stream; polling instead");
                return Ok(StreamEnd::Poll);
            }
        };
        loop {
            let in_queue = self.last_state.is_none_or(|state| state == QueueState::InQueue);
            let next = tokio::select! {
                next = stream.next() => next,
                () = self.stop.cancelled() => return Err(FollowError::Stopped),
                () = tokio::time::sleep_until(self.deadline), if in_queue => {
                    return Err(self.deadline_error());
                }
            };
            match next {
                Ok(Some(status)) => {
                    if self.observe(&status)? {
                        return Ok(StreamEnd::Completed(status));
                    }
                }
                Ok(None) => {
                    tracing::debug!(%request_id, "status stream ended before COMPLETED; reconnecting");
                    return Ok(StreamEnd::Reconnect);
                }
                Err(err) => {
                    tracing::warn!(%request_id, error = %err, "status stream broke; reconnecting");
                    return Ok(StreamEnd::Reconnect);
                }
            }
        }
    }

    /// Polls status until COMPLETED. Retryable failures are retried with
    /// backoff up to the step retry budget, counted between successes.
    async fn poll(&mut self) -> Result<QueueStatus, FollowError> {
        let config = self.client.config();
        let mut interval = config.poll_min;
        let mut failures = 0u32;
        loop {
            let polled = tokio::select! {
                polled = self.client.status(self.request) => polled,
                () = self.stop.cancelled() => return Err(FollowError::Stopped),
            };
            let wait = match polled {
                Ok(status) => {
                    failures = 0;
                    if self.observe(&status)? {
                        return Ok(status);
                    }
                    let wait = interval;
                    interval = interval.mul_f64(1.5).min(config.poll_max);
                    wait
                }
                Err(err) if err.is_retryable_read() && failures < config.retry.max_retries => {
                    failures += 1;
                    let wait = config.retry.delay(failures, err.retry_after());
                    if wait > config.retry.max_wait {
                        return Err(FollowError::Fal(err));
                    }
                    tracing::warn!(
                        request_id = %self.request.request_id,
                        error = %err,
                        retry = failures,
                        delay_ms = wait.as_millis() as u64,
                        "status poll failed; retrying"
                    );
                    wait
                }
                Err(err) => return Err(FollowError::Fal(err)),
            };
            self.sleep(wait).await?;
        }
    }

    /// Sleeps, waking early for a stop or for the start deadline. Takes
    /// `&mut self` because `&Follower` is not `Send` (the callback is not
    /// `Sync`), and this future is held across an await.
    async fn sleep(&mut self, wait: Duration) -> Result<(), FollowError> {
        let in_queue = self.last_state.is_none_or(|state| state == QueueState::InQueue);
        let until = Instant::now() + wait;
        let deadline = self.deadline;
        tokio::select! {
            () = tokio::time::sleep_until(until) => Ok(()),
            () = self.stop.cancelled() => Err(FollowError::Stopped),
            () = tokio::time::sleep_until(deadline), if in_queue && deadline < until => {
                Err(self.deadline_error())
            }
        }
    }

    /// Reports a status. Returns whether it is COMPLETED.
    fn observe(&mut self, status: &QueueStatus) -> Result<bool, FollowError> {
        for entry in status.logs.iter().flatten() {
            self.report_log(entry);
        }
        let changed = self.last_state != Some(status.status);
        self.last_state = Some(status.status);
        match status.status {
            QueueState::InQueue => {
                let position = status.queue_position.or(self.last_position);
                if changed || position != self.last_position {
                    (self.on_event)(FollowEvent::Queued(position));
                }
                self.last_position = position;
                if Instant::now() >= self.deadline {
                    return Err(self.deadline_error());
                }
                Ok(false)
            }
            QueueState::InProgress => {
                if changed {
                    (self.on_event)(FollowEvent::Running);
                }
                Ok(false)
            }
            QueueState::Completed => Ok(true),
        }
    }

    fn report_log(&mut self, entry: &LogEntry) {
        let key = (entry.timestamp.clone(), entry.level.clone(), entry.message.clone());
        if self.seen_logs.insert(key) {
            (self.on_event)(FollowEvent::Log(entry.message.clone()));
        }
    }

    fn deadline_error(&self) -> FollowError {
        FollowError::StartDeadline { position: self.last_position, waited: self.started.elapsed() }
    }
}
