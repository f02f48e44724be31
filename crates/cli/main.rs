//! `segue`: the command-line front end of the Segue engine.

mod args;
mod exit;
mod history;
mod output;
mod run;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use clap::Parser;
use segue_engine::intake::{self, Pairing};
use segue_engine::{CancelOutcome, Engine, JobRequest, OutputTarget};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::args::{BatchArgs, Cli, Command, GenerateArgs, HistoryArgs, IdArgs, RetryArgs, RunArgs};
use crate::exit::{ExitCode, UsageError};
use crate::output::{errln, outln};
use crate::run::{Display, Summary};

/// Output folder when `--out` is not given, relative to the current folder.
const DEFAULT_OUT_DIR: &str = "segue-output";

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let data_dir = segue_engine::paths::data_dir(cli.data_dir.clone());
    init_logging(&data_dir, cli.verbose);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            errln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::from(ExitCode::Internal as u8);
        }
    };
    let code = runtime.block_on(async {
        tokio::select! {
            result = dispatch(cli, data_dir) => match result {
                Ok(code) => code,
                Err(err) => {
                    errln!("error: {}", exit::describe(&err));
                    exit::code_for(&err)
                }
            },
            _ = tokio::signal::ctrl_c() => {
                errln!("interrupted; unfinished jobs stay in the history; run `segue resume` to finish them");
                ExitCode::Interrupted
            }
        }
    });
    // Running renders are not waited for: their jobs are resumed later.
    runtime.shutdown_background();
    std::process::ExitCode::from(code as u8)
}

/// Writes the full log to `<data dir>/logs/segue.log` and, with `-v`,
/// messages to standard error. `SEGUE_LOG` (an EnvFilter directive such as
/// `debug` or `segue_engine=trace`) overrides the file's level.
fn init_logging(data_dir: &Path, verbose: u8) {
    let file_filter =
        EnvFilter::try_from_env("SEGUE_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let log_dir = data_dir.join("logs");
    let file = std::fs::create_dir_all(&log_dir).ok().and_then(|()| {
        std::fs::OpenOptions::new().create(true).append(true).open(log_dir.join("segue.log")).ok()
    });
    let file_layer = file.map(|file| {
        tracing_subscriber::fmt::layer()
            .with_writer(Mutex::new(file))
            .with_ansi(false)
            .with_filter(file_filter)
    });
    let stderr_level = match verbose {
        0 => None,
        1 => Some("info,sqlx=warn"),
        2 => Some("debug,sqlx=warn"),
        _ => Some("trace"),
    };
    let stderr_layer = stderr_level.map(|level| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(EnvFilter::new(level))
    });
    use tracing_subscriber::Layer as _;
    let _ = tracing_subscriber::registry().with(file_layer).with(stderr_layer).try_init();
}

async fn dispatch(cli: Cli, data_dir: PathBuf) -> Result<ExitCode> {
    let display = Display::choose(cli.json);
    match cli.command {
        Command::Generate(args) => generate(args, data_dir, display).await,
        Command::Batch(args) => batch(args, data_dir, display).await,
        Command::History(args) => show_history(args, data_dir, cli.json).await,
        Command::Show(args) => show(args, data_dir, cli.json).await,
        Command::Retry(args) => retry(args, data_dir, display).await,
        Command::Cancel(args) => cancel(args, data_dir).await,
        Command::Resume(args) => resume(args, data_dir, display).await,
        Command::Models => {
            history::print_models(cli.json);
            Ok(ExitCode::Success)
        }
        Command::Types => {
            for kind in segue_render::TransitionKind::ALL {
                if cli.json {
                    let line =
                        serde_json::json!({ "type": kind, "description": kind.description() });
                    outln!("{line}");
                } else {
                    outln!("{:<14} {}", kind.to_string(), kind.description());
                }
            }
            Ok(ExitCode::Success)
        }
    }
}

async fn generate(args: GenerateArgs, data_dir: PathBuf, display: Display) -> Result<ExitCode> {
    let defaults = run::clip_defaults(&args.clip)?;
    let target = match args.out {
        Some(path) if path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("mp4")) => {
            OutputTarget::File(path)
        }
        Some(dir) => OutputTarget::Dir(dir),
        None => OutputTarget::Dir(PathBuf::from(DEFAULT_OUT_DIR)),
    };
    let request =
        JobRequest { front: args.front, tail: args.tail, name: args.name, ..JobRequest::default() };
    let template = args.clip.name_template.as_deref();
    let engine = run::open_engine(data_dir, &args.run, defaults, template).await?;
    run_requests(&engine, vec![(request, target)], display).await
}

async fn batch(args: BatchArgs, data_dir: PathBuf, display: Display) -> Result<ExitCode> {
    let defaults = run::clip_defaults(&args.clip)?;
    let out_dir = args.out.unwrap_or_else(|| PathBuf::from(DEFAULT_OUT_DIR));
    let requests = if args.source.is_dir() {
        let rule: Pairing = args.pairing.parse().map_err(UsageError)?;
        folder_requests(&args.source, rule)?
    } else if args.source.is_file() {
        intake::read_manifest(&args.source)?
    } else {
        bail!(UsageError(format!(
            "{}: not found; give a manifest (.json or .csv) or a folder of images",
            args.source.display()
        )));
    };
    if requests.is_empty() {
        bail!(UsageError(format!("{}: no transitions to make", args.source.display())));
    }
    let requests = requests.into_iter().map(|r| (r, OutputTarget::Dir(out_dir.clone()))).collect();
    let template = args.clip.name_template.as_deref();
    let engine = run::open_engine(data_dir, &args.run, defaults, template).await?;
    run_requests(&engine, requests, display)
        .await
        .with_context(|| format!("in {}", args.source.display()))
}

fn folder_requests(dir: &Path, rule: Pairing) -> Result<Vec<JobRequest>> {
    let images = intake::list_images(dir)?;
    let found = intake::pair_images(&images, rule);
    for path in &found.unpaired {
        errln!("warning: {} has no partner under the {rule} pairing rule; skipped", path.display());
    }
    if found.pairs.is_empty() {
        bail!(UsageError(format!(
            "{}: found {} images but no pairs under the {rule} pairing rule; \
             chain needs 2 or more images, ab needs NAME_a/NAME_b files",
            dir.display(),
            images.len()
        )));
    }
    Ok(found
        .pairs
        .into_iter()
        .map(|pair| JobRequest { front: pair.front, tail: pair.tail, ..JobRequest::default() })
        .collect())
}

async fn run_requests(
    engine: &Engine,
    requests: Vec<(JobRequest, OutputTarget)>,
    display: Display,
) -> Result<ExitCode> {
    let orphans = engine.orphan_count().await?;
    if orphans > 0 && display != Display::Json {
        errln!(
            "note: {orphans} unfinished jobs belong to a segue process that stopped; run `segue resume` to finish them"
        );
    }
    let prices = engine.estimate(&requests)?;
    if display != Display::Json {
        run::print_estimate(&prices);
    }
    let events = engine.subscribe();
    let ids = engine.enqueue(requests).await?;
    let summary = run::follow(engine, events, &ids, display).await?;
    run::print_summary(&summary, display);
    Ok(summary.exit_code())
}

async fn show_history(args: HistoryArgs, data_dir: PathBuf, json: bool) -> Result<ExitCode> {
    let filter = history::filter(&args)?;
    let store = open_store(&data_dir).await?;
    let jobs = store.list_jobs(&filter).await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&jobs)?);
    } else {
        history::print_table(&jobs);
    }
    Ok(ExitCode::Success)
}

async fn show(args: IdArgs, data_dir: PathBuf, json: bool) -> Result<ExitCode> {
    let store = open_store(&data_dir).await?;
    let job = store.find_job(&args.id).await?;
    history::print_job(&store, &job, json).await?;
    Ok(ExitCode::Success)
}

async fn open_store(data_dir: &Path) -> Result<segue_engine::Store> {
    let path = data_dir.join("segue.db");
    segue_engine::Store::open(&path).await.with_context(|| format!("opening {}", path.display()))
}

async fn retry(args: RetryArgs, data_dir: PathBuf, display: Display) -> Result<ExitCode> {
    let engine = run::open_engine(data_dir, &args.run, Default::default(), None).await?;
    let job = engine.store().find_job(&args.id).await?;
    let events = engine.subscribe();
    if !engine.retry(job.id).await? {
        bail!(UsageError(format!(
            "job {} is {}; only failed, timed-out, cancelled, remote_expired or submit_unknown \
             jobs can be run again (`segue generate` makes a new clip from the same images)",
            job.id.short(),
            job.state
        )));
    }
    let summary = run::follow(&engine, events, &[job.id], display).await?;
    run::print_summary(&summary, display);
    Ok(summary.exit_code())
}

async fn cancel(args: IdArgs, data_dir: PathBuf) -> Result<ExitCode> {
    let run_args = RunArgs {
        concurrency: None,
        retries: 0,
        retry_delay: 0.0,
        soft_limit: None,
        hard_limit: None,
    };
    let engine = run::open_engine(data_dir, &run_args, Default::default(), None).await?;
    let job = engine.store().find_job(&args.id).await?;
    match engine.cancel(job.id).await? {
        CancelOutcome::Cancelled => errln!("{}: cancelled", job.id.short()),
        CancelOutcome::AlreadyFinished(state) => {
            errln!("{}: already {state}; nothing to cancel", job.id.short());
        }
        CancelOutcome::Requested => {
            // The owning process checks for cancel requests a few times a
            // second; wait for it to confirm.
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
            loop {
                let record = engine.store().job(job.id).await?;
                if record.state.is_terminal() {
                    errln!("{}: {}", job.id.short(), record.state);
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    errln!(
                        "{}: cancel requested; the process running it has not confirmed yet",
                        job.id.short()
                    );
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
    Ok(ExitCode::Success)
}

async fn resume(args: RunArgs, data_dir: PathBuf, display: Display) -> Result<ExitCode> {
    let engine = run::open_engine(data_dir, &args, Default::default(), None).await?;
    let events = engine.subscribe();
    let ids = engine.resume_orphans().await?;
    if ids.is_empty() {
        if display != Display::Json {
            errln!("nothing to resume: no unfinished jobs belong to a stopped process");
        }
        return Ok(ExitCode::Success);
    }
    if display != Display::Json {
        errln!("resuming {} unfinished jobs", ids.len());
    }
    let summary: Summary = run::follow(&engine, events, &ids, display).await?;
    run::print_summary(&summary, display);
    Ok(summary.exit_code())
}
