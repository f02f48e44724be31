//! Carrying out a picked [`Fault`] on a request: before the handler runs
//! (error responses, resets, stalls) and after it (lost replies and broken
//! bodies).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};

use crate::conn::ConnHandle;
use crate::faults::{Fault, Step};

/// Header with the request id on queue responses.
pub(crate) const REQUEST_ID: &str = "x-fal-request-id";
/// Header with the machine-readable error type of infrastructure errors.
pub(crate) const ERROR_TYPE: &str = "x-fal-error-type";

/// Builds a JSON response, with `x-fal-request-id` when `request_id` is set.
pub(crate) fn json_response(status: u16, body: &Value, request_id: Option<&str>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(body.clone())).into_response();
    if let Some(value) = request_id.and_then(|id| HeaderValue::from_str(id).ok()) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Carries out faults that replace the handler. Returns the response to send
/// instead of running it, or `None` to run it (after a stall, if any).
pub(crate) async fn before(
    fault: Option<&Fault>,
    conn: &ConnHandle,
    step: Step,
    request_id: Option<&str>,
) -> Option<Response> {
    match fault? {
        Fault::Http { status, request_id: with_id, retry_after, timeout_user } => {
            let id = if *with_id { request_id } else { None };
            Some(http_error(*status, id, *retry_after, *timeout_user))
        }
        Fault::Reset => {
            conn.reset();
            Some(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Fault::Stall { duration } => {
            tokio::time::sleep(*duration).await;
            None
        }
        Fault::Expired => Some(not_found(step)),
        _ => None,
    }
}

/// Carries out faults that act on the handler's response.
pub(crate) async fn after(
    fault: Option<&Fault>,
    conn: &ConnHandle,
    response: Response,
) -> Response {
    let Some(fault) = fault else {
        return response;
    };
    match fault {
        Fault::LostReply => {
            conn.reset();
            response
        }
        Fault::MalformedJson => {
            let (mut parts, body) = response.into_parts();
            let body = collect(body).await;
            // Half of a JSON document is never valid JSON: it lacks the
            // closing bracket or quote of what it opened.
            let half = body.slice(..body.len() / 2);
            parts.headers.remove(header::CONTENT_LENGTH);
            parts
                .headers
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Response::from_parts(parts, Body::from(half))
        }
        Fault::Truncated
        | Fault::ShortNoLength
        | Fault::ShortDeclared
        | Fault::LongDeclared
        | Fault::Overlong => {
            let raw = raw_response(fault, response).await;
            conn.replace(raw);
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        _ => response,
    }
}

async fn collect(body: Body) -> Bytes {
    axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default()
}

/// Serialises `response` by hand, with the body and `Content-Length` that
/// `fault` selects and `Connection: close`.
async fn raw_response(fault: &Fault, response: Response) -> Bytes {
    let (parts, body) = response.into_parts();
    let body = collect(body).await;
    let half = body.slice(..body.len() / 2);
    let extra = vec![0u8; (body.len() / 4).max(16)];
    let (declared, sent): (Option<usize>, Bytes) = match fault {
        Fault::Truncated => (Some(body.len()), half),
        Fault::ShortNoLength => (None, half),
        Fault::ShortDeclared => (Some(half.len()), half),
        Fault::LongDeclared => {
            (Some(body.len() + extra.len()), [body.as_ref(), &extra].concat().into())
        }
        _ => (Some(body.len()), [body.as_ref(), &extra].concat().into()),
    };
    let mut raw = BytesMut::new();
    let reason = parts.status.canonical_reason().unwrap_or("");
    raw.put_slice(format!("HTTP/1.1 {} {reason}\r\n", parts.status.as_u16()).as_bytes());
    write_headers(&mut raw, &parts.headers);
    if let Some(length) = declared {
        raw.put_slice(format!("content-length: {length}\r\n").as_bytes());
    }
    raw.put_slice(b"connection: close\r\n\r\n");
    raw.put_slice(&sent);
    raw.freeze()
}

fn write_headers(raw: &mut BytesMut, headers: &HeaderMap) {
    let skipped = [header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::CONNECTION];
    for (name, value) in headers {
        if skipped.contains(name) {
            continue;
        }
        raw.put_slice(name.as_str().as_bytes());
        raw.put_slice(b": ");
        raw.put_slice(value.as_bytes());
        raw.put_slice(b"\r\n");
    }
}

/// Returns the 404 reply of `step` for an unknown or expired id.
pub(crate) fn not_found(step: Step) -> Response {
    match step {
        Step::Cancel => json_response(404, &json!({ "status": "NOT_FOUND" }), None),
        Step::FileGet => json_response(404, &json!({ "detail": "File not found" }), None),
        _ => json_response(404, &json!({ "detail": "Request not found" }), None),
    }
}

/// Returns the 401 reply to a missing or unknown key.
pub(crate) fn unauthorized() -> Response {
    json_response(401, &json!({ "detail": "No user found for Key ID and Secret" }), None)
}

/// Returns an error response shaped like fal's for `status`.
pub(crate) fn http_error(
    status: u16,
    request_id: Option<&str>,
    retry_after: Option<u64>,
    timeout_user: bool,
) -> Response {
    let edge_error = request_id.is_none() && matches!(status, 502..=504);
    if edge_error {
        return nginx_error(status);
    }
    let mut response = match status {
        401 => return unauthorized(),
        422 => {
            let detail = crate::models::error(
                json!(["body"]),
                "The request was rejected by an injected validation error",
                "value_error",
                None,
                None,
            );
            json_response(422, &json!({ "detail": [detail] }), request_id)
        }
        429 => {
            let body = json!({
                "detail": "Too many requests: the account's concurrent request limit is reached",
                "error_type": "concurrent_requests_limit",
            });
            let mut response = json_response(429, &body, request_id);
            let seconds = HeaderValue::from(retry_after.unwrap_or(1));
            response.headers_mut().insert(header::RETRY_AFTER, seconds);
            return response;
        }
        500..=599 => {
            let error_type = match status {
                502 => "runner_incomplete_response",
                503 => "runner_scheduling_failure",
                504 => "request_timeout",
                _ => "internal_error",
            };
            let body = json!({ "detail": infra_detail(status), "error_type": error_type });
            let mut response = json_response(status, &body, request_id);
            response.headers_mut().insert(ERROR_TYPE, HeaderValue::from_static(error_type));
            response
        }
        _ => {
            let reason = StatusCode::from_u16(status).ok().and_then(|code| code.canonical_reason());
            json_response(status, &json!({ "detail": reason.unwrap_or("Error") }), request_id)
        }
    };
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if timeout_user && status == 504 {
        response
            .headers_mut()
            .insert("x-fal-request-timeout-type", HeaderValue::from_static("user"));
    }
    response
}

fn infra_detail(status: u16) -> &'static str {
    match status {
        502 => "The runner sent an incomplete response",
        503 => "No runner could be scheduled for the request",
        504 => "Request timed out",
        _ => "Internal server error",
    }
}

/// Returns the HTML page nginx sends for a gateway error, without fal's
/// headers.
fn nginx_error(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let title = format!("{} {}", status, code.canonical_reason().unwrap_or("Error"));
    let page = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n\
         <hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    (code, [(header::CONTENT_TYPE, "text/html")], page).into_response()
}
