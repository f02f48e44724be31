//! HTTP client of fal's queue API: submit, status (polled or streamed as
//! server-sent events), result and cancel.
//!
//! Submit uses the full model id (`POST {queue}/{owner}/{app}/{path}`);
//! status, result and cancel use only `owner/app` before `/requests/{id}`.
//! The URLs fal returns at submit are used as given when they point at the
//! configured queue host, and rebuilt from the model id otherwise, so that
//! the API key is never sent to another host.

use std::sync::RwLock;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::FalConfig;
use crate::error::{FalError, from_reqwest};
use crate::key::FalKey;
use crate::sse::SseParser;

/// Largest error body read into a message, in bytes.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Time allowed for a cancel request, which is best effort.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);
/// Namespaces whose app ids have three segments (`workflows/owner/app`).
const THREE_SEGMENT_NAMESPACES: [&str; 2] = ["workflows", "comfy"];

/// Client of fal's queue and storage APIs. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct FalClient {
    http: reqwest::Client,
    config: FalConfig,
    key: RwLock<Option<FalKey>>,
    queue_base: Url,
    rest_base: Url,
}

/// The URLs of one queued request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRequest {
    /// fal's request id.
    pub request_id: String,
    /// `GET` for status; `/stream` appended for the event stream.
    pub status_url: String,
    /// `GET` for the result.
    pub response_url: String,
    /// `PUT` to cancel.
    pub cancel_url: String,
}

/// An accepted submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The request's URLs.
    pub request: QueueRequest,
    /// Requests ahead of this one when it was queued.
    pub queue_position: Option<u32>,
}

/// Lifecycle state of a queued request. fal has no failed state: a failed
/// request is COMPLETED with `error` set, or its result is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QueueState {
    /// Waiting for a runner.
    InQueue,
    /// Running.
    InProgress,
    /// Finished, with a result or an error.
    Completed,
}

/// One status reply or status event.
#[derive(Clone, Debug, Deserialize)]
pub struct QueueStatus {
    /// Lifecycle state.
    pub status: QueueState,
    /// Requests ahead of this one while IN_QUEUE (0 = next).
    #[serde(default)]
    pub queue_position: Option<u32>,
    /// Runner log lines. Polls return all lines so far; stream events carry
    /// only the new ones.
    #[serde(default)]
    pub logs: Option<Vec<LogEntry>>,
    /// Human-readable error of a failed request.
    #[serde(default)]
    pub error: Option<String>,
    /// Machine-readable error type of a failed request.
    #[serde(default)]
    pub error_type: Option<String>,
}

/// One runner log line.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct LogEntry {
    /// Text.
    pub message: String,
    /// `INFO`, `STDERR`, ...
    #[serde(default)]
    pub level: Option<String>,
    /// ISO 8601 time.
    #[serde(default)]
    pub timestamp: Option<String>,
}

/// Reply of the result endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResultReply {
    /// The model's output JSON, as sent.
    Ready(String),
    /// fal returned 202 because the request has not completed.
    Pending,
}

/// Reply of the cancel endpoint, parsed leniently because fal documents
/// several body shapes for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelReply {
    /// 2xx: the request is removed from the queue or its runner is sent a
    /// cancellation signal (a running request may still complete and be billed).
    Requested,
    /// 400: the request had already completed.
    AlreadyCompleted,
    /// 404: fal does not know the request.
    NotFound,
}

#[derive(Deserialize)]
struct SubmitReply {
    request_id: String,
    #[serde(default)]
    status_url: Option<String>,
    #[serde(default)]
    response_url: Option<String>,
    #[serde(default)]
    cancel_url: Option<String>,
    #[serde(default)]
    queue_position: Option<u32>,
}

impl FalClient {
    /// Builds a client. Fails when a base URL is not an absolute http(s) URL
    /// or the TLS setup fails.
    pub fn new(config: FalConfig) -> Result<Self, FalError> {
        let queue_base = parse_base(&config.queue_url, "queue URL")?;
        let rest_base = parse_base(&config.rest_url, "REST URL")?;
        let user_agent = concat!("segue-fal/", env!("CARGO_PKG_VERSION"));
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .user_agent(user_agent)
            .build()
            .map_err(|err| FalError::Config(format!("cannot build the HTTP client: {err}")))?;
        let key = RwLock::new(config.key.clone());
        Ok(FalClient { http, config, key, queue_base, rest_base })
    }

    /// Returns the settings.
    pub fn config(&self) -> &FalConfig {
        &self.config
    }

    /// Replaces the API key, as when the user saves a new one in settings.
    pub fn set_key(&self, key: FalKey) {
        *self.key.write().expect("key lock poisoned") = Some(key);
    }

    /// Forgets the API key; the next request reads it again with
    /// [`FalKey::resolve`].
    pub fn clear_key(&self) {
        *self.key.write().expect("key lock poisoned") = None;
    }

    /// Returns the configured key, or reads it with [`FalKey::resolve`] and
    /// keeps it.
    pub fn key(&self) -> Result<FalKey, FalError> {
        if let Some(key) = self.key.read().expect("key lock poisoned").clone() {
            return Ok(key);
        }
        let key = FalKey::resolve()?;
        *self.key.write().expect("key lock poisoned") = Some(key.clone());
        Ok(key)
    }

    /// Returns whether `url` is on the configured queue or REST host, the
    /// only hosts that get the API key.
    pub(crate) fn is_fal_host(&self, url: &Url) -> bool {
        same_origin(url, &self.queue_base) || same_origin(url, &self.rest_base)
    }

    /// Returns the REST base URL.
    pub(crate) fn rest_base(&self) -> &Url {
        &self.rest_base
    }

    /// Returns `url` parsed, or an error naming the URL.
    pub(crate) fn parse_url(&self, url: &str) -> Result<Url, FalError> {
        Url::parse(url)
            .map_err(|err| FalError::InvalidResponse(format!("invalid URL {url:?}: {err}")))
    }

    /// Starts an authorized request to a fal host.
    pub(crate) fn authorized(&self, method: Method, url: &Url) -> Result<RequestBuilder, FalError> {
        if !self.is_fal_host(url) {
            return Err(FalError::Config(format!(
                "refusing to send the API key to {url}, which is not the configured queue or REST host"
            )));
        }
        let key = self.key()?;
        Ok(self
            .http
            .request(method, url.clone())
            .header(AUTHORIZATION, key.header_value())
            .header(ACCEPT, HeaderValue::from_static("application/json")))
    }

    /// Starts a request without credentials, for signed upload URLs and CDN
    /// files.
    pub(crate) fn anonymous(&self, method: Method, url: &Url) -> RequestBuilder {
        self.http.request(method, url.clone())
    }

    /// Sends a request and turns a failure status into [`FalError::Status`].
    pub(crate) async fn send(
        &self,
        request: RequestBuilder,
        url: &Url,
    ) -> Result<Response, FalError> {
        let response = request.send().await.map_err(|err| from_reqwest(err, url))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let headers = response.headers().clone();
        let body = read_limited(response, MAX_ERROR_BODY).await;
        Err(self.redact(FalError::from_reply(status, &headers, &body)))
    }

    /// Reads a reply body to text.
    pub(crate) async fn text(&self, response: Response, url: &Url) -> Result<String, FalError> {
        response.text().await.map_err(|err| from_reqwest(err, url))
    }

    /// Removes the API key from a message built from a server reply, in case
    /// a server ever echoes it.
    fn redact(&self, error: FalError) -> FalError {
        let Some(key) = self.key.read().expect("key lock poisoned").clone() else { return error };
        match error {
            FalError::Status { status, detail, error_type, retry_after, user_timeout } => {
                let detail = detail.replace(key.secret(), "****");
                FalError::Status { status, detail, error_type, retry_after, user_timeout }
            }
            other => other,
        }
    }

    /// Submits `input` (the model's input object, sent as the body) to
    /// `model_id`.
    ///
    /// Sent once, never retried here: the caller decides from the error
    /// whether a retry could create a second request (see
    /// [`FalError::submit_not_accepted`]).
    pub async fn submit(&self, model_id: &str, input: &Value) -> Result<Submitted, FalError> {
        let url = join(&self.queue_base, model_id)?;
        let request = self
            .authorized(Method::POST, &url)?
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .timeout(self.config.request_timeout)
            .json(input);
        let response = self.send(request, &url).await?;
        let body = self.text(response, &url).await?;
        let reply: SubmitReply = serde_json::from_str(&body).map_err(|err| {
            FalError::InvalidResponse(format!("the submit reply is not a queue receipt ({err})"))
        })?;
        let rebuilt = QueueRequest::from_id(&self.config.queue_url, model_id, &reply.request_id)?;
        let pick = |given: Option<String>, fallback: String| match given {
            Some(given) if self.parse_url(&given).is_ok_and(|url| self.is_fal_host(&url)) => given,
            Some(given) => {
                tracing::warn!(url = %given, "fal returned a URL on another host; using the queue host");
                fallback
            }
            None => fallback,
        };
        let request = QueueRequest {
            status_url: pick(reply.status_url, rebuilt.status_url),
            response_url: pick(reply.response_url, rebuilt.response_url),
            cancel_url: pick(reply.cancel_url, rebuilt.cancel_url),
            request_id: reply.request_id,
        };
        Ok(Submitted { request, queue_position: reply.queue_position })
    }

    /// Polls the request's status, with its log lines.
    pub async fn status(&self, request: &QueueRequest) -> Result<QueueStatus, FalError> {
        let mut url = self.parse_url(&request.status_url)?;
        url.query_pairs_mut().append_pair("logs", "1");
        let builder = self.authorized(Method::GET, &url)?.timeout(self.config.request_timeout);
        let response = self.send(builder, &url).await?;
        let body = self.text(response, &url).await?;
        parse_status(&body)
    }

    /// Opens the request's status event stream, with its log lines.
    pub async fn open_status_stream(
        &self,
        request: &QueueRequest,
    ) -> Result<StatusStream, FalError> {
        let mut url = self.parse_url(&format!("{}/stream", request.status_url))?;
        url.query_pairs_mut().append_pair("logs", "1");
        // No total timeout: the stream lasts as long as the request runs.
        // `StatusStream::next` bounds the wait for each piece instead.
        let builder = self
            .authorized(Method::GET, &url)?
            .header(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let response = self.send(builder, &url).await?;
        Ok(StatusStream {
            response,
            url,
            parser: SseParser::default(),
            idle: self.config.idle_timeout,
        })
    }

    /// Fetches the request's result.
    pub async fn result(&self, request: &QueueRequest) -> Result<ResultReply, FalError> {
        let url = self.parse_url(&request.response_url)?;
        let builder = self.authorized(Method::GET, &url)?.timeout(self.config.request_timeout);
        let response = self.send(builder, &url).await?;
        if response.status() == StatusCode::ACCEPTED {
            return Ok(ResultReply::Pending);
        }
        let body = self.text(response, &url).await?;
        Ok(ResultReply::Ready(body))
    }

    /// Asks fal to cancel the request.
    pub async fn cancel(&self, request: &QueueRequest) -> Result<CancelReply, FalError> {
        let url = self.parse_url(&request.cancel_url)?;
        let builder = self.authorized(Method::PUT, &url)?.timeout(CANCEL_TIMEOUT);
        match self.send(builder, &url).await {
            Ok(_) => Ok(CancelReply::Requested),
            Err(FalError::Status { status: 400, .. }) => Ok(CancelReply::AlreadyCompleted),
            Err(FalError::Status { status: 404, .. }) => Ok(CancelReply::NotFound),
            Err(err) => Err(err),
        }
    }
}

impl QueueRequest {
    /// Builds the URLs of request `request_id` of `model_id` on the queue
    /// host `queue_url`, as for resuming a request whose id was stored.
    pub fn from_id(queue_url: &str, model_id: &str, request_id: &str) -> Result<Self, FalError> {
        let app = app_id(model_id)?;
        let base = format!("{}/{app}/requests/{request_id}", queue_url.trim_end_matches('/'));
        Ok(QueueRequest {
            request_id: request_id.to_string(),
            status_url: format!("{base}/status"),
            response_url: base.clone(),
            cancel_url: format!("{base}/cancel"),
        })
    }
}

/// An open status event stream.
#[derive(Debug)]
pub struct StatusStream {
    response: Response,
    url: Url,
    parser: SseParser,
    idle: Duration,
}

impl StatusStream {
    /// Returns the next status event, or `None` when the server closed the
    /// stream. Fails when no byte (not even a keep-alive comment) arrives
    /// within the idle timeout.
    pub async fn next(&mut self) -> Result<Option<QueueStatus>, FalError> {
        loop {
            if let Some(data) = self.parser.next_event() {
                return parse_status(&data).map(Some);
            }
            let chunk = tokio::time::timeout(self.idle, self.response.chunk()).await;
            match chunk {
                Err(_) => {
                    return Err(FalError::Transport {
                        message: format!(
                            "the status stream sent nothing for {} s",
                            self.idle.as_secs_f64()
                        ),
                    });
                }
                Ok(Err(err)) => return Err(from_reqwest(err, &self.url)),
                Ok(Ok(Some(bytes))) => self.parser.push(&bytes),
                Ok(Ok(None)) => {
                    let last = self.parser.finish();
                    return last.map(|data| parse_status(&data)).transpose();
                }
            }
        }
    }
}

fn parse_status(body: &str) -> Result<QueueStatus, FalError> {
    serde_json::from_str(body).map_err(|err| {
        FalError::InvalidResponse(format!("the status reply does not parse ({err})"))
    })
}

/// Returns `owner/app` (or `namespace/owner/app`) of a model id.
pub(crate) fn app_id(model_id: &str) -> Result<String, FalError> {
    let segments: Vec<&str> = model_id.trim_matches('/').split('/').collect();
    let length = if THREE_SEGMENT_NAMESPACES.contains(&segments[0]) { 3 } else { 2 };
    if segments.len() < length || segments.iter().any(|segment| segment.is_empty()) {
        return Err(FalError::Config(format!(
            "invalid model id {model_id:?}; expected owner/app[/path], such as \
             fal-ai/kling-video/v2.1/pro/image-to-video"
        )));
    }
    Ok(segments[..length].join("/"))
}

fn parse_base(text: &str, what: &str) -> Result<Url, FalError> {
    let url = Url::parse(text.trim_end_matches('/'))
        .map_err(|err| FalError::Config(format!("{what} {text:?} does not parse: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(FalError::Config(format!("{what} {text:?} is not an http(s) URL")));
    }
    Ok(url)
}

pub(crate) fn join(base: &Url, path: &str) -> Result<Url, FalError> {
    let text = format!("{}/{}", base.as_str().trim_end_matches('/'), path.trim_matches('/'));
    Url::parse(&text).map_err(|err| FalError::Config(format!("invalid URL {text:?}: {err}")))
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

async fn read_limited(mut response: Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_id_drops_the_subpath() {
        assert_eq!(
            app_id("fal-ai/kling-video/v2.1/pro/image-to-video").unwrap(),
            "fal-ai/kling-video"
        );
        assert_eq!(app_id("fal-ai/wan-flf2v").unwrap(), "fal-ai/wan-flf2v");
        assert_eq!(app_id("workflows/me/flow/run").unwrap(), "workflows/me/flow");
        assert!(app_id("fal-ai").is_err());
        assert!(app_id("fal-ai//x").is_err());
    }

    #[test]
    fn request_urls_from_id() {
        let request =
            QueueRequest::from_id("https://queue.fal.run/", "fal-ai/pixverse/v5/transition", "r1")
                .unwrap();
        assert_eq!(request.response_url, "https://queue.fal.run/fal-ai/pixverse/requests/r1");
        assert_eq!(request.status_url, "https://queue.fal.run/fal-ai/pixverse/requests/r1/status");
        assert_eq!(request.cancel_url, "https://queue.fal.run/fal-ai/pixverse/requests/r1/cancel");
    }

    #[test]
    fn key_goes_only_to_configured_hosts() {
        let config = FalConfig::default()
            .with_base_url("http://127.0.0.1:9")
            .with_key(FalKey::new("k").unwrap());
        let client = FalClient::new(config).unwrap();
        let same = Url::parse("http://127.0.0.1:9/fal-ai/x/requests/1").unwrap();
        let other_port = Url::parse("http://127.0.0.1:10/fal-ai/x/requests/1").unwrap();
        let cdn = Url::parse("https://v3.fal.media/files/a.mp4").unwrap();
        assert!(client.is_fal_host(&same));
        assert!(!client.is_fal_host(&other_port));
        assert!(client.authorized(Method::GET, &cdn).is_err());
    }

    #[test]
    fn status_parses_all_states() {
        let queued: QueueStatus =
            serde_json::from_str(r#"{"status":"IN_QUEUE","queue_position":3}"#).unwrap();
        assert_eq!(queued.status, QueueState::InQueue);
        assert_eq!(queued.queue_position, Some(3));
        let failed: QueueStatus = serde_json::from_str(
            r#"{"status":"COMPLETED","logs":null,"error":"Runner disconnected","error_type":"runner_disconnected"}"#,
        )
        .unwrap();
        assert_eq!(failed.error_type.as_deref(), Some("runner_disconnected"));
        assert!(parse_status(r#"{"status":"FAILED"}"#).is_err());
    }

    #[test]
    fn base_url_must_be_http() {
        let config = FalConfig { queue_url: "ftp://x".into(), ..FalConfig::default() };
        assert!(FalClient::new(config).is_err());
    }
}
