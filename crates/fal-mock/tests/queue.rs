//! Queue endpoints over real HTTP: submit, status, stream, result, cancel,
//! expiry, authentication and submission counts.

mod common;

use std::time::Duration;

use common::{
    KEY, KLING, client, get_json, kling_input, start, submit, submit_ok, upload_frames, url,
};
use fal_mock::MockConfig;
use futures_util::StreamExt;
use serde_json::Value;

fn config() -> MockConfig {
    MockConfig {
        queue_time: Duration::from_millis(100),
        generation_time: Duration::from_millis(400),
        ..MockConfig::fast()
    }
}

#[tokio::test]
async fn submit_reply_has_owner_app_urls() {
    let server = start(config()).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let response =
        submit(&client, &server.base_url, KLING, &kling_input(&front, &tail, "calm")).await;
    assert_eq!(response.status(), 200);
    let header_id = response.headers()["x-fal-request-id"].to_str().unwrap().to_owned();
    let reply: Value = response.json().await.unwrap();

    let id = url(&reply, "request_id");
    assert_eq!(header_id, id);
    assert_eq!(reply["status"], "IN_QUEUE");
    assert_eq!(reply["queue_position"], 0);
    let base = format!("{}/fal-ai/kling-video/requests/{id}", server.base_url);
    assert_eq!(url(&reply, "response_url"), base);
    assert_eq!(url(&reply, "status_url"), format!("{base}/status"));
    assert_eq!(url(&reply, "cancel_url"), format!("{base}/cancel"));
    assert!(server.base_url.starts_with("http://127.0.0.1:"), "{}", server.base_url);
}

#[tokio::test]
async fn status_progresses_to_completed() {
    let server = start(config()).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let reply =
        submit_ok(&client, &server.base_url, KLING, &kling_input(&front, &tail, "calm")).await;
    let status_url = url(&reply, "status_url");

    let mut seen = Vec::new();
    let completed = loop {
        let (code, body) = get_json(&client, &status_url).await;
        let status = body["status"].as_str().unwrap().to_owned();
        if status == "COMPLETED" {
            assert_eq!(code, 200);
            break body;
        }
        assert_eq!(code, 202, "{body}");
        if seen.last() != Some(&status) {
            seen.push(status);
        }
        assert!(seen.len() <= 2, "{seen:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(seen, ["IN_QUEUE", "IN_PROGRESS"]);
    let inference_time = completed["metrics"]["inference_time"].as_f64().unwrap();
    assert!(inference_time >= 0.4, "{inference_time}");
    assert!(completed.get("error").is_none(), "{completed}");
    assert_eq!(completed["request_id"], reply["request_id"]);
}

#[tokio::test]
async fn logs_only_with_logs_param() {
    let server = start(config()).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let reply =
        submit_ok(&client, &server.base_url, KLING, &kling_input(&front, &tail, "calm")).await;
    let status_url = url(&reply, "status_url");
    common::wait_completed(&client, &status_url).await;

    let (_, without) = get_json(&client, &status_url).await;
    assert!(without["logs"].is_null(), "{without}");
    let (_, zero) = get_json(&client, &format!("{status_url}?logs=0")).await;
    assert!(zero["logs"].is_null(), "{zero}");
    for query in ["logs=1", "logs=true"] {
        let (_, with) = get_json(&client, &format!("{status_url}?{query}")).await;
        let logs = with["logs"].as_array().unwrap();
        let messages: Vec<&str> = logs.iter().map(|log| log["message"].as_str().unwrap()).collect();
        assert_eq!(messages.first(), Some(&"loading frames"), "{query}");
        assert_eq!(messages.last(), Some(&"generating video: 100%"), "{query}");
        assert_eq!(logs[0]["level"], "INFO");
        assert_eq!(logs[0]["source"], "USER");
        assert!(logs[0]["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}

#[tokio::test]
async fn concurrency_cap_keeps_jobs_queued() {
    let server = start(MockConfig {
        queue_time: Duration::ZERO,
        generation_time: Duration::from_secs(3),
        concurrency: 1,
        ..MockConfig::fast()
    })
    .await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let mut replies = Vec::new();
    for n in 0..3 {
        let input = kling_input(&front, &tail, &format!("job {n}"));
        replies.push(submit_ok(&client, &server.base_url, KLING, &input).await);
    }

    common::wait_status(&client, &url(&replies[0], "status_url"), "IN_PROGRESS").await;
    let (code, second) = get_json(&client, &url(&replies[1], "status_url")).await;
    assert_eq!(code, 202);
    assert_eq!(second["status"], "IN_QUEUE");
    assert_eq!(second["queue_position"], 0);
    let (_, third) = get_json(&client, &url(&replies[2], "status_url")).await;
    assert_eq!(third["status"], "IN_QUEUE");
    assert_eq!(third["queue_position"], 1);
    let stats = server.stats().await;
    assert_eq!(stats.jobs.in_progress, 1);
    assert_eq!(stats.jobs.in_queue, 2);

    // Cancelling the running job frees the slot for the next one.
    let cancel = client
        .put(url(&replies[0], "cancel_url"))
        .header("authorization", format!("Key {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 202);
    common::wait_status(&client, &url(&replies[1], "status_url"), "IN_PROGRESS").await;
    let (_, third) = get_json(&client, &url(&replies[2], "status_url")).await;
    assert_eq!(third["queue_position"], 0);
}

#[tokio::test]
async fn submit_position_counts_jobs_ahead() {
    let server = start(MockConfig { queue_time: Duration::from_secs(5), ..config() }).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    for n in 0..3 {
        let input = kling_input(&front, &tail, &format!("job {n}"));
        let reply = submit_ok(&client, &server.base_url, KLING, &input).await;
        assert_eq!(reply["queue_position"], n, "job {n}");
    }
}

/// Reads SSE `data:` payloads and comment lines until the stream ends.
async fn read_stream(response: reqwest::Response) -> (Vec<Value>, usize) {
    let mut events = Vec::new();
    let mut comments = 0;
    let mut buffer = String::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk.expect("stream chunk")));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data: ") {
                    events.push(serde_json::from_str(data).expect("event data is JSON"));
                } else if line.starts_with(':') {
                    assert_eq!(line, ": ping");
                    comments += 1;
                }
            }
        }
    }
    (events, comments)
}

#[tokio::test]
async fn stream_sends_changes_and_closes() {
    let server = start(MockConfig {
        queue_time: Duration::from_millis(300),
        generation_time: Duration::from_millis(1200),
        ping_interval: Duration::from_millis(150),
        ..MockConfig::fast()
    })
    .await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let reply =
        submit_ok(&client, &server.base_url, KLING, &kling_input(&front, &tail, "calm")).await;
    let response = client
        .get(format!("{}/stream?logs=1", url(&reply, "status_url")))
        .header("authorization", format!("Key {KEY}"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let (events, comments) = read_stream(response).await;

    let statuses: Vec<&str> =
        events.iter().map(|event| event["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.first(), Some(&"IN_QUEUE"), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&"COMPLETED"), "{statuses:?}");
    assert!(statuses.contains(&"IN_PROGRESS"), "{statuses:?}");
    let messages: Vec<&str> = events
        .iter()
        .filter_map(|event| event["logs"].as_array())
        .flatten()
        .map(|log| log["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "loading frames",
            "generating video: 25%",
            "generating video: 50%",
            "generating video: 75%",
            "generating video: 100%"
        ],
        "each log line arrives once"
    );
    assert!(comments >= 1, "a ping arrives during the 1.2 s generation");
    assert!(events.last().unwrap()["metrics"]["inference_time"].is_number());
}

#[tokio::test]
async fn stream_without_logs_sends_states_only() {
    let server = start(config()).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let reply =
        submit_ok(&client, &server.base_url, KLING, &kling_input(&front, &tail, "calm")).await;
    let response = client
        .get(format!("{}/stream", url(&reply, "status_url")))
        .header("authorization", format!("Key {KEY}"))
        .send()
        .await
        .unwrap();
    let (events, _) = read_stream(response).await;
    let statuses: Vec<&str> =
        events.iter().map(|event| event["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]);
    assert!(events.iter().all(|event| event.get("logs").is_none_or(Value::is_null)));
}

#[tokio::test]
async fn result_returns_video_and_mp4() {
    let server = start(config()).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let reply =
        submit_ok(&client, &server.base_url, KLING, &kling_input(&front, &tail, "calm")).await;
    let response_url = url(&reply, "response_url");

    let (code, early) = get_json(&client, &response_url).await;
    assert_eq!(code, 202, "result before completion");
    assert_eq!(early["status"], "IN_QUEUE");

    common::wait_completed(&client, &url(&reply, "status_url")).await;
    let response = client
        .get(&response_url)
        .header("authorization", format!("Key {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-fal-request-id"], reply["request_id"].as_str().unwrap());
    let result: Value = response.json().await.unwrap();
    let video = &result["video"];
    assert_eq!(video["content_type"], "video/mp4");
    assert_eq!(video["file_name"], "output.mp4");
    let video_url = video["url"].as_str().unwrap();
    assert!(video_url.starts_with(&format!("{}/files/", server.base_url)), "{video_url}");

    let download = client.get(video_url).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "video/mp4");
    let bytes = download.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, video["file_size"].as_u64().unwrap());
    assert_eq!(&bytes[4..8], b"ftyp", "an MP4 starts with an ftyp box");
    let has_avc = bytes.windows(4).any(|window| window == b"avc1");
    assert!(has_avc, "the MP4 has an H.264 (avc1) track");
    assert_eq!(server.stats().await.uploads.downloads, 1);
}

#[tokio::test]
async fn cancel_returns_each_code() {
    let server = start(MockConfig { queue_time: Duration::from_secs(5), ..config() }).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let reply =
        submit_ok(&client, &server.base_url, KLING, &kling_input(&front, &tail, "calm")).await;
    let cancel = |url: String| {
        let client = client.clone();
        async move {
            let response =
                client.put(url).header("authorization", format!("Key {KEY}")).send().await.unwrap();
            let code = response.status().as_u16();
            (code, response.json::<Value>().await.unwrap())
        }
    };

    let (code, body) = cancel(url(&reply, "cancel_url")).await;
    assert_eq!((code, body["status"].as_str()), (202, Some("CANCELLATION_REQUESTED")));
    let (code, body) = cancel(url(&reply, "cancel_url")).await;
    assert_eq!((code, body["status"].as_str()), (400, Some("ALREADY_COMPLETED")));
    let unknown = format!("{}/fal-ai/kling-video/requests/no-such-id/cancel", server.base_url);
    let (code, body) = cancel(unknown).await;
    assert_eq!((code, body["status"].as_str()), (404, Some("NOT_FOUND")));

    let (code, status) = get_json(&client, &url(&reply, "status_url")).await;
    assert_eq!(code, 200);
    assert_eq!(status["status"], "COMPLETED");
    assert_eq!(status["error_type"], "client_cancelled");
    let stats = server.stats().await;
    assert_eq!(stats.cancels.requested, 3);
    assert_eq!(stats.cancels.accepted, 1);
    assert_eq!(stats.cancels.already_completed, 1);
    assert_eq!(stats.cancels.not_found, 1);
    assert_eq!(stats.jobs.cancelled, 1);
}

#[tokio::test]
async fn finished_cancel_lets_running_job_complete() {
    let server = start(MockConfig { finish_cancelled_running: true, ..config() }).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let reply =
        submit_ok(&client, &server.base_url, KLING, &kling_input(&front, &tail, "calm")).await;
    common::wait_status(&client, &url(&reply, "status_url"), "IN_PROGRESS").await;
    let response = client
        .put(url(&reply, "cancel_url"))
        .header("authorization", format!("Key {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let completed = common::wait_completed(&client, &url(&reply, "status_url")).await;
    assert!(completed.get("error").is_none(), "{completed}");
}

#[tokio::test]
async fn result_expires_to_404() {
    let server = start(MockConfig { result_ttl: Duration::from_millis(300), ..config() }).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let reply =
        submit_ok(&client, &server.base_url, KLING, &kling_input(&front, &tail, "calm")).await;
    common::wait_completed(&client, &url(&reply, "status_url")).await;
    let (code, _) = get_json(&client, &url(&reply, "response_url")).await;
    assert_eq!(code, 200);

    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, body) = get_json(&client, &url(&reply, "response_url")).await;
    assert_eq!(code, 404);
    assert_eq!(body["detail"], "Request not found");
    let (code, _) = get_json(&client, &url(&reply, "status_url")).await;
    assert_eq!(code, 404);
    assert_eq!(server.stats().await.jobs.expired, 1);
}

#[tokio::test]
async fn large_result_ttl_applies_from_threshold() {
    let server = start(MockConfig {
        result_ttl: Duration::from_secs(60),
        large_result_ttl: Duration::from_millis(200),
        large_result_bytes: 10,
        ..config()
    })
    .await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let reply =
        submit_ok(&client, &server.base_url, KLING, &kling_input(&front, &tail, "calm")).await;
    common::wait_completed(&client, &url(&reply, "status_url")).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (code, _) = get_json(&client, &url(&reply, "response_url")).await;
    assert_eq!(code, 404, "a result over the threshold expires after large_result_ttl");
}

#[tokio::test]
async fn generated_file_expires_to_404() {
    let server = start(MockConfig { file_ttl: Duration::from_millis(300), ..config() }).await;
    let client = client();
    let front =
        server.store_file(common::fixture("04-coffee-600x400.jpg"), "image/jpeg", "front.jpg");
    let reply =
        submit_ok(&client, &server.base_url, KLING, &kling_input(&front, &front, "calm")).await;
    common::wait_completed(&client, &url(&reply, "status_url")).await;
    let (_, result) = get_json(&client, &url(&reply, "response_url")).await;
    let video_url = result["video"]["url"].as_str().unwrap().to_owned();
    assert_eq!(client.get(&video_url).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(client.get(&video_url).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn missing_or_wrong_key_gets_401() {
    let server = start(MockConfig { keys: vec!["right".to_owned()], ..config() }).await;
    let client = client();
    let base = &server.base_url;
    let submit_url = format!("{base}/{KLING}");
    let status_url = format!("{base}/fal-ai/kling-video/requests/x/status");
    let cases = [
        client.post(&submit_url).json(&serde_json::json!({})),
        client.post(&submit_url).header("authorization", "Key wrong").json(&serde_json::json!({})),
        client
            .post(&submit_url)
            .header("authorization", "Bearer right")
            .json(&serde_json::json!({})),
        client.get(&status_url),
        client.get(format!("{status_url}/stream")),
        client.get(format!("{base}/fal-ai/kling-video/requests/x")),
        client.put(format!("{base}/fal-ai/kling-video/requests/x/cancel")),
        client
            .post(format!("{base}/storage/upload/initiate"))
            .json(&serde_json::json!({"content_type": "image/png"})),
    ];

    for (index, request) in cases.into_iter().enumerate() {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "case {index}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"], "No user found for Key ID and Secret", "case {index}");
    }

    let response =
        client.get(&status_url).header("authorization", "Key right").send().await.unwrap();
    assert_eq!(response.status(), 404, "the right key passes authentication");
    let stats = server.stats().await;
    assert_eq!(stats.rejected_submissions, 3);
    assert_eq!(stats.submissions, 0);
}

#[tokio::test]
async fn status_with_model_subpath_is_404() {
    let server = start(config()).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let reply =
        submit_ok(&client, &server.base_url, KLING, &kling_input(&front, &tail, "calm")).await;
    let id = url(&reply, "request_id");
    let wrong = format!("{}/{KLING}/requests/{id}/status", server.base_url);
    let (code, body) = get_json(&client, &wrong).await;
    assert_eq!(code, 404, "{body}");
    let other_app = format!("{}/fal-ai/pixverse/requests/{id}/status", server.base_url);
    let (code, _) = get_json(&client, &other_app).await;
    assert_eq!(code, 404, "a job is found only under its own owner/app");
    let (code, _) = get_json(&client, &url(&reply, "status_url")).await;
    assert_eq!(code, 202);
}

#[tokio::test]
async fn unknown_model_is_404() {
    let server = start(config()).await;
    let client = client();
    let response =
        submit(&client, &server.base_url, "fal-ai/no-such-model", &serde_json::json!({})).await;
    assert_eq!(response.status(), 404);
    assert!(fal_mock::served_models().contains(&KLING));
}

#[tokio::test]
async fn start_timeout_completes_with_504() {
    let server = start(MockConfig { queue_time: Duration::from_secs(5), ..config() }).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let response = client
        .post(format!("{}/{KLING}", server.base_url))
        .header("authorization", format!("Key {KEY}"))
        .header("x-fal-request-timeout", "0.3")
        .json(&kling_input(&front, &tail, "calm"))
        .send()
        .await
        .unwrap();
    let reply: Value = response.json().await.unwrap();
    let status = common::wait_completed(&client, &url(&reply, "status_url")).await;
    assert_eq!(status["error_type"], "request_timeout");
    let result = client
        .get(url(&reply, "response_url"))
        .header("authorization", format!("Key {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(result.status(), 504);
    assert_eq!(result.headers()["x-fal-request-timeout-type"], "user");
    assert_eq!(result.headers()["x-fal-error-type"], "request_timeout");
}

#[tokio::test]
async fn max_queue_length_rejects_with_429() {
    let server = start(MockConfig { queue_time: Duration::from_secs(5), ..config() }).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let limited = format!("{KLING}?fal_max_queue_length=1");
    submit_ok(&client, &server.base_url, &limited, &kling_input(&front, &tail, "one")).await;
    let response =
        submit(&client, &server.base_url, &limited, &kling_input(&front, &tail, "two")).await;
    assert_eq!(response.status(), 429);
    assert_eq!(server.stats().await.submissions, 1);
}

#[tokio::test]
async fn stats_count_duplicate_inputs() {
    let server = start(MockConfig { queue_time: Duration::from_secs(5), ..config() }).await;
    let client = client();
    let (front, tail) = upload_frames(&client, &server.base_url).await;
    let same = kling_input(&front, &tail, "twice");
    // The same input with its keys in another order is the same input.
    let reordered: Value = serde_json::from_str(&format!(
        r#"{{"duration":"5","tail_image_url":"{tail}","image_url":"{front}","prompt":"twice"}}"#
    ))
    .unwrap();
    let first = submit_ok(&client, &server.base_url, KLING, &same).await;
    let second = submit_ok(&client, &server.base_url, KLING, &reordered).await;
    submit_ok(&client, &server.base_url, KLING, &kling_input(&front, &tail, "once")).await;
    let invalid =
        submit(&client, &server.base_url, KLING, &serde_json::json!({"prompt": "x"})).await;
    assert_eq!(invalid.status(), 422);

    let stats = server.stats().await;
    assert_eq!(stats.submissions, 3);
    assert_eq!(stats.rejected_submissions, 1);
    assert_eq!(stats.inputs.len(), 2);
    assert_eq!(stats.duplicates.len(), 1);
    let duplicate = &stats.duplicates[0];
    assert_eq!(duplicate.count, 2);
    assert_eq!(duplicate.model, KLING);
    assert_eq!(duplicate.prompt.as_deref(), Some("twice"));
    assert_eq!(duplicate.request_ids, [url(&first, "request_id"), url(&second, "request_id")]);
    assert_eq!(stats.prompts["twice"], 2);
    assert_eq!(stats.prompts["once"], 1);
    assert_eq!(stats.requests["submit"], 4);

    let (code, over_http) = get_json(&client, &format!("{}/_mock/stats", server.base_url)).await;
    assert_eq!(code, 200);
    assert_eq!(over_http["duplicates"][0]["count"], 2);
    assert_eq!(over_http["jobs"]["in_queue"], 3);

    server.reset();
    let stats = server.stats().await;
    assert_eq!(stats.submissions, 0);
    assert!(stats.inputs.is_empty());
    let (code, _) = get_json(&client, &url(&first, "status_url")).await;
    assert_eq!(code, 404, "reset drops jobs");
}
