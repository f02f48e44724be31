//! `FalGenerator` run by a real engine against the fal mock on 127.0.0.1:
//! the happy path, rejection before upload, and each fault the generator
//! must survive or report. Faults are scoped to one job with `[fault:...]`
//! markers in its prompt.

mod support;

use std::time::Duration;

use segue_engine::job::ErrorKind;
use segue_engine::{EnqueueError, JobRecord, JobState, OutputTarget};
use segue_fal::FalKey;

use support::{Harness, describe, fal_config, start_mock};

const KLING: &str = "fal-ai/kling-video/v2.1/pro/image-to-video";

fn assert_succeeded(record: &JobRecord) {
    assert_eq!(record.state, JobState::Succeeded, "{}", describe(record));
    let output = record.output.as_ref().expect("a succeeded job has an output");
    assert!(output.path.is_file(), "{}", output.path.display());
    assert!(output.frames > 0);
}

fn message(record: &JobRecord) -> &str {
    record.error_message.as_deref().unwrap_or("")
}

#[tokio::test]
async fn happy_path_stores_id_result_and_clip() {
    let mock = start_mock().await;
    let harness = Harness::new(fal_config(&mock)).await;
    let record = harness.run_one(harness.request(KLING, "a calm harbour")).await;
    assert_succeeded(&record);
    assert_eq!(record.attempt, 1);
    let request_id = record.provider_request_id.as_deref().expect("the request id is stored");
    let result = record.provider_result.as_deref().expect("the result is stored");
    assert!(result.contains("\"video\""), "{result}");
    assert_eq!(record.price_estimate_usd, Some(0.49));

    let stats = mock.stats().await;
    assert_eq!(stats.submissions, 1);
    assert_eq!(stats.uploads.initiated, 2);
    assert_eq!(stats.uploads.stored, 2);
    assert_eq!(stats.inputs[0].request_ids, [request_id.to_string()]);
    let prompt = stats.inputs[0].prompt.as_deref().unwrap();
    assert!(prompt.starts_with("a calm harbour. Transition:"), "{prompt}");
}

#[tokio::test]
async fn small_frames_go_inline_as_data_uris() {
    let mock = start_mock().await;
    let mut config = fal_config(&mock);
    config.data_uri_limit = 10 * 1024 * 1024;
    let harness = Harness::new(config).await;
    let record = harness.run_one(harness.request(KLING, "inline")).await;
    assert_succeeded(&record);
    let stats = mock.stats().await;
    assert_eq!(stats.uploads.initiated, 0);
    assert_eq!(stats.submissions, 1);
}

#[tokio::test]
async fn impossible_settings_are_rejected_before_upload() {
    let mock = start_mock().await;
    let harness = Harness::new(fal_config(&mock)).await;
    let mut veo = harness.request("fal-ai/veo3.1/first-last-frame-to-video", "x");
    veo.duration = Some(10.0);
    let out = OutputTarget::Dir(harness.dir.path().join("out"));
    let error = harness.engine.enqueue(vec![(veo, out.clone())]).await.unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, EnqueueError::Rejected { .. }), "{text}");
    assert!(text.contains("4, 6 or 8"), "{text}");

    let mut square = harness.request("fal-ai/veo3.1/first-last-frame-to-video", "x");
    square.duration = Some(8.0);
    square.aspect = Some("1:1".into());
    let error = harness.engine.enqueue(vec![(square, out)]).await.unwrap_err();
    assert!(error.to_string().contains("16:9, 9:16 or auto"), "{error}");

    let stats = mock.stats().await;
    assert_eq!(stats.uploads.initiated, 0);
    assert_eq!(stats.submissions + stats.rejected_submissions, 0);
}

#[tokio::test]
async fn submit_429_is_retried_after_retry_after() {
    let mock = start_mock().await;
    let harness = Harness::new(fal_config(&mock)).await;
    let started = std::time::Instant::now();
    let prompt = "busy [fault:submit:429:retry_after=1:times=1]";
    let record = harness.run_one(harness.request(KLING, prompt)).await;
    assert_succeeded(&record);
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was not waited out");
    let stats = mock.stats().await;
    assert_eq!(stats.submissions, 1);
    assert_eq!(stats.rejected_submissions, 1);
    assert_eq!(record.attempt, 1, "the retry happens within the attempt");
}

#[tokio::test]
async fn status_503_while_polling_is_retried() {
    let mock = start_mock().await;
    let mut config = fal_config(&mock);
    config.use_stream = false;
    let harness = Harness::new(config).await;
    let record = harness.run_one(harness.request(KLING, "poll [fault:status:503:times=2]")).await;
    assert_succeeded(&record);
    let stats = mock.stats().await;
    assert_eq!(stats.faults_injected.get("status:503"), Some(&2), "{:?}", stats.faults_injected);
    assert_eq!(stats.submissions, 1);
}

#[tokio::test]
async fn reset_status_stream_is_survived() {
    let mock = start_mock().await;
    let harness = Harness::new(fal_config(&mock)).await;
    let requests = vec![
        harness.request(KLING, "cut [fault:stream:cut_stream:times=2]"),
        harness.request(KLING, "reset [fault:stream:reset]"),
    ];
    let records = harness.run(requests).await;
    for record in &records {
        assert_succeeded(record);
    }
    let stats = mock.stats().await;
    assert_eq!(stats.submissions, 2);
    assert!(stats.requests.get("status").copied().unwrap_or(0) >= 1, "{:?}", stats.requests);
}

#[tokio::test]
async fn completed_with_error_fails_with_its_text() {
    let mock = start_mock().await;
    let harness = Harness::new(fal_config(&mock)).await;
    let prompt =
        "[fault:job:completed_error:error_type=runner_disconnected:error=Runner went away]";
    let record = harness.run_one(harness.request(KLING, prompt)).await;
    assert_eq!(record.state, JobState::Failed, "{}", describe(&record));
    assert!(message(&record).contains("Runner went away"), "{}", describe(&record));
    assert!(message(&record).contains("runner_disconnected"), "{}", describe(&record));
    assert_eq!(mock.stats().await.submissions, 1);
}

#[tokio::test]
async fn result_422_fails_with_fal_detail() {
    let mock = start_mock().await;
    let harness = Harness::new(fal_config(&mock)).await;
    let prompt = "[fault:job:result_error:status=422:error_type=content_policy_violation]";
    let record = harness.run_one(harness.request(KLING, prompt)).await;
    assert_eq!(record.state, JobState::Failed, "{}", describe(&record));
    assert_eq!(record.error_kind.as_deref(), Some("permanent"));
    assert!(message(&record).contains("content_policy_violation"), "{}", describe(&record));
    assert!(message(&record).contains("HTTP 422"), "{}", describe(&record));
    assert_eq!(record.attempt, 1);
}

#[tokio::test]
async fn broken_downloads_are_downloaded_again() {
    let mock = start_mock().await;
    let harness = Harness::new(fal_config(&mock)).await;
    let requests = vec![
        harness.request(KLING, "a [fault:file_get:truncated:times=1]"),
        harness.request(KLING, "b [fault:file_get:short_no_length:times=1]"),
        harness.request(KLING, "c [fault:file_get:short_declared:times=1]"),
        harness.request(KLING, "d [fault:file_get:long_declared:times=1]"),
    ];
    let records = harness.run(requests).await;
    for record in &records {
        assert_succeeded(record);
        assert_eq!(record.attempt, 1, "{}", describe(record));
    }
    let stats = mock.stats().await;
    assert_eq!(stats.submissions, 4);
    for fault in ["truncated", "short_no_length", "short_declared", "long_declared"] {
        let key = format!("file_get:{fault}");
        assert_eq!(stats.faults_injected.get(&key), Some(&1), "{:?}", stats.faults_injected);
    }
}

#[tokio::test]
async fn expired_clip_ends_remote_expired() {
    let mock = start_mock().await;
    let harness = Harness::new(fal_config(&mock)).await;
    let record = harness.run_one(harness.request(KLING, "[fault:file_get:expired]")).await;
    assert_eq!(record.state, JobState::RemoteExpired, "{}", describe(&record));
    assert!(message(&record).contains("segue retry"), "{}", describe(&record));
    assert_eq!(mock.stats().await.submissions, 1);
}

#[tokio::test]
async fn expired_result_ends_remote_expired() {
    let mock = start_mock().await;
    let harness = Harness::new(fal_config(&mock)).await;
    let record = harness.run_one(harness.request(KLING, "[fault:result:expired]")).await;
    assert_eq!(record.state, JobState::RemoteExpired, "{}", describe(&record));
    assert!(message(&record).contains("segue retry"), "{}", describe(&record));
}

#[tokio::test]
async fn lost_submit_reply_ends_submit_unknown() {
    let mock = start_mock().await;
    let harness = Harness::new(fal_config(&mock)).await;
    let record = harness.run_one(harness.request(KLING, "[fault:submit:lost_reply]")).await;
    assert_eq!(record.state, JobState::SubmitUnknown, "{}", describe(&record));
    assert_eq!(record.error_kind.as_deref(), Some(ErrorKind::SubmitUnknown.as_str()));
    assert!(message(&record).contains("segue retry"), "{}", describe(&record));
    let stats = mock.stats().await;
    assert_eq!(stats.submissions, 1);
    assert_eq!(stats.requests.get("submit"), Some(&1));
}

#[tokio::test]
async fn submit_reset_ends_submit_unknown() {
    let mock = start_mock().await;
    let harness = Harness::new(fal_config(&mock)).await;
    // The mock resets the connection without creating a job. The client
    // cannot tell that from a lost reply, so it must not resubmit.
    let record = harness.run_one(harness.request(KLING, "[fault:submit:reset:times=1]")).await;
    assert_eq!(record.state, JobState::SubmitUnknown, "{}", describe(&record));
    assert_eq!(mock.stats().await.requests.get("submit"), Some(&1));
}

#[tokio::test]
async fn stuck_in_queue_times_out_with_position() {
    let mock = start_mock().await;
    let mut config = fal_config(&mock);
    config.start_deadline = Duration::from_millis(800);
    let harness = Harness::new(config).await;
    let record = harness.run_one(harness.request(KLING, "[fault:job:stuck]")).await;
    assert_eq!(record.state, JobState::TimedOut, "{}", describe(&record));
    assert!(message(&record).contains("queue position 0"), "{}", describe(&record));
    assert!(message(&record).contains("cancelled at fal"), "{}", describe(&record));
    let stats = mock.stats().await;
    assert_eq!(stats.cancels.accepted, 1);
    assert_eq!(stats.submissions, 1);
}

#[tokio::test]
async fn rejected_key_names_where_to_set_it() {
    let mock = start_mock().await;
    let config = fal_config(&mock).with_key(FalKey::new("not-the-key").unwrap());
    let harness = Harness::new(config).await;
    let record = harness.run_one(harness.request(KLING, "auth")).await;
    assert_eq!(record.state, JobState::Failed, "{}", describe(&record));
    assert_eq!(record.error_kind.as_deref(), Some("auth"));
    assert!(
        message(&record).contains("set FAL_KEY or save the key in Segue's settings"),
        "{}",
        describe(&record)
    );
    assert_eq!(record.attempt, 1);
    assert_eq!(mock.stats().await.submissions, 0);
}

#[tokio::test]
async fn cancel_while_queued_cancels_at_fal() {
    let mock = start_mock().await;
    let harness = Harness::new(fal_config(&mock)).await;
    let out = OutputTarget::Dir(harness.dir.path().join("out"));
    let ids = harness
        .engine
        .enqueue(vec![(harness.request(KLING, "[fault:job:stuck]"), out)])
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let record = harness.record(ids[0]).await;
        if record.provider_request_id.is_some() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no request id: {}", describe(&record));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    harness.engine.cancel(ids[0]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), harness.engine.wait_idle()).await.unwrap();
    let record = harness.record(ids[0]).await;
    assert_eq!(record.state, JobState::Cancelled, "{}", describe(&record));
    assert_eq!(mock.stats().await.cancels.accepted, 1);
}

#[tokio::test]
async fn new_attempt_resumes_stored_request() {
    let mock = start_mock().await;
    let mut config = fal_config(&mock);
    config.use_stream = false;
    let polls = config.retry.max_retries + 2;
    let harness = Harness::new(config).await;
    let prompt = format!("[fault:status:503:times={polls}]");
    let record = harness.run_one(harness.request(KLING, &prompt)).await;
    assert_succeeded(&record);
    assert_eq!(record.attempt, 2, "{}", describe(&record));
    let stats = mock.stats().await;
    assert_eq!(stats.submissions, 1);
    assert_eq!(stats.requests.get("submit"), Some(&1));
    assert_eq!(stats.uploads.initiated, 2, "the resumed attempt uploads nothing");
}

#[tokio::test]
async fn new_attempt_downloads_stored_result() {
    let mock = start_mock().await;
    let config = fal_config(&mock);
    let downloads = config.download_attempts;
    let harness = Harness::new(config).await;
    let prompt = format!("[fault:file_get:truncated:times={downloads}]");
    let record = harness.run_one(harness.request(KLING, &prompt)).await;
    assert_succeeded(&record);
    assert_eq!(record.attempt, 2, "{}", describe(&record));
    let stats = mock.stats().await;
    assert_eq!(stats.submissions, 1);
    assert_eq!(stats.requests.get("result"), Some(&1), "the stored result is not fetched again");
    assert_eq!(stats.requests.get("file_get"), Some(&(u64::from(downloads) + 1)));
}

#[tokio::test]
async fn broken_result_bodies_are_fetched_again() {
    let mock = start_mock().await;
    let harness = Harness::new(fal_config(&mock)).await;
    let faults = ["malformed_json", "short_no_length", "short_declared", "long_declared"];
    let requests = faults
        .iter()
        .map(|fault| harness.request(KLING, &format!("{fault} [fault:result:{fault}:times=1]")))
        .collect();
    let records = harness.run(requests).await;
    for record in &records {
        assert_succeeded(record);
        assert_eq!(record.attempt, 1, "{}", describe(record));
        let result = record.provider_result.as_deref().unwrap_or_default();
        assert!(serde_json::from_str::<serde_json::Value>(result).is_ok(), "stored {result:?}");
    }
    let stats = mock.stats().await;
    assert_eq!(stats.submissions, 4);
    for fault in faults {
        let key = format!("result:{fault}");
        assert_eq!(stats.faults_injected.get(&key), Some(&1), "{:?}", stats.faults_injected);
    }
}

#[tokio::test]
async fn clip_server_errors_are_downloaded_again() {
    let mock = start_mock().await;
    let harness = Harness::new(fal_config(&mock)).await;
    let requests = vec![
        harness.request(KLING, "a [fault:file_get:500:times=1]"),
        harness.request(KLING, "b [fault:file_get:500:request_id=false:times=1]"),
    ];
    let records = harness.run(requests).await;
    for record in &records {
        assert_succeeded(record);
        assert_eq!(record.attempt, 1, "{}", describe(record));
    }
    let stats = mock.stats().await;
    assert_eq!(stats.submissions, 2);
    assert_eq!(stats.faults_injected.get("file_get:500"), Some(&2), "{:?}", stats.faults_injected);
}

#[tokio::test]
async fn rejected_submit_clears_the_journal() {
    let mock = start_mock().await;
    let mut config = fal_config(&mock);
    config.retry.base_delay = Duration::from_secs(2);
    config.retry.max_delay = Duration::from_secs(2);
    let harness = Harness::new(config).await;
    let out = OutputTarget::Dir(harness.dir.path().join("out"));
    let request = harness.request(KLING, "[fault:submit:503:times=1]");
    let ids = harness.engine.enqueue(vec![(request, out)]).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while mock.stats().await.rejected_submissions == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the submit was never rejected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The client now waits before it submits again. A process killed here
    // must find no submit in flight, or `segue resume` would end the job
    // as submit_unknown although fal rejected the request.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = harness.record(ids[0]).await;
    assert_eq!(waiting.provider_request_id, None, "{}", describe(&waiting));
    assert_eq!(waiting.submit_started_at, None, "{}", describe(&waiting));
    tokio::time::timeout(Duration::from_secs(30), harness.engine.wait_idle()).await.unwrap();
    let record = harness.record(ids[0]).await;
    assert_succeeded(&record);
    assert_eq!(mock.stats().await.submissions, 1);
}

#[tokio::test]
async fn cancel_during_submit_ends_submit_unknown() {
    let mock = start_mock().await;
    let harness = Harness::new(fal_config(&mock)).await;
    let out = OutputTarget::Dir(harness.dir.path().join("out"));
    // The submit is never raced against the stop request, so this one is
    // still in flight when the cancel's grace period ends and the engine
    // drops the attempt.
    let request = harness.request(KLING, "[fault:submit:stall:duration=8s]");
    let ids = harness.engine.enqueue(vec![(request, out)]).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !mock.stats().await.requests.contains_key("submit") {
        assert!(tokio::time::Instant::now() < deadline, "the submit was never sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    harness.engine.cancel(ids[0]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), harness.engine.wait_idle()).await.unwrap();
    let record = harness.record(ids[0]).await;
    assert_eq!(record.state, JobState::SubmitUnknown, "{}", describe(&record));
    assert_eq!(record.error_kind.as_deref(), Some(ErrorKind::SubmitUnknown.as_str()));
    assert!(message(&record).contains("segue retry"), "{}", describe(&record));
    assert_eq!(record.attempt, 1);
}

#[tokio::test]
async fn upload_server_errors_leave_the_job_retryable() {
    let mock = start_mock().await;
    let config = fal_config(&mock);
    // One more 500 than the step retries, so the first attempt ends with it.
    let failures = u64::from(config.retry.max_retries) + 1;
    let rule = format!("upload_initiate:500:times={failures}");
    mock.add_fault(rule.parse().unwrap());
    let harness = Harness::new(config).await;
    let record = harness.run_one(harness.request(KLING, "upload 500")).await;
    assert_succeeded(&record);
    assert_eq!(record.attempt, 2, "{}", describe(&record));
    let stats = mock.stats().await;
    assert_eq!(stats.faults_injected.get("upload_initiate:500"), Some(&failures));
    assert_eq!(stats.submissions, 1);
}
