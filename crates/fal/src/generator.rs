//! [`FalGenerator`]: one job as a fal request, from frames to a checked MP4.
//!
//! An attempt resumes whatever an earlier attempt or process stored, so a
//! request is paid for once:
//!
//! 1. a stored result JSON: download its video, nothing else;
//! 2. a stored request id: follow that request, fetch its result, download;
//! 3. otherwise: conform and upload the frames, journal the submit, submit,
//!    store the request id the moment it arrives, follow, fetch and store
//!    the result, download.
//!
//! A submit whose reply is lost (the request went out, then the connection
//! broke or timed out) ends the job as `submit_unknown` and is never sent
//! again by itself. A submit that fal rejected with 429 or 5xx, or that
//! never connected, is retried with backoff.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use segue_engine::job::{ErrorKind, JobSpec, Stage};
use segue_engine::provider::{AttemptContext, ErrorClass, GenerateError, Generated, Generator};
use serde_json::Value;

use crate::client::{CancelReply, FalClient, QueueRequest, ResultReply};
use crate::config::FalConfig;
use crate::error::FalError;
use crate::follow::{FollowError, FollowEvent, follow};
use crate::inputs::{EncodedFrame, prepare_frames};
use crate::key::KEY_HINT;
use crate::models::{Plan, plan};
use crate::storage::{data_uri, is_http_url};

/// Provider name stored with jobs.
pub const PROVIDER: &str = "fal";

/// Generates transitions with fal's hosted video models.
#[derive(Clone, Debug)]
pub struct FalGenerator {
    client: Arc<FalClient>,
}

impl FalGenerator {
    /// Creates the generator. Fails when a base URL in `config` is invalid.
    pub fn new(config: FalConfig) -> Result<Self, FalError> {
        Ok(FalGenerator { client: Arc::new(FalClient::new(config)?) })
    }

    /// Creates the generator from the environment: see
    /// [`FalConfig::from_env`].
    pub fn from_env() -> Result<Self, FalError> {
        FalGenerator::new(FalConfig::from_env())
    }

    /// Returns the client, to upload, submit or cancel directly.
    pub fn client(&self) -> &FalClient {
        &self.client
    }
}

#[async_trait]
impl Generator for FalGenerator {
    fn provider(&self) -> &str {
        PROVIDER
    }

    /// Jobs mostly wait on fal, so many can run at once.
    fn default_concurrency(&self) -> usize {
        self.client.config().default_concurrency
    }

    fn max_concurrency(&self) -> usize {
        self.client.config().max_concurrency
    }

    fn check(&self, spec: &JobSpec) -> Result<(), GenerateError> {
        plan(spec).map_err(|err| GenerateError::permanent(ErrorKind::InvalidSettings, err.0))?;
        self.client
            .key()
            .map_err(|err| GenerateError::permanent(ErrorKind::Auth, err.to_string()))?;
        Ok(())
    }

    fn estimate_price(&self, spec: &JobSpec) -> Option<f64> {
        plan(spec).ok()?.price()
    }

    async fn generate(&self, ctx: &AttemptContext) -> Result<Generated, GenerateError> {
        let plan = plan(&ctx.spec)
            .map_err(|err| GenerateError::permanent(ErrorKind::InvalidSettings, err.0))?;
        let attempt = Attempt { client: &self.client, ctx, plan };
        attempt.run().await
    }
}

/// One attempt of one job.
struct Attempt<'a> {
    client: &'a FalClient,
    ctx: &'a AttemptContext,
    plan: Plan,
}

impl Attempt<'_> {
    async fn run(&self) -> Result<Generated, GenerateError> {
        let ctx = self.ctx;
        if let Some(result) = &ctx.resume_result {
            tracing::info!(request_id = ?ctx.resume_request_id, "downloading the stored fal result");
            let request_id = ctx.resume_request_id.clone().unwrap_or_default();
            self.download(&request_id, result).await?;
            return Ok(Generated { request_id: ctx.resume_request_id.clone() });
        }
        let request = match &ctx.resume_request_id {
            Some(id) => {
                tracing::info!(request_id = %id, "resuming the stored fal request");
                QueueRequest::from_id(&self.client.config().queue_url, self.plan.model.id, id)
                    .map_err(|err| {
                        GenerateError::permanent(ErrorKind::Permanent, err.to_string())
                    })?
            }
            None => self.upload_and_submit().await?,
        };
        self.wait_for_completion(&request).await?;
        let result = self.fetch_result(&request).await?;
        if let Err(err) = ctx.reporter.provider_result(&result).await {
            tracing::error!(request_id = %request.request_id, error = %err, "cannot store the fal result");
        }
        self.download(&request.request_id, &result).await?;
        Ok(Generated { request_id: Some(request.request_id) })
    }

    /// Prepares and uploads the frames, then submits. Returns the request.
    async fn upload_and_submit(&self) -> Result<QueueRequest, GenerateError> {
        let ctx = self.ctx;
        ctx.reporter.progress(Stage::Preparing, 0.0);
        let spec = ctx.spec.clone();
        let plan = self.plan.clone();
        let frames = tokio::task::spawn_blocking(move || prepare_frames(&spec, &plan))
            .await
            .map_err(|err| {
                GenerateError::transient(
                    ErrorKind::Transient,
                    format!("preparing the frames failed: {err}"),
                )
            })?
            .map_err(|err| GenerateError::permanent(ErrorKind::InvalidInput, err.to_string()))?;
        if ctx.stop.is_cancelled() {
            return Err(GenerateError::stopped());
        }
        tracing::debug!(width = frames.size.0, height = frames.size.1, "frames conformed");

        ctx.reporter.progress(Stage::Uploading, 0.0);
        let front_url = self.put_frame(&frames.front).await?;
        ctx.reporter.progress(Stage::Uploading, 0.5);
        let tail_url = self.put_frame(&frames.tail).await?;
        ctx.reporter.progress(Stage::Uploading, 1.0);

        let input = self.plan.input(&front_url, &tail_url, frames.aspect_ratio);
        self.submit(&input).await
    }

    /// Returns a URL for one frame: a data URI for a small file, else an
    /// upload to fal's storage.
    async fn put_frame(&self, frame: &EncodedFrame) -> Result<String, GenerateError> {
        if frame.bytes.len() < self.client.config().data_uri_limit {
            return Ok(data_uri(frame.content_type, &frame.bytes));
        }
        let what = format!("uploading the {}", frame.file_name);
        let url = self
            .retry_step(&what, || {
                self.client.upload(frame.bytes.clone(), frame.content_type, &frame.file_name)
            })
            .await?;
        if !is_http_url(&url) {
            return Err(GenerateError::transient(
                ErrorKind::Transient,
                format!("{what} returned an invalid file URL {url:?}"),
            ));
        }
        Ok(url)
    }

    /// Journals and sends the submit, retrying only failures after which fal
    /// certainly did not queue the request.
    async fn submit(&self, input: &Value) -> Result<QueueRequest, GenerateError> {
        let ctx = self.ctx;
        let retry = &self.client.config().retry;
        let mut retries = 0;
        loop {
            ctx.reporter.progress(Stage::Submitting, 0.0);
            ctx.reporter.submitting().await.map_err(|err| {
                GenerateError::transient(
                    ErrorKind::Transient,
                    format!("cannot journal the submit, so it was not sent: {err}"),
                )
            })?;
            // The submit is not raced against the stop token: dropping it
            // mid-flight would lose the request id of a request fal may
            // already bill. It is bounded by the request timeout.
            let error = match self.client.submit(self.plan.model.id, input).await {
                Ok(submitted) => {
                    let request = submitted.request;
                    if let Err(err) = ctx.reporter.request_id(&request.request_id).await {
                        tracing::error!(request_id = %request.request_id, error = %err, "cannot store the fal request id");
                    }
                    tracing::info!(request_id = %request.request_id, model = self.plan.model.id, "submitted to fal");
                    if let Some(position) = submitted.queue_position {
                        ctx.reporter.queue_position(position);
                    }
                    if ctx.stop.is_cancelled() {
                        self.cancel_remote(&request).await;
                        return Err(GenerateError::stopped());
                    }
                    return Ok(request);
                }
                Err(error) => error,
            };
            if !error.submit_not_accepted() {
                return Err(self.submit_unknown(&error));
            }
            // fal rejected this submit, so none is in flight while the
            // client waits to send it again. A crash in that wait must not
            // end the job as submit_unknown.
            if let Err(err) = ctx.reporter.submit_rejected().await {
                tracing::warn!(error = %err, "cannot close the submit journal entry");
            }
            let wait = retry.delay(retries + 1, error.retry_after());
            if !error.is_retryable() || retries >= retry.max_retries || wait > retry.max_wait {
                return Err(classify(error, "submitting to fal.ai"));
            }
            retries += 1;
            tracing::warn!(error = %error, retry = retries, delay_ms = wait.as_millis() as u64, "submit rejected; retrying");
            self.sleep(wait).await?;
        }
    }

    fn submit_unknown(&self, error: &FalError) -> GenerateError {
        tracing::error!(error = %error, "the fal submit reply was lost");
        GenerateError::permanent(
            ErrorKind::SubmitUnknown,
            format!(
                "the submit to fal.ai was sent but no reply arrived ({error}), so fal may have \
                 accepted and billed it; check the requests in your fal.ai dashboard, then run \
                 `segue retry {}` to submit it again",
                self.ctx.job_id.short()
            ),
        )
    }

    /// Follows the request until COMPLETED without error.
    async fn wait_for_completion(&self, request: &QueueRequest) -> Result<(), GenerateError> {
        let ctx = self.ctx;
        ctx.reporter.progress(Stage::InProviderQueue, 0.0);
        let reporter = &ctx.reporter;
        let mut on_event = |event: FollowEvent| match event {
            FollowEvent::Queued(position) => {
                reporter.progress(Stage::InProviderQueue, 0.0);
                if let Some(position) = position {
                    reporter.queue_position(position);
                }
            }
            FollowEvent::Running => reporter.progress(Stage::Generating, 0.0),
            FollowEvent::Log(line) => reporter.provider_log(line),
        };
        let status = match follow(self.client, request, &ctx.stop, &mut on_event).await {
            Ok(status) => status,
            Err(FollowError::Stopped) => {
                self.cancel_remote(request).await;
                return Err(GenerateError::stopped());
            }
            Err(FollowError::StartDeadline { position, waited }) => {
                self.cancel_remote(request).await;
                let position =
                    position.map(|p| format!(" at queue position {p}")).unwrap_or_default();
                return Err(GenerateError::permanent(
                    ErrorKind::Timeout,
                    format!(
                        "fal.ai request {} did not start within {} min: it was still in the queue{position}; \
                         it was cancelled at fal",
                        request.request_id,
                        waited.as_secs().div_ceil(60)
                    ),
                ));
            }
            Err(FollowError::Fal(FalError::Status { status: 404, .. })) => {
                return Err(self.expired_request(request));
            }
            Err(FollowError::Fal(error)) => {
                return Err(classify_read(
                    error,
                    &format!("following fal.ai request {}", request.request_id),
                ));
            }
        };
        if status.error.is_some() || status.error_type.is_some() {
            let error = status.error.as_deref().unwrap_or("no message");
            let kind =
                status.error_type.as_deref().map(|kind| format!(" ({kind})")).unwrap_or_default();
            tracing::error!(request_id = %request.request_id, error, error_type = ?status.error_type, "fal request failed");
            return Err(GenerateError::permanent(
                ErrorKind::Permanent,
                format!("fal.ai request {} failed: {error}{kind}", request.request_id),
            ));
        }
        tracing::info!(request_id = %request.request_id, "fal request completed");
        Ok(())
    }

    /// Fetches the result JSON. A 202 (not ready) is retried like a 503,
    /// and a body that does not parse as JSON like a broken connection.
    async fn fetch_result(&self, request: &QueueRequest) -> Result<String, GenerateError> {
        let what = format!("fetching the result of fal.ai request {}", request.request_id);
        let fetched = self
            .retry_step(&what, || async {
                match self.client.result(request).await? {
                    ResultReply::Ready(body) => {
                        // A body cut short or padded by a broken connection
                        // is not JSON. It is fetched again and never stored,
                        // because a stored result is downloaded as it is.
                        serde_json::from_str::<Value>(&body).map_err(|err| {
                            FalError::InvalidResponse(format!("the result is not JSON ({err})"))
                        })?;
                        Ok(body)
                    }
                    ResultReply::Pending => Err(FalError::Status {
                        status: 503,
                        detail: "the result is not ready yet (HTTP 202)".to_string(),
                        error_type: None,
                        retry_after: None,
                        user_timeout: false,
                    }),
                }
            })
            .await;
        match fetched {
            Ok(body) => Ok(body),
            Err(err) if err.kind == ErrorKind::RemoteExpired => Err(self.expired_result(request)),
            Err(err) => Err(err),
        }
    }

    /// Downloads the video named in `result` to the attempt's output path,
    /// retrying the download (never the generation) when it breaks off.
    async fn download(&self, request_id: &str, result: &str) -> Result<(), GenerateError> {
        let ctx = self.ctx;
        let (url, size) = video_of(result).map_err(|reason| {
            GenerateError::permanent(
                ErrorKind::BadOutput,
                format!("the result of fal.ai request {request_id} {reason}"),
            )
        })?;
        ctx.reporter.progress(Stage::Downloading, 0.0);
        let attempts = self.client.config().download_attempts.max(1);
        let mut tries = 0;
        loop {
            tries += 1;
            let reporter = &ctx.reporter;
            let mut on_progress = |done: u64, total: Option<u64>| {
                if let Some(total) = total.filter(|total| *total > 0) {
                    reporter.progress(Stage::Downloading, done as f64 / total as f64);
                }
            };
            let downloaded = tokio::select! {
                downloaded = self.client.download(&url, &ctx.output, size, &mut on_progress) => downloaded,
                () = ctx.stop.cancelled() => return Err(GenerateError::stopped()),
            };
            let error = match downloaded {
                Ok(bytes) => {
                    tracing::info!(%request_id, bytes, "clip downloaded");
                    return Ok(());
                }
                Err(error) => error,
            };
            let _ = std::fs::remove_file(&ctx.output);
            if matches!(error.status(), Some(404 | 410)) {
                return Err(GenerateError::permanent(
                    ErrorKind::RemoteExpired,
                    format!(
                        "the clip of fal.ai request {request_id} expired before it was downloaded \
                         ({error}); run `segue retry {}` to generate it again",
                        ctx.job_id.short()
                    ),
                ));
            }
            // A download has no side effect at fal, so a 500 is retried as
            // on every other read.
            if !error.is_retryable_read() {
                return Err(classify(error, "downloading the clip"));
            }
            if tries >= attempts {
                let message = format!(
                    "downloading the clip of fal.ai request {request_id} failed {tries} times: {error}"
                );
                return Err(GenerateError::transient(ErrorKind::BadOutput, message));
            }
            let wait = self.client.config().retry.delay(tries, error.retry_after());
            tracing::warn!(%request_id, error = %error, retry = tries, "download failed; downloading again");
            self.sleep(wait).await?;
        }
    }

    /// Runs an idempotent step, retrying retryable failures with backoff.
    /// 404 becomes `RemoteExpired` for the caller to reword.
    async fn retry_step<T, F, Fut>(&self, what: &str, mut step: F) -> Result<T, GenerateError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, FalError>>,
    {
        let retry = &self.client.config().retry;
        let mut retries = 0;
        loop {
            let outcome = tokio::select! {
                outcome = step() => outcome,
                () = self.ctx.stop.cancelled() => return Err(GenerateError::stopped()),
            };
            let error = match outcome {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if error.status() == Some(404) {
                return Err(GenerateError::permanent(
                    ErrorKind::RemoteExpired,
                    format!("{what} failed: {error}"),
                ));
            }
            // Uploads, result fetches and downloads have no side effect at
            // fal, so a 500 is retried here as well.
            let wait = retry.delay(retries + 1, error.retry_after());
            if !error.is_retryable_read() || retries >= retry.max_retries || wait > retry.max_wait {
                return Err(classify_read(error, what));
            }
            retries += 1;
            tracing::warn!(error = %error, retry = retries, delay_ms = wait.as_millis() as u64, "{what} failed; retrying");
            self.sleep(wait).await?;
        }
    }

    async fn sleep(&self, wait: Duration) -> Result<(), GenerateError> {
        tokio::select! {
            () = tokio::time::sleep(wait) => Ok(()),
            () = self.ctx.stop.cancelled() => Err(GenerateError::stopped()),
        }
    }

    /// Asks fal to cancel the request; failures are logged and ignored.
    async fn cancel_remote(&self, request: &QueueRequest) {
        match self.client.cancel(request).await {
            Ok(CancelReply::Requested) => {
                tracing::info!(request_id = %request.request_id, "fal request cancelled");
            }
            Ok(reply) => {
                tracing::info!(request_id = %request.request_id, ?reply, "fal request not cancelled");
            }
            Err(err) => {
                tracing::warn!(request_id = %request.request_id, error = %err, "cannot cancel the fal request");
            }
        }
    }

    fn expired_request(&self, request: &QueueRequest) -> GenerateError {
        GenerateError::permanent(
            ErrorKind::RemoteExpired,
            format!(
                "fal.ai no longer knows request {}; run `segue retry {}` to generate the clip again",
                request.request_id,
                self.ctx.job_id.short()
            ),
        )
    }

    fn expired_result(&self, request: &QueueRequest) -> GenerateError {
        GenerateError::permanent(
            ErrorKind::RemoteExpired,
            format!(
                "the result of fal.ai request {} expired before it was fetched (fal keeps results \
                 for about an hour after completion); run `segue retry {}` to generate the clip again",
                request.request_id,
                self.ctx.job_id.short()
            ),
        )
    }
}

/// Maps the final error of a read (a status, a result, an upload or a
/// download) to a job error. A read has no side effect at fal, so a 500 is
/// transient here as it is within the step: the engine tries the job again
/// instead of failing it.
fn classify_read(error: FalError, what: &str) -> GenerateError {
    if error.status() == Some(500) {
        return GenerateError {
            class: ErrorClass::Transient { retry_after: error.retry_after() },
            kind: ErrorKind::Transient,
            message: format!("{what} failed: {error}"),
        };
    }
    classify(error, what)
}

/// Maps a step's final error to a job error.
fn classify(error: FalError, what: &str) -> GenerateError {
    match &error {
        FalError::Key(_) => GenerateError::permanent(ErrorKind::Auth, error.to_string()),
        FalError::Status { status: 401 | 403, detail, .. } => GenerateError::permanent(
            ErrorKind::Auth,
            format!("fal.ai rejected the API key while {what} ({detail}); {KEY_HINT}"),
        ),
        FalError::Status { status: 504, user_timeout: true, .. } => {
            GenerateError::permanent(ErrorKind::Timeout, format!("{what} timed out: {error}"))
        }
        _ if error.is_retryable() => GenerateError {
            class: ErrorClass::Transient { retry_after: error.retry_after() },
            kind: ErrorKind::Transient,
            message: format!("{what} failed: {error}"),
        },
        _ => GenerateError::permanent(ErrorKind::Permanent, format!("{what} failed: {error}")),
    }
}

/// Returns the video URL and size of a result, or what is wrong with it.
fn video_of(result: &str) -> Result<(String, Option<u64>), String> {
    let json: Value = serde_json::from_str(result).map_err(|err| format!("is not JSON ({err})"))?;
    let video = json.get("video").ok_or("has no video")?;
    let url = video.get("url").and_then(Value::as_str).ok_or("has no video URL")?;
    if !is_http_url(url) {
        return Err(format!("has an invalid video URL {url:?}"));
    }
    let size = video.get("file_size").and_then(Value::as_u64);
    Ok((url.to_string(), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_of_reads_url_and_size() {
        let result = r#"{"video":{"url":"https://v3.fal.media/files/a/out.mp4","file_size":42}}"#;
        let (url, size) = video_of(result).unwrap();
        assert_eq!(url, "https://v3.fal.media/files/a/out.mp4");
        assert_eq!(size, Some(42));
        assert_eq!(video_of(r#"{"images":[]}"#).unwrap_err(), "has no video");
        assert!(video_of(r#"{"video":{"url":"file:///etc/passwd"}}"#).is_err());
    }

    #[test]
    fn classify_auth_names_the_fix() {
        let error = FalError::Status {
            status: 401,
            detail: "No user found for Key ID and Secret".into(),
            error_type: None,
            retry_after: None,
            user_timeout: false,
        };
        let mapped = classify(error, "submitting");
        assert_eq!(mapped.kind, ErrorKind::Auth);
        assert!(mapped.message.contains("FAL_KEY"), "{}", mapped.message);
    }

    #[test]
    fn classify_keeps_retry_after() {
        let error = FalError::Status {
            status: 429,
            detail: "busy".into(),
            error_type: None,
            retry_after: Some(Duration::from_secs(9)),
            user_timeout: false,
        };
        let mapped = classify(error, "submitting");
        assert_eq!(
            mapped.class,
            ErrorClass::Transient { retry_after: Some(Duration::from_secs(9)) }
        );
    }

    #[test]
    fn classify_validation_is_permanent() {
        let error = FalError::Status {
            status: 422,
            detail: "duration: Input should be '5' or '10' (enum)".into(),
            error_type: None,
            retry_after: None,
            user_timeout: false,
        };
        let mapped = classify(error, "fetching the result");
        assert_eq!(mapped.class, ErrorClass::Permanent);
        assert!(mapped.message.contains("duration: Input should be"), "{}", mapped.message);
    }
}
