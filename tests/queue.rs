//! The task pool against scripted generators: concurrency bounds, retries,
//! permanent failures, time limits, cancellation and live concurrency
//! changes, all with a real SQLite file.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use segue_engine::provider::{AttemptContext, GenerateError, Generated, Generator};
use segue_engine::{
    CancelOutcome, Engine, EngineConfig, ErrorKind, JobEvent, JobId, JobRequest, JobState,
    OutputTarget, RetryPolicy, Stage,
};
use tokio::sync::broadcast;

/// What the scripted generator does on one call.
#[derive(Clone, Copy, Debug)]
enum Plan {
    /// Work for this long, then write a valid clip.
    Succeed(Duration),
    /// Fail with a transient error.
    Transient,
    /// Fail with a permanent error.
    Permanent,
    /// Never finish, ignoring the stop request.
    Hang,
    /// Work until asked to stop, then return `stopped`.
    RunUntilStopped,
}

type Script = dyn Fn(&str, u32) -> Plan + Send + Sync;

struct ScriptedGenerator {
    script: Box<Script>,
    running: AtomicUsize,
    max_running: AtomicUsize,
    calls: Mutex<Vec<(String, u32)>>,
}

impl ScriptedGenerator {
    fn new(script: impl Fn(&str, u32) -> Plan + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            script: Box::new(script),
            running: AtomicUsize::new(0),
            max_running: AtomicUsize::new(0),
            calls: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl Generator for ScriptedGenerator {
    fn provider(&self) -> &str {
        "scripted"
    }

    fn default_concurrency(&self) -> usize {
        10
    }

    fn max_concurrency(&self) -> usize {
        64
    }

    async fn generate(&self, ctx: &AttemptContext) -> Result<Generated, GenerateError> {
        self.calls.lock().unwrap().push((ctx.spec.name.clone(), ctx.attempt));
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let result = self.perform(ctx).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

impl ScriptedGenerator {
    async fn perform(&self, ctx: &AttemptContext) -> Result<Generated, GenerateError> {
        match (self.script)(&ctx.spec.name, ctx.attempt) {
            Plan::Succeed(work) => {
                for step in 1..=4 {
                    tokio::time::sleep(work / 4).await;
                    ctx.reporter.progress(Stage::Generating, f64::from(step) / 4.0);
                }
                std::fs::copy(sample_clip(), &ctx.output).unwrap();
                Ok(Generated::default())
            }
            Plan::Transient => {
                Err(GenerateError::transient(ErrorKind::Transient, "provider overloaded (503)"))
            }
            Plan::Permanent => Err(GenerateError::permanent(
                ErrorKind::InvalidInput,
                "front image /x/y.jpg: not an image; choose a JPEG or PNG",
            )),
            Plan::Hang => std::future::pending().await,
            Plan::RunUntilStopped => {
                ctx.stop.cancelled().await;
                Err(GenerateError::stopped())
            }
        }
    }
}

/// Renders a real clip once; every scripted success copies it, so that the
/// pool's MP4 verification runs for real.
fn sample_clip() -> &'static Path {
    static CLIP: OnceLock<PathBuf> = OnceLock::new();
    CLIP.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("segue-test-clip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sample.mp4");
        let settings = segue_render::OutputSettings {
            resolution: segue_render::Resolution::P720,
            fps: 24,
            duration_s: 1.0,
            ..segue_render::OutputSettings::default()
        };
        let job = segue_render::RenderJob {
            front: support::fixture("04-coffee-600x400.jpg"),
            tail: support::fixture("03-astronaut-512x512.jpg"),
            kind: segue_render::TransitionKind::Calm,
            settings,
        };
        let cancel = std::sync::atomic::AtomicBool::new(false);
        segue_render::render(&job, &path, segue_render::Threads::Single, &cancel, &mut |_| {})
            .unwrap();
        path
    })
}

struct Harness {
    engine: Engine,
    generator: Arc<ScriptedGenerator>,
    events: broadcast::Receiver<JobEvent>,
    out: tempfile::TempDir,
    _data: tempfile::TempDir,
}

async fn harness(
    concurrency: usize,
    limits: (Duration, Duration),
    script: impl Fn(&str, u32) -> Plan + Send + Sync + 'static,
) -> Harness {
    sample_clip();
    let data = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(data.path().to_path_buf());
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
    };
    config.soft_limit = limits.0;
    config.hard_limit = limits.1;
    let engine = Engine::open(config).await.unwrap();
    let generator = ScriptedGenerator::new(script);
    engine.register(generator.clone());
    assert_eq!(engine.set_concurrency("scripted", concurrency), Some(concurrency));
    let events = engine.subscribe();
    Harness { engine, generator, events, out: tempfile::tempdir().unwrap(), _data: data }
}

impl Harness {
    async fn enqueue(&self, names: &[&str]) -> Vec<JobId> {
        let requests = names
            .iter()
            .map(|name| {
                let request = JobRequest {
                    front: support::fixture("04-coffee-600x400.jpg"),
                    tail: support::fixture("03-astronaut-512x512.jpg"),
                    name: Some(name.to_string()),
                    provider: Some("scripted".into()),
                    ..JobRequest::default()
                };
                (request, OutputTarget::Dir(self.out.path().to_path_buf()))
            })
            .collect();
        self.engine.enqueue(requests).await.unwrap()
    }

    async fn wait(&self) {
        tokio::time::timeout(Duration::from_secs(60), self.engine.wait_idle())
            .await
            .expect("jobs finish within 60 s");
    }

    fn drain_events(&mut self) -> Vec<JobEvent> {
        let mut events = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            events.push(event);
        }
        events
    }
}

fn quick(_: &str, _: u32) -> Plan {
    Plan::Succeed(Duration::from_millis(120))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_jobs_never_exceed_four_running() {
    let mut h = harness(4, (Duration::from_secs(60), Duration::from_secs(90)), quick).await;
    let names: Vec<String> = (1..=12).map(|i| format!("job-{i:02}")).collect();
    let ids = h.enqueue(&names.iter().map(String::as_str).collect::<Vec<_>>()).await;
    h.wait().await;

    let mut running = HashSet::new();
    let mut max_running = 0;
    let mut started_order = Vec::new();
    for event in h.drain_events() {
        match event {
            JobEvent::Started { job_id, .. } => {
                running.insert(job_id);
                started_order.push(job_id);
                max_running = max_running.max(running.len());
            }
            event if event.is_terminal() || matches!(event, JobEvent::Retrying { .. }) => {
                running.remove(&event.job_id());
            }
            _ => {}
        }
    }
    assert!(max_running <= 4, "events show {max_running} jobs running at once");
    assert_eq!(max_running, 4, "the pool never filled its 4 slots");
    assert!(h.generator.max_running.load(Ordering::SeqCst) <= 4);
    assert_eq!(started_order, ids, "jobs did not start in FIFO order");
    for id in ids {
        let job = h.engine.store().job(id).await.unwrap();
        assert_eq!(job.state, JobState::Succeeded, "{}", job.spec.name);
        let output = job.output.expect("a succeeded job records its output");
        assert!(output.path.is_file());
        assert_eq!(output.frames, 24);
        assert_eq!(output.sha256.len(), 64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_twice_then_success_stores_three_attempts() {
    let mut h = harness(2, (Duration::from_secs(60), Duration::from_secs(90)), |_, attempt| {
        if attempt < 3 { Plan::Transient } else { Plan::Succeed(Duration::from_millis(20)) }
    })
    .await;
    let ids = h.enqueue(&["flaky"]).await;
    h.wait().await;
    let job = h.engine.store().job(ids[0]).await.unwrap();
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!(job.attempt, 3);
    let attempts = h.engine.store().attempts(ids[0]).await.unwrap();
    let outcomes: Vec<&str> = attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["retrying", "retrying", "succeeded"]);
    assert!(attempts[0].error_message.as_deref().unwrap().contains("503"));
    let successes =
        h.drain_events().iter().filter(|e| matches!(e, JobEvent::Succeeded { .. })).count();
    assert_eq!(successes, 1);
    assert_eq!(super_files(h.out.path()), 1);
}

fn super_files(dir: &Path) -> usize {
    support::files_in(dir).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_every_time_gives_up_after_three() {
    let h = harness(2, (Duration::from_secs(60), Duration::from_secs(90)), |_, _| Plan::Transient)
        .await;
    let ids = h.enqueue(&["always-503"]).await;
    h.wait().await;
    let job = h.engine.store().job(ids[0]).await.unwrap();
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.attempt, 3);
    assert!(job.error_message.unwrap().contains("gave up after 3 attempts"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failure_is_not_retried() {
    let h = harness(2, (Duration::from_secs(60), Duration::from_secs(90)), |name, _| {
        if name == "bad" { Plan::Permanent } else { Plan::Succeed(Duration::from_millis(20)) }
    })
    .await;
    let ids = h.enqueue(&["bad", "good"]).await;
    h.wait().await;
    let bad = h.engine.store().job(ids[0]).await.unwrap();
    assert_eq!(bad.state, JobState::Failed);
    assert_eq!(bad.attempt, 1, "a permanent error was retried");
    assert_eq!(bad.error_kind.as_deref(), Some("invalid_input"));
    assert!(bad.error_message.as_deref().unwrap().contains("not an image"));
    let attempts = h.engine.store().attempts(ids[0]).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, "failed");
    let good = h.engine.store().job(ids[1]).await.unwrap();
    assert_eq!(good.state, JobState::Succeeded);
    let calls = h.generator.calls.lock().unwrap().iter().filter(|(n, _)| n == "bad").count();
    assert_eq!(calls, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_limit_times_out_only_the_hung_job() {
    let mut h = harness(4, (Duration::from_millis(300), Duration::from_millis(800)), |name, _| {
        if name == "hung" { Plan::Hang } else { Plan::Succeed(Duration::from_millis(40)) }
    })
    .await;
    let ids = h.enqueue(&["a", "hung", "b", "c"]).await;
    h.wait().await;
    let hung = h.engine.store().job(ids[1]).await.unwrap();
    assert_eq!(hung.state, JobState::TimedOut);
    assert_eq!(hung.error_kind.as_deref(), Some("timeout"));
    assert!(hung.error_message.as_deref().unwrap().contains("hard time limit"));
    assert_eq!(hung.attempt, 1, "a timed-out attempt was retried");
    for &id in [ids[0], ids[2], ids[3]].iter() {
        assert_eq!(h.engine.store().job(id).await.unwrap().state, JobState::Succeeded);
    }
    let events = h.drain_events();
    assert!(
        events.iter().any(|e| matches!(e, JobEvent::Warning { job_id, .. } if *job_id == ids[1]))
    );
    assert!(
        events.iter().any(|e| matches!(e, JobEvent::TimedOut { job_id, .. } if *job_id == ids[1]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_limit_stops_a_cooperative_generator() {
    let h = harness(2, (Duration::from_millis(200), Duration::from_secs(30)), |_, _| {
        Plan::RunUntilStopped
    })
    .await;
    let ids = h.enqueue(&["slow"]).await;
    h.wait().await;
    let job = h.engine.store().job(ids[0]).await.unwrap();
    assert_eq!(job.state, JobState::TimedOut);
    assert!(job.error_message.unwrap().contains("soft time limit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_running_and_queued_jobs() {
    let mut h = harness(1, (Duration::from_secs(60), Duration::from_secs(90)), |name, _| {
        if name == "long" {
            Plan::RunUntilStopped
        } else {
            Plan::Succeed(Duration::from_millis(20))
        }
    })
    .await;
    let ids = h.enqueue(&["long", "waiting", "after"]).await;
    // Wait until the first job runs.
    loop {
        if let Ok(JobEvent::Started { job_id, .. }) = h.events.recv().await
            && job_id == ids[0]
        {
            break;
        }
    }
    assert_eq!(h.engine.cancel(ids[1]).await.unwrap(), CancelOutcome::Cancelled);
    assert_eq!(h.engine.cancel(ids[0]).await.unwrap(), CancelOutcome::Cancelled);
    h.wait().await;
    let store = h.engine.store();
    assert_eq!(store.job(ids[0]).await.unwrap().state, JobState::Cancelled);
    assert_eq!(store.job(ids[1]).await.unwrap().state, JobState::Cancelled);
    assert_eq!(store.job(ids[2]).await.unwrap().state, JobState::Succeeded);
    let attempts = store.attempts(ids[0]).await.unwrap();
    assert_eq!(attempts[0].outcome, "cancelled");
    assert!(store.attempts(ids[1]).await.unwrap().is_empty(), "a cancelled queued job started");
    assert_eq!(
        h.engine.cancel(ids[2]).await.unwrap(),
        CancelOutcome::AlreadyFinished(JobState::Succeeded)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raising_concurrency_while_running() {
    let h = harness(1, (Duration::from_secs(60), Duration::from_secs(90)), |_, _| {
        Plan::Succeed(Duration::from_millis(300))
    })
    .await;
    h.enqueue(&["a", "b", "c", "d", "e", "f"]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.generator.max_running.load(Ordering::SeqCst), 1);
    assert_eq!(h.engine.set_concurrency("scripted", 3), Some(3));
    h.wait().await;
    assert_eq!(h.generator.max_running.load(Ordering::SeqCst), 3);
    assert_eq!(
        h.engine.set_concurrency("scripted", 1000),
        Some(64),
        "limit not clamped to the maximum"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_provider_is_rejected_at_enqueue() {
    let h = harness(1, (Duration::from_secs(60), Duration::from_secs(90)), quick).await;
    let request = JobRequest {
        front: support::fixture("04-coffee-600x400.jpg"),
        tail: support::fixture("03-astronaut-512x512.jpg"),
        provider: Some("nowhere".into()),
        ..JobRequest::default()
    };
    let err = h
        .engine
        .enqueue(vec![(request, OutputTarget::Dir(h.out.path().into()))])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nowhere"), "{err}");
    assert!(err.to_string().contains("scripted"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_names_are_unique_per_batch() {
    let h = harness(2, (Duration::from_secs(60), Duration::from_secs(90)), quick).await;
    let ids = h.enqueue(&["same", "same", "same"]).await;
    h.wait().await;
    let mut paths = HashSet::new();
    for id in ids {
        paths.insert(h.engine.store().job(id).await.unwrap().output_path);
    }
    assert_eq!(paths.len(), 3);
    let names: HashSet<String> = support::files_in(h.out.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, HashSet::from(["same.mp4".into(), "same-2.mp4".into(), "same-3.mp4".into()]));
}
