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
    assert_eq!(jobs[0].soft_limit_ms, 2_400_000, "fal jobs did not get their longer soft limit");
    assert_eq!(jobs[0].hard_limit_ms, 3_600_000);
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

/// Faults for a 20-job batch, one or more per step of fal's protocol, given
/// as prompt markers. Each `times` bound lets the job recover; the two
/// `job:` faults are permanent. Upload faults are global rules, because an
/// upload happens before the mock has seen the job's prompt.
const BATCH_FAULTS: [&str; 20] = [
    "",
    "submit:429:retry_after=1:times=1",
    "submit:503:times=2",
    "submit:502:request_id=false:times=1",
    "submit:504:times=1",
    "result:502:times=1",
    "stream:reset:times=9] [fault:status:503:times=2",
    "stream:reset:times=9] [fault:status:500:times=1",
    "stream:reset:times=9] [fault:status:stall:duration=300ms:times=1",
    "stream:reset:times=9] [fault:status:malformed_json:times=1",
    "stream:cut_stream:times=1",
    "stream:reset:times=1",
    "result:503:times=1",
    "result:reset:times=1",
    "file_get:truncated:times=1",
    "file_get:short_no_length:times=1",
    "file_get:503:times=1",
    "file_get:reset:times=1",
    "job:completed_error",
    "job:result_error",
];

fn fal_command(data: &std::path::Path, mock: &MockServer) -> std::process::Command {
    let mut command = segue(data);
    command
        .env("FAL_KEY", KEY)
        .env("SEGUE_FAL_QUEUE_URL", &mock.base_url)
        .env("SEGUE_FAL_REST_URL", &mock.base_url);
    command
}

/// Writes a manifest with one job per fault. The photos are large enough
/// that the client uploads them instead of sending data URIs.
fn fal_manifest(dir: &std::path::Path, faults: &[&str]) -> std::path::PathBuf {
    let rows: Vec<serde_json::Value> = faults
        .iter()
        .enumerate()
        .map(|(i, fault)| {
            let marker = if fault.is_empty() { String::new() } else { format!(" [fault:{fault}]") };
            serde_json::json!({
                "front": fixture("01-dandelions-1920x1080.jpg"), "tail": fixture("05-mountains-1600x1200.jpg"),
                "name": format!("fal-{i:02}"), "prompt": format!("shot {i}{marker}"), "duration": 5
            })
        })
        .collect();
    let manifest = dir.join("fal.json");
    std::fs::write(&manifest, serde_json::to_string(&rows).unwrap()).unwrap();
    manifest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_faulted_jobs_at_concurrency_ten() {
    let config = MockConfig { keys: vec![KEY.to_string()], concurrency: 10, ..MockConfig::fast() };
    let mock = MockServer::start(config).await.unwrap();
    for rule in
        ["upload_initiate:503:times=2", "upload_put:500:times=2", "upload_put:reset:times=1"]
    {
        mock.try_add_fault(rule.parse().unwrap()).unwrap();
    }
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let manifest = fal_manifest(work.path(), &BATCH_FAULTS);
    let output = fal_command(data.path(), &mock)
        .args(["--json", "batch", "--provider", "fal", "-j", "10", "--retry-delay", "0.2", "--out"])
        .arg(work.path().join("out"))
        .arg(&manifest)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each stdout line is a JSON event"))
        .collect();
    let kinds: std::collections::HashSet<&str> =
        events.iter().filter_map(|event| event["event"].as_str()).collect();
    for kind in
        ["queued", "started", "queue_position", "provider_log", "progress", "succeeded", "failed"]
    {
        assert!(kinds.contains(kind), "no {kind} event in {kinds:?}");
    }

    let store = support::store(data.path()).await;
    let jobs = store.list_jobs(&Default::default()).await.unwrap();
    assert_eq!(jobs.len(), 20);
    for job in &jobs {
        let permanent = job.spec.prompt.contains("job:");
        if permanent {
            assert_eq!(job.state, segue_engine::JobState::Failed, "{}", job.spec.prompt);
            let message = job.error_message.clone().unwrap_or_default();
            assert!(!message.is_empty(), "{}: no error text", job.spec.prompt);
        } else {
            assert_eq!(
                job.state,
                segue_engine::JobState::Succeeded,
                "{}: {:?}",
                job.spec.prompt,
                job.error_message
            );
            assert!(segue_engine::output::verify_mp4(&job.output.as_ref().unwrap().path).is_ok());
        }
    }
    let failed: Vec<_> = jobs.iter().filter_map(|j| j.error_message.clone()).collect();
    let distinct: std::collections::HashSet<_> = failed.iter().collect();
    assert_eq!(distinct.len(), failed.len(), "two failures share one message: {failed:?}");
    let stats = mock.stats().await;
    assert!(stats.duplicates.is_empty(), "submitted twice: {:?}", stats.duplicates);
    assert_eq!(stats.submissions, 20);
    let fired: std::collections::HashSet<&str> =
        stats.faults_injected.keys().map(|key| key.split(':').next().unwrap_or_default()).collect();
    for step in
        ["submit", "upload_initiate", "upload_put", "status", "stream", "result", "file_get", "job"]
    {
        assert!(fired.contains(step), "no fault fired at {step}: {:?}", stats.faults_injected);
    }
    mock.shutdown().await;
}

/// `-j` sets how many fal jobs run at once. With `-j 12` all 12 jobs start
/// before the first one finishes, past fal's default of 10.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_flag_sets_fal_jobs_at_once() {
    let config = MockConfig {
        keys: vec![KEY.to_string()],
        concurrency: 12,
        generation_time: std::time::Duration::from_secs(3),
        ..MockConfig::fast()
    };
    let mock = MockServer::start(config).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let manifest = fal_manifest(work.path(), &[""; 12]);
    let output = fal_command(data.path(), &mock)
        .args(["--json", "batch", "--provider", "fal", "-j", "12", "--out"])
        .arg(work.path().join("out"))
        .arg(&manifest)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));

    let kinds: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON event"))
        .filter_map(|event| event["event"].as_str().map(str::to_string))
        .filter(|kind| kind == "started" || kind == "succeeded")
        .collect();
    let first_success =
        kinds.iter().position(|kind| kind == "succeeded").expect("no succeeded event");
    let started_before = kinds[..first_success].iter().filter(|kind| *kind == "started").count();
    assert_eq!(started_before, 12, "{kinds:?}");
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_submit_then_resume_follows_same_requests() {
    let config = MockConfig {
        keys: vec![KEY.to_string()],
        generation_time: std::time::Duration::from_secs(3),
        concurrency: 2,
        ..MockConfig::fast()
    };
    let mock = MockServer::start(config).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let manifest = fal_manifest(work.path(), &["", "", "", ""]);
    let out = work.path().join("out");
    let mut child = fal_command(data.path(), &mock)
        .args(["batch", "--provider", "fal", "--out"])
        .arg(&out)
        .arg(&manifest)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    let store = support::store(data.path()).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let request_ids = loop {
        assert!(std::time::Instant::now() < deadline, "the jobs were never all submitted");
        assert!(child.try_wait().unwrap().is_none(), "the batch ended before it was killed");
        let jobs = store.list_jobs(&Default::default()).await.unwrap_or_default();
        let ids: Vec<_> = jobs.iter().filter_map(|j| j.provider_request_id.clone()).collect();
        if jobs.len() == 4 && ids.len() == 4 {
            break ids;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(mock.stats().await.submissions, 4);

    let resumed = fal_command(data.path(), &mock).arg("resume").output().unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let jobs = store.list_jobs(&Default::default()).await.unwrap();
    for job in &jobs {
        assert_eq!(job.state, segue_engine::JobState::Succeeded, "{:?}", job.error_message);
        assert!(
            request_ids.contains(job.provider_request_id.as_ref().unwrap()),
            "a new request id appeared"
        );
    }
    let stats = mock.stats().await;
    assert_eq!(stats.submissions, 4, "resume submitted again");
    assert!(stats.duplicates.is_empty());
    assert_eq!(support::files_in(&out).len(), 4);
    mock.shutdown().await;
}

#[test]
fn models_lists_every_model_with_prices() {
    let data = tempfile::tempdir().unwrap();
    let output = segue(data.path()).args(["--json", "models"]).output().unwrap();
    assert!(output.status.success());
    let models: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    assert_eq!(models.len(), segue_fal::models().len());
    for id in [
        "fal-ai/kling-video/v1.6/pro/image-to-video",
        "fal-ai/kling-video/v2.6/pro/image-to-video",
        "fal-ai/pixverse/v5/transition",
        "fal-ai/vidu/start-end-to-video",
        "fal-ai/luma-dream-machine/ray-2/image-to-video",
        "fal-ai/wan-flf2v",
        "fal-ai/veo3.1/first-last-frame-to-video",
    ] {
        assert!(models.iter().any(|m| m["id"] == id), "{id} missing");
    }
    let kling = models.iter().find(|m| m["id"] == segue_fal::DEFAULT_MODEL).unwrap();
    assert_eq!(kling["durations_s"], "5, 10");
    assert!(kling["price_usd"].as_f64().unwrap() > 0.0);
}

#[test]
fn missing_key_names_where_to_set_it() {
    let data = tempfile::tempdir().unwrap();
    let front = fixture("04-coffee-600x400.jpg");
    let output = segue(data.path())
        .env_remove("FAL_KEY")
        .args(["generate", "--provider", "fal"])
        .arg(&front)
        .arg(&front)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("FAL_KEY"), "{stderr}");
    assert!(stderr.contains("settings"), "{stderr}");
}
