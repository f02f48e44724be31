//! Input validation per model, input image sources, and the storage
//! endpoints.

mod common;

use std::time::Duration;

use base64::Engine;
use common::{
    KEY, KLING, client, fixture, get_json, start, submit, submit_ok, upload, upload_frames,
};
use fal_mock::MockConfig;
use serde_json::{Value, json};

fn config() -> MockConfig {
    MockConfig { queue_time: Duration::from_secs(30), ..MockConfig::fast() }
}

/// A valid input per model, and one invalid value per model with the error
/// type it must produce.
fn cases(
    first: &str,
    last: &str,
) -> Vec<(&'static str, Value, (&'static str, Value, &'static str))> {
    vec![
        (
            "fal-ai/kling-video/v1.6/pro/image-to-video",
            json!({"prompt": "p", "image_url": first, "tail_image_url": last, "duration": "10",
                   "aspect_ratio": "9:16", "negative_prompt": "blur", "cfg_scale": 0.5}),
            ("aspect_ratio", json!("4:3"), "enum"),
        ),
        (
            "fal-ai/kling-video/v2.1/pro/image-to-video",
            json!({"prompt": "p", "image_url": first, "tail_image_url": last, "duration": "5",
                   "negative_prompt": "blur", "cfg_scale": 1.0}),
            ("cfg_scale", json!(-0.1), "greater_than_equal"),
        ),
        (
            "fal-ai/kling-video/v2.5-turbo/pro/image-to-video",
            json!({"prompt": "p", "image_url": first, "tail_image_url": last, "duration": "5"}),
            ("duration", json!("7"), "enum"),
        ),
        (
            "fal-ai/kling-video/v2.6/pro/image-to-video",
            json!({"prompt": "p", "start_image_url": first, "end_image_url": last, "duration": "5",
                   "generate_audio": false, "negative_prompt": "blur", "voice_ids": ["a"]}),
            ("generate_audio", json!("false"), "bool_type"),
        ),
        (
            "fal-ai/pixverse/v5/transition",
            json!({"prompt": "p", "first_image_url": first, "end_image_url": last, "duration": "8",
                   "aspect_ratio": "4:3", "resolution": "720p", "negative_prompt": "", "seed": 7,
                   "style": "clay"}),
            ("prompt", json!("x".repeat(2049)), "string_too_long"),
        ),
        (
            "fal-ai/vidu/start-end-to-video",
            json!({"prompt": "p", "start_image_url": first, "end_image_url": last,
                   "movement_amplitude": "small", "seed": 1}),
            ("movement_amplitude", json!("huge"), "enum"),
        ),
        (
            "fal-ai/luma-dream-machine/ray-2/image-to-video",
            json!({"prompt": "p", "image_url": first, "end_image_url": last, "duration": "9s",
                   "aspect_ratio": "21:9", "resolution": "1080p", "loop": false}),
            ("duration", json!("5"), "enum"),
        ),
        (
            "fal-ai/wan-flf2v",
            json!({"prompt": "p", "start_image_url": first, "end_image_url": last, "num_frames": 100,
                   "frames_per_second": 24, "resolution": "480p", "aspect_ratio": "auto",
                   "negative_prompt": "blur", "seed": 3, "num_inference_steps": 30,
                   "guide_scale": 5.0, "shift": 5.0, "acceleration": "regular",
                   "enable_safety_checker": true, "enable_prompt_expansion": false, "loras": []}),
            ("frames_per_second", json!(25), "less_than_equal"),
        ),
        (
            "fal-ai/veo3.1/first-last-frame-to-video",
            json!({"prompt": "p", "first_frame_url": first, "last_frame_url": last, "duration": "6s",
                   "aspect_ratio": "9:16", "resolution": "4k", "generate_audio": false,
                   "negative_prompt": "blur", "seed": 9, "auto_fix": true, "safety_tolerance": "4"}),
            ("resolution", json!("480p"), "enum"),
        ),
    ]
}

/// Returns the `detail` array of a 422 reply.
async fn detail_of(response: reqwest::Response) -> Vec<Value> {
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    body["detail"].as_array().unwrap_or_else(|| panic!("detail array in {body}")).clone()
}

#[tokio::test]
async fn each_model_accepts_valid_input() {
    let server = start(config()).await;
    let client = client();
    let (first, last) = upload_frames(&client, &server.base_url).await;
    for (model, input, _) in cases(&first, &last) {
        let response = submit(&client, &server.base_url, model, &input).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{model}: {body}");
        let app: Vec<&str> = model.split('/').take(2).collect();
        let expected = format!("{}/{}/requests/", server.base_url, app.join("/"));
        assert!(body["status_url"].as_str().unwrap().starts_with(&expected), "{model}: {body}");
    }
    assert_eq!(server.stats().await.submissions, 9);
}

#[tokio::test]
async fn each_model_rejects_bad_field() {
    let server = start(config()).await;
    let client = client();
    let (first, last) = upload_frames(&client, &server.base_url).await;
    for (model, mut input, (field, bad, error_type)) in cases(&first, &last) {
        input[field] = bad;
        let detail = detail_of(submit(&client, &server.base_url, model, &input).await).await;
        assert_eq!(detail.len(), 1, "{model}: {detail:?}");
        assert_eq!(detail[0]["loc"], json!(["body", field]), "{model}");
        assert_eq!(detail[0]["type"], error_type, "{model}");
        assert!(detail[0]["msg"].as_str().is_some_and(|msg| !msg.is_empty()), "{model}");
    }
    assert_eq!(server.stats().await.submissions, 0);
}

#[tokio::test]
async fn each_model_rejects_unknown_field() {
    let server = start(config()).await;
    let client = client();
    let (first, last) = upload_frames(&client, &server.base_url).await;
    for (model, mut input, _) in cases(&first, &last) {
        // A field of a sibling model is as unknown as a made-up one.
        let foreign =
            if input.get("tail_image_url").is_some() { "end_image_url" } else { "tail_image_url" };
        input[foreign] = json!(last);
        let detail = detail_of(submit(&client, &server.base_url, model, &input).await).await;
        assert_eq!(detail[0]["loc"], json!(["body", foreign]), "{model}");
        assert_eq!(detail[0]["type"], "extra_forbidden", "{model}");
    }
}

#[tokio::test]
async fn each_model_requires_prompt_and_frames() {
    let server = start(config()).await;
    let client = client();
    let (first, last) = upload_frames(&client, &server.base_url).await;
    for (model, _, _) in cases(&first, &last) {
        let detail = detail_of(submit(&client, &server.base_url, model, &json!({})).await).await;
        let missing: Vec<&str> =
            detail.iter().map(|error| error["loc"][1].as_str().unwrap()).collect();
        assert!(missing.contains(&"prompt"), "{model}: {missing:?}");
        assert!(detail.iter().all(|error| error["type"] == "missing"), "{model}");
        // Luma's frames are optional; every other model requires its first frame.
        let frame_missing = missing.iter().any(|field| field.ends_with("_url"));
        let optional_frames = model.starts_with("fal-ai/luma");
        assert_eq!(frame_missing, !optional_frames, "{model}: {missing:?}");
    }
}

#[tokio::test]
async fn foreign_image_url_is_download_error() {
    let server = start(config()).await;
    let client = client();
    let (first, _) = upload_frames(&client, &server.base_url).await;
    let unknown_file = format!("{}/files/0000/none.jpg", server.base_url);
    for url in ["https://v3.fal.media/files/a/front.png", unknown_file.as_str()] {
        let input = common::kling_input(&first, url, "p");
        let detail = detail_of(submit(&client, &server.base_url, KLING, &input).await).await;
        assert_eq!(detail[0]["loc"], json!(["body", "tail_image_url"]), "{url}");
        assert_eq!(detail[0]["type"], "file_download_error", "{url}");
    }
}

#[tokio::test]
async fn data_uri_images_are_decoded() {
    let server = start(config()).await;
    let client = client();
    let encoded = base64::engine::general_purpose::STANDARD.encode(fixture("tiny-8x8.png"));
    let image = format!("data:image/png;base64,{encoded}");
    let input = common::kling_input(&image, &image, "p");
    submit_ok(&client, &server.base_url, KLING, &input).await;

    let text = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(b"not an image")
    );
    let detail = detail_of(
        submit(&client, &server.base_url, KLING, &common::kling_input(&image, &text, "p")).await,
    )
    .await;
    assert_eq!(detail[0]["type"], "image_load_error");
    let broken = "data:image/png;base64,@@@@";
    let detail = detail_of(
        submit(&client, &server.base_url, KLING, &common::kling_input(broken, &image, "p")).await,
    )
    .await;
    assert_eq!(detail[0]["type"], "file_download_error");
}

#[tokio::test]
async fn uploaded_non_image_is_load_error() {
    let server = start(config()).await;
    let client = client();
    let text = upload(&client, &server.base_url, b"plain text".to_vec(), "notes.txt").await;
    let (first, _) = upload_frames(&client, &server.base_url).await;
    let detail = detail_of(
        submit(&client, &server.base_url, KLING, &common::kling_input(&first, &text, "p")).await,
    )
    .await;
    assert_eq!(detail[0]["type"], "image_load_error");
}

#[tokio::test]
async fn invalid_json_body_is_422() {
    let server = start(config()).await;
    let response = client()
        .post(format!("{}/{KLING}", server.base_url))
        .header("authorization", format!("Key {KEY}"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    let detail = detail_of(response).await;
    assert_eq!(detail[0]["type"], "json_invalid");
}

#[tokio::test]
async fn render_failure_is_result_422() {
    let server = start(MockConfig::fast()).await;
    let client = client();
    // An 8x8 PNG is an image, so the submission passes, but the renderer
    // needs at least 64 pixels per side.
    let tiny = server.store_file(fixture("tiny-8x8.png"), "image/png", "tiny.png");
    let (first, _) = upload_frames(&client, &server.base_url).await;
    let reply =
        submit_ok(&client, &server.base_url, KLING, &common::kling_input(&first, &tiny, "p")).await;
    let status = common::wait_completed(&client, reply["status_url"].as_str().unwrap()).await;
    assert!(status.get("error").is_none(), "a model error shows only in the result: {status}");
    let (code, body) = get_json(&client, reply["response_url"].as_str().unwrap()).await;
    assert_eq!(code, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "tail_image_url"]));
    assert_eq!(body["detail"][0]["type"], "image_load_error");
    assert_eq!(server.stats().await.jobs.failed, 1);
}

#[tokio::test]
async fn storage_round_trip() {
    let server = start(config()).await;
    let client = client();
    let initiated: Value = client
        .post(format!("{}/storage/upload/initiate?storage_type=fal-cdn-v3", server.base_url))
        .header("authorization", format!("Key {KEY}"))
        .json(&json!({ "content_type": "image/png", "file_name": "café front.png" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upload_url = initiated["upload_url"].as_str().unwrap();
    let file_url = initiated["file_url"].as_str().unwrap();
    assert!(upload_url.starts_with(&format!("{}/", server.base_url)), "{upload_url}");
    assert!(file_url.starts_with(&format!("{}/files/", server.base_url)), "{file_url}");
    assert!(file_url.ends_with("/caf__front.png"), "{file_url}");
    assert_eq!(client.get(file_url).send().await.unwrap().status(), 404, "no file before the PUT");

    let bytes = fixture("tiny-8x8.png");
    let put = client
        .put(upload_url)
        .header("content-type", "image/png")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let download = client.get(file_url).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "image/png");
    assert_eq!(download.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let forged = upload_url.replace("token=", "token=x");
    assert_eq!(client.put(forged).body("x").send().await.unwrap().status(), 403);
    let stats = server.stats().await;
    assert_eq!(stats.uploads.initiated, 1);
    assert_eq!(stats.uploads.stored, 1);
    assert_eq!(stats.uploads.bytes, bytes.len() as u64);
}

#[tokio::test]
async fn upload_url_and_file_expire() {
    let server = start(MockConfig {
        upload_url_ttl: Duration::from_millis(200),
        file_ttl: Duration::from_millis(400),
        ..config()
    })
    .await;
    let client = client();
    let file_url = upload(&client, &server.base_url, fixture("tiny-8x8.png"), "a.png").await;
    assert_eq!(client.get(&file_url).send().await.unwrap().status(), 200);
    let initiated: Value = client
        .post(format!("{}/storage/upload/initiate", server.base_url))
        .header("authorization", format!("Key {KEY}"))
        .json(&json!({ "content_type": "image/png", "file_name": "b.png" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(client.get(&file_url).send().await.unwrap().status(), 404, "file past its TTL");
    let late =
        client.put(initiated["upload_url"].as_str().unwrap()).body("x").send().await.unwrap();
    assert!(
        matches!(late.status().as_u16(), 403 | 404),
        "upload URL past its TTL: {}",
        late.status()
    );
}

#[tokio::test]
async fn lifecycle_header_sets_file_ttl() {
    let server = start(config()).await;
    let client = client();
    let initiated: Value = client
        .post(format!("{}/storage/upload/initiate", server.base_url))
        .header("authorization", format!("Key {KEY}"))
        .header("x-fal-object-lifecycle", r#"{"expiration_duration_seconds": 0}"#)
        .json(&json!({ "content_type": "image/png", "file_name": "gone.png" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let put = client
        .put(initiated["upload_url"].as_str().unwrap())
        .body(fixture("tiny-8x8.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let file_url = initiated["file_url"].as_str().unwrap();
    assert_eq!(
        client.get(file_url).send().await.unwrap().status(),
        404,
        "a zero lifetime expires at once"
    );
}

#[tokio::test]
async fn storage_initiate_rejects_bad_requests() {
    let server = start(config()).await;
    let client = client();
    let initiate = |query: &str, body: Value| {
        client
            .post(format!("{}/storage/upload/initiate{query}", server.base_url))
            .header("authorization", format!("Key {KEY}"))
            .json(&body)
            .send()
    };
    let response =
        initiate("?storage_type=floppy", json!({"content_type": "image/png"})).await.unwrap();
    assert_eq!(response.status(), 400);
    let response = initiate("", json!({"file_name": "a.png"})).await.unwrap();
    assert_eq!(response.status(), 422);
}
