//! The queue and storage client against the fal mock on 127.0.0.1: model
//! inputs accepted by the mock's strict schemas, status following by stream
//! and by polling, cancel replies and uploads.

mod support;

use fal_mock::{Fault, FaultRule, Step};
use segue_engine::job::JobSpec;
use segue_fal::{
    CancelReply, FalClient, FalError, FollowEvent, QueueRequest, QueueState, ResultReply, follow,
    models, plan,
};
use segue_render::{Aspect, OutputSettings, Resolution, TransitionKind};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use support::{fal_config, fixture_images, start_mock};

/// Returns a spec that `model` accepts, using every optional setting it has.
fn valid_spec(
    model: &segue_fal::ModelInfo,
    front: &std::path::Path,
    tail: &std::path::Path,
) -> JobSpec {
    let duration_s = match model.durations {
        segue_fal::Durations::Choices(choices) => f64::from(choices[0].0),
        segue_fal::Durations::Fixed(seconds) => f64::from(seconds),
        segue_fal::Durations::Frames { .. } => 5.0,
    };
    let resolution = if model.resolutions.is_empty() || model.resolutions.contains(&"720p") {
        Resolution::P720
    } else {
        Resolution::P1080
    };
    JobSpec {
        name: "t".into(),
        front: front.to_path_buf(),
        tail: tail.to_path_buf(),
        kind: TransitionKind::Energetic,
        prompt: "a harbour at dawn".into(),
        negative_prompt: if model.negative_prompt {
            "text, watermark".into()
        } else {
            String::new()
        },
        seed: model.seed.then_some(42),
        provider: "fal".into(),
        model: model.id.into(),
        output: OutputSettings {
            aspect: Aspect::Landscape16x9,
            resolution,
            duration_s,
            ..OutputSettings::default()
        },
    }
}

#[tokio::test]
async fn every_model_input_is_accepted() {
    let mock = start_mock().await;
    let client = FalClient::new(fal_config(&mock)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (front, tail) = fixture_images(dir.path());
    let served = fal_mock::served_models();
    for model in models() {
        assert!(served.contains(&model.id), "the mock does not serve {}", model.id);
        let spec = valid_spec(model, &front, &tail);
        let plan = plan(&spec).unwrap_or_else(|err| panic!("{}: {err}", model.id));
        let frames = segue_fal::prepare_frames(&spec, &plan).unwrap();
        let front_url = client.upload(frames.front.bytes, "image/jpeg", "front.jpg").await.unwrap();
        let tail_url = client.upload(frames.tail.bytes, "image/jpeg", "tail.jpg").await.unwrap();
        let input = plan.input(&front_url, &tail_url, frames.aspect_ratio);
        let submitted = client.submit(model.id, &input).await;
        assert!(submitted.is_ok(), "{}: {:?}\ninput: {input}", model.id, submitted.err());
    }
    let stats = mock.stats().await;
    assert_eq!(stats.submissions, models().len() as u64);
    assert_eq!(stats.rejected_submissions, 0);
    assert_eq!(stats.uploads.stored, 2 * models().len() as u64);
}

#[tokio::test]
async fn invalid_enum_is_rejected_with_field_detail() {
    let mock = start_mock().await;
    let client = FalClient::new(fal_config(&mock)).unwrap();
    let url = mock.store_file(tiny_png(), "image/png", "a.png");
    let input = json!({"prompt": "p", "image_url": url, "tail_image_url": url, "duration": "7"});
    let error =
        client.submit("fal-ai/kling-video/v2.1/pro/image-to-video", &input).await.unwrap_err();
    assert_eq!(error.status(), Some(422));
    assert!(!error.is_retryable());
    let message = error.to_string();
    assert!(message.contains("duration: Input should be '5' or '10'"), "{message}");
}

#[tokio::test]
async fn stream_follows_to_completion() {
    let mock = start_mock().await;
    let client = FalClient::new(fal_config(&mock)).unwrap();
    let request = submit_small(&mock, &client, "calm").await;
    let mut events = Vec::new();
    let stop = CancellationToken::new();
    let status = follow(&client, &request, &stop, &mut |event| events.push(event)).await.unwrap();
    assert_eq!(status.status, QueueState::Completed);
    assert!(events.contains(&FollowEvent::Running), "{events:?}");
    let stats = mock.stats().await;
    assert!(stats.requests.get("stream").copied().unwrap_or(0) >= 1, "{:?}", stats.requests);
    match client.result(&request).await.unwrap() {
        ResultReply::Ready(body) => assert!(body.contains("\"video\""), "{body}"),
        ResultReply::Pending => panic!("the result is pending after COMPLETED"),
    }
}

#[tokio::test]
async fn cut_streams_fall_back_to_polling() {
    let mock = start_mock().await;
    mock.add_fault(FaultRule::new(Step::Stream, Fault::CutStream));
    let client = FalClient::new(fal_config(&mock)).unwrap();
    let request = submit_small(&mock, &client, "cut").await;
    let stop = CancellationToken::new();
    let status = follow(&client, &request, &stop, &mut |_| {}).await.unwrap();
    assert_eq!(status.status, QueueState::Completed);
    let stats = mock.stats().await;
    let streams = stats.requests.get("stream").copied().unwrap_or(0);
    let config = fal_config(&mock);
    assert_eq!(streams, u64::from(config.stream_reconnects) + 1, "{:?}", stats.requests);
    assert!(stats.requests.get("status").copied().unwrap_or(0) >= 1, "{:?}", stats.requests);
}

#[tokio::test]
async fn polling_retries_503() {
    let mock = start_mock().await;
    mock.add_fault(FaultRule::new(Step::Status, http(503)).times(2));
    let mut config = fal_config(&mock);
    config.use_stream = false;
    let client = FalClient::new(config).unwrap();
    let request = submit_small(&mock, &client, "poll").await;
    let stop = CancellationToken::new();
    let status = follow(&client, &request, &stop, &mut |_| {}).await.unwrap();
    assert_eq!(status.status, QueueState::Completed);
    let stats = mock.stats().await;
    assert_eq!(stats.faults_injected.get("status:503"), Some(&2), "{:?}", stats.faults_injected);
    assert_eq!(stats.requests.get("stream"), None);
}

#[tokio::test]
async fn polling_gives_up_after_retry_budget() {
    let mock = start_mock().await;
    mock.add_fault(FaultRule::new(Step::Status, http(502)));
    let mut config = fal_config(&mock);
    config.use_stream = false;
    let retries = config.retry.max_retries;
    let client = FalClient::new(config).unwrap();
    let request = submit_small(&mock, &client, "down").await;
    let error =
        follow(&client, &request, &CancellationToken::new(), &mut |_| {}).await.unwrap_err();
    assert!(
        matches!(error, segue_fal::FollowError::Fal(ref e) if e.status() == Some(502)),
        "{error:?}"
    );
    let stats = mock.stats().await;
    assert_eq!(stats.requests.get("status"), Some(&(u64::from(retries) + 1)));
}

#[tokio::test]
async fn cancel_replies_are_parsed() {
    let mock = start_mock().await;
    let client = FalClient::new(fal_config(&mock)).unwrap();
    let request = submit_small(&mock, &client, "cancel me").await;
    assert_eq!(client.cancel(&request).await.unwrap(), CancelReply::Requested);

    let done = submit_small(&mock, &client, "finish first").await;
    follow(&client, &done, &CancellationToken::new(), &mut |_| {}).await.unwrap();
    assert_eq!(client.cancel(&done).await.unwrap(), CancelReply::AlreadyCompleted);

    let config = fal_config(&mock);
    let unknown =
        QueueRequest::from_id(&config.queue_url, "fal-ai/kling-video/x", "no-such-id").unwrap();
    assert_eq!(client.cancel(&unknown).await.unwrap(), CancelReply::NotFound);
}

#[tokio::test]
async fn resumed_request_urls_reach_the_same_job() {
    let mock = start_mock().await;
    let client = FalClient::new(fal_config(&mock)).unwrap();
    let submitted = submit_small(&mock, &client, "resume").await;
    let config = fal_config(&mock);
    let rebuilt = QueueRequest::from_id(
        &config.queue_url,
        "fal-ai/kling-video/v2.1/pro/image-to-video",
        &submitted.request_id,
    )
    .unwrap();
    assert_eq!(rebuilt, submitted);
}

#[tokio::test]
async fn wrong_key_gets_401() {
    let mock = start_mock().await;
    let mut config = fal_config(&mock);
    config.key = Some(segue_fal::FalKey::new("wrong-key").unwrap());
    let client = FalClient::new(config).unwrap();
    let error = client.upload(vec![1, 2, 3], "image/png", "a.png").await.unwrap_err();
    assert_eq!(error.status(), Some(401));
    assert!(error.to_string().contains("No user found"), "{error}");
}

#[tokio::test]
async fn connect_failure_is_not_sent() {
    // A listener that is bound and dropped leaves a port nothing accepts on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = segue_fal::FalConfig::default()
        .with_base_url(&format!("http://127.0.0.1:{port}"))
        .with_key(segue_fal::FalKey::new("k").unwrap());
    let client = FalClient::new(config).unwrap();
    let error = client.submit("fal-ai/wan-flf2v", &json!({})).await.unwrap_err();
    assert!(matches!(error, FalError::Connect { .. }), "{error:?}");
    assert!(error.submit_not_accepted());
}

fn http(status: u16) -> Fault {
    Fault::Http { status, request_id: true, retry_after: None, timeout_user: false }
}

fn tiny_png() -> Vec<u8> {
    let image = image::RgbImage::from_pixel(320, 320, image::Rgb([10, 120, 200]));
    let mut bytes = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

/// Submits a Kling 2.1 job with two stored PNG frames.
async fn submit_small(
    mock: &fal_mock::MockServer,
    client: &FalClient,
    prompt: &str,
) -> QueueRequest {
    let url = mock.store_file(tiny_png(), "image/png", "frame.png");
    let input = json!({"prompt": prompt, "image_url": url, "tail_image_url": url, "duration": "5"});
    let submitted =
        client.submit("fal-ai/kling-video/v2.1/pro/image-to-video", &input).await.unwrap();
    submitted.request
}
