//! Queue controls the desktop app uses, against scripted generators and a
//! real SQLite file: pause and resume, run next, delete, re-run, the slot
//! overview and file-name templates.

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use segue_engine::provider::{AttemptContext, GenerateError, Generated, Generator};
use segue_engine::{
    CancelOutcome, Engine, EngineConfig, EnqueueError, ErrorKind, JobEvent, JobId, JobRequest,
    JobState, OutputTarget, RetryPolicy, SlotInfo, Stage, StoreError, TemplateError,
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
    /// Work until the queue requests a stop, then return `stopped`.
    RunUntilStopped,
}

type Script = dyn Fn(&str, u32) -> Plan + Send + Sync;

/// A generator that follows a script and records its calls in order.
struct ScriptedGenerator {
    provider: &'static str,
    script: Box<Script>,
    calls: Mutex<Vec<(String, u32)>>,
}

impl ScriptedGenerator {
    fn new(
        provider: &'static str,
        script: impl Fn(&str, u32) -> Plan + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self { provider, script: Box::new(script), calls: Mutex::new(Vec::new()) })
    }

    fn call_names(&self) -> Vec<String> {
        self.calls.lock().unwrap().iter().map(|(name, _)| name.clone()).collect()
    }
}

#[async_trait]
impl Generator for ScriptedGenerator {
    fn provider(&self) -> &str {
        self.provider
    }

    fn default_concurrency(&self) -> usize {
        1
    }

    fn max_concurrency(&self) -> usize {
        8
    }

    async fn generate(&self, ctx: &AttemptContext) -> Result<Generated, GenerateError> {
        self.calls.lock().unwrap().push((ctx.spec.name.clone(), ctx.attempt));
        match (self.script)(&ctx.spec.name, ctx.attempt) {
            Plan::Succeed(work) => {
                tokio::time::sleep(work).await;
                ctx.reporter.progress(Stage::Generating, 1.0);
                std::fs::copy(sample_clip(), &ctx.output).unwrap();
                Ok(Generated::default())
            }
            Plan::Transient => {
                Err(GenerateError::transient(ErrorKind::Transient, "provider overloaded (503)"))
            }
            Plan::Permanent => {
                Err(GenerateError::permanent(ErrorKind::InvalidInput, "not an image"))
            }
            Plan::RunUntilStopped => {
                ctx.stop.cancelled().await;
                Err(GenerateError::stopped())
            }
        }
    }
}

/// Renders a real clip once. Every scripted success copies it, so that the
/// pool's MP4 verification runs for real.
fn sample_clip() -> &'static Path {
    static CLIP: OnceLock<PathBuf> = OnceLock::new();
    CLIP.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("segue-control-clip-{}", std::process::id()));
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

fn quick(_: &str, _: u32) -> Plan {
    Plan::Succeed(Duration::from_millis(150))
}

fn config(data_dir: &Path) -> EngineConfig {
    let mut config = EngineConfig::new(data_dir.to_path_buf());
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
    };
    config.soft_limit = Duration::from_secs(60);
    config.hard_limit = Duration::from_secs(90);
    config
}

struct Harness {
    engine: Engine,
    generator: Arc<ScriptedGenerator>,
    events: broadcast::Receiver<JobEvent>,
    out: tempfile::TempDir,
    data: tempfile::TempDir,
}

async fn harness(
    template: Option<&str>,
    script: impl Fn(&str, u32) -> Plan + Send + Sync + 'static,
) -> Harness {
    sample_clip();
    let data = tempfile::tempdir().unwrap();
    let mut config = config(data.path());
    if let Some(template) = template {
        config.file_name_template = template.to_string();
    }
    let engine = Engine::open(config).await.unwrap();
    let generator = ScriptedGenerator::new("scripted", script);
    engine.register(generator.clone());
    let events = engine.subscribe();
    Harness { engine, generator, events, out: tempfile::tempdir().unwrap(), data }
}

fn request(name: &str, provider: &str) -> JobRequest {
    JobRequest {
        front: support::fixture("04-coffee-600x400.jpg"),
        tail: support::fixture("03-astronaut-512x512.jpg"),
        name: Some(name.to_string()),
        provider: Some(provider.into()),
        ..JobRequest::default()
    }
}

impl Harness {
    async fn enqueue(&self, names: &[&str]) -> Vec<JobId> {
        let requests = names
            .iter()
            .map(|name| (request(name, "scripted"), OutputTarget::Dir(self.out.path().into())))
            .collect();
        self.engine.enqueue(requests).await.unwrap()
    }

    async fn wait(&self) {
        tokio::time::timeout(Duration::from_secs(60), self.engine.wait_idle())
            .await
            .expect("jobs finish within 60 s");
    }

    /// Waits for the event `matches` accepts.
    async fn wait_for(&mut self, mut matches: impl FnMut(&JobEvent) -> bool) {
        let wait = async {
            loop {
                if let Ok(event) = self.events.recv().await
                    && matches(&event)
                {
                    return;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait).await.expect("the event arrives");
    }

    async fn wait_started(&mut self, id: JobId) {
        self.wait_for(|event| matches!(event, JobEvent::Started { job_id, .. } if *job_id == id))
            .await;
    }

    async fn state(&self, id: JobId) -> JobState {
        self.engine.store().job(id).await.unwrap().state
    }

    fn file_names(&self) -> Vec<String> {
        support::files_in(self.out.path())
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }
}

/// Polls until the slot overview of `provider` satisfies `accept`.
async fn wait_for_slot(engine: &Engine, provider: &str, accept: impl Fn(&SlotInfo) -> bool) {
    for _ in 0..300 {
        if engine.slots().iter().any(|slot| slot.provider == provider && accept(slot)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("slots of {provider} never matched: {:?}", engine.slots());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_lets_running_job_finish() {
    let mut h = harness(None, quick).await;
    let ids = h.enqueue(&["a", "b", "c", "d"]).await;
    h.wait_started(ids[0]).await;
    h.engine.pause();
    assert!(h.engine.is_paused());

    h.wait_for(|event| matches!(event, JobEvent::Succeeded { job_id, .. } if *job_id == ids[0]))
        .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(h.generator.call_names(), ["a"], "a job started while paused");
    for &id in &ids[1..] {
        assert_eq!(h.state(id).await, JobState::Queued);
    }
    wait_for_slot(&h.engine, "scripted", |slot| slot.in_use == 0 && slot.queued == 3).await;

    h.engine.resume();
    assert!(!h.engine.is_paused());
    h.wait().await;
    assert_eq!(h.generator.call_names(), ["a", "b", "c", "d"]);
    for id in ids {
        assert_eq!(h.state(id).await, JobState::Succeeded);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_holds_every_provider() {
    let h = harness(None, quick).await;
    let other = ScriptedGenerator::new("other", quick);
    h.engine.register(other.clone());
    h.engine.pause();
    let requests = vec![
        (request("local-ish", "scripted"), OutputTarget::Dir(h.out.path().into())),
        (request("hosted-ish", "other"), OutputTarget::Dir(h.out.path().into())),
    ];
    let ids = h.engine.enqueue(requests).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(h.generator.call_names().is_empty(), "scripted started a job while paused");
    assert!(other.call_names().is_empty(), "other started a job while paused");
    assert_eq!(h.engine.pending_count(), 2);

    h.engine.resume();
    h.wait().await;
    for id in ids {
        assert_eq!(h.state(id).await, JobState::Succeeded);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_ending_while_paused_waits() {
    let mut h = harness(None, |_, attempt| {
        if attempt == 1 { Plan::Transient } else { Plan::Succeed(Duration::from_millis(20)) }
    })
    .await;
    let ids = h.enqueue(&["flaky"]).await;
    h.wait_started(ids[0]).await;
    h.engine.pause();
    h.wait_for(|event| matches!(event, JobEvent::Retrying { .. })).await;
    // The backoff is at most 100 ms.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(h.generator.calls.lock().unwrap().len(), 1, "a retry started while paused");
    assert_eq!(h.state(ids[0]).await, JobState::Queued);

    h.engine.resume();
    h.wait().await;
    let job = h.engine.store().job(ids[0]).await.unwrap();
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!(job.attempt, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_next_reorders_queue() {
    let mut h = harness(None, |name, _| {
        if name == "a" { Plan::RunUntilStopped } else { Plan::Succeed(Duration::from_millis(30)) }
    })
    .await;
    let ids = h.enqueue(&["a", "b", "c", "d", "e"]).await;
    h.wait_started(ids[0]).await;

    assert!(h.engine.run_next(ids[3]).await.unwrap());
    assert!(h.engine.run_next(ids[2]).await.unwrap());
    assert!(!h.engine.run_next(ids[0]).await.unwrap(), "a running job was moved");
    assert!(!h.engine.run_next(JobId::new()).await.unwrap(), "an unknown id was moved");
    let store = h.engine.store();
    assert_eq!(store.job(ids[3]).await.unwrap().priority, 1);
    assert_eq!(store.job(ids[2]).await.unwrap().priority, 2);
    assert_eq!(store.job(ids[1]).await.unwrap().priority, 0);

    assert_eq!(h.engine.cancel(ids[0]).await.unwrap(), CancelOutcome::Cancelled);
    h.wait().await;
    assert_eq!(h.generator.call_names(), ["a", "c", "d", "b", "e"]);
    assert!(!h.engine.run_next(ids[1]).await.unwrap(), "a finished job was moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_next_order_survives_restart() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    sample_clip();
    let first = Engine::open(config(data.path())).await.unwrap();
    first.register(ScriptedGenerator::new("scripted", quick));
    first.pause();
    let requests = ["a", "b", "c"]
        .iter()
        .map(|name| (request(name, "scripted"), OutputTarget::Dir(out.path().into())))
        .collect();
    let ids = first.enqueue(requests).await.unwrap();
    assert!(first.run_next(ids[2]).await.unwrap());
    first.shutdown();
    drop(first);

    let second = Engine::open(config(data.path())).await.unwrap();
    let generator = ScriptedGenerator::new("scripted", quick);
    second.register(generator.clone());
    assert!(!second.is_paused(), "a pause outlived its process");
    // The first engine releases its runner lock once its tasks have seen
    // the shutdown and dropped the engine.
    let mut adopted = Vec::new();
    for _ in 0..200 {
        adopted = second.resume_orphans().await.unwrap();
        if !adopted.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(adopted.len(), 3, "the stopped engine's jobs were not taken over");
    tokio::time::timeout(Duration::from_secs(60), second.wait_idle()).await.unwrap();
    assert_eq!(generator.call_names(), ["c", "a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_skips_unfinished_jobs() {
    let mut h = harness(None, |name, _| match name {
        "good" => Plan::Succeed(Duration::from_millis(20)),
        "bad" => Plan::Permanent,
        _ => Plan::RunUntilStopped,
    })
    .await;
    let ids = h.enqueue(&["good", "bad", "long", "waiting"]).await;
    h.wait_started(ids[2]).await;
    let store = h.engine.store();
    assert_eq!(store.job(ids[0]).await.unwrap().state, JobState::Succeeded);
    let clip = store.job(ids[0]).await.unwrap().output.unwrap().path;

    let mut all = ids.clone();
    all.push(JobId::new());
    assert_eq!(h.engine.delete_jobs(&all).await.unwrap(), 2);
    assert!(matches!(store.job(ids[0]).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.job(ids[1]).await, Err(StoreError::NotFound(_))));
    assert!(store.attempts(ids[1]).await.unwrap().is_empty());
    assert_eq!(store.job(ids[2]).await.unwrap().state, JobState::Running);
    assert_eq!(store.job(ids[3]).await.unwrap().state, JobState::Queued);
    assert!(clip.is_file(), "deleting a job deleted its clip");

    h.engine.cancel(ids[3]).await.unwrap();
    h.engine.cancel(ids[2]).await.unwrap();
    h.wait().await;
    assert_eq!(h.engine.delete_jobs(&ids).await.unwrap(), 2);
    assert_eq!(store.count_jobs(&Default::default()).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_copies_spec_into_same_folder() {
    let h = harness(None, quick).await;
    let sub = h.out.path().join("sub");
    let original = JobRequest {
        kind: Some("whip".into()),
        duration: Some(1.5),
        prompt: Some("a slow pan".into()),
        seed: Some(7),
        fps: Some(25),
        ..request("orig", "scripted")
    };
    let ids = h
        .engine
        .enqueue(vec![(original, OutputTarget::File(sub.join("exact name.mp4")))])
        .await
        .unwrap();
    h.wait().await;

    let again = h.engine.rerun(ids[0]).await.unwrap();
    assert_ne!(again, ids[0]);
    h.wait().await;
    let store = h.engine.store();
    let first = store.job(ids[0]).await.unwrap();
    let second = store.job(again).await.unwrap();
    assert_eq!(second.spec, first.spec, "the settings snapshot differs");
    assert_eq!(first.state, JobState::Succeeded);
    assert_eq!(second.state, JobState::Succeeded);
    assert_eq!(second.output_path, sub.join("orig.mp4"));
    assert!(first.output_path.is_file());
    assert!(second.output_path.is_file());

    let third = h.engine.rerun(ids[0]).await.unwrap();
    h.wait().await;
    assert_eq!(store.job(third).await.unwrap().output_path, sub.join("orig-2.mp4"));
    assert_eq!(store.count_jobs(&Default::default()).await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_of_failed_and_queued_jobs() {
    let mut h = harness(None, |name, attempt| match (name, attempt) {
        ("bad", _) => Plan::Permanent,
        ("blocker", _) => Plan::RunUntilStopped,
        _ => Plan::Succeed(Duration::from_millis(20)),
    })
    .await;
    let ids = h.enqueue(&["blocker", "bad"]).await;
    h.wait_started(ids[0]).await;
    let queued_copy = h.engine.rerun(ids[1]).await.unwrap();
    assert_eq!(h.state(queued_copy).await, JobState::Queued);
    h.engine.cancel(ids[0]).await.unwrap();
    h.wait().await;
    assert_eq!(h.state(ids[1]).await, JobState::Failed);
    assert_eq!(h.state(queued_copy).await, JobState::Failed, "the copy ran the same spec");
    let from_cancelled = h.engine.rerun(ids[0]).await.unwrap();
    assert_eq!(h.state(from_cancelled).await, JobState::Queued);
    h.engine.cancel(from_cancelled).await.unwrap();
    h.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_rejects_missing_image() {
    let h = harness(None, quick).await;
    let photos = tempfile::tempdir().unwrap();
    let front = photos.path().join("front.jpg");
    std::fs::copy(support::fixture("04-coffee-600x400.jpg"), &front).unwrap();
    let original = JobRequest { front: front.clone(), ..request("gone", "scripted") };
    let ids =
        h.engine.enqueue(vec![(original, OutputTarget::Dir(h.out.path().into()))]).await.unwrap();
    h.wait().await;
    std::fs::remove_file(&front).unwrap();
    let err = h.engine.rerun(ids[0]).await.unwrap_err();
    assert!(matches!(err, EnqueueError::Request { .. }), "{err}");
    assert!(err.to_string().contains("front.jpg"), "{err}");
    assert!(matches!(h.engine.rerun(JobId::new()).await, Err(EnqueueError::Store(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_report_use_and_queue() {
    let h = harness(None, |_, _| Plan::RunUntilStopped).await;
    h.engine.register(ScriptedGenerator::new("other", quick));
    assert_eq!(h.engine.set_concurrency("scripted", 2), Some(2));
    let ids = h.enqueue(&["a", "b", "c", "d", "e"]).await;
    wait_for_slot(&h.engine, "scripted", |slot| slot.in_use == 2).await;
    let slots = h.engine.slots();
    assert_eq!(
        slots,
        [
            SlotInfo { provider: "other".into(), in_use: 0, limit: 1, queued: 0 },
            SlotInfo { provider: "scripted".into(), in_use: 2, limit: 2, queued: 3 },
        ]
    );
    let json = serde_json::to_value(&slots[1]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"provider": "scripted", "in_use": 2, "limit": 2, "queued": 3})
    );

    for id in ids {
        h.engine.cancel(id).await.unwrap();
    }
    h.wait().await;
    wait_for_slot(&h.engine, "scripted", |slot| slot.in_use == 0 && slot.queued == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_names_batch_clips() {
    let h = harness(Some("{n}-{type}-{front}-to-{tail} {duration}"), quick).await;
    h.enqueue(&["x", "y"]).await;
    h.wait().await;
    assert_eq!(
        h.file_names(),
        [
            "1-CALM-04-coffee-600x400-to-03-astronaut-512x512 5s.mp4",
            "2-CALM-04-coffee-600x400-to-03-astronaut-512x512 5s.mp4",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_fields_in_file_names() {
    let h = harness(Some("{provider}/{model}/{name}_{id}_{date}_{time}"), quick).await;
    let before = time::OffsetDateTime::now_utc().date();
    let ids = h.enqueue(&["same", "same"]).await;
    let after = time::OffsetDateTime::now_utc().date();
    h.wait().await;
    let date_text = |date: time::Date| {
        format!("{}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
    };
    for id in ids {
        let job = h.engine.store().job(id).await.unwrap();
        let name = job.output_path.file_name().unwrap().to_string_lossy().into_owned();
        let rest = name
            .strip_prefix(&format!("scripted_segue-local-v1_same_{}_", id.short()))
            .unwrap_or_else(|| panic!("{name} does not start with the provider, model and id"));
        let (date, time) = rest.strip_suffix(".mp4").unwrap().split_once('_').unwrap();
        assert!(date == date_text(before) || date == date_text(after), "{name}");
        assert_eq!(time.len(), 6, "{name}");
        assert!(time.chars().all(|c| c.is_ascii_digit()), "{name}");
        assert_eq!(job.output_path.parent().unwrap(), h.out.path(), "a / made a subfolder");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_name_collision_gets_suffix() {
    let h = harness(Some("{type}"), quick).await;
    h.enqueue(&["a", "b"]).await;
    h.wait().await;
    h.enqueue(&["c"]).await;
    h.wait().await;
    assert_eq!(h.file_names(), ["CALM-2.mp4", "CALM-3.mp4", "CALM.mp4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_placeholder_fails_enqueue() {
    let h = harness(Some("{name}-{colour}"), quick).await;
    let requests = vec![(request("a", "scripted"), OutputTarget::Dir(h.out.path().into()))];
    let err = h.engine.estimate(&requests).unwrap_err();
    assert!(matches!(err, EnqueueError::Template(TemplateError::UnknownPlaceholder { .. })));
    let err = h.engine.enqueue(requests).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("{colour}"), "{message}");
    assert!(message.contains("{name}, {front}, {tail}"), "{message}");
    assert_eq!(h.engine.store().count_jobs(&Default::default()).await.unwrap(), 0);
    assert!(h.data.path().join("segue.db").is_file());
}
