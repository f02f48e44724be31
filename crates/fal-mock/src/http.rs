//! Routes and handlers: the queue, storage and file endpoints fal serves,
//! and the `/_mock/...` control endpoints.

// Helpers return a finished `Response` as their error so that handlers can
// use `?`. It is moved once per request, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::clip;
use crate::conn::ConnHandle;
use crate::faults::{Fault, FaultRule, RequestFacts, Step, parse_markers};
use crate::inject::{self, ERROR_TYPE, REQUEST_ID, json_response, not_found};
use crate::models::{self, ImageProblem, ImageSource};
use crate::state::{CancelReply, NewJob, PutReply, ResultReply, Shared, input_key};

type SharedState = State<Arc<Shared>>;

/// Builds the router of one server.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let body_limit = shared.config.max_body_bytes;
    Router::new()
        .route("/storage/upload/initiate", post(initiate_upload))
        .route("/upload/{id}", put(put_upload))
        .route("/files/{id}/{name}", get(get_file))
        .route("/_mock/stats", get(control_stats))
        .route(
            "/_mock/faults",
            get(control_list_faults).post(control_add_faults).delete(control_clear_faults),
        )
        .route("/_mock/reset", post(control_reset))
        .fallback(queue)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(shared)
}

/// Checks `Authorization: Key <key>` against the configured keys.
fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    let value = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    let key = value.and_then(|value| value.strip_prefix("Key "));
    if key.is_some_and(|key| shared.config.keys.iter().any(|known| known == key)) {
        return Ok(());
    }
    tracing::warn!(
        header_present = value.is_some(),
        "rejected a request with a missing or unknown API key"
    );
    Err(inject::unauthorized())
}

/// Dispatches `/{owner}/{app}/...` queue paths. A leading `workflows` or
/// `comfy` segment makes the app id three segments long.
async fn queue(
    State(shared): SharedState,
    Extension(conn): Extension<ConnHandle>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let segments: Vec<&str> = parts.uri.path().trim_matches('/').split('/').collect();
    let app_len = if matches!(segments[0], "workflows" | "comfy") { 3 } else { 2 };
    if segments.len() < app_len || segments.iter().any(|segment| segment.is_empty()) {
        return json_response(404, &json!({ "detail": "Not Found" }), None);
    }
    let app = segments[..app_len].join("/");
    let query = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
        .map(|query| query.0)
        .unwrap_or_default();
    let method = &parts.method;
    match &segments[app_len..] {
        ["requests", id] if method == Method::GET => {
            result(&shared, &conn, &app, id, &parts.headers).await
        }
        ["requests", id, "status"] if method == Method::GET => {
            status(&shared, &conn, &app, id, wants_logs(&query), &parts.headers).await
        }
        ["requests", id, "status", "stream"] if method == Method::GET => {
            status_stream(&shared, &conn, &app, id, wants_logs(&query), &parts.headers).await
        }
        ["requests", id, "cancel"] if method == Method::PUT => {
            cancel(&shared, &conn, &app, id, &parts.headers).await
        }
        ["requests", ..] => json_response(405, &json!({ "detail": "Method Not Allowed" }), None),
        _ if method == Method::POST => {
            let endpoint = segments.join("/");
            let body = match axum::body::to_bytes(body, shared.config.max_body_bytes).await {
                Ok(body) => body,
                Err(_) => {
                    let detail = format!(
                        "Request body is larger than {} bytes",
                        shared.config.max_body_bytes
                    );
                    return json_response(413, &json!({ "detail": detail }), None);
                }
            };
            submit(&shared, &conn, &endpoint, &app, &query, &parts.headers, body).await
        }
        rest if rest.contains(&"requests") => {
            let detail = "Request not found: status, result and cancel URLs take only owner/app \
                          before /requests/, without the model's subpath";
            json_response(404, &json!({ "detail": detail }), None)
        }
        _ => json_response(405, &json!({ "detail": "Method Not Allowed" }), None),
    }
}

fn wants_logs(query: &HashMap<String, String>) -> bool {
    query.get("logs").is_some_and(|value| value == "1" || value.eq_ignore_ascii_case("true"))
}

/// Picks the fault of a request about job `id` of `app`.
fn pick_job_fault(shared: &Shared, step: Step, app: &str, id: &str) -> Option<Fault> {
    let facts = shared.job_facts(app, id);
    shared.pick_fault(&RequestFacts {
        step,
        model: facts.as_ref().map(|facts| facts.model),
        markers: facts.as_ref().map(|facts| &facts.markers),
        scope: Some(id),
    })
}

async fn submit(
    shared: &Arc<Shared>,
    conn: &ConnHandle,
    endpoint: &str,
    app: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    shared.count_request(Step::Submit);
    match prepare_submit(shared, conn, endpoint, app, query, headers, body).await {
        Ok((response, fault)) => inject::after(fault.as_ref(), conn, response).await,
        Err(response) => {
            shared.count_rejected_submission();
            let status = response.status().as_u16();
            tracing::info!(endpoint, status, "submission rejected");
            response
        }
    }
}

/// Runs a submission up to its reply. `Err` is a rejection that created no
/// job; `Ok` carries the reply and the fault still to apply to it.
async fn prepare_submit(
    shared: &Arc<Shared>,
    conn: &ConnHandle,
    endpoint: &str,
    app: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(Response, Option<Fault>), Response> {
    authorize(shared, headers)?;
    let Some(model) = models::find(endpoint) else {
        let detail = format!(
            "Application {endpoint:?} not found; the mock serves the models listed in its documentation"
        );
        return Err(json_response(404, &json!({ "detail": detail }), None));
    };
    let input: Value = serde_json::from_slice(&body).map_err(|error| json_invalid(&error))?;
    let prompt = input.get("prompt").and_then(Value::as_str).unwrap_or_default();
    let markers = parse_markers(prompt)
        .map_err(|detail| json_response(400, &json!({ "detail": detail }), None))?;
    let key = input_key(endpoint, &input);
    let request_id = uuid::Uuid::new_v4().to_string();

    let facts = RequestFacts {
        step: Step::Submit,
        model: Some(endpoint),
        markers: Some(&markers),
        scope: Some(&key),
    };
    let fault = shared.pick_fault(&facts);
    if let Some(response) =
        inject::before(fault.as_ref(), conn, Step::Submit, Some(&request_id)).await
    {
        return Err(response);
    }

    let start_timeout = request_timeout(headers).map_err(|detail| bad_request(&detail))?;
    let file_ttl = lifecycle_ttl(headers, "x-fal-object-lifecycle-preference")
        .map_err(|detail| bad_request(&detail))?;
    if let Some(max) = query.get("fal_max_queue_length") {
        let max: usize = max
            .parse()
            .map_err(|_| bad_request(&format!("Invalid fal_max_queue_length {max:?}")))?;
        if shared.queued_count() >= max {
            let body =
                json!({ "detail": format!("The queue already holds {max} or more requests") });
            return Err(json_response(429, &body, None));
        }
    }

    let frames = models::validate(model, &input, &StorageImages(shared))
        .map_err(|errors| json_response(422, &json!({ "detail": errors }), None))?;

    let job_facts = RequestFacts { step: Step::Job, ..facts };
    let outcome_fault = shared.pick_fault(&job_facts);
    let clip = outcome_fault.is_none().then(|| {
        let frame = |field: &str| {
            frames.iter().find(|(name, _)| *name == field).map(|(_, bytes)| bytes.clone())
        };
        let aspect = clip::aspect_of(&input);
        shared.clips.clip_for(frame(model.first_frame), frame(model.last_frame), aspect)
    });
    if let Some(clip) = clip.clone() {
        let waiting = Arc::clone(shared);
        tokio::spawn(async move {
            clip.wait().await;
            waiting.wake.notify_one();
        });
    }

    let reply = shared.create_job(NewJob {
        id: request_id.clone(),
        model,
        app: app.to_owned(),
        input,
        input_key: key.clone(),
        markers: markers.clone(),
        start_timeout,
        file_ttl,
        outcome_fault,
        clip,
    });
    Ok((json_response(200, &reply, Some(&request_id)), fault))
}

/// Returns the 422 reply to a body that is not JSON.
fn json_invalid(error: &serde_json::Error) -> Response {
    let msg = format!("JSON decode error: {error}");
    let detail = models::error(json!(["body"]), &msg, "json_invalid", None, None);
    json_response(422, &json!({ "detail": [detail] }), None)
}

fn bad_request(detail: &str) -> Response {
    let mut response =
        json_response(400, &json!({ "detail": detail, "error_type": "bad_request" }), None);
    response.headers_mut().insert(ERROR_TYPE, HeaderValue::from_static("bad_request"));
    response
}

/// Reads `X-Fal-Request-Timeout`: seconds until the job must have started.
fn request_timeout(headers: &HeaderMap) -> Result<Option<Duration>, String> {
    let Some(value) = headers.get("x-fal-request-timeout") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds.is_finite() => {
            Ok(Some(Duration::from_secs_f64(seconds)))
        }
        _ => Err(format!(
            "Invalid X-Fal-Request-Timeout {text:?}: give a positive number of seconds"
        )),
    }
}

/// File lifetime from a lifecycle header such as
/// `{"expiration_duration_seconds": 86400}`. `null` means no expiry, kept
/// here as 100 years.
fn lifecycle_ttl(headers: &HeaderMap, name: &str) -> Result<Option<Duration>, String> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    let invalid = || {
        format!(
            "Invalid {name} header: expected JSON such as {{\"expiration_duration_seconds\": 3600}}"
        )
    };
    let value: Value = serde_json::from_slice(value.as_bytes()).map_err(|_| invalid())?;
    match value.get("expiration_duration_seconds") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Duration::from_secs(100 * 365 * 24 * 3600))),
        Some(seconds) => {
            seconds.as_u64().map(|seconds| Some(Duration::from_secs(seconds))).ok_or_else(invalid)
        }
    }
}

/// Input images from this mock's storage or from data URIs.
struct StorageImages<'a>(&'a Shared);

const DATA_URI_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl ImageSource for StorageImages<'_> {
    fn fetch(&self, url: &str) -> Result<Bytes, ImageProblem> {
        let bytes = match url.strip_prefix("data:") {
            Some(rest) => decode_data_uri(rest)?,
            None => self.0.file_by_url(url).ok_or_else(|| {
                ImageProblem::Download(format!(
                    "{url} is not a live file of this mock's storage at {}; upload it first or send a data URI",
                    self.0.base_url
                ))
            })?,
        };
        if models::looks_like_image(&bytes) { Ok(bytes) } else { Err(ImageProblem::NotImage) }
    }
}

fn decode_data_uri(rest: &str) -> Result<Bytes, ImageProblem> {
    let (meta, data) = rest.split_once(',').ok_or_else(|| {
        ImageProblem::Download("invalid data URI: no ',' before the data".to_owned())
    })?;
    if !meta.ends_with(";base64") {
        return Err(ImageProblem::Download(
            "invalid data URI: the data is not base64-encoded".to_owned(),
        ));
    }
    DATA_URI_BASE64
        .decode(data.trim())
        .map(Bytes::from)
        .map_err(|error| ImageProblem::Download(format!("invalid base64 in data URI: {error}")))
}

async fn status(
    shared: &Shared,
    conn: &ConnHandle,
    app: &str,
    id: &str,
    with_logs: bool,
    headers: &HeaderMap,
) -> Response {
    shared.count_request(Step::Status);
    if let Err(response) = authorize(shared, headers) {
        return response;
    }
    let fault = pick_job_fault(shared, Step::Status, app, id);
    if let Some(response) = inject::before(fault.as_ref(), conn, Step::Status, Some(id)).await {
        return response;
    }
    let response = match shared.status(app, id, with_logs, 0) {
        None => not_found(Step::Status),
        Some(view) => {
            let code = if view.completed { 200 } else { 202 };
            json_response(code, &view.body, Some(id))
        }
    };
    inject::after(fault.as_ref(), conn, response).await
}

async fn status_stream(
    shared: &Arc<Shared>,
    conn: &ConnHandle,
    app: &str,
    id: &str,
    with_logs: bool,
    headers: &HeaderMap,
) -> Response {
    shared.count_request(Step::Stream);
    if let Err(response) = authorize(shared, headers) {
        return response;
    }
    let fault = pick_job_fault(shared, Step::Stream, app, id);
    if let Some(response) = inject::before(fault.as_ref(), conn, Step::Stream, Some(id)).await {
        return response;
    }
    if shared.status(app, id, false, 0).is_none() {
        return not_found(Step::Stream);
    }
    let state = StreamState {
        shared: Arc::clone(shared),
        app: app.to_owned(),
        id: id.to_owned(),
        with_logs,
        cut: matches!(fault, Some(Fault::CutStream)),
        sent_logs: 0,
        last: None,
        changes: shared.changes.subscribe(),
        events: 0,
        done: false,
    };
    let events = futures_util::stream::unfold(state, next_event);
    let keep_alive = KeepAlive::new().interval(shared.config.ping_interval).text("ping");
    let mut response = Sse::new(events).keep_alive(keep_alive).into_response();
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Position of one status stream.
struct StreamState {
    shared: Arc<Shared>,
    app: String,
    id: String,
    with_logs: bool,
    /// Whether to break the connection after the first event.
    cut: bool,
    sent_logs: usize,
    /// Status, queue position and log count of the last event.
    last: Option<(&'static str, Option<u64>, usize)>,
    changes: watch::Receiver<u64>,
    events: usize,
    done: bool,
}

/// Waits for the job's next change and returns it as an event. The stream
/// ends after the COMPLETED event or when the job disappears.
async fn next_event(mut state: StreamState) -> Option<(Result<Event, io::Error>, StreamState)> {
    loop {
        if state.done {
            return None;
        }
        if state.cut && state.events > 0 {
            // The pause lets hyper flush the first event before the error
            // aborts the connection.
            tokio::time::sleep(Duration::from_millis(20)).await;
            state.done = true;
            let error = io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "status stream cut by an injected fault",
            );
            return Some((Err(error), state));
        }
        state.changes.borrow_and_update();
        let view = state.shared.status(&state.app, &state.id, state.with_logs, state.sent_logs)?;
        let log_count = if state.with_logs { view.log_count } else { 0 };
        let key = (view.status, view.queue_position, log_count);
        if state.last != Some(key) {
            state.last = Some(key);
            state.sent_logs = view.log_count;
            state.done = view.completed;
            state.events += 1;
            return Some((Ok(Event::default().data(view.body.to_string())), state));
        }
        if state.changes.changed().await.is_err() {
            return None;
        }
    }
}

async fn result(
    shared: &Shared,
    conn: &ConnHandle,
    app: &str,
    id: &str,
    headers: &HeaderMap,
) -> Response {
    shared.count_request(Step::Result);
    if let Err(response) = authorize(shared, headers) {
        return response;
    }
    let fault = pick_job_fault(shared, Step::Result, app, id);
    if let Some(response) = inject::before(fault.as_ref(), conn, Step::Result, Some(id)).await {
        return response;
    }
    let response = match shared.result(app, id) {
        ResultReply::NotFound => not_found(Step::Result),
        ResultReply::Pending(body) => json_response(202, &body, Some(id)),
        ResultReply::Done { status, body, error_type } => {
            let mut response = json_response(status, &body, Some(id));
            if let Some(value) = error_type.and_then(|kind| HeaderValue::from_str(&kind).ok()) {
                if value == "request_timeout" {
                    response
                        .headers_mut()
                        .insert("x-fal-request-timeout-type", HeaderValue::from_static("user"));
                }
                response.headers_mut().insert(ERROR_TYPE, value);
            }
            response
        }
    };
    inject::after(fault.as_ref(), conn, response).await
}

async fn cancel(
    shared: &Shared,
    conn: &ConnHandle,
    app: &str,
    id: &str,
    headers: &HeaderMap,
) -> Response {
    shared.count_request(Step::Cancel);
    if let Err(response) = authorize(shared, headers) {
        return response;
    }
    let fault = pick_job_fault(shared, Step::Cancel, app, id);
    if let Some(response) = inject::before(fault.as_ref(), conn, Step::Cancel, Some(id)).await {
        return response;
    }
    let response = match shared.cancel(app, id) {
        CancelReply::Accepted => {
            json_response(202, &json!({ "status": "CANCELLATION_REQUESTED" }), Some(id))
        }
        CancelReply::AlreadyCompleted => {
            json_response(400, &json!({ "status": "ALREADY_COMPLETED" }), Some(id))
        }
        CancelReply::NotFound => not_found(Step::Cancel),
    };
    inject::after(fault.as_ref(), conn, response).await
}

/// Storage types the initiate endpoint accepts.
const STORAGE_TYPES: [&str; 3] = ["fal-cdn-v3", "fal-cdn", "gcs"];

async fn initiate_upload(
    State(shared): SharedState,
    Extension(conn): Extension<ConnHandle>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.count_request(Step::UploadInitiate);
    if let Err(response) = authorize(&shared, &headers) {
        return response;
    }
    let fault = shared.pick_fault(&RequestFacts {
        step: Step::UploadInitiate,
        model: None,
        markers: None,
        scope: None,
    });
    if let Some(response) = inject::before(fault.as_ref(), &conn, Step::UploadInitiate, None).await
    {
        return response;
    }

    if let Some(kind) =
        query.get("storage_type").filter(|kind| !STORAGE_TYPES.contains(&kind.as_str()))
    {
        return bad_request(&format!(
            "Invalid storage_type {kind:?}; expected one of: {}",
            STORAGE_TYPES.join(", ")
        ));
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return json_invalid(&error),
    };
    let Some(content_type) = request.get("content_type").and_then(Value::as_str) else {
        let detail = models::error(
            json!(["body", "content_type"]),
            "Field required",
            "missing",
            Some(&request),
            None,
        );
        return json_response(422, &json!({ "detail": [detail] }), None);
    };
    let file_ttl = match lifecycle_ttl(&headers, "x-fal-object-lifecycle") {
        Ok(ttl) => ttl,
        Err(detail) => return bad_request(&detail),
    };

    let name = safe_file_name(request.get("file_name").and_then(Value::as_str).unwrap_or("upload"));
    let (id, token) = shared.initiate_upload(&name, content_type, file_ttl);
    let base = &shared.base_url;
    let body = json!({
        "upload_url": format!("{base}/upload/{id}?token={token}"),
        "file_url": format!("{base}/files/{id}/{name}"),
    });
    inject::after(fault.as_ref(), &conn, json_response(200, &body, None)).await
}

async fn put_upload(
    State(shared): SharedState,
    Extension(conn): Extension<ConnHandle>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.count_request(Step::UploadPut);
    let fault = shared.pick_fault(&RequestFacts {
        step: Step::UploadPut,
        model: None,
        markers: None,
        scope: None,
    });
    if let Some(response) = inject::before(fault.as_ref(), &conn, Step::UploadPut, None).await {
        return response;
    }
    let token = query.get("token").map(String::as_str).unwrap_or_default();
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok());
    let size = body.len();
    let response = match shared.put_upload(&id, token, body, content_type) {
        PutReply::Stored => {
            tracing::info!(file_id = %id, bytes = size, "file uploaded");
            Body::empty().into_response()
        }
        PutReply::NotFound => json_response(404, &json!({ "detail": "Upload not found" }), None),
        PutReply::BadToken => {
            json_response(403, &json!({ "detail": "Invalid upload signature" }), None)
        }
        PutReply::UrlExpired => {
            json_response(403, &json!({ "detail": "The upload URL has expired" }), None)
        }
    };
    inject::after(fault.as_ref(), &conn, response).await
}

async fn get_file(
    State(shared): SharedState,
    Extension(conn): Extension<ConnHandle>,
    Path((id, name)): Path<(String, String)>,
) -> Response {
    shared.count_request(Step::FileGet);
    let job = shared.file_job_facts(&id);
    let fault = shared.pick_fault(&RequestFacts {
        step: Step::FileGet,
        model: job.as_ref().map(|(_, facts)| facts.model),
        markers: job.as_ref().map(|(_, facts)| &facts.markers),
        scope: job.as_ref().map(|(job_id, _)| job_id.as_str()),
    });
    if let Some(response) = inject::before(fault.as_ref(), &conn, Step::FileGet, None).await {
        return response;
    }
    let response = match shared.file(&id, &name) {
        None => not_found(Step::FileGet),
        Some((bytes, content_type)) => {
            shared.count_download();
            let content_type = HeaderValue::from_str(&content_type)
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
            ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
        }
    };
    inject::after(fault.as_ref(), &conn, response).await
}

/// Makes a file name safe as one URL path segment: characters other than
/// ASCII letters, digits, `.`, `-` and `_` become `_`.
pub(crate) fn safe_file_name(name: &str) -> String {
    let mut safe: String = name
        .chars()
        .take(200)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .collect();
    if safe.chars().all(|c| c == '.') {
        safe.insert_str(0, "file");
    }
    safe
}

async fn control_stats(State(shared): SharedState) -> Response {
    axum::Json(shared.stats()).into_response()
}

async fn control_list_faults(State(shared): SharedState) -> Response {
    axum::Json(shared.list_faults()).into_response()
}

/// Adds one rule or an array of rules, each an object or a text rule.
async fn control_add_faults(State(shared): SharedState, body: Bytes) -> Response {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(error) => {
            return json_response(
                400,
                &json!({ "detail": format!("invalid JSON: {error}") }),
                None,
            );
        }
    };
    let items = match value {
        Value::Array(items) => items,
        single => vec![single],
    };
    let mut rules = Vec::new();
    for item in items {
        match serde_json::from_value::<FaultRule>(item.clone()) {
            Ok(rule) => rules.push(rule),
            Err(error) => {
                let detail = format!("invalid fault rule {item}: {error}");
                return json_response(400, &json!({ "detail": detail }), None);
            }
        }
    }
    let added = rules.len();
    for rule in rules {
        tracing::info!(step = %rule.step, fault = %rule.fault.name(), "fault rule added");
        shared.add_fault(rule);
    }
    json_response(200, &json!({ "added": added, "rules": shared.list_faults().len() }), None)
}

async fn control_clear_faults(State(shared): SharedState) -> Response {
    shared.clear_faults();
    json_response(200, &json!({ "rules": 0 }), None)
}

async fn control_reset(State(shared): SharedState) -> Response {
    shared.reset();
    json_response(200, &json!({ "reset": true }), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_file_name_replaces_unsafe_characters() {
        assert_eq!(safe_file_name("front.png"), "front.png");
        assert_eq!(safe_file_name("café crème/写真.jpg"), "caf__cr_me___.jpg");
        assert_eq!(safe_file_name(".."), "file..");
        assert_eq!(safe_file_name(""), "file");
    }

    #[test]
    fn data_uri_decodes_with_or_without_padding() {
        assert_eq!(decode_data_uri("image/png;base64,aGk=").unwrap(), Bytes::from_static(b"hi"));
        assert_eq!(decode_data_uri("image/png;base64,aGk").unwrap(), Bytes::from_static(b"hi"));
        assert!(decode_data_uri("image/png,hi").is_err());
        assert!(decode_data_uri("image/png;base64").is_err());
        assert!(decode_data_uri("image/png;base64,!!!").is_err());
    }
}
