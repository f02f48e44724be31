//! Errors of the fal client, the parsing of fal's error bodies, and which
//! errors are worth retrying.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// Maximum length of a non-JSON error body kept in a message, in characters.
const MAX_BODY_SNIPPET: usize = 200;

/// A failed request to fal or to its file storage.
#[derive(Debug, thiserror::Error)]
pub enum FalError {
    /// A setting such as a base URL is invalid.
    #[error("invalid fal.ai setting: {0}")]
    Config(String),
    /// No API key is configured.
    #[error("{0}")]
    Key(#[from] crate::key::KeyError),
    /// fal returned a status that is not a success.
    #[error("HTTP {status}: {detail}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// fal's `detail`, with field errors as `field: message`.
        detail: String,
        /// `error_type` from the body or the `X-Fal-Error-Type` header.
        error_type: Option<String>,
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
        /// Whether the reply carries `X-Fal-Request-Timeout-Type: user`: the
        /// start deadline set by the client passed, so retrying cannot help.
        user_timeout: bool,
    },
    /// No connection could be opened, so the request was not sent.
    #[error("cannot connect to {host}: {message}")]
    Connect {
        /// Host and port.
        host: String,
        /// Cause.
        message: String,
    },
    /// The connection broke or timed out after the request may have reached
    /// the server.
    #[error("{message}")]
    Transport {
        /// Cause.
        message: String,
    },
    /// The reply is not what fal's API documents.
    #[error("invalid reply from fal.ai: {0}")]
    InvalidResponse(String),
    /// A downloaded file is shorter than announced or not a valid MP4.
    #[error("{0}")]
    BadFile(String),
    /// A local file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl FalError {
    /// Returns the HTTP status, for errors that carry one.
    pub fn status(&self) -> Option<u16> {
        match self {
            FalError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Returns fal's `Retry-After`, for errors that carry one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FalError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Returns whether sending the same idempotent request again may
    /// succeed: 408, 409, 429, 502, 503 and 504 (except a 504 for the
    /// client's own start deadline), broken connections and replies that
    /// did not parse. These are the codes fal's clients retry.
    pub fn is_retryable(&self) -> bool {
        match self {
            FalError::Status { status, user_timeout, .. } => {
                matches!(status, 408 | 409 | 429 | 502 | 503 | 504) && !user_timeout
            }
            FalError::Connect { .. } | FalError::Transport { .. } => true,
            FalError::InvalidResponse(_) | FalError::BadFile(_) => true,
            FalError::Config(_) | FalError::Key(_) | FalError::Io { .. } => false,
        }
    }

    /// Returns whether a status read may succeed when sent again: the
    /// [`FalError::is_retryable`] cases plus 500. A status read has no side
    /// effect, and a failed read does not mean the paid generation failed, so
    /// fal's JavaScript client also retries status reads on 500.
    pub fn is_retryable_read(&self) -> bool {
        self.is_retryable() || matches!(self, FalError::Status { status: 500, .. })
    }

    /// Returns whether a submit that failed this way was certainly not
    /// accepted, so that sending it again cannot create a second paid
    /// request: no connection was made, or fal returned a status that
    /// rejects the request before it is queued.
    // NOTE: fal documents a 502/503/504 without `x-fal-request-id` as an
    // edge error that is safe to retry. One that carries the header is
    // assumed not to have queued the request either.
    pub fn submit_not_accepted(&self) -> bool {
        match self {
            FalError::Status { .. }
            | FalError::Connect { .. }
            | FalError::Config(_)
            | FalError::Key(_) => true,
            FalError::Transport { .. }
            | FalError::InvalidResponse(_)
            | FalError::BadFile(_)
            | FalError::Io { .. } => false,
        }
    }

    /// Builds the error of a reply with a failure status.
    pub(crate) fn from_reply(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        let json: Option<Value> = serde_json::from_slice(body).ok();
        let detail =
            json.as_ref().and_then(detail_text).unwrap_or_else(|| body_snippet(status, body));
        let error_type = json
            .as_ref()
            .and_then(|json| json.get("error_type"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| header_text(headers, "x-fal-error-type"));
        let user_timeout = header_text(headers, "x-fal-request-timeout-type")
            .is_some_and(|kind| kind.eq_ignore_ascii_case("user"));
        FalError::Status {
            status: status.as_u16(),
            detail,
            error_type,
            retry_after: retry_after(headers),
            user_timeout,
        }
    }
}

/// Formats fal's `detail`: a string, or a list of `{loc, msg, type}` objects
/// written as `field: message` joined by `; `. The field is the last part of
/// `loc` after `body`.
pub(crate) fn detail_text(body: &Value) -> Option<String> {
    let detail = body.get("detail")?;
    match detail {
        Value::String(text) => Some(text.clone()),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(field_error_text).collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        other => Some(other.to_string()),
    }
}

fn field_error_text(item: &Value) -> String {
    let msg = item.get("msg").and_then(Value::as_str).unwrap_or("invalid value");
    let loc: Vec<String> = item
        .get("loc")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .map(|part| match part {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let field: Vec<&str> =
        loc.iter().map(String::as_str).skip_while(|part| *part == "body").collect();
    let kind = item.get("type").and_then(Value::as_str);
    let located =
        if field.is_empty() { msg.to_string() } else { format!("{}: {msg}", field.join(".")) };
    match kind {
        Some(kind) => format!("{located} ({kind})"),
        None => located,
    }
}

fn body_snippet(status: StatusCode, body: &[u8]) -> String {
    let reason = status.canonical_reason().unwrap_or("error");
    let text = String::from_utf8_lossy(body);
    let is_html = text.trim_start().starts_with('<');
    let snippet: String = text.trim().chars().take(MAX_BODY_SNIPPET).collect();
    if snippet.is_empty() || is_html { reason.to_string() } else { format!("{reason}: {snippet}") }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|value| value.to_str().ok()).map(|text| text.trim().to_string())
}

/// Parses `Retry-After` as seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = header_text(headers, "retry-after")?;
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds.max(0.0)).ok();
    }
    let at = httpdate::parse_http_date(&text).ok()?;
    Some(at.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// Turns a reqwest error into a [`FalError`], telling connection failures
/// (nothing sent) from failures after sending.
pub(crate) fn from_reqwest(err: reqwest::Error, url: &reqwest::Url) -> FalError {
    let host = match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        _ => url.as_str().to_string(),
    };
    let message = error_chain(&err);
    if err.is_connect() {
        return FalError::Connect { host, message };
    }
    if err.is_timeout() {
        return FalError::Transport { message: format!("request to {host} timed out ({message})") };
    }
    if err.is_decode() {
        return FalError::InvalidResponse(message);
    }
    FalError::Transport { message: format!("connection to {host} failed ({message})") }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use serde_json::json;

    #[test]
    fn detail_list_names_fields() {
        let body = json!({"detail": [
            {"loc": ["body", "duration"], "msg": "Input should be '5' or '10'", "type": "enum"},
            {"loc": ["body", "tail_image_url"], "msg": "Failed to download", "type": "file_download_error"}
        ]});
        let text = detail_text(&body).unwrap();
        assert_eq!(
            text,
            "duration: Input should be '5' or '10' (enum); \
             tail_image_url: Failed to download (file_download_error)"
        );
    }

    #[test]
    fn server_error_is_retried_only_for_reads() {
        let error =
            FalError::from_reply(StatusCode::INTERNAL_SERVER_ERROR, &HeaderMap::new(), b"{}");
        assert!(!error.is_retryable(), "a 500 at submit would be sent again");
        assert!(error.is_retryable_read());
        let invalid =
            FalError::from_reply(StatusCode::UNPROCESSABLE_ENTITY, &HeaderMap::new(), b"{}");
        assert!(!invalid.is_retryable_read());
    }

    #[test]
    fn detail_string_is_kept() {
        let body = json!({"detail": "No user found for Key ID and Secret"});
        assert_eq!(detail_text(&body).unwrap(), "No user found for Key ID and Secret");
    }

    #[test]
    fn reply_parses_error_type_and_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("3"));
        headers.insert("x-fal-error-type", HeaderValue::from_static("runner_scheduling_failure"));
        let error = FalError::from_reply(StatusCode::SERVICE_UNAVAILABLE, &headers, b"{}");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
        assert!(error.is_retryable());
        match error {
            FalError::Status { error_type, .. } => {
                assert_eq!(error_type.as_deref(), Some("runner_scheduling_failure"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn user_timeout_504_is_not_retried() {
        let mut headers = HeaderMap::new();
        headers.insert("x-fal-request-timeout-type", HeaderValue::from_static("user"));
        let error = FalError::from_reply(StatusCode::GATEWAY_TIMEOUT, &headers, b"");
        assert!(!error.is_retryable());
    }

    #[test]
    fn html_body_becomes_reason() {
        let body = b"<html><head><title>502 Bad Gateway</title></head></html>";
        let error = FalError::from_reply(StatusCode::BAD_GATEWAY, &HeaderMap::new(), body);
        assert_eq!(error.to_string(), "HTTP 502: Bad Gateway");
    }

    #[test]
    fn unprocessable_is_permanent() {
        let body =
            br#"{"detail":[{"loc":["body","prompt"],"msg":"Field required","type":"missing"}]}"#;
        let error = FalError::from_reply(StatusCode::UNPROCESSABLE_ENTITY, &HeaderMap::new(), body);
        assert!(!error.is_retryable());
        assert!(error.to_string().contains("prompt: Field required"), "{error}");
    }

    #[test]
    fn http_date_retry_after_is_parsed() {
        let later = std::time::SystemTime::now() + Duration::from_secs(120);
        let mut headers = HeaderMap::new();
        let text = httpdate::fmt_http_date(later);
        headers.insert("retry-after", HeaderValue::from_str(&text).unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(wait > Duration::from_secs(100), "{wait:?}");
        assert!(wait <= Duration::from_secs(120), "{wait:?}");
    }
}
