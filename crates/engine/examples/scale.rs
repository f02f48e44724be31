//! Measures how the engine scales, for `bench/scale.py`.
//!
//! `enqueue` queues one batch through the path `segue batch FOLDER` takes:
//! folder listing, chain pairing, `Engine::estimate` and `Engine::enqueue`.
//! The queue is paused, so nothing renders. `history` fills a history of
//! realistic rows and times the store calls behind `segue history`,
//! `segue show` and the desktop app's history, queue and overview.
//!
//! Usage:
//!
//! ```text
//! scale enqueue --work DIR --jobs N --image FILE
//! scale history --work DIR --rows N --reps R
//! ```
//!
//! Both modes print one JSON object on stdout.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use segue_engine::intake::{self, Pairing};
use segue_engine::job::{JobId, JobRequest, JobSpec, JobState, LOCAL_MODEL, LOCAL_PROVIDER};
use segue_engine::provider::local::LocalGenerator;
use segue_engine::queue::{Engine, EngineConfig, OutputTarget};
use segue_engine::store::{JobFilter, NewJob, Store, now_ms};
use segue_render::{OutputSettings, TransitionKind};
use serde_json::{Value, json};

type Failure = Box<dyn std::error::Error>;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Rows stored per `insert_jobs` call while filling the history.
const FILL_CHUNK: usize = 5_000;
/// Rows per page of the desktop app's history list (`PAGE_SIZE` in
/// ui/src/components/HistoryView.tsx).
const APP_PAGE: u32 = 100;
/// Rows `segue history` prints without `--limit`.
const CLI_LIMIT: u32 = 50;

const FAL_MODELS: [&str; 6] = [
    "fal-ai/kling-video/v2.5-turbo/pro/image-to-video",
    "fal-ai/kling-video/v2.1/pro/image-to-video",
    "fal-ai/pixverse/v5/transition",
    "fal-ai/vidu/start-end-to-video",
    "fal-ai/luma-dream-machine/ray-2/image-to-video",
    "fal-ai/veo3.1/first-last-frame-to-video",
];
const PROJECTS: [&str; 8] = [
    "Acme launch",
    "Smith wedding",
    "Harbor documentary",
    "Travel vlog 2026",
    "Real estate tour",
    "Café menu reel",
    "Band promo",
    "Ski trip",
];
const SHOT_PREFIXES: [&str; 6] = ["IMG_", "DSC", "beach-", "harbor-", "wedding_", "city-night-"];
const PROMPT_SUBJECTS: [&str; 8] = [
    "the harbor at dusk",
    "a crowded street market",
    "the wedding couple",
    "snowy mountain peaks",
    "a plate of pastries",
    "the band on stage",
    "an empty living room",
    "waves on the beach",
];
const PROMPT_MOVES: [&str; 5] = [
    "slow dolly zoom into",
    "smooth camera pan across",
    "drone shot rising over",
    "handheld push toward",
    "gentle morph into",
];
const ERRORS: [&str; 4] = [
    "front image /home/editor/in/IMG_0001.heic: HEIC/HEIF images are not supported; convert it to JPEG or PNG",
    "fal.ai returned 503 Service Unavailable (gave up after 3 attempts)",
    "tail image: the image is truncated or corrupt (its data ends early); copy or export the file again",
    "timed out: the attempt ran past the hard time limit of 900 s",
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("enqueue") => enqueue(&Options::parse(&args[1..])).await,
        Some("history") => history(&Options::parse(&args[1..])).await,
        _ => Err("usage: scale enqueue|history --work DIR ...; see the file's header".into()),
    };
    match result {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("scale: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Command-line options of both modes.
#[derive(Debug, Default)]
struct Options {
    work: PathBuf,
    jobs: usize,
    rows: usize,
    reps: usize,
    image: PathBuf,
}

impl Options {
    fn parse(args: &[String]) -> Options {
        let mut options = Options { jobs: 10_000, rows: 100_000, reps: 15, ..Options::default() };
        let mut pairs = args.chunks(2);
        while let Some([flag, value]) = pairs.next() {
            match flag.as_str() {
                "--work" => options.work = PathBuf::from(value),
                "--jobs" => options.jobs = value.parse().expect("--jobs takes a count"),
                "--rows" => options.rows = value.parse().expect("--rows takes a count"),
                "--reps" => options.reps = value.parse().expect("--reps takes a count"),
                "--image" => options.image = PathBuf::from(value),
                other => panic!("unknown option {other}"),
            }
        }
        options
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|meta| meta.len()).unwrap_or(0)
}

/// Returns (peak RSS, current RSS) in bytes from /proc/self/status.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn database_sizes(data_dir: &Path) -> Value {
    let db = file_size(&data_dir.join("segue.db"));
    let wal = file_size(&data_dir.join("segue.db-wal"));
    let shm = file_size(&data_dir.join("segue.db-shm"));
    json!({ "db_bytes": db, "wal_bytes": wal, "shm_bytes": shm, "total_bytes": db + wal + shm })
}

/// Queues `options.jobs` transitions from a folder of `jobs + 1` images.
async fn enqueue(options: &Options) -> Result<Value, Failure> {
    let images = options.work.join("images");
    std::fs::create_dir_all(&images)?;
    // Hard links cost no disk space; validation only checks that each path
    // is a file, and nothing is decoded while the queue is paused.
    for i in 0..=options.jobs {
        let link = images.join(format!("shot{i:05}.jpg"));
        if std::fs::hard_link(&options.image, &link).is_err() {
            std::fs::copy(&options.image, &link)?;
        }
    }
    let data_dir = options.work.join("data");
    let out_dir = options.work.join("clips");

    let started = Instant::now();
    let engine = Engine::open(EngineConfig::new(data_dir.clone())).await?;
    engine.register(Arc::new(LocalGenerator::new()));
    engine.pause();
    let opened = started.elapsed();

    let listed = Instant::now();
    let found = intake::pair_images(&intake::list_images(&images)?, Pairing::Chain);
    let requests: Vec<(JobRequest, OutputTarget)> = found
        .pairs
        .into_iter()
        .map(|pair| {
            let request =
                JobRequest { front: pair.front, tail: pair.tail, ..JobRequest::default() };
            (request, OutputTarget::Dir(out_dir.clone()))
        })
        .collect();
    let intake_time = listed.elapsed();

    let estimated = Instant::now();
    engine.estimate(&requests)?;
    let estimate_time = estimated.elapsed();

    let enqueued = Instant::now();
    let ids = engine.enqueue(requests).await?;
    let enqueue_time = enqueued.elapsed();

    let counts = engine.store().state_counts().await?;
    if counts.queued != options.jobs as u64 || ids.len() != options.jobs {
        return Err(format!("expected {} queued jobs, found {counts:?}", options.jobs).into());
    }
    let (peak_rss, rss) = memory();
    let sizes = database_sizes(&data_dir);

    // The same rows once more, stored by `Store::insert_jobs` alone in a
    // second database, to separate the insert from the rest of `enqueue`.
    let records = engine.store().list_jobs(&JobFilter::default()).await?;
    let jobs: Vec<NewJob> = records
        .into_iter()
        .map(|record| NewJob {
            id: record.id,
            spec: record.spec,
            output_path: record.output_path,
            max_attempts: record.max_attempts,
            soft_limit: Duration::from_millis(record.soft_limit_ms),
            hard_limit: Duration::from_millis(record.hard_limit_ms),
            runner_id: engine.runner_id().to_string(),
            price_estimate_usd: record.price_estimate_usd,
        })
        .collect();
    engine.shutdown();
    let store_only = Store::open(&options.work.join("store-only").join("segue.db")).await?;
    let sqlite_version: String =
        sqlx::query_scalar("SELECT sqlite_version()").fetch_one(store_only.pool()).await?;
    let inserted = Instant::now();
    store_only.insert_jobs(&jobs).await?;
    let insert_time = inserted.elapsed();
    Ok(json!({
        "jobs": options.jobs,
        "open_ms": ms(opened),
        "intake_ms": ms(intake_time),
        "estimate_ms": ms(estimate_time),
        "enqueue_ms": ms(enqueue_time),
        "store_insert_ms": ms(insert_time),
        "sqlite_version": sqlite_version,
        "sizes": sizes,
        "peak_rss_bytes": peak_rss,
        "rss_bytes": rss,
    }))
}

/// Facts of one filled row that the queries below search for.
struct Probe {
    id: JobId,
    name_word: &'static str,
    prompt_words: &'static str,
    fal_model: &'static str,
}

/// Creates the spec of history row `i`.
fn spec_for(i: usize, rng: &mut StdRng) -> JobSpec {
    let project = PROJECTS[(i / 400) % PROJECTS.len()];
    let prefix = SHOT_PREFIXES[(i / 150) % SHOT_PREFIXES.len()];
    let shot = 1000 + i % 9000;
    let front = format!("/home/editor/Projects/{project}/{prefix}{shot:04}.jpg");
    let tail = format!("/home/editor/Projects/{project}/{prefix}{:04}.jpg", shot + 1);
    let kind = TransitionKind::ALL[rng.random_range(0..TransitionKind::ALL.len())];
    let hosted = rng.random_bool(0.3);
    let (provider, model, prompt) = if hosted {
        let model = FAL_MODELS[rng.random_range(0..FAL_MODELS.len())];
        let prompt = format!(
            "{} {}",
            PROMPT_MOVES[rng.random_range(0..PROMPT_MOVES.len())],
            PROMPT_SUBJECTS[rng.random_range(0..PROMPT_SUBJECTS.len())]
        );
        ("fal", model, prompt)
    } else {
        (LOCAL_PROVIDER, LOCAL_MODEL, String::new())
    };
    JobSpec {
        name: format!(
            "{prefix}{shot:04}-to-{prefix}{:04}-{}",
            shot + 1,
            kind.to_string().to_ascii_lowercase()
        ),
        front: front.into(),
        tail: tail.into(),
        kind,
        prompt,
        negative_prompt: String::new(),
        seed: None,
        provider: provider.into(),
        model: model.into(),
        output: OutputSettings::default(),
    }
}

/// Picks a final state: mostly succeeded, some failures and cancels, and
/// a few unfinished jobs among the newest rows.
fn state_for(i: usize, rows: usize, rng: &mut StdRng) -> JobState {
    if i + 200 >= rows {
        return [JobState::Queued, JobState::Queued, JobState::Running, JobState::Retrying]
            [rng.random_range(0..4)];
    }
    match rng.random_range(0..1000) {
        0..800 => JobState::Succeeded,
        800..900 => JobState::Failed,
        900..960 => JobState::Cancelled,
        960..990 => JobState::TimedOut,
        990..995 => JobState::RemoteExpired,
        _ => JobState::SubmitUnknown,
    }
}

/// Stores `rows` jobs through `Store::insert_jobs`, then gives each a
/// creation time over the last year (in order of `seq`, in bursts as
/// batches come), a final state, an error or an output, and a request id
/// for hosted jobs.
async fn fill(store: &Store, rows: usize) -> Result<Probe, Failure> {
    let mut rng = StdRng::seed_from_u64(20_261_204);
    let mut jobs = Vec::with_capacity(rows);
    for i in 0..rows {
        let id = JobId::new();
        let spec = spec_for(i, &mut rng);
        jobs.push(NewJob {
            id,
            output_path: format!("/home/editor/Clips/{}.mp4", spec.name).into(),
            spec,
            max_attempts: 3,
            soft_limit: Duration::from_secs(600),
            hard_limit: Duration::from_secs(900),
            runner_id: "filled".into(),
            price_estimate_usd: None,
        });
    }
    for chunk in jobs.chunks(FILL_CHUNK) {
        store.insert_jobs(chunk).await?;
    }

    let now = now_ms();
    let first = now - 365 * DAY_MS;
    let step = (365 * DAY_MS) / rows.max(1) as i64;
    let mut tx = store.pool().begin().await?;
    for (i, job) in jobs.iter().enumerate() {
        // Jobs come in batches of 20, created 50 ms apart.
        let created = first + (i as i64 / 20) * 20 * step + (i as i64 % 20) * 50;
        let state = state_for(i, rows, &mut rng);
        let finished = state.is_terminal().then_some(created + rng.random_range(5_000..600_000));
        let hosted = job.spec.provider == "fal";
        let request_id = hosted.then(|| uuid::Uuid::new_v4().to_string());
        let error = matches!(state, JobState::Failed | JobState::TimedOut)
            .then(|| ERRORS[rng.random_range(0..ERRORS.len())]);
        let succeeded = state == JobState::Succeeded;
        sqlx::query(
            "UPDATE jobs SET state = ?1, created_at = ?2, updated_at = COALESCE(?3, ?2),
                started_at = ?2, finished_at = ?3, provider_request_id = ?4,
                error_kind = CASE WHEN ?5 IS NULL THEN NULL ELSE 'permanent' END,
                error_message = ?5, attempt = 1, charged_attempts = 1,
                output_bytes = CASE WHEN ?6 THEN 6500000 END,
                output_duration_s = CASE WHEN ?6 THEN 5.0 END,
                output_width = CASE WHEN ?6 THEN 1920 END,
                output_height = CASE WHEN ?6 THEN 1080 END,
                output_fps = CASE WHEN ?6 THEN 30.0 END,
                output_frames = CASE WHEN ?6 THEN 150 END,
                output_sha256 = CASE WHEN ?6 THEN lower(hex(randomblob(32))) END
             WHERE id = ?7",
        )
        .bind(state.as_str())
        .bind(created)
        .bind(finished)
        .bind(request_id)
        .bind(error)
        .bind(succeeded)
        .bind(job.id.to_string())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;

    let middle = &jobs[rows / 2];
    Ok(Probe {
        id: middle.id,
        name_word: "harbor-",
        prompt_words: "dolly zoom into the harbor",
        fal_model: FAL_MODELS[0],
    })
}

/// One timed store call, or pair of calls, as a front end makes it.
#[derive(Clone, Copy, Debug)]
enum Call {
    /// The desktop app's `list_jobs`: `count_jobs`, then `list_jobs`.
    AppPage,
    /// `segue history`: `list_jobs`.
    CliHistory,
    /// `segue show PREFIX`: `find_job`.
    CliShow,
    /// The desktop app's `overview`: `state_counts` and the failures of
    /// the last 24 hours.
    AppOverview,
    /// The desktop app's `queue_jobs`: unfinished jobs and the jobs
    /// created since the app started.
    AppQueue,
}

struct Query {
    name: String,
    caller: &'static str,
    call: Call,
    filter: JobFilter,
    text: String,
}

fn queries(rows: usize, probe: &Probe) -> Vec<Query> {
    let now = now_ms();
    let page = |offset: usize| JobFilter {
        limit: Some(APP_PAGE),
        offset: Some(offset as u32),
        ..JobFilter::default()
    };
    let app = |name: &str, filter: JobFilter| Query {
        name: name.to_string(),
        caller: "app history",
        call: Call::AppPage,
        filter,
        text: String::new(),
    };
    let cli = |name: &str, filter: JobFilter| Query {
        name: name.to_string(),
        caller: "segue history",
        call: Call::CliHistory,
        filter: JobFilter { limit: Some(CLI_LIMIT), ..filter },
        text: String::new(),
    };
    let deep = rows / APP_PAGE as usize * 9 / 10 * APP_PAGE as usize;
    vec![
        app("first page", page(0)),
        app(&format!("page at offset {deep}"), page(deep)),
        app(
            &format!("search name {:?}", probe.name_word),
            JobFilter { search: Some(probe.name_word.into()), ..page(0) },
        ),
        app(
            &format!("search prompt {:?}", probe.prompt_words),
            JobFilter { search: Some(probe.prompt_words.into()), ..page(0) },
        ),
        app(
            "search id prefix (8 hex digits)",
            JobFilter { search: Some(probe.id.short()), ..page(0) },
        ),
        app("status failed", JobFilter { states: vec![JobState::Failed], ..page(0) }),
        app("type WHIP", JobFilter { kind: Some("WHIP".into()), ..page(0) }),
        app(
            "model (Kling 2.5)",
            JobFilter {
                provider: Some("fal".into()),
                model: Some(probe.fal_model.into()),
                ..page(0)
            },
        ),
        app(
            "date range (30 days)",
            JobFilter {
                since_ms: Some(now - 200 * DAY_MS),
                until_ms: Some(now - 170 * DAY_MS),
                ..page(0)
            },
        ),
        app(
            "status failed, type WHIP, last 90 days",
            JobFilter {
                states: vec![JobState::Failed],
                kind: Some("WHIP".into()),
                since_ms: Some(now - 90 * DAY_MS),
                ..page(0)
            },
        ),
        Query {
            name: "state counts and failures in 24 h".into(),
            caller: "app overview",
            call: Call::AppOverview,
            filter: JobFilter::default(),
            text: String::new(),
        },
        Query {
            name: "unfinished and this session's jobs".into(),
            caller: "app queue",
            call: Call::AppQueue,
            filter: JobFilter::default(),
            text: String::new(),
        },
        cli("default (50 newest)", JobFilter::default()),
        cli(
            "--state failed --since 7d",
            JobFilter {
                states: vec![JobState::Failed],
                since_ms: Some(now - 7 * DAY_MS),
                ..JobFilter::default()
            },
        ),
        cli(
            &format!("--name {}", probe.name_word),
            JobFilter { name_contains: Some(probe.name_word.into()), ..JobFilter::default() },
        ),
        Query {
            name: "show by id prefix".into(),
            caller: "segue show",
            call: Call::CliShow,
            filter: JobFilter::default(),
            text: probe.id.short(),
        },
    ]
}

/// Runs one query once. Returns the rows matched (the count where the
/// front end requests one), the time of the count and of the page.
async fn run_query(store: &Store, query: &Query) -> Result<(u64, Duration, Duration), Failure> {
    let started = Instant::now();
    match query.call {
        Call::AppPage => {
            let total = store.count_jobs(&query.filter).await?;
            let counted = started.elapsed();
            let paged = Instant::now();
            store.list_jobs(&query.filter).await?;
            Ok((total, counted, paged.elapsed()))
        }
        Call::CliHistory => {
            let rows = store.list_jobs(&query.filter).await?.len() as u64;
            Ok((rows, Duration::ZERO, started.elapsed()))
        }
        Call::CliShow => {
            store.find_job(&query.text).await?;
            Ok((1, Duration::ZERO, started.elapsed()))
        }
        Call::AppOverview => {
            let counts = store.state_counts().await?;
            let failures = JobFilter {
                states: vec![JobState::Failed, JobState::TimedOut],
                since_ms: Some(now_ms() - DAY_MS),
                ..JobFilter::default()
            };
            store.count_jobs(&failures).await?;
            Ok((counts.total(), started.elapsed(), Duration::ZERO))
        }
        Call::AppQueue => {
            let unfinished = JobFilter {
                states: vec![JobState::Queued, JobState::Running, JobState::Retrying],
                ..JobFilter::default()
            };
            let session = JobFilter { since_ms: Some(now_ms() - 60_000), ..JobFilter::default() };
            let mut rows = store.list_jobs(&unfinished).await?.len() as u64;
            rows += store.list_jobs(&session).await?.len() as u64;
            Ok((rows, Duration::ZERO, started.elapsed()))
        }
    }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 { samples[n / 2] } else { (samples[n / 2 - 1] + samples[n / 2]) / 2.0 }
}

/// Times every query: one untimed run to warm the page cache, then `reps`
/// timed runs. Returns one JSON object per query with medians in ms.
async fn time_queries(store: &Store, queries: &[Query], reps: usize) -> Result<Value, Failure> {
    let mut results = Vec::new();
    for query in queries {
        let (matched, _, _) = run_query(store, query).await?;
        let (mut counts, mut pages, mut totals) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..reps {
            let (_, count, page) = run_query(store, query).await?;
            counts.push(ms(count));
            pages.push(ms(page));
            totals.push(ms(count + page));
        }
        results.push(json!({
            "name": query.name,
            "caller": query.caller,
            "matched": matched,
            "count_ms": median(counts),
            "page_ms": median(pages),
            "total_ms": median(totals),
        }));
    }
    Ok(Value::Array(results))
}

/// Fills a history of `options.rows` rows and times the queries.
async fn history(options: &Options) -> Result<Value, Failure> {
    let data_dir = options.work.join("data");
    let store = Store::open(&data_dir.join("segue.db")).await?;
    let filling = Instant::now();
    let probe = fill(&store, options.rows).await?;
    let fill_time = filling.elapsed();
    let sizes = database_sizes(&data_dir);
    let queries = queries(options.rows, &probe);
    let timings = time_queries(&store, &queries, options.reps).await?;
    let (peak_rss, _) = memory();
    Ok(json!({
        "rows": options.rows,
        "fill_ms": ms(fill_time),
        "sizes": sizes,
        "reps": options.reps,
        "queries": timings,
        "peak_rss_bytes": peak_rss,
    }))
}
