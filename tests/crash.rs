//! `kill -9` of the CLI mid-batch, then `segue resume`: every job succeeds
//! exactly once and the output folder never contains a partial clip.

mod support;

use std::time::{Duration, Instant};

use segue_engine::{JobFilter, JobState};
use support::{fixture, run, segue};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_mid_batch_then_resume() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let photos = work.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    let names = [
        "01-dandelions-1920x1080.jpg",
        "02-interior-portrait-1280x1920.jpg",
        "03-astronaut-512x512.jpg",
        "04-coffee-600x400.jpg",
        "05-mountains-1600x1200.jpg",
        "06-storm-road-1920x1280.jpg",
        "08-sunset-square-1440x1440.jpg",
    ];
    for name in names {
        std::fs::copy(fixture(name), photos.join(name)).unwrap();
    }
    let out = work.path().join("out");
    let mut child = segue(data.path())
        .args(["batch", "-d", "2", "-r", "720p", "--out"])
        .arg(&out)
        .arg(&photos)
        .stderr(std::fs::File::create(work.path().join("batch.log")).unwrap())
        .spawn()
        .unwrap();

    // Kill once at least one clip is done and others are still running.
    let store = support::store(data.path()).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the batch made no progress");
        if child.try_wait().unwrap().is_some() {
            let log = std::fs::read_to_string(work.path().join("batch.log")).unwrap_or_default();
            panic!("the batch ended before it could be killed:\n{log}");
        }
        let jobs = store.list_jobs(&JobFilter::default()).await.unwrap_or_default();
        let done = jobs.iter().filter(|j| j.state == JobState::Succeeded).count();
        let running =
            jobs.iter().filter(|j| j.state == JobState::Running && j.progress > 0.2).count();
        if done >= 1 && running >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();

    let jobs = store.list_jobs(&JobFilter::default()).await.unwrap();
    assert_eq!(jobs.len(), 6);
    let unfinished = jobs.iter().filter(|j| !j.state.is_terminal()).count();
    assert!(unfinished >= 1, "nothing was left to resume");
    for file in support::files_in(&out) {
        let facts = segue_engine::output::verify_mp4(&file);
        assert!(
            facts.is_ok(),
            "partial or broken file in the output folder after kill: {}",
            file.display()
        );
    }

    let resumed = run(segue(data.path()).args(["resume"]));
    assert!(resumed.status.success());
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(stderr.contains(&format!("resuming {unfinished} unfinished jobs")), "{stderr}");

    let jobs = store.list_jobs(&JobFilter::default()).await.unwrap();
    for job in &jobs {
        assert_eq!(job.state, JobState::Succeeded, "{}", job.spec.name);
        let attempts = store.attempts(job.id).await.unwrap();
        let successes = attempts.iter().filter(|a| a.outcome == "succeeded").count();
        assert_eq!(successes, 1, "{} succeeded {successes} times", job.spec.name);
        assert!(attempts.iter().all(|a| a.outcome == "succeeded" || a.outcome == "interrupted"));
    }
    let files = support::files_in(&out);
    assert_eq!(files.len(), 6, "{files:?}");
    for file in &files {
        assert_eq!(file.extension().unwrap(), "mp4");
        let facts = segue_engine::output::verify_mp4(file).unwrap();
        assert_eq!(facts.frames, 60);
    }
    let again = run(segue(data.path()).args(["resume"]));
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to resume"));
}
