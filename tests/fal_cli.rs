//! `segue --provider fal` end to end against the fal mock on loopback:
//! faults on some jobs, no duplicate submission, and the API key in no
//! output, log or database file.

mod support;

use fal_mock::{MockConfig, MockServer};
use support::{fixture, segue};

const KEY: &str = "sk-test-5f3a9c0e7d21-never-print-me";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fal_batch_with_faults_keeps_the_key_secret() {
    let mock = MockServer::start(MockConfig { keys: vec![KEY.to_string()], ..MockConfig::fast() })
        .await
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let prompts = [
        "a calm morning",
        "a busy street [fault:submit:429:retry_after=1:times=1]",
        "a quiet harbour [fault:status:503:times=2]",
        "a bright field [fault:job:completed_error]",
        "a dark forest [fault:file_get:truncated:times=1]",
    ];
    let rows: Vec<serde_json::Value> = prompts
        .iter()
        .enumerate()
        .map(|(i, prompt)| {
            serde_json::json!({
                "front": fixture("04-coffee-600x400.jpg"), "tail": fixture("03-astronaut-512x512.jpg"),
                "name": format!("fal-{i}"), "prompt": prompt, "duration": 5
            })
        })
        .collect();
    let manifest = work.path().join("fal.json");
    std::fs::write(&manifest, serde_json::to_string(&rows).unwrap()).unwrap();
    let output = segue(data.path())
        .env("FAL_KEY", KEY)
        .env("SEGUE_FAL_QUEUE_URL", &mock.base_url)
        .env("SEGUE_FAL_REST_URL", &mock.base_url)
        .env("SEGUE_LOG", "trace")
        .args(["-vvv", "batch", "--provider", "fal", "--retry-delay", "0.2", "--out"])
        .arg(work.path().join("out"))
        .arg(&manifest)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("estimated price: $"), "no price shown before queueing");

    let store = support::store(data.path()).await;
    let jobs = store.list_jobs(&Default::default()).await.unwrap();
    assert_eq!(jobs.len(), 5);
    for job in &jobs {
        let failing = job.spec.prompt.contains("completed_error");
        let expected = if failing {
            segue_engine::JobState::Failed
        } else {
            segue_engine::JobState::Succeeded
        };
        assert_eq!(job.state, expected, "{}: {:?}", job.spec.name, job.error_message);
        assert!(job.provider_request_id.is_some(), "{}", job.spec.name);
        assert!(job.price_estimate_usd.is_some());
        if !failing {
            let clip = &job.output.as_ref().unwrap().path;
            assert!(segue_engine::output::verify_mp4(clip).is_ok());
            assert!(job.provider_result.as_deref().unwrap().contains("video"));
        }
    }
    let stats = mock.stats().await;
    assert_eq!(stats.submissions, 5, "{stats:?}");
    assert!(stats.duplicates.is_empty(), "an input was submitted twice: {:?}", stats.duplicates);

    let history = segue(data.path()).args(["history", "--json"]).output().unwrap();
    let show =
        segue(data.path()).args(["--json", "show", &jobs[0].id.to_string()]).output().unwrap();
    let mut haystacks = vec![
        ("stdout".to_string(), stdout.into_bytes()),
        ("stderr".to_string(), stderr.into_bytes()),
        ("history".to_string(), history.stdout),
        ("show".to_string(), show.stdout),
    ];
    for entry in walk(data.path()) {
        haystacks.push((entry.display().to_string(), std::fs::read(&entry).unwrap_or_default()));
    }
    assert!(haystacks.iter().any(|(name, _)| name.ends_with("segue.db")));
    for (name, bytes) in haystacks {
        let found = bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes());
        assert!(!found, "the API key appears in {name}");
    }
    mock.shutdown().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}
