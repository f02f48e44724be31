//! Sends image files through the desktop app's path, for
//! `bench/bad_input.py`. Each file goes through `Desk::import_paths`, the
//! probe and thumbnail that a drop or the file picker runs. Each file the
//! import accepts is then the front image of `Desk::check_requests` and
//! `Desk::queue_requests` with a good tail image, and the local render is
//! awaited.
//!
//! Usage: `bad_input --work DIR --tail FILE FILE...`
//!
//! Prints a JSON array with one object per file on stdout. Clips are 1 s,
//! 720p, 24 frames/s, and go to `DIR/clips`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use segue_desk::Desk;
use segue_desk::api::{ImageItem, PairingRule, Settings};
use segue_desk::service::{DeskOptions, Shell};
use segue_desk::settings::MemoryKeyStore;
use segue_engine::job::{JobRequest, JobState};
use serde_json::{Value, json};

type Failure = Box<dyn std::error::Error>;

/// Maximum wait for one render.
const RENDER_TIMEOUT: Duration = Duration::from_secs(300);

/// A shell that drops events and notifications: nothing here has a window.
struct NoWindow;

impl Shell for NoWindow {
    fn emit(&self, _event: &'static str, _payload: Value) {}

    fn notify(&self, _title: &str, _body: &str) {}
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    match run(std::env::args().skip(1).collect()).await {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("bad_input: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Vec<String>) -> Result<Value, Failure> {
    let (mut work, mut tail, mut files) = (None, None, Vec::new());
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--work" => work = args.next().map(PathBuf::from),
            "--tail" => tail = args.next().map(PathBuf::from),
            _ => files.push(PathBuf::from(arg)),
        }
    }
    let usage = "usage: bad_input --work DIR --tail FILE FILE...";
    let (work, tail) = (work.ok_or(usage)?, tail.ok_or(usage)?);
    let desk = open_desk(&work).await?;
    let mut report = Vec::new();
    for file in &files {
        report.push(sweep_one(&desk, file, &tail).await?);
    }
    desk.shutdown().await;
    Ok(Value::Array(report))
}

/// Opens a desk whose settings make short 720p clips in `work/clips`, with
/// the fal.ai client pointed at a closed loopback port: only the local
/// renderer runs.
async fn open_desk(work: &Path) -> Result<Desk, Failure> {
    let data_dir = work.join("data");
    std::fs::create_dir_all(&data_dir)?;
    let mut settings = Settings {
        output_dir: work.join("clips").to_string_lossy().into_owned(),
        ..Settings::default()
    };
    settings.output.resolution = segue_render::Resolution::P720;
    settings.output.duration_s = 1.0;
    settings.output.fps = 24;
    settings.local_concurrency = 1;
    std::fs::write(data_dir.join("settings.json"), serde_json::to_vec(&settings)?)?;
    let options = DeskOptions {
        data_dir,
        log_dir: work.join("logs"),
        key_store: Arc::new(MemoryKeyStore::default()),
        fal_config: Some(segue_fal::FalConfig::default().with_base_url("http://127.0.0.1:9")),
        env: |_| None,
    };
    Desk::open(options, Arc::new(NoWindow)).await.map_err(|err| err.message.into())
}

fn item_json(item: &ImageItem) -> Value {
    json!({
        "width": item.width,
        "height": item.height,
        "format": item.format,
        "thumbnail": item.thumb_url.is_some(),
        "error": item.error,
    })
}

/// Imports `file` alone, then queues it as the front of a clip when the
/// import accepted it.
async fn sweep_one(desk: &Desk, file: &Path, tail: &Path) -> Result<Value, Failure> {
    let path = file.to_string_lossy().into_owned();
    let imported = desk.import_paths(vec![path], PairingRule::Chain).await?;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let Some(image) = imported.images.first() else {
        let rejected = imported.rejected.first().map(item_json).unwrap_or(Value::Null);
        return Ok(json!({ "file": name, "import": "rejected", "image": rejected }));
    };

    let request =
        JobRequest { front: file.to_path_buf(), tail: tail.to_path_buf(), ..JobRequest::default() };
    let check = desk.check_requests(vec![request.clone()]);
    let check_errors: Vec<String> =
        check.pairs.iter().flat_map(|pair| pair.errors.clone()).collect();
    if !check.ok {
        return Ok(json!({
            "file": name, "import": "accepted", "image": item_json(image),
            "check_errors": check_errors,
        }));
    }
    let started = Instant::now();
    let ids = desk.queue_requests(vec![request]).await?;
    let store = desk.engine().store();
    let job = loop {
        let job = store.job(ids[0]).await?;
        if job.state.is_terminal() || started.elapsed() > RENDER_TIMEOUT {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let output = job.output.as_ref().map(
        |output| json!({ "path": output.path, "width": output.width, "height": output.height }),
    );
    Ok(json!({
        "file": name,
        "import": "accepted",
        "image": item_json(image),
        "check_errors": check_errors,
        "state": job.state,
        "finished": job.state.is_terminal(),
        "attempts": job.attempt,
        "error": job.error_message,
        "output": output,
        "seconds": started.elapsed().as_secs_f64(),
        "succeeded": job.state == JobState::Succeeded,
    }))
}
