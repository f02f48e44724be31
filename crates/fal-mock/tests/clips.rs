//! Sources of the result clips: a fixture pair rendered at start and an MP4
//! file.

mod common;

use std::path::PathBuf;

use common::{KLING, client, get_json, kling_input, start, submit_ok, url};
use fal_mock::{ClipSource, MockConfig, MockServer};

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(format!("{}/../../tests/fixtures/images/{name}", env!("CARGO_MANIFEST_DIR")))
}

/// Runs one job with 8x8 frames, which the renderer rejects, and returns
/// the downloaded clip.
async fn clip_of_tiny_job(server: &MockServer) -> Vec<u8> {
    let client = client();
    let tiny = server.store_file(common::fixture("tiny-8x8.png"), "image/png", "tiny.png");
    let reply = submit_ok(&client, &server.base_url, KLING, &kling_input(&tiny, &tiny, "p")).await;
    common::wait_completed(&client, &url(&reply, "status_url")).await;
    let (code, result) = get_json(&client, &url(&reply, "response_url")).await;
    assert_eq!(code, 200, "{result}");
    let video_url = result["video"]["url"].as_str().unwrap();
    client.get(video_url).send().await.unwrap().bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn fixture_clip_serves_every_job() {
    let clip = ClipSource::RenderFixture {
        front: fixture_path("04-coffee-600x400.jpg"),
        tail: fixture_path("03-astronaut-512x512.jpg"),
    };
    let server = start(MockConfig { clip, ..MockConfig::fast() }).await;
    let bytes = clip_of_tiny_job(&server).await;
    assert_eq!(&bytes[4..8], b"ftyp");
    assert!(bytes.len() > 1000, "{} bytes", bytes.len());
}

#[tokio::test]
async fn file_clip_is_served_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let content = b"\0\0\0\x18ftypisom fake clip bytes".to_vec();
    std::fs::write(&path, &content).unwrap();
    let server = start(MockConfig { clip: ClipSource::File { path }, ..MockConfig::fast() }).await;
    assert_eq!(clip_of_tiny_job(&server).await, content);
}

#[tokio::test]
async fn missing_clip_file_fails_start() {
    let clip = ClipSource::File { path: PathBuf::from("/nonexistent/clip.mp4") };
    let error = MockServer::start(MockConfig { clip, ..MockConfig::fast() }).await.err().unwrap();
    assert!(error.to_string().contains("/nonexistent/clip.mp4"), "{error}");
    let clip = ClipSource::RenderFixture {
        front: fixture_path("not-an-image.jpg"),
        tail: fixture_path("tiny-8x8.png"),
    };
    let error = MockServer::start(MockConfig { clip, ..MockConfig::fast() }).await.err().unwrap();
    assert!(error.to_string().contains("cannot render the fixture clip"), "{error}");
}
