//! The `fal-mock` binary: flags, the printed URL and fault files.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

/// A running `fal-mock` process, killed on drop.
struct Running {
    child: Child,
    base_url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary with `args` and reads the URL it prints.
fn run(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fal-mock"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("fal-mock starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("fal-mock prints a line");
    let base_url = line
        .trim()
        .strip_prefix("fal-mock listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Running { child, base_url }
}

#[tokio::test]
async fn binary_serves_with_flags() {
    let dir = tempfile::tempdir().unwrap();
    let faults = dir.path().join("faults.json");
    std::fs::write(&faults, r#"["upload_initiate:503:times=1"]"#).unwrap();
    let running = run(&[
        "--listen",
        "127.0.0.1:0",
        "--key",
        "cli-key",
        "--faults",
        faults.to_str().unwrap(),
        "--fault",
        "file_get:expired",
    ]);
    assert!(running.base_url.starts_with("http://127.0.0.1:"), "{}", running.base_url);
    let client = reqwest::Client::new();
    let initiate = || {
        client
            .post(format!("{}/storage/upload/initiate", running.base_url))
            .header("authorization", "Key cli-key")
            .json(&json!({"content_type": "image/png"}))
            .send()
    };
    assert_eq!(initiate().await.unwrap().status(), 503, "rule from --faults");
    let initiated: Value = initiate().await.unwrap().json().await.unwrap();
    let file_url = initiated["file_url"].as_str().unwrap();
    assert_eq!(client.get(file_url).send().await.unwrap().status(), 404, "rule from --fault");

    let wrong_key = client
        .post(format!("{}/storage/upload/initiate", running.base_url))
        .header("authorization", "Key test-key")
        .json(&json!({"content_type": "image/png"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status(), 401, "--key replaces the default key");
    let stats: Value = client
        .get(format!("{}/_mock/stats", running.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["faults_injected"]["upload_initiate:503"], 1);
}

#[test]
fn binary_rejects_non_loopback_listen() {
    let output = Command::new(env!("CARGO_BIN_EXE_fal-mock"))
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .expect("fal-mock runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("loopback"), "{stderr}");
}

#[test]
fn binary_rejects_bad_fault_rule() {
    let output = Command::new(env!("CARGO_BIN_EXE_fal-mock"))
        .args(["--fault", "status:teapot"])
        .output()
        .expect("fal-mock runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("teapot"), "{stderr}");
}
