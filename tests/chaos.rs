//! Chaos run of `segue --provider fal`: a batch against the fal mock on
//! loopback, with every fault the mock injects firing at random at every
//! step where it can happen. The CLI is killed with SIGKILL at random
//! moments and continued with `segue resume` until every job is in a
//! terminal state. Jobs that end as `submit_unknown` although the mock holds
//! no request of theirs unknown to the history (what a user would check in
//! fal's dashboard) are run again with `segue retry`.
//!
//! The run asserts that no job is lost and that no job is submitted or paid
//! for twice (see [`duplicate_submissions`]), and reports failures by cause,
//! injected faults by kind, attempts per job and the kills.
//!
//! Environment: `SEGUE_CHAOS_JOBS` (default 40), `SEGUE_CHAOS_KILLS`
//! (default 3), `SEGUE_CHAOS_SEED` (default 20261204) and
//! `SEGUE_CHAOS_REPORT`, a path to write the report to as JSON. With
//! `SEGUE_CHAOS_KEEP` set, the data folder (history and `logs/segue.log`)
//! and the work folder (manifest, clips and each process's output) are kept
//! and their paths printed. The full
//! run is `SEGUE_CHAOS_JOBS=500 SEGUE_CHAOS_KILLS=10 cargo test --release
//! --test chaos -- --nocapture` (`bench/chaos.py` runs it).

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fal_mock::{ClipSource, Fault, FaultRule, MockConfig, MockServer, Stats, Step};
use segue_engine::{JobRecord, JobState, Store};
use segue_fal::{FalClient, FalConfig, FalKey, QueueRequest, ResultReply};
use serde::Serialize;
use support::{fixture, segue};

const KEY: &str = "sk-chaos-0b7e4d2a9c61";

/// Prefix of the token in each job's prompt that maps the mock's requests
/// back to jobs. Tokens have a fixed width, so none is a prefix of another.
const TOKEN_PREFIX: &str = "chaos-job-";

/// Probability of a fault that the client recovers from within the job's
/// attempts (retried requests, reconnects, downloads again).
const RECOVERABLE_P: f64 = 0.012;
/// Probability of a fault that ends the job by design: a submit whose reply
/// is lost or unreadable (`submit_unknown`), a 500 at submit (`failed`), a
/// 404 for the request or its files (`remote_expired`).
const TERMINAL_P: f64 = 0.004;
/// Probability of each job outcome fault (`completed_error`,
/// `result_error`, `stuck`) per accepted submission.
const OUTCOME_P: f64 = 0.01;

/// Per-attempt time limits given to every command, in seconds. A `stuck`
/// job reaches the soft limit and ends as timed out.
const SOFT_LIMIT_S: u64 = 20;
const HARD_LIMIT_S: u64 = 30;
/// First retry backoff of the engine, in seconds.
const RETRY_DELAY_S: &str = "0.2";
/// Time without any change to a job in the history after which a process
/// counts as hung: longer than one attempt can last.
const NO_PROGRESS_LIMIT: Duration = Duration::from_secs(2 * HARD_LIMIT_S + 20);
/// Rounds of `segue retry` for jobs whose submit was not accepted.
const RETRY_ROUNDS: usize = 3;
/// `segue retry` processes at once.
const RETRY_PARALLEL: usize = 4;

/// Size and seed of one run.
#[derive(Clone, Copy, Debug, Serialize)]
struct Size {
    jobs: usize,
    kills: usize,
    seed: u64,
}

impl Size {
    fn from_env() -> Self {
        let read = |name: &str, default: u64| -> u64 {
            match std::env::var(name) {
                Ok(text) => text
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}={text:?} is not a non-negative integer")),
                Err(_) => default,
            }
        };
        Size {
            jobs: read("SEGUE_CHAOS_JOBS", 40).max(1) as usize,
            kills: read("SEGUE_CHAOS_KILLS", 3) as usize,
            seed: read("SEGUE_CHAOS_SEED", 20_261_204),
        }
    }
}

/// SplitMix64: a small seeded generator for the kill moments.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Returns a uniform number of seconds in `[low, high)`.
    fn seconds(&mut self, low: f64, high: f64) -> Duration {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        Duration::from_secs_f64(low + unit * (high - low))
    }
}

/// Lists every kind of fault the mock injects, with short stalls.
fn fault_kinds() -> Vec<Fault> {
    let mut faults = Vec::new();
    for status in [429, 500, 502, 503, 504] {
        for request_id in [true, false] {
            faults.push(Fault::Http { status, request_id, retry_after: None, timeout_user: false });
        }
    }
    faults.extend([
        Fault::Reset,
        Fault::LostReply,
        Fault::Stall { duration: Duration::from_millis(500) },
        Fault::MalformedJson,
        Fault::Truncated,
        Fault::ShortNoLength,
        Fault::ShortDeclared,
        Fault::LongDeclared,
        Fault::Overlong,
        Fault::Expired,
        Fault::CutStream,
        Fault::CompletedError { error_type: "runner_disconnected".to_owned(), error: None },
        Fault::ResultError { status: 422, error_type: "content_policy_violation".to_owned() },
        Fault::Stuck,
    ]);
    faults
}

/// Returns the probability of `fault` at `step`: see the constants.
fn fault_probability(step: Step, fault: &Fault) -> f64 {
    let retried_at_submit = match fault {
        Fault::Http { status, .. } => matches!(status, 429 | 502 | 503 | 504),
        Fault::Stall { .. } | Fault::Overlong => true,
        _ => false,
    };
    match (step, fault) {
        (Step::Job, _) => OUTCOME_P,
        (Step::Submit, _) if !retried_at_submit => TERMINAL_P,
        (Step::Cancel, _) => RECOVERABLE_P,
        (_, Fault::Expired) => TERMINAL_P,
        _ => RECOVERABLE_P,
    }
}

/// Builds one probabilistic rule per fault kind and step where the mock accepts
/// it ([`Fault::check_step`]).
fn chaos_rules() -> Vec<FaultRule> {
    let mut rules = Vec::new();
    for step in Step::ALL {
        for fault in fault_kinds() {
            if fault.check_step(step).is_err() {
                continue;
            }
            let mut rule = FaultRule::new(step, fault.clone());
            rule.probability = Some(fault_probability(step, &fault));
            rules.push(rule);
        }
    }
    rules
}

fn token(index: usize) -> String {
    format!("{TOKEN_PREFIX}{index:05}")
}

/// Returns the job token in a prompt sent to the mock.
fn token_of(prompt: &str) -> Option<String> {
    let start = prompt.find(TOKEN_PREFIX)?;
    let digits: String =
        prompt[start + TOKEN_PREFIX.len()..].chars().take_while(char::is_ascii_digit).collect();
    Some(format!("{TOKEN_PREFIX}{digits}"))
}

/// Writes a manifest of `jobs` transitions, each with a unique name and a
/// prompt that carries its token. The frames are large enough at 720p that
/// the client uploads them instead of sending data URIs.
fn write_manifest(dir: &Path, jobs: usize) -> PathBuf {
    let photos = [
        ("04-coffee-600x400.jpg", "03-astronaut-512x512.jpg"),
        ("06-storm-road-1920x1280.jpg", "01-dandelions-1920x1080.jpg"),
        ("08-sunset-square-1440x1440.jpg", "05-mountains-1600x1200.jpg"),
    ];
    let rows: Vec<serde_json::Value> = (0..jobs)
        .map(|i| {
            let (front, tail) = photos[i % photos.len()];
            serde_json::json!({
                "front": fixture(front), "tail": fixture(tail),
                "name": format!("chaos-{i:05}"),
                "prompt": format!("{} a slow drift across the scene", token(i)),
                "duration": 5
            })
        })
        .collect();
    let manifest = dir.join("chaos.json");
    std::fs::write(&manifest, serde_json::to_string(&rows).unwrap()).unwrap();
    manifest
}

/// Builds a `segue` command pointed at the mock, with the run's time limits.
fn fal_command(data: &Path, mock: &MockServer, subcommand: &[&str]) -> Command {
    let mut command = segue(data);
    command
        .env("FAL_KEY", KEY)
        .env("SEGUE_FAL_QUEUE_URL", &mock.base_url)
        .env("SEGUE_FAL_REST_URL", &mock.base_url)
        .args(subcommand)
        .args(["--retry-delay", RETRY_DELAY_S])
        .args(["--soft-limit", &SOFT_LIMIT_S.to_string()])
        .args(["--hard-limit", &HARD_LIMIT_S.to_string()]);
    command
}

/// Starts `command` with its output in `log`.
fn spawn_logged(mut command: Command, log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    command.stdin(Stdio::null()).stdout(out).stderr(err).spawn().expect("segue starts")
}

/// How one process ended.
#[derive(Clone, Debug, PartialEq)]
enum Ending {
    /// Exited with this code (`None` for a signal not sent by the test).
    Exited(Option<i32>),
    /// Killed with SIGKILL by the test.
    Killed,
    /// Made no change to any job for [`NO_PROGRESS_LIMIT`], so the test killed it.
    Hung,
}

/// Moment to kill a process: once all `stored` jobs are in the history and
/// at least `terminal` of them are in a terminal state, after `delay`.
#[derive(Clone, Copy, Debug)]
struct KillPoint {
    stored: usize,
    terminal: usize,
    delay: Duration,
}

/// Watches a running `segue` process, killing it with SIGKILL at `kill`.
async fn watch(child: &mut Child, store: &Store, kill: Option<KillPoint>) -> Ending {
    let mut kill_at: Option<Instant> = None;
    let mut last_change = (0i64, Instant::now());
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Ending::Exited(status.code());
        }
        let jobs = store.list_jobs(&Default::default()).await.unwrap_or_default();
        if let Some(point) = kill
            && kill_at.is_none()
        {
            let terminal = jobs.iter().filter(|job| job.state.is_terminal()).count();
            if jobs.len() >= point.stored && terminal >= point.terminal {
                kill_at = Some(Instant::now() + point.delay);
            }
        }
        if kill_at.is_some_and(|at| Instant::now() >= at) {
            child.kill().unwrap();
            child.wait().unwrap();
            return Ending::Killed;
        }
        let newest = jobs.iter().map(|job| job.updated_at).max().unwrap_or(0);
        if newest != last_change.0 {
            last_change = (newest, Instant::now());
        } else if last_change.1.elapsed() > NO_PROGRESS_LIMIT {
            child.kill().unwrap();
            child.wait().unwrap();
            return Ending::Hung;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Facts about one job gathered after the run.
struct JobFacts {
    record: JobRecord,
    attempts: Vec<segue_engine::AttemptRecord>,
}

impl JobFacts {
    /// Distinct request ids the history stores for the job's attempts.
    fn known_request_ids(&self) -> BTreeSet<String> {
        self.attempts.iter().filter_map(|a| a.provider_request_id.clone()).collect()
    }

    /// Attempts whose submit was in flight when the reply or the process
    /// was lost.
    fn unknown_submits(&self) -> usize {
        self.attempts.iter().filter(|a| a.outcome == "submit_unknown").count()
    }
}

/// The mock's requests of one job: their ids and whether each completed
/// with a video (and so was paid for).
#[derive(Default)]
struct MockRequests {
    ids: BTreeSet<String>,
    paid: BTreeSet<String>,
}

/// Returns the mock's accepted requests per job token.
fn requests_by_token(stats: &Stats) -> BTreeMap<String, (String, Vec<String>)> {
    let mut by_token: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for input in &stats.inputs {
        let token = input.prompt.as_deref().and_then(token_of).unwrap_or_default();
        let entry = by_token.entry(token).or_insert_with(|| (input.model.clone(), Vec::new()));
        entry.1.extend(input.request_ids.iter().cloned());
    }
    by_token
}

/// Reads each request's result from the mock, with its faults cleared, and
/// returns the requests per token with the ones that completed with a
/// video, and the URL of one such video.
async fn mock_requests(
    mock: &MockServer,
    stats: &Stats,
) -> (BTreeMap<String, MockRequests>, Option<String>) {
    let config =
        FalConfig::default().with_base_url(&mock.base_url).with_key(FalKey::new(KEY).unwrap());
    let client = FalClient::new(config).unwrap();
    let mut requests = BTreeMap::new();
    let mut video_url = None;
    for (token, (model, ids)) in requests_by_token(stats) {
        let mut found = MockRequests::default();
        for id in ids {
            let request = QueueRequest::from_id(&mock.base_url, &model, &id).unwrap();
            if let Ok(ResultReply::Ready(body)) = client.result(&request).await {
                let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                if let Some(url) = json["video"]["url"].as_str() {
                    video_url.get_or_insert_with(|| url.to_owned());
                    found.paid.insert(id.clone());
                }
            }
            found.ids.insert(id);
        }
        requests.insert(token, found);
    }
    (requests, video_url)
}

/// Returns the jobs that were submitted or paid for more than once.
///
/// A job counts as submitted twice when the mock accepted more requests
/// with its token than the job has attempts that reached submission. An
/// attempt reached submission when the history stores its request id, or
/// when it ended as `submit_unknown` (the submit was sent and its reply or
/// the process was lost). Several attempts that follow one stored request
/// count once, by its id. So the mock may hold at most one request per
/// distinct stored id plus one per `submit_unknown` attempt, and requests
/// unknown to the history only up to the `submit_unknown` count.
///
/// A job also counts as paid twice when two of its requests completed with
/// a video at the mock. The mock's own `duplicates` list counts identical
/// inputs submitted more than once, which does not fit here: each attempt
/// uploads its frames anew, and a legitimate retry after a failed
/// generation submits the same job again. So the comparison is per job,
/// against the history.
fn duplicate_submissions(
    jobs: &BTreeMap<String, JobFacts>,
    requests: &BTreeMap<String, MockRequests>,
) -> Vec<String> {
    let empty = MockRequests::default();
    let mut found = Vec::new();
    for (token, job) in jobs {
        let mock = requests.get(token).unwrap_or(&empty);
        let known = job.known_request_ids();
        let unknown = job.unknown_submits();
        let unexplained = mock.ids.difference(&known).count();
        let name = &job.record.spec.name;
        if mock.ids.len() > known.len() + unknown || unexplained > unknown {
            found.push(format!(
                "{name}: {} requests at the mock, {} request ids in the history, {unknown} \
                 submit_unknown attempts",
                mock.ids.len(),
                known.len()
            ));
        }
        if mock.paid.len() > 1 {
            found.push(format!("{name}: {} requests completed with a video", mock.paid.len()));
        }
    }
    let strangers: Vec<&String> = requests.keys().filter(|t| !jobs.contains_key(*t)).collect();
    if !strangers.is_empty() {
        found.push(format!("requests at the mock with no job of that token: {strangers:?}"));
    }
    found
}

/// Returns the jobs that are lost: missing from the history, not terminal,
/// or succeeded without a valid clip at their output path whose hash
/// matches the history and the mock's clip.
fn lost_jobs(
    expected: &[String],
    jobs: &BTreeMap<String, JobFacts>,
    clip_sha256: Option<&str>,
) -> Vec<String> {
    let mut lost = Vec::new();
    for token in expected {
        let Some(job) = jobs.get(token) else {
            lost.push(format!("{token}: not in the history"));
            continue;
        };
        let record = &job.record;
        let name = &record.spec.name;
        if !record.state.is_terminal() {
            lost.push(format!("{name}: still {} after the run", record.state));
            continue;
        }
        if record.state != JobState::Succeeded {
            continue;
        }
        let Some(output) = &record.output else {
            lost.push(format!("{name}: succeeded with no output recorded"));
            continue;
        };
        if output.path != record.output_path {
            lost.push(format!("{name}: output {:?} is not its reserved path", output.path));
        }
        if let Err(err) = segue_engine::output::verify_mp4(&output.path) {
            lost.push(format!("{name}: succeeded but its clip is not valid: {err}"));
            continue;
        }
        let (sha256, bytes) = segue_engine::output::sha256_file(&output.path).unwrap();
        if sha256 != output.sha256 || bytes != output.bytes {
            lost.push(format!("{name}: the clip on disk differs from the history"));
        }
        if clip_sha256.is_some_and(|clip| clip != sha256) {
            lost.push(format!("{name}: the clip differs from the mock's clip"));
        }
    }
    lost
}

/// Everything the run measured.
#[derive(Debug, Default, Serialize)]
struct Report {
    seed: u64,
    jobs: usize,
    kills_planned: usize,
    kills: usize,
    resumes: usize,
    retries: usize,
    processes: Vec<String>,
    duration_s: f64,
    final_states: BTreeMap<String, usize>,
    failures_by_cause: BTreeMap<String, usize>,
    /// `name: state: error message` of every job that did not succeed.
    failures: Vec<String>,
    submit_unknown_accepted_at_mock: usize,
    submit_unknown_not_accepted: usize,
    attempts_per_job: BTreeMap<usize, usize>,
    interrupted_attempts: usize,
    mock_submissions: u64,
    mock_rejected_submissions: u64,
    mock_duplicate_inputs: usize,
    paid_videos: usize,
    faults_injected_total: u64,
    faults_injected: BTreeMap<String, u64>,
    fault_rules: usize,
    stray_files: Vec<String>,
    lost_jobs: Vec<String>,
    duplicate_submissions: Vec<String>,
    hangs: Vec<String>,
}

impl Report {
    fn print(&self) {
        println!("chaos report (seed {}):", self.seed);
        let rows: Vec<(&str, String)> = vec![
            ("jobs", self.jobs.to_string()),
            ("kills (planned)", format!("{} ({})", self.kills, self.kills_planned)),
            ("resume runs", self.resumes.to_string()),
            ("retry runs", self.retries.to_string()),
            ("duration", format!("{:.1} s", self.duration_s)),
            ("final states", format!("{:?}", self.final_states)),
            ("failures by cause", format!("{:?}", self.failures_by_cause)),
            (
                "submit_unknown accepted / not",
                format!(
                    "{} / {}",
                    self.submit_unknown_accepted_at_mock, self.submit_unknown_not_accepted
                ),
            ),
            ("attempts per job", format!("{:?}", self.attempts_per_job)),
            ("interrupted attempts", self.interrupted_attempts.to_string()),
            (
                "mock submissions (rejected)",
                format!("{} ({})", self.mock_submissions, self.mock_rejected_submissions),
            ),
            ("paid videos", self.paid_videos.to_string()),
            (
                "faults injected",
                format!("{} by {} rules", self.faults_injected_total, self.fault_rules),
            ),
            ("stray files", self.stray_files.len().to_string()),
            ("lost jobs", self.lost_jobs.len().to_string()),
            ("duplicate submissions", self.duplicate_submissions.len().to_string()),
            ("hangs", self.hangs.len().to_string()),
        ];
        for (label, value) in rows {
            println!("  {label:<30} {value}");
        }
        println!("  faults by kind:");
        for (kind, count) in &self.faults_injected {
            println!("    {kind:<28} {count}");
        }
        for (label, items) in [
            ("not succeeded", &self.failures),
            ("lost", &self.lost_jobs),
            ("duplicate", &self.duplicate_submissions),
            ("hang", &self.hangs),
            ("stray file", &self.stray_files),
        ] {
            for item in items {
                println!("  {label}: {item}");
            }
        }
    }
}

/// Prints the last lines of a process log, for a failing run.
fn print_log_tail(log: &Path) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(30);
    eprintln!("--- last lines of {} ---\n{}", log.display(), lines[start..].join("\n"));
}

/// Loads every job of the history by its token.
async fn load_jobs(store: &Store) -> BTreeMap<String, JobFacts> {
    let mut jobs = BTreeMap::new();
    for record in store.list_jobs(&Default::default()).await.unwrap() {
        let attempts = store.attempts(record.id).await.unwrap();
        let token = token_of(&record.spec.prompt).unwrap_or_else(|| record.spec.name.clone());
        jobs.insert(token, JobFacts { record, attempts });
    }
    jobs
}

/// Runs `segue retry` on every `submit_unknown` job whose requests at the
/// mock are all known to the history, so that its lost submit was never
/// accepted. Returns the number of retries run and any hangs.
async fn retry_unaccepted(
    data: &Path,
    logs: &Path,
    mock: &MockServer,
    store: &Store,
) -> (usize, Vec<String>) {
    let mut retries = 0;
    let mut hangs = Vec::new();
    for round in 0..RETRY_ROUNDS {
        let requests = requests_by_token(&mock.stats().await);
        let jobs = load_jobs(store).await;
        let candidates: Vec<&JobFacts> = jobs
            .iter()
            .filter(|(_, job)| job.record.state == JobState::SubmitUnknown)
            .filter(|(token, job)| {
                let known = job.known_request_ids();
                let at_mock = requests.get(*token).map(|(_, ids)| ids.as_slice()).unwrap_or(&[]);
                at_mock.iter().all(|id| known.contains(id))
            })
            .map(|(_, job)| job)
            .collect();
        if candidates.is_empty() {
            break;
        }
        for batch in candidates.chunks(RETRY_PARALLEL) {
            let mut children = Vec::new();
            for job in batch {
                let id = job.record.id.to_string();
                let log = logs.join(format!("retry-{round}-{}.log", job.record.spec.name));
                let child = spawn_logged(fal_command(data, mock, &["retry", &id]), &log);
                children.push((child, log));
                retries += 1;
            }
            for (child, log) in &mut children {
                let ending = watch(child, store, None).await;
                if ending == Ending::Hung {
                    print_log_tail(log);
                    hangs.push(format!("segue retry ({}) made no progress", log.display()));
                }
            }
        }
    }
    (retries, hangs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_kills_and_faults_lose_nothing() {
    let size = Size::from_env();
    println!(
        "chaos run: {} jobs, {} kills, seed {} (set SEGUE_CHAOS_SEED to repeat it)",
        size.jobs, size.kills, size.seed
    );
    let started = Instant::now();
    let rules = chaos_rules();
    let config = MockConfig {
        keys: vec![KEY.to_owned()],
        queue_time: Duration::from_millis(200),
        generation_time: Duration::from_millis(400),
        concurrency: 10,
        ping_interval: Duration::from_secs(1),
        clip: ClipSource::RenderFixture {
            front: fixture("04-coffee-600x400.jpg"),
            tail: fixture("03-astronaut-512x512.jpg"),
        },
        faults: rules.clone(),
        seed: Some(size.seed),
        ..MockConfig::default()
    };
    let mock = MockServer::start(config).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let logs = work.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let out = work.path().join("out");
    let manifest = write_manifest(work.path(), size.jobs);
    let store = support::store(data.path()).await;
    let mut rng = SplitMix(size.seed);
    // Kills are spread over the run: each comes once a random share of the
    // jobs (below 90 %) is terminal, a random 0.2 to 1.5 s later.
    let mut kill_thresholds: Vec<usize> = (0..size.kills)
        .map(|_| (rng.next_u64() % (size.jobs as u64 * 9 / 10).max(1)) as usize)
        .collect();
    kill_thresholds.sort_unstable();
    let mut report = Report {
        seed: size.seed,
        jobs: size.jobs,
        kills_planned: size.kills,
        fault_rules: rules.len(),
        ..Report::default()
    };

    // The batch, then `segue resume` after each kill. No process is killed
    // before all jobs are stored, so every job counts as queued.
    let mut index = 0;
    loop {
        let kill = kill_thresholds.get(report.kills).map(|&terminal| KillPoint {
            stored: size.jobs,
            terminal,
            delay: rng.seconds(0.2, 1.5),
        });
        let command = if index == 0 {
            let mut command = fal_command(data.path(), &mock, &["batch", "--provider", "fal"]);
            command.args(["--resolution", "720p", "--out"]).arg(&out).arg(&manifest);
            command
        } else {
            fal_command(data.path(), &mock, &["resume"])
        };
        let name = if index == 0 { "batch".to_owned() } else { format!("resume-{index}") };
        let log = logs.join(format!("{name}.log"));
        let mut child = spawn_logged(command, &log);
        let ending = watch(&mut child, &store, kill).await;
        report.processes.push(format!("{name}: {ending:?}"));
        if index > 0 {
            report.resumes += 1;
        }
        index += 1;
        match ending {
            Ending::Killed => report.kills += 1,
            Ending::Hung => {
                print_log_tail(&log);
                report.hangs.push(format!("{name} made no progress; see {}", log.display()));
                break;
            }
            Ending::Exited(code) => {
                if !matches!(code, Some(0 | 1)) {
                    print_log_tail(&log);
                }
                assert!(matches!(code, Some(0 | 1)), "{name} exited with {code:?}");
                let counts = store.state_counts().await.unwrap();
                let unfinished = counts.queued + counts.running + counts.retrying;
                if unfinished == 0 || index > size.kills + 3 {
                    break;
                }
                report.hangs.push(format!(
                    "{name} exited with {unfinished} unfinished jobs; resuming again"
                ));
            }
        }
    }

    let (retries, retry_hangs) = retry_unaccepted(data.path(), &logs, &mock, &store).await;
    report.retries = retries;
    report.hangs.extend(retry_hangs);

    // Reading the mock's results needs its faults gone.
    let stats = mock.stats().await;
    mock.clear_faults();
    let (requests, video_url) = mock_requests(&mock, &stats).await;
    let clip_sha256 = match video_url {
        Some(url) => {
            let config = FalConfig::default()
                .with_base_url(&mock.base_url)
                .with_key(FalKey::new(KEY).unwrap());
            let client = FalClient::new(config).unwrap();
            let path = work.path().join("reference.mp4");
            client.download(&url, &path, None, &mut |_, _| {}).await.unwrap();
            Some(segue_engine::output::sha256_file(&path).unwrap().0)
        }
        None => None,
    };

    let jobs = load_jobs(&store).await;
    let expected: Vec<String> = (0..size.jobs).map(token).collect();
    report.lost_jobs = lost_jobs(&expected, &jobs, clip_sha256.as_deref());
    report.duplicate_submissions = duplicate_submissions(&jobs, &requests);

    let empty = MockRequests::default();
    let mut outputs: HashMap<PathBuf, JobState> = HashMap::new();
    for (token, job) in &jobs {
        let record = &job.record;
        *report.final_states.entry(record.state.to_string()).or_default() += 1;
        if record.state != JobState::Succeeded {
            let kind = record.error_kind.as_deref().unwrap_or("none");
            *report.failures_by_cause.entry(format!("{}/{kind}", record.state)).or_default() += 1;
            let message = record.error_message.as_deref().unwrap_or_default();
            report.failures.push(format!("{}: {}: {message}", record.spec.name, record.state));
        }
        if record.state == JobState::SubmitUnknown {
            let mock_ids = &requests.get(token).unwrap_or(&empty).ids;
            if mock_ids.iter().all(|id| job.known_request_ids().contains(id)) {
                report.submit_unknown_not_accepted += 1;
            } else {
                report.submit_unknown_accepted_at_mock += 1;
            }
        }
        *report.attempts_per_job.entry(job.attempts.len()).or_default() += 1;
        report.interrupted_attempts +=
            job.attempts.iter().filter(|a| a.outcome == "interrupted").count();
        outputs.insert(record.output_path.clone(), record.state);
    }
    for file in support::files_in(&out) {
        if outputs.get(&file) != Some(&JobState::Succeeded) {
            report.stray_files.push(file.display().to_string());
        }
    }
    report.mock_submissions = stats.submissions;
    report.mock_rejected_submissions = stats.rejected_submissions;
    report.mock_duplicate_inputs = stats.duplicates.len();
    report.paid_videos = requests.values().map(|r| r.paid.len()).sum();
    report.faults_injected_total = stats.faults_injected.values().sum();
    report.faults_injected = stats.faults_injected.clone();
    report.duration_s = started.elapsed().as_secs_f64();
    report.print();
    if let Ok(path) = std::env::var("SEGUE_CHAOS_REPORT") {
        std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
        println!("report written to {path}");
    }
    mock.shutdown().await;
    if std::env::var_os("SEGUE_CHAOS_KEEP").is_some() {
        println!("data folder kept: {}", data.keep().display());
        println!("work folder kept: {}", work.keep().display());
    }

    assert!(report.lost_jobs.is_empty(), "lost jobs: {:#?}", report.lost_jobs);
    assert!(
        report.duplicate_submissions.is_empty(),
        "duplicate submissions: {:#?}",
        report.duplicate_submissions
    );
    assert!(report.hangs.is_empty(), "hangs: {:#?}", report.hangs);
    assert_eq!(jobs.len(), size.jobs, "the history holds jobs that were not queued");
    assert!(report.faults_injected_total > 0, "no fault was injected");
    if size.kills > 0 {
        assert!(report.kills > 0, "no process was killed: {:?}", report.processes);
    }
}
