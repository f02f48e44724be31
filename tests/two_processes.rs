//! Two processes writing one history database at once: a batch runs while
//! a second `segue` records and runs jobs of its own.

mod support;

use std::process::Stdio;

use segue_engine::{JobFilter, JobState};
use support::{fixture, segue};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_and_generate_share_the_database() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let photos = work.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    for (i, name) in
        ["03-astronaut-512x512.jpg", "04-coffee-600x400.jpg"].iter().cycle().take(7).enumerate()
    {
        std::fs::copy(fixture(name), photos.join(format!("{i}.jpg"))).unwrap();
    }
    let batch = segue(data.path())
        .args(["batch", "-d", "1", "-r", "720p", "--fps", "24", "--out"])
        .arg(work.path().join("batch-out"))
        .arg(&photos)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut singles = Vec::new();
    for i in 0..4 {
        let child = segue(data.path())
            .args([
                "generate",
                "-d",
                "1",
                "-r",
                "720p",
                "--fps",
                "24",
                "--name",
                &format!("single-{i}"),
                "--out",
            ])
            .arg(work.path().join("single-out"))
            .arg(fixture("08-sunset-square-1440x1440.jpg"))
            .arg(fixture("05-mountains-1600x1200.jpg"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        singles.push(child);
    }
    let mut outputs = vec![batch.wait_with_output().unwrap()];
    outputs.extend(singles.into_iter().map(|c| c.wait_with_output().unwrap()));
    for output in &outputs {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(!stderr.contains("locked"), "{stderr}");
        assert!(!stderr.contains("busy"), "{stderr}");
    }

    let store = support::store(data.path()).await;
    let jobs = store.list_jobs(&JobFilter::default()).await.unwrap();
    assert_eq!(jobs.len(), 10);
    let runners: std::collections::HashSet<_> = jobs.iter().map(|j| j.runner_id.clone()).collect();
    assert_eq!(runners.len(), 5, "each process owns its own jobs");
    for job in &jobs {
        assert_eq!(job.state, JobState::Succeeded, "{}", job.spec.name);
        assert!(job.started_at.is_some());
        assert!(job.finished_at.is_some());
        let attempts = store.attempts(job.id).await.unwrap();
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].outcome, "succeeded");
        assert!(attempts[0].finished_at.is_some());
        assert!(job.output.as_ref().unwrap().path.is_file());
    }
    let log = std::fs::read_to_string(data.path().join("logs/segue.log")).unwrap();
    assert!(!log.contains("database is locked"), "a lock error reached the log");
}
