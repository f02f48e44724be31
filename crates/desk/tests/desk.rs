//! The desk's commands end to end without a window: a real SQLite file,
//! real local renders, the real clip server on loopback and real fixture
//! photos. A recording shell stands in for Tauri's event system.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use segue_desk::Desk;
use segue_desk::api::{HistoryQuery, IpcErrorKind, PairingRule, Settings, events};
use segue_desk::service::{DeskOptions, Shell};
use segue_desk::settings::MemoryKeyStore;
use segue_engine::job::{JobRequest, JobState};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/images").join(name)
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<(String, Value)>>,
    notes: Mutex<Vec<(String, String)>>,
}

impl Shell for Recorder {
    fn emit(&self, event: &'static str, payload: Value) {
        self.events.lock().unwrap().push((event.to_string(), payload));
    }

    fn notify(&self, title: &str, body: &str) {
        self.notes.lock().unwrap().push((title.to_string(), body.to_string()));
    }
}

impl Recorder {
    fn named(&self, name: &str) -> Vec<Value> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    shell: Arc<Recorder>,
    keys: Arc<MemoryKeyStore>,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            shell: Arc::new(Recorder::default()),
            keys: Arc::new(MemoryKeyStore::default()),
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("clips")
    }

    /// Opens a desk whose settings send clips to this fixture's folder and
    /// render short 720p clips.
    async fn open(&self) -> Desk {
        let settings_path = self.data().join("settings.json");
        if !settings_path.exists() {
            let mut settings = Settings {
                output_dir: self.out().to_string_lossy().into_owned(),
                ..Settings::default()
            };
            settings.output.resolution = segue_render::Resolution::P720;
            settings.output.duration_s = 1.0;
            std::fs::create_dir_all(self.data()).unwrap();
            std::fs::write(&settings_path, serde_json::to_vec(&settings).unwrap()).unwrap();
        }
        let options = DeskOptions {
            data_dir: self.data(),
            log_dir: self.dir.path().join("logs"),
            key_store: self.keys.clone(),
            fal_config: Some(segue_fal::FalConfig::default().with_base_url("http://127.0.0.1:9")),
            env: |_| None,
        };
        Desk::open(options, self.shell.clone()).await.expect("desk opens")
    }
}

fn request(front: &str, tail: &str) -> JobRequest {
    JobRequest { front: fixture(front), tail: fixture(tail), ..JobRequest::default() }
}

fn path_string(name: &str) -> String {
    fixture(name).to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn import_pairs_good_files_and_names_the_bad_ones() {
    let fx = Fixture::new();
    let desk = fx.open().await;
    let paths = vec![
        path_string("01-dandelions-1920x1080.jpg"),
        path_string("exif-orientation-6.jpg"),
        path_string("truncated.jpg"),
        path_string("café crème d'été 写真.jpg"),
        path_string("empty.jpg"),
        fx.dir.path().join("gone.jpg").to_string_lossy().into_owned(),
    ];
    let result = desk.import_paths(paths, PairingRule::Chain).await.unwrap();

    let names: Vec<&str> = result.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        ["01-dandelions-1920x1080.jpg", "exif-orientation-6.jpg", "café crème d'été 写真.jpg"]
    );
    assert_eq!(result.pairs.len(), 2, "chain of three images");
    assert_eq!(result.pairs[1].tail.path, path_string("café crème d'été 写真.jpg"));

    let exif = &result.images[1];
    assert!(exif.height.unwrap() > exif.width.unwrap(), "EXIF 6 is upright portrait: {exif:?}");
    let thumb = reqwest::get(exif.thumb_url.as_deref().unwrap()).await.unwrap();
    assert_eq!(thumb.status(), 200);
    let bytes = thumb.bytes().await.unwrap();
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert!(decoded.height() > decoded.width(), "thumbnail is upright too");

    let rejected: Vec<(&str, &str)> =
        result.rejected.iter().map(|i| (i.name.as_str(), i.error.as_deref().unwrap())).collect();
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    for (name, error) in rejected {
        assert!(error.contains(name), "error {error:?} names {name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn import_of_a_folder_uses_name_order_and_the_rule() {
    let fx = Fixture::new();
    let desk = fx.open().await;
    let folder = fx.dir.path().join("shots");
    std::fs::create_dir_all(&folder).unwrap();
    for (name, source) in [
        ("b_a.jpg", "04-coffee-600x400.jpg"),
        ("b_b.jpg", "03-astronaut-512x512.jpg"),
        ("a_b.jpg", "04-coffee-600x400.jpg"),
        ("a_a.jpg", "03-astronaut-512x512.jpg"),
    ] {
        std::fs::copy(fixture(source), folder.join(name)).unwrap();
    }
    let result = desk
        .import_paths(vec![folder.to_string_lossy().into_owned()], PairingRule::Ab)
        .await
        .unwrap();
    let pairs: Vec<(String, String)> =
        result.pairs.iter().map(|p| (p.front.name.clone(), p.tail.name.clone())).collect();
    assert_eq!(pairs, [("a_a.jpg".into(), "a_b.jpg".into()), ("b_a.jpg".into(), "b_b.jpg".into())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_shows_errors_per_pair_and_prices_cloud_models() {
    let fx = Fixture::new();
    let desk = fx.open().await;
    let good = request("03-astronaut-512x512.jpg", "04-coffee-600x400.jpg");
    let bad_duration = JobRequest { duration: Some(42.0), ..good.clone() };
    let missing = JobRequest { front: fx.dir.path().join("nope.jpg"), ..good.clone() };
    let cloud = JobRequest { provider: Some("fal".into()), duration: Some(5.0), ..good.clone() };
    let check = desk.check_requests(vec![good, bad_duration, missing, cloud.clone()]);

    assert!(!check.ok);
    assert!(check.pairs[0].errors.is_empty());
    assert_eq!(check.pairs[0].price_usd, Some(0.0));
    assert!(check.pairs[1].errors[0].contains("42"), "{:?}", check.pairs[1].errors);
    assert!(check.pairs[2].errors[0].contains("nope.jpg"), "{:?}", check.pairs[2].errors);
    assert_eq!(check.pairs[3].provider, "fal");
    assert_eq!(check.pairs[3].model, segue_fal::DEFAULT_MODEL);
    assert!(check.pairs[3].errors[0].contains("API key"), "{:?}", check.pairs[3]);

    desk.set_fal_key("test-key-for-prices:0000".into()).unwrap();
    let check = desk.check_requests(vec![cloud.clone(), cloud]);
    assert!(check.ok, "{check:?}");
    let cloud_price = check.pairs[0]
        .price_usd
        .unwrap_or_else(|| panic!("Kling has a price: {:?}", check.pairs[0]));
    assert!(cloud_price > 0.0);
    assert!((check.total_usd - 2.0 * cloud_price).abs() < 1e-9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queued_pair_renders_shows_in_history_and_plays_from_the_clip_server() {
    let fx = Fixture::new();
    let desk = fx.open().await;
    let ids = desk
        .queue_requests(vec![request("03-astronaut-512x512.jpg", "04-coffee-600x400.jpg")])
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(120), desk.wait_idle())
        .await
        .expect("render finishes");
    // The forwarder runs on its own task; give it a moment to pass on the
    // last event.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let jobs = desk.queue_jobs().await.unwrap();
    assert_eq!(jobs.len(), 1);
    let row = &jobs[0];
    assert_eq!(row.id, ids[0]);
    assert_eq!(row.state, JobState::Succeeded, "{:?}", row.error_message);
    let output = row.output.as_ref().unwrap();
    assert!((output.duration_s - 1.0).abs() < 0.05);
    assert!(Path::new(&row.output_path).starts_with(fx.out()));

    let kinds: Vec<String> = fx
        .shell
        .named(events::JOB)
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    for kind in ["queued", "started", "progress", "succeeded"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    let summary = fx.shell.named(events::BATCH_FINISHED);
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0]["succeeded"], 1);
    let notes = fx.shell.notes.lock().unwrap().clone();
    assert_eq!(notes.len(), 1);
    assert!(notes[0].1.contains("1 clip made"), "{notes:?}");
    assert!(!fx.shell.named(events::OVERVIEW).is_empty());

    let url = row.clip_url.as_deref().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"));
    let client = reqwest::Client::new();
    let full = client.get(url).send().await.unwrap();
    assert_eq!(full.status(), 200);
    assert_eq!(full.bytes().await.unwrap().len() as u64, output.bytes);
    let part = client.get(url).header("Range", "bytes=0-99").send().await.unwrap();
    assert_eq!(part.status(), 206);
    let tokenless = url.replacen(&desk.clips().origin(), "", 1);
    let forged = format!(
        "{}/{}",
        desk.clips().origin(),
        tokenless.split('/').skip(2).collect::<Vec<_>>().join("/")
    );
    assert_eq!(client.get(&forged).send().await.unwrap().status(), 404);

    let page = desk
        .list_jobs(HistoryQuery { search: Some("astronaut".into()), ..HistoryQuery::default() })
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    let none = desk
        .list_jobs(HistoryQuery { search: Some("no such words".into()), ..HistoryQuery::default() })
        .await
        .unwrap();
    assert_eq!(none.total, 0);

    let detail = desk.job_detail(ids[0]).await.unwrap();
    assert_eq!(detail.attempts.len(), 1);
    assert_eq!(desk.clip_path(ids[0]).await.unwrap(), output.path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rerun_delete_retry_and_cancel_follow_the_job_state() {
    let fx = Fixture::new();
    let desk = fx.open().await;
    let ids = desk
        .queue_requests(vec![request("03-astronaut-512x512.jpg", "04-coffee-600x400.jpg")])
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(120), desk.wait_idle()).await.unwrap();

    let err = desk.retry_job(ids[0]).await.unwrap_err();
    assert_eq!(err.kind, IpcErrorKind::Conflict);
    let err = desk.cancel_job(ids[0]).await.unwrap_err();
    assert_eq!(err.kind, IpcErrorKind::Conflict);

    let again = desk.rerun_job(ids[0]).await.unwrap();
    assert_ne!(again, ids[0]);
    tokio::time::timeout(Duration::from_secs(120), desk.wait_idle()).await.unwrap();
    let first = desk.job_detail(ids[0]).await.unwrap();
    let second = desk.job_detail(again).await.unwrap();
    assert_eq!(second.row.state, JobState::Succeeded);
    assert_eq!(first.spec.front, second.spec.front);
    assert_ne!(first.row.output_path, second.row.output_path);

    assert_eq!(desk.delete_jobs(vec![ids[0]]).await.unwrap(), 1);
    assert_eq!(desk.job_detail(ids[0]).await.unwrap_err().kind, IpcErrorKind::NotFound);
    assert!(Path::new(&first.row.output_path).exists(), "deleting history keeps the clip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pause_holds_new_jobs_until_resume() {
    let fx = Fixture::new();
    let desk = fx.open().await;
    let overview = desk.pause_queue().await.unwrap();
    assert!(overview.paused);
    let ids = desk
        .queue_requests(vec![request("03-astronaut-512x512.jpg", "04-coffee-600x400.jpg")])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(desk.job_detail(ids[0]).await.unwrap().row.state, JobState::Queued);
    let overview = desk.overview().await.unwrap();
    assert_eq!(overview.counts.queued, 1);
    assert!(!desk.resume_queue().await.unwrap().paused);
    tokio::time::timeout(Duration::from_secs(120), desk.wait_idle()).await.unwrap();
    assert_eq!(desk.job_detail(ids[0]).await.unwrap().row.state, JobState::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn settings_are_validated_saved_and_survive_a_restart() {
    let fx = Fixture::new();
    let desk = fx.open().await;
    let mut settings = desk.settings();
    settings.fal_soft_limit_s = settings.fal_hard_limit_s + 5;
    let err = desk.save_settings(settings.clone()).await.unwrap_err();
    assert_eq!(err.kind, IpcErrorKind::BadInput);
    assert!(err.message.contains("soft time limit"), "{}", err.message);

    settings.fal_soft_limit_s = 100;
    settings.file_name_template = "{front}-{type}".into();
    settings.fal_concurrency = 25;
    desk.save_settings(settings.clone()).await.unwrap();
    let ids = desk
        .queue_requests(vec![request("03-astronaut-512x512.jpg", "04-coffee-600x400.jpg")])
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(120), desk.wait_idle()).await.unwrap();
    let row = desk.job_detail(ids[0]).await.unwrap().row;
    assert!(row.output_path.ends_with("03-astronaut-512x512-CALM.mp4"), "{}", row.output_path);
    let overview = desk.overview().await.unwrap();
    let fal = overview.slots.iter().find(|s| s.provider == "fal").unwrap();
    assert_eq!(fal.limit, 25);
    desk.shutdown().await;
    drop(desk);

    let reopened = fx.open().await;
    assert_eq!(reopened.settings(), settings);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fal_key_is_masked_and_never_written_to_disk() {
    let fx = Fixture::new();
    let desk = fx.open().await;
    let secret = "e2e-key-id:a-very-secret-value-7f3c";
    assert!(!desk.get_settings().fal_key.present);
    let err = desk.set_fal_key("has space".into()).unwrap_err();
    assert_eq!(err.kind, IpcErrorKind::BadInput);

    let status = desk.set_fal_key(secret.into()).unwrap();
    assert!(status.present);
    assert_eq!(status.masked.as_deref(), Some("••••7f3c"));
    let view = serde_json::to_string(&desk.get_settings()).unwrap();
    assert!(!view.contains("a-very-secret"), "{view}");
    let mut settings = desk.settings();
    settings.prompt = "after the key".into();
    desk.save_settings(settings).await.unwrap();
    // A fal job goes to a closed port and fails; the key must stay out of
    // the history database and the settings file either way.
    let cloud = JobRequest {
        provider: Some("fal".into()),
        duration: Some(5.0),
        ..request("03-astronaut-512x512.jpg", "04-coffee-600x400.jpg")
    };
    desk.queue_requests(vec![cloud]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(120), desk.wait_idle()).await.unwrap();
    desk.shutdown().await;
    for entry in walk(&fx.data()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the key is in {}",
            entry.display()
        );
    }
    assert!(!desk.clear_fal_key().unwrap().present);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_watch_folder_queues_a_slowly_written_pair_once() {
    let fx = Fixture::new();
    let desk = fx.open().await;
    let watch = fx.dir.path().join("incoming");
    std::fs::create_dir_all(&watch).unwrap();
    // An image already there at start is part of the first pair.
    std::fs::copy(fixture("03-astronaut-512x512.jpg"), watch.join("shot1_a.jpg")).unwrap();
    let mut settings = desk.settings();
    settings.watch_dir = Some(watch.to_string_lossy().into_owned());
    settings.watch_pairing = PairingRule::Ab;
    desk.save_settings(settings).await.unwrap();

    let bytes = std::fs::read(fixture("04-coffee-600x400.jpg")).unwrap();
    let target = watch.join("shot1_b.jpg");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&target).unwrap();
        for chunk in bytes.chunks(bytes.len() / 6 + 1) {
            file.write_all(chunk).unwrap();
            file.flush().unwrap();
            tokio::time::sleep(Duration::from_millis(700)).await;
            let queued = desk.list_jobs(HistoryQuery::default()).await.unwrap().total;
            assert_eq!(queued, 0, "nothing is queued while the tail image is still being written");
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if desk.list_jobs(HistoryQuery::default()).await.unwrap().total >= 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the pair was never queued");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Well past several settle periods and rescans: still one job.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let page = desk.list_jobs(HistoryQuery::default()).await.unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.rows[0].front, watch.join("shot1_a.jpg").to_string_lossy());
    assert_eq!(page.rows[0].tail, target.to_string_lossy());
    let queued_notices =
        fx.shell.named(events::WATCH).iter().filter(|n| n["kind"] == "queued").count();
    assert_eq!(queued_notices, 1);
    desk.shutdown().await;
}
