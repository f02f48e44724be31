//! Helpers shared by the integration tests: a client, fixture frames,
//! uploads and polling.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use fal_mock::{MockConfig, MockServer};
use serde_json::{Value, json};

/// Key the default config accepts.
pub const KEY: &str = "test-key";
/// Kling v1.6, whose input takes `image_url` and `tail_image_url`.
pub const KLING: &str = "fal-ai/kling-video/v1.6/pro/image-to-video";

/// Starts a server with `config`.
pub async fn start(config: MockConfig) -> MockServer {
    MockServer::start(config).await.expect("mock server starts")
}

/// Returns an HTTP client with a 10-second request timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client builds")
}

/// Reads an image from the workspace's fixture folder.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../tests/fixtures/images/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("cannot read {path}: {error}"))
}

/// Uploads `bytes` through initiate and the signed PUT and returns the
/// file URL.
pub async fn upload(client: &reqwest::Client, base: &str, bytes: Vec<u8>, name: &str) -> String {
    let initiated: Value = client
        .post(format!("{base}/storage/upload/initiate?storage_type=fal-cdn-v3"))
        .header("authorization", format!("Key {KEY}"))
        .json(&json!({ "content_type": "image/jpeg", "file_name": name }))
        .send()
        .await
        .expect("initiate is sent")
        .error_for_status()
        .expect("initiate succeeds")
        .json()
        .await
        .expect("initiate returns JSON");
    let upload_url = initiated["upload_url"].as_str().expect("upload_url is a string");
    let put = client
        .put(upload_url)
        .header("content-type", "image/jpeg")
        .body(bytes)
        .send()
        .await
        .expect("PUT is sent");
    assert_eq!(put.status(), 200, "signed PUT status");
    initiated["file_url"].as_str().expect("file_url is a string").to_owned()
}

/// Uploads the two standard fixture frames and returns their URLs.
pub async fn upload_frames(client: &reqwest::Client, base: &str) -> (String, String) {
    let front = upload(client, base, fixture("04-coffee-600x400.jpg"), "front.jpg").await;
    let tail = upload(client, base, fixture("03-astronaut-512x512.jpg"), "tail.jpg").await;
    (front, tail)
}

/// Returns a valid Kling v1.6 input.
pub fn kling_input(front: &str, tail: &str, prompt: &str) -> Value {
    json!({ "prompt": prompt, "image_url": front, "tail_image_url": tail, "duration": "5" })
}

/// Posts `input` to the submit endpoint of `model` with the standard key.
pub async fn submit(
    client: &reqwest::Client,
    base: &str,
    model: &str,
    input: &Value,
) -> reqwest::Response {
    client
        .post(format!("{base}/{model}"))
        .header("authorization", format!("Key {KEY}"))
        .json(input)
        .send()
        .await
        .expect("submit is sent")
}

/// Submits and returns the 200 reply body.
pub async fn submit_ok(client: &reqwest::Client, base: &str, model: &str, input: &Value) -> Value {
    let response = submit(client, base, model, input).await;
    let status = response.status();
    let body: Value = response.json().await.expect("submit returns JSON");
    assert_eq!(status, 200, "submit reply: {body}");
    body
}

/// Sends an authenticated GET and returns status code and JSON body.
pub async fn get_json(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = client
        .get(url)
        .header("authorization", format!("Key {KEY}"))
        .send()
        .await
        .expect("GET is sent");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Polls `status_url` every 50 ms until COMPLETED, for at most 20 s.
pub async fn wait_completed(client: &reqwest::Client, status_url: &str) -> Value {
    for _ in 0..400 {
        let (code, body) = get_json(client, status_url).await;
        if body["status"] == "COMPLETED" {
            assert_eq!(code, 200, "COMPLETED status code");
            return body;
        }
        assert_eq!(code, 202, "status code before completion: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{status_url} did not complete within 20 s");
}

/// Polls `status_url` until its status is `wanted`, for at most 10 s.
pub async fn wait_status(client: &reqwest::Client, status_url: &str, wanted: &str) -> Value {
    for _ in 0..200 {
        let (_, body) = get_json(client, status_url).await;
        if body["status"] == wanted {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{status_url} did not reach {wanted} within 10 s");
}

/// Returns the string at `key` of a submit reply.
pub fn url(reply: &Value, key: &str) -> String {
    reply[key].as_str().unwrap_or_else(|| panic!("{key} missing in {reply}")).to_owned()
}
