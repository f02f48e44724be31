//! Every fault kind, seen from the client side, and the ways to set rules:
//! config, library call, control endpoint and prompt markers.

mod common;

use std::time::Duration;

use common::{
    KEY, KLING, client, get_json, kling_input, start, submit, submit_ok, upload_frames, url,
};
use fal_mock::{Fault, FaultRule, MockConfig, Step};
use futures_util::StreamExt;
use serde_json::{Value, json};

fn config() -> MockConfig {
    MockConfig {
        queue_time: Duration::from_millis(50),
        generation_time: Duration::from_millis(200),
        ..MockConfig::fast()
    }
}

/// Submits a Kling job with `prompt` and returns the reply.
async fn submit_prompt(server: &fal_mock::MockServer, prompt: &str) -> (reqwest::Client, Value) {
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let reply =
        submit_ok(&client, &server.base_url, KLING, &kling_input(&front, &tail, prompt)).await;
    (client, reply)
}

/// Submits a job, waits for it, and returns its video URL and size.
async fn completed_video(
    server: &fal_mock::MockServer,
    prompt: &str,
) -> (reqwest::Client, String, usize) {
    let (client, reply) = submit_prompt(server, prompt).await;
    common::wait_completed(&client, &url(&reply, "status_url")).await;
    let (code, result) = get_json(&client, &url(&reply, "response_url")).await;
    assert_eq!(code, 200, "{result}");
    let size = result["video"]["file_size"].as_u64().unwrap() as usize;
    (client, result["video"]["url"].as_str().unwrap().to_owned(), size)
}

#[tokio::test]
async fn submit_http_faults_have_fal_bodies() {
    let server = start(config()).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let cases = [
        ("401", 401, None, false),
        ("422", 422, None, true),
        ("429:retry_after=3", 429, Some("concurrent_requests_limit"), true),
        ("500", 500, Some("internal_error"), true),
        ("502", 502, Some("runner_incomplete_response"), true),
        ("503", 503, Some("runner_scheduling_failure"), true),
        ("504", 504, Some("request_timeout"), true),
    ];
    for (spec, code, error_type, with_id) in cases {
        let prompt = format!("p [fault:submit:{spec}]");
        let response =
            submit(&client, &server.base_url, KLING, &kling_input(&front, &tail, &prompt)).await;
        assert_eq!(response.status(), code, "{spec}");
        assert_eq!(
            response.headers().contains_key("x-fal-request-id"),
            with_id && code != 401,
            "{spec}"
        );
        if code == 429 {
            assert_eq!(response.headers()["retry-after"], "3");
        }
        let body: Value = response.json().await.unwrap();
        match error_type {
            Some(kind) => assert_eq!(body["error_type"], kind, "{spec}"),
            None if code == 422 => assert!(body["detail"].is_array(), "{spec}: {body}"),
            None => assert_eq!(body["detail"], "No user found for Key ID and Secret"),
        }
    }
    let stats = server.stats().await;
    assert_eq!(stats.submissions, 0);
    assert_eq!(stats.rejected_submissions, 7);
    assert_eq!(stats.faults_injected["submit:503"], 1);
}

#[tokio::test]
async fn gateway_errors_without_id_are_nginx_pages() {
    let server = start(config()).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    for code in [502, 503, 504] {
        let prompt = format!("[fault:submit:{code}:request_id=false]");
        let response =
            submit(&client, &server.base_url, KLING, &kling_input(&front, &tail, &prompt)).await;
        assert_eq!(response.status(), code);
        assert!(!response.headers().contains_key("x-fal-request-id"));
        assert_eq!(response.headers()["content-type"], "text/html");
        let page = response.text().await.unwrap();
        assert!(page.contains("nginx"), "{page}");
    }
}

#[tokio::test]
async fn user_timeout_504_has_timeout_type() {
    let server = start(config()).await;
    server.add_fault(FaultRule::parse("status:504:timeout_user=true").unwrap());
    let (client, reply) = submit_prompt(&server, "p").await;
    let response = client
        .get(url(&reply, "status_url"))
        .header("authorization", format!("Key {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    assert_eq!(response.headers()["x-fal-request-timeout-type"], "user");
    assert_eq!(response.headers()["x-fal-request-id"], reply["request_id"].as_str().unwrap());
}

#[tokio::test]
async fn reset_at_submit_creates_no_job() {
    let server = start(config()).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let input = kling_input(&front, &tail, "[fault:submit:reset]");
    let error = client
        .post(format!("{}/{KLING}", server.base_url))
        .header("authorization", format!("Key {KEY}"))
        .json(&input)
        .send()
        .await
        .unwrap_err();
    assert!(!error.is_timeout(), "{error}");
    let stats = server.stats().await;
    assert_eq!(stats.submissions, 0);
    assert_eq!(stats.jobs.in_queue + stats.jobs.in_progress, 0);
}

#[tokio::test]
async fn lost_reply_submit_still_creates_job() {
    let server = start(config()).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let input = kling_input(&front, &tail, "[fault:submit:lost_reply:times=1]");
    let sent = client
        .post(format!("{}/{KLING}", server.base_url))
        .header("authorization", format!("Key {KEY}"))
        .json(&input)
        .send()
        .await;
    assert!(sent.is_err(), "the reply is lost");
    let stats = server.stats().await;
    assert_eq!(stats.submissions, 1, "the job was accepted and counted");

    // A client that resubmits pays twice, and the stats show it.
    submit_ok(&client, &server.base_url, KLING, &input).await;
    let stats = server.stats().await;
    assert_eq!(stats.submissions, 2);
    assert_eq!(stats.duplicates.len(), 1);
    assert_eq!(stats.duplicates[0].request_ids.len(), 2);
}

#[tokio::test]
async fn reset_at_status_breaks_request() {
    let server = start(config()).await;
    let (client, reply) = submit_prompt(&server, "[fault:status:reset:times=1]").await;
    let status_url = url(&reply, "status_url");
    let first = client.get(&status_url).header("authorization", format!("Key {KEY}")).send().await;
    let error = first.unwrap_err();
    assert!(
        error.is_request() || error.is_connect() || error.to_string().contains("error"),
        "{error}"
    );
    let (code, _) = get_json(&client, &status_url).await;
    assert_eq!(code, 202, "the next poll works");
}

#[tokio::test]
async fn stall_outlasts_client_timeout() {
    let server = start(config()).await;
    let (_, reply) = submit_prompt(&server, "[fault:status:stall:duration=2s:times=1]").await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let error = impatient
        .get(url(&reply, "status_url"))
        .header("authorization", format!("Key {KEY}"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
}

#[tokio::test]
async fn malformed_json_keeps_status_code() {
    let server = start(config()).await;
    let (client, reply) = submit_prompt(&server, "[fault:status:malformed_json]").await;
    let response = client
        .get(url(&reply, "status_url"))
        .header("authorization", format!("Key {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.unwrap();
    assert!(text.starts_with('{'), "{text}");
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
}

#[tokio::test]
async fn completed_error_shows_in_status_and_result() {
    let server = start(config()).await;
    let (client, reply) = submit_prompt(&server, "[fault:job:completed_error]").await;
    let status = common::wait_completed(&client, &url(&reply, "status_url")).await;
    assert_eq!(status["error_type"], "runner_disconnected");
    assert_eq!(status["error"], "Runner disconnected");
    let response = client
        .get(url(&reply, "response_url"))
        .header("authorization", format!("Key {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["x-fal-error-type"], "runner_disconnected");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_type"], "runner_disconnected");
    assert_eq!(server.stats().await.jobs.failed, 1);
}

#[tokio::test]
async fn result_error_shows_only_in_result() {
    let server = start(config()).await;
    let (client, reply) = submit_prompt(&server, "[fault:job:result_error]").await;
    let status = common::wait_completed(&client, &url(&reply, "status_url")).await;
    assert!(status.get("error").is_none(), "{status}");
    let (code, body) = get_json(&client, &url(&reply, "response_url")).await;
    assert_eq!(code, 422);
    assert_eq!(body["detail"][0]["type"], "content_policy_violation");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "prompt"]));
}

#[tokio::test]
async fn stuck_job_never_leaves_queue() {
    let server = start(config()).await;
    let (client, stuck) = submit_prompt(&server, "[fault:job:stuck]").await;
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let normal =
        submit_ok(&client, &server.base_url, KLING, &kling_input(&front, &tail, "normal")).await;
    common::wait_completed(&client, &url(&normal, "status_url")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (code, body) = get_json(&client, &url(&stuck, "status_url")).await;
    assert_eq!(code, 202);
    assert_eq!(body["status"], "IN_QUEUE");
    assert_eq!(body["queue_position"], 0);
}

#[tokio::test]
async fn expired_result_and_file() {
    let server = start(config()).await;
    let (client, reply) = submit_prompt(&server, "[fault:result:expired]").await;
    common::wait_completed(&client, &url(&reply, "status_url")).await;
    let (code, body) = get_json(&client, &url(&reply, "response_url")).await;
    assert_eq!(code, 404);
    assert_eq!(body["detail"], "Request not found");

    let (client, video_url, _) = completed_video(&server, "[fault:file_get:expired]").await;
    assert_eq!(client.get(&video_url).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn truncated_download_fails() {
    let server = start(config()).await;
    let (client, video_url, size) =
        completed_video(&server, "[fault:file_get:truncated:times=1]").await;
    let response = client.get(&video_url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(size as u64));
    assert!(response.bytes().await.is_err(), "the body ends before Content-Length");
    let again = client.get(&video_url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(again.len(), size, "the fault fired once");
}

#[tokio::test]
async fn short_download_without_length_looks_complete() {
    let server = start(config()).await;
    let (client, video_url, size) =
        completed_video(&server, "[fault:file_get:short_no_length]").await;
    let response = client.get(&video_url).send().await.unwrap();
    assert_eq!(response.content_length(), None);
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.len(), size / 2);
}

#[tokio::test]
async fn declared_wrong_lengths_differ_from_file_size() {
    let server = start(config()).await;
    let (client, video_url, size) =
        completed_video(&server, "[fault:file_get:short_declared:nth=1]").await;
    let response = client.get(&video_url).send().await.unwrap();
    assert_eq!(response.content_length(), Some((size / 2) as u64));
    assert_eq!(response.bytes().await.unwrap().len(), size / 2);

    let (client, video_url, size) =
        completed_video(&server, "[fault:file_get:long_declared]").await;
    let response = client.get(&video_url).send().await.unwrap();
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.len() > size, "{} > {size}", bytes.len());
    assert!(bytes[size..].iter().all(|byte| *byte == 0));
}

#[tokio::test]
async fn overlong_body_is_cut_at_content_length() {
    let server = start(config()).await;
    let (client, video_url, size) = completed_video(&server, "[fault:file_get:overlong]").await;
    let response = client.get(&video_url).send().await.unwrap();
    assert_eq!(response.content_length(), Some(size as u64));
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.len(), size, "an HTTP/1.1 client reads Content-Length bytes");
    assert_eq!(&bytes[4..8], b"ftyp");
}

#[tokio::test]
async fn cut_stream_ends_with_error() {
    let server = start(config()).await;
    let (client, reply) = submit_prompt(&server, "[fault:stream:cut_stream]").await;
    let response = client
        .get(format!("{}/stream", url(&reply, "status_url")))
        .header("authorization", format!("Key {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let mut failed = false;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => text.push_str(&String::from_utf8_lossy(&chunk)),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the stream breaks instead of ending: {text}");
    assert_eq!(text.matches("data: ").count(), 1, "{text}");
    assert!(text.contains("IN_QUEUE"), "{text}");
}

#[tokio::test]
async fn nth_rule_fires_once() {
    let server = start(MockConfig {
        faults: vec![FaultRule::parse("status:503:nth=2").unwrap()],
        ..config()
    })
    .await;
    let (client, reply) = submit_prompt(&server, "p").await;
    let status_url = url(&reply, "status_url");
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(get_json(&client, &status_url).await.0);
    }
    assert_eq!(codes[1], 503);
    assert_ne!(codes[0], 503);
    assert_ne!(codes[2], 503);
    let rules = server.faults();
    assert_eq!(rules[0].counts.seen, 3);
    assert_eq!(rules[0].counts.fired, 1);
}

#[tokio::test]
async fn inline_submit_fault_counts_per_input() {
    let server = start(config()).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let input = kling_input(&front, &tail, "[fault:submit:503:times=1]");
    assert_eq!(submit(&client, &server.base_url, KLING, &input).await.status(), 503);
    assert_eq!(
        submit(&client, &server.base_url, KLING, &input).await.status(),
        200,
        "a retry of the same input passes"
    );
    let other = kling_input(&front, &tail, "other [fault:submit:503:times=1]");
    assert_eq!(
        submit(&client, &server.base_url, KLING, &other).await.status(),
        503,
        "another input has its own count"
    );
}

#[tokio::test]
async fn inline_job_fault_spares_resubmission() {
    let server = start(config()).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let prompt = "[fault:job:completed_error:error_type=startup_timeout:times=1]";
    let input = kling_input(&front, &tail, prompt);

    let first = submit_ok(&client, &server.base_url, KLING, &input).await;
    let failed = common::wait_completed(&client, &url(&first, "status_url")).await;
    assert_eq!(failed["error_type"], "startup_timeout");
    let (code, _) = get_json(&client, &url(&first, "response_url")).await;
    assert_eq!(code, 504);

    let second = submit_ok(&client, &server.base_url, KLING, &input).await;
    let completed = common::wait_completed(&client, &url(&second, "status_url")).await;
    assert!(completed.get("error").is_none(), "{completed}");
    let stats = server.stats().await;
    assert_eq!(stats.jobs.failed, 1);
    assert_eq!(stats.jobs.completed, 1);
    assert_eq!(stats.duplicates.len(), 1);
}

#[tokio::test]
async fn named_marker_selects_rule() {
    let server = start(config()).await;
    server.add_fault(FaultRule::new(Step::Result, Fault::Expired).with_marker("flaky"));
    let (client, tagged) = submit_prompt(&server, "tagged [fault:flaky]").await;
    let (_, plain) = submit_prompt(&server, "plain").await;
    common::wait_completed(&client, &url(&tagged, "status_url")).await;
    common::wait_completed(&client, &url(&plain, "status_url")).await;
    assert_eq!(get_json(&client, &url(&tagged, "response_url")).await.0, 404);
    assert_eq!(get_json(&client, &url(&plain, "response_url")).await.0, 200);
}

#[tokio::test]
async fn model_filter_limits_rule() {
    let server = start(config()).await;
    let mut rule = FaultRule::new(
        Step::Submit,
        Fault::Http { status: 500, request_id: true, retry_after: None, timeout_user: false },
    );
    rule.model = Some("fal-ai/vidu".to_owned());
    server.add_fault(rule);
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let vidu = json!({"prompt": "p", "start_image_url": front, "end_image_url": tail});
    assert_eq!(
        submit(&client, &server.base_url, "fal-ai/vidu/start-end-to-video", &vidu).await.status(),
        500
    );
    submit_ok(&client, &server.base_url, KLING, &kling_input(&front, &tail, "p")).await;
}

#[tokio::test]
async fn invalid_marker_is_400() {
    let server = start(config()).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let input = kling_input(&front, &tail, "[fault:status:teapot]");
    let response = submit(&client, &server.base_url, KLING, &input).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("teapot"), "{body}");
}

#[tokio::test]
async fn control_endpoint_manages_rules() {
    let server = start(config()).await;
    let client = client();
    let faults_url = format!("{}/_mock/faults", server.base_url);
    let rules = json!([
        "upload_initiate:500:times=1",
        {"step": "upload_put", "fault": {"kind": "http", "status": 503}, "nth": 1},
        {"step": "cancel", "fault": {"kind": "reset"}, "probability": 0.0}
    ]);
    let response = client.post(&faults_url).json(&rules).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["added"], 3);

    let initiate = || {
        client
            .post(format!("{}/storage/upload/initiate", server.base_url))
            .header("authorization", format!("Key {KEY}"))
            .json(&json!({"content_type": "image/png", "file_name": "a.png"}))
            .send()
    };
    assert_eq!(initiate().await.unwrap().status(), 500);
    let initiated: Value = initiate().await.unwrap().json().await.unwrap();
    let upload_url = initiated["upload_url"].as_str().unwrap();
    assert_eq!(client.put(upload_url).body("x").send().await.unwrap().status(), 503);
    assert_eq!(client.put(upload_url).body("x").send().await.unwrap().status(), 200);
    let cancel = client
        .put(format!("{}/fal-ai/kling-video/requests/none/cancel", server.base_url))
        .header("authorization", format!("Key {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 404, "probability 0 never fires");

    let listed: Value = client.get(&faults_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed[0]["counts"]["fired"], 1);
    assert_eq!(listed[1]["rule"]["step"], "upload_put");
    assert_eq!(listed[2]["counts"]["seen"], 1);
    assert_eq!(listed[2]["counts"]["fired"], 0);

    let bad = client.post(&faults_url).json(&json!("status:stuck")).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(client.delete(&faults_url).send().await.unwrap().status(), 200);
    let listed: Value = client.get(&faults_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn reset_restores_configured_rules() {
    let server = start(MockConfig {
        faults: vec![FaultRule::parse("upload_initiate:503:times=1").unwrap()],
        ..config()
    })
    .await;
    let client = client();
    let initiate = || {
        client
            .post(format!("{}/storage/upload/initiate", server.base_url))
            .header("authorization", format!("Key {KEY}"))
            .json(&json!({"content_type": "image/png"}))
            .send()
    };
    assert_eq!(initiate().await.unwrap().status(), 503);
    assert_eq!(initiate().await.unwrap().status(), 200);
    server.add_fault(FaultRule::parse("upload_initiate:500").unwrap());
    let reset = client.post(format!("{}/_mock/reset", server.base_url)).send().await.unwrap();
    assert_eq!(reset.status(), 200);
    assert_eq!(server.faults().len(), 1, "the added rule is gone");
    assert_eq!(initiate().await.unwrap().status(), 503, "the configured rule counts afresh");
}

#[tokio::test]
async fn lost_reply_on_cancel_still_cancels() {
    let server = start(MockConfig { queue_time: Duration::from_secs(5), ..config() }).await;
    let (client, reply) = submit_prompt(&server, "[fault:cancel:lost_reply]").await;
    let sent = client
        .put(url(&reply, "cancel_url"))
        .header("authorization", format!("Key {KEY}"))
        .send()
        .await;
    assert!(sent.is_err());
    let (_, status) = get_json(&client, &url(&reply, "status_url")).await;
    assert_eq!(status["error_type"], "client_cancelled");
}

#[tokio::test]
async fn try_add_fault_rejects_invalid_rule() {
    let server = start(config()).await;
    let error = server.try_add_fault(FaultRule::new(Step::Status, Fault::Stuck)).unwrap_err();
    assert!(error.contains("cannot happen at step status"), "{error}");
    assert!(server.faults().is_empty());
}
