//! Running jobs from the command line: engine set-up and progress output.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use segue_engine::job::{JobDefaults, LOCAL_PROVIDER};
use segue_engine::provider::local::LocalGenerator;
use segue_engine::{Engine, EngineConfig, JobEvent, JobId, JobState, RetryPolicy};
use segue_render::{Aspect, Fit, Resolution, TransitionKind};
use tokio::sync::broadcast;

use crate::args::{ClipArgs, RunArgs};
use crate::exit::{ExitCode, UsageError};
use crate::output::{errln, outln};

/// Provider name of the fal.ai hosted models.
const FAL_PROVIDER: &str = "fal";

/// Soft time limit per attempt when none is given, in seconds.
const DEFAULT_SOFT_LIMIT_S: f64 = 600.0;
/// Hard time limit per attempt when none is given, in seconds.
const DEFAULT_HARD_LIMIT_S: f64 = 900.0;
/// Soft time limit of a fal job when none is given, in seconds.
const FAL_SOFT_LIMIT_S: f64 = 2400.0;
/// Hard time limit of a fal job when none is given, in seconds.
const FAL_HARD_LIMIT_S: f64 = 3600.0;

/// Builds the engine for commands that run jobs. `name_template` is the
/// `--name-template` flag of commands that queue new clips.
pub(crate) async fn open_engine(
    data_dir: PathBuf,
    run: &RunArgs,
    defaults: JobDefaults,
    name_template: Option<&str>,
) -> Result<Engine> {
    let default_provider = defaults.provider.clone();
    let mut config = engine_config(data_dir, run, defaults)?;
    if let Some(template) = name_template {
        segue_engine::validate_template(template)
            .map_err(|err| UsageError(format!("invalid --name-template: {err}")))?;
        config.file_name_template = template.to_string();
    }
    let engine = Engine::open(config).await?;
    engine.register(Arc::new(LocalGenerator::new()));
    let fal = segue_fal::FalGenerator::from_env()
        .map_err(|err| UsageError(format!("fal.ai settings: {err}")))?;
    engine.register(Arc::new(fal));
    if let Some(limit) = run.concurrency {
        if limit == 0 {
            bail!(UsageError("--concurrency must be at least 1".into()));
        }
        // The limit applies to every provider, and each clamps it to its own
        // maximum, because manifest rows may pick another provider.
        for provider in [LOCAL_PROVIDER, FAL_PROVIDER] {
            let applied = engine.set_concurrency(provider, limit).unwrap_or(limit);
            if applied >= limit || provider != default_provider {
                continue;
            }
            if provider == LOCAL_PROVIDER {
                errln!(
                    "note: the local renderer runs at most {applied} jobs at once (one per core); \
                     using {applied} instead of {limit}"
                );
            } else {
                errln!(
                    "note: fal.ai jobs run at most {applied} at once; using {applied} instead of {limit}"
                );
            }
        }
    }
    Ok(engine)
}

fn engine_config(data_dir: PathBuf, run: &RunArgs, defaults: JobDefaults) -> Result<EngineConfig> {
    let seconds = |value: f64, flag: &str| -> Result<Duration> {
        if !(value.is_finite() && value > 0.0) {
            bail!(UsageError(format!("{flag} must be a positive number of seconds, not {value}")));
        }
        Ok(Duration::from_secs_f64(value))
    };
    // Hosted jobs may wait in fal's queue for a long time; their defaults
    // leave room for the client's 30-minute start deadline, which cancels a
    // job stuck in the queue and reports its last queue position.
    let (default_soft, default_hard) = if defaults.provider == FAL_PROVIDER {
        (FAL_SOFT_LIMIT_S, FAL_HARD_LIMIT_S)
    } else {
        (DEFAULT_SOFT_LIMIT_S, DEFAULT_HARD_LIMIT_S)
    };
    let hard_s = run.hard_limit.unwrap_or(default_hard);
    let soft_s = run.soft_limit.unwrap_or(default_soft.min(hard_s));
    let soft_limit = seconds(soft_s, "--soft-limit")?;
    let hard_limit = seconds(hard_s, "--hard-limit")?;
    if hard_limit < soft_limit {
        bail!(UsageError(format!(
            "--hard-limit ({hard_s} s) must not be shorter than --soft-limit ({soft_s} s)"
        )));
    }
    let mut config = EngineConfig::new(data_dir);
    config.retry = RetryPolicy {
        max_attempts: run.retries.saturating_add(1),
        base_delay: Duration::from_secs_f64(run.retry_delay.max(0.0)),
        ..RetryPolicy::default()
    };
    config.soft_limit = soft_limit;
    config.hard_limit = hard_limit;
    config.defaults = defaults;
    Ok(config)
}

/// Turns the clip flags into defaults for every job of the command.
pub(crate) fn clip_defaults(clip: &ClipArgs) -> Result<JobDefaults> {
    let mut defaults = JobDefaults::default();
    if let Some(kind) = &clip.kind {
        defaults.kind = parse_flag::<TransitionKind>("--type", kind)?;
    }
    if let Some(aspect) = &clip.aspect {
        defaults.output.aspect = parse_flag::<Aspect>("--aspect", aspect)?;
    }
    if let Some(resolution) = &clip.resolution {
        defaults.output.resolution = parse_flag::<Resolution>("--resolution", resolution)?;
    }
    if let Some(fit) = &clip.fit {
        defaults.output.fit = parse_flag::<Fit>("--fit", fit)?;
    }
    if let Some(fps) = clip.fps {
        defaults.output.fps = fps;
    }
    if let Some(duration) = clip.duration {
        defaults.output.duration_s = duration;
    }
    if let Err(err) = defaults.output.validate() {
        bail!(UsageError(err.to_string()));
    }
    if let Some(provider) = &clip.provider {
        if provider != LOCAL_PROVIDER && provider != FAL_PROVIDER {
            bail!(UsageError(format!(
                "unknown provider {provider:?}; expected {LOCAL_PROVIDER} or {FAL_PROVIDER}"
            )));
        }
        defaults.provider = provider.clone();
        if provider == FAL_PROVIDER {
            defaults.model = segue_fal::DEFAULT_MODEL.to_string();
        }
    }
    if let Some(model) = &clip.model {
        defaults.model = model.clone();
    }
    defaults.prompt = clip.prompt.clone().unwrap_or_default();
    defaults.negative_prompt = clip.negative_prompt.clone().unwrap_or_default();
    Ok(defaults)
}

fn parse_flag<T>(flag: &str, value: &str) -> Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    value.parse::<T>().map_err(|err| UsageError(format!("invalid {flag} {value:?}: {err}")).into())
}

/// Progress output style.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Display {
    /// Progress bars (standard error is a terminal).
    Bars,
    /// One plain line per state change.
    Lines,
    /// One JSON event per line on standard output.
    Json,
}

impl Display {
    pub(crate) fn choose(json: bool) -> Self {
        if json {
            Display::Json
        } else if std::io::stderr().is_terminal() {
            Display::Bars
        } else {
            Display::Lines
        }
    }
}

/// Final state of the jobs a command waited for.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub(crate) succeeded: Vec<(JobId, PathBuf)>,
    pub(crate) unsuccessful: Vec<(JobId, JobState, String)>,
}

impl Summary {
    pub(crate) fn exit_code(&self) -> ExitCode {
        if self.unsuccessful.is_empty() { ExitCode::Success } else { ExitCode::JobsFailed }
    }
}

/// Shows progress for `ids` until the engine has no unfinished job, then
/// reads their final state from the store.
pub(crate) async fn follow(
    engine: &Engine,
    mut events: broadcast::Receiver<JobEvent>,
    ids: &[JobId],
    display: Display,
) -> Result<Summary> {
    let mut view = ProgressView::new(display, ids.len());
    for &id in ids {
        let record = engine.store().job(id).await?;
        view.names.insert(id, record.spec.name.clone());
    }
    let watched: HashSet<JobId> = ids.iter().copied().collect();
    let idle = engine.wait_idle();
    tokio::pin!(idle);
    loop {
        tokio::select! {
            _ = &mut idle => break,
            received = events.recv() => match received {
                Ok(event) if watched.contains(&event.job_id()) => view.show(&event),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    // Events sent just before the engine went idle.
    while let Ok(event) = events.try_recv() {
        if watched.contains(&event.job_id()) {
            view.show(&event);
        }
    }
    view.finish();
    summarize(engine, ids).await
}

async fn summarize(engine: &Engine, ids: &[JobId]) -> Result<Summary> {
    let mut summary = Summary::default();
    for &id in ids {
        let record = engine.store().job(id).await.with_context(|| format!("reading job {id}"))?;
        match record.state {
            JobState::Succeeded => summary.succeeded.push((id, record.output_path.clone())),
            state => {
                summary.unsuccessful.push((id, state, record.error_message.unwrap_or_default()))
            }
        }
    }
    Ok(summary)
}

/// Prints the estimated price of a batch before it is queued, when any
/// job has a known price (local renders are free and print nothing).
pub(crate) fn print_estimate(prices: &[Option<f64>]) {
    let known: Vec<f64> = prices.iter().flatten().copied().collect();
    if known.is_empty() {
        return;
    }
    let total: f64 = known.iter().sum();
    let unknown = prices.len() - known.len();
    let mut line = format!("estimated price: ${total:.2} for {} jobs", known.len());
    if unknown > 0 {
        line.push_str(&format!(" (plus {unknown} jobs whose model price is unknown)"));
    }
    errln!("{line}");
}

/// Prints the closing report: where the clips are and what failed.
pub(crate) fn print_summary(summary: &Summary, display: Display) {
    if display == Display::Json {
        return;
    }
    for (id, path) in &summary.succeeded {
        outln!("{}  {}", id.short(), path.display());
    }
    for (id, state, error) in &summary.unsuccessful {
        errln!("{}  {state}: {error}", id.short());
    }
    let total = summary.succeeded.len() + summary.unsuccessful.len();
    errln!("{} of {total} transitions succeeded", summary.succeeded.len());
    if let Some(folder) = common_folder(summary) {
        errln!("clips are in {}", folder.display());
    }
}

fn common_folder(summary: &Summary) -> Option<PathBuf> {
    let mut folders = summary.succeeded.iter().filter_map(|(_, path)| path.parent());
    let first = folders.next()?;
    folders.all(|folder| folder == first).then(|| first.to_path_buf())
}

struct ProgressView {
    display: Display,
    names: HashMap<JobId, String>,
    multi: Option<MultiProgress>,
    overall: Option<ProgressBar>,
    bars: HashMap<JobId, ProgressBar>,
    /// Last quarter printed per job in plain-line mode.
    printed_quarter: HashMap<JobId, u8>,
    started: Instant,
}

impl ProgressView {
    fn new(display: Display, total: usize) -> Self {
        let (multi, overall) = if display == Display::Bars {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(total as u64));
            overall.set_style(
                ProgressStyle::with_template(
                    "{prefix:>10} [{bar:30}] {pos}/{len} done, {elapsed} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            overall.set_prefix("overall");
            (Some(multi), Some(overall))
        } else {
            (None, None)
        };
        Self {
            display,
            names: HashMap::new(),
            multi,
            overall,
            bars: HashMap::new(),
            printed_quarter: HashMap::new(),
            started: Instant::now(),
        }
    }

    fn name(&self, id: JobId) -> String {
        self.names.get(&id).cloned().unwrap_or_default()
    }

    fn show(&mut self, event: &JobEvent) {
        match self.display {
            Display::Json => {
                if let Ok(line) = serde_json::to_string(event) {
                    outln!("{line}");
                }
            }
            Display::Lines => self.show_line(event),
            Display::Bars => self.show_bar(event),
        }
    }

    fn show_line(&mut self, event: &JobEvent) {
        let id = event.job_id();
        let prefix = format!(
            "{:>7.1}s {} {}",
            self.started.elapsed().as_secs_f64(),
            id.short(),
            self.name(id)
        );
        let line = match event {
            JobEvent::Queued { .. } => "queued".to_string(),
            JobEvent::Started { attempt, max_attempts, .. } => {
                format!("started, attempt {attempt} of {max_attempts}")
            }
            JobEvent::Progress { stage, fraction, .. } => {
                let quarter = (fraction * 4.0).floor() as u8;
                let last = self.printed_quarter.insert(id, quarter);
                if last == Some(quarter) || quarter == 0 {
                    return;
                }
                format!("{stage} {:.0}%", fraction * 100.0)
            }
            JobEvent::Warning { message, .. } => format!("warning: {message}"),
            JobEvent::QueuePosition { position, .. } => {
                format!("in the provider's queue at position {position}")
            }
            JobEvent::ProviderLog { message, .. } => format!("provider: {message}"),
            JobEvent::NeedsAction { state, error, .. } => format!("{state}: {error}"),
            JobEvent::Retrying { attempt, delay_ms, error, .. } => {
                format!(
                    "attempt {attempt} failed: {error}; retrying in {:.1} s",
                    *delay_ms as f64 / 1000.0
                )
            }
            JobEvent::Succeeded { output, .. } => format!("succeeded: {}", output.path.display()),
            JobEvent::Failed { error, .. } => format!("failed: {error}"),
            JobEvent::TimedOut { error, .. } => format!("timed out: {error}"),
            JobEvent::Cancelled { .. } => "cancelled".to_string(),
        };
        errln!("{prefix}: {line}");
    }

    fn show_bar(&mut self, event: &JobEvent) {
        let id = event.job_id();
        let (Some(multi), Some(overall)) = (&self.multi, &self.overall) else { return };
        let style =
            ProgressStyle::with_template("{prefix:>10} [{bar:30}] {percent:>3}% {wide_msg}")
                .expect("valid template")
                .progress_chars("=> ");
        let name = self.names.get(&id).cloned().unwrap_or_default();
        let bar = self.bars.entry(id).or_insert_with(|| {
            let bar = multi.insert_before(overall, ProgressBar::new(1000));
            bar.set_style(style);
            bar.set_prefix(id.short());
            bar.set_message(name.clone());
            bar
        });
        match event {
            JobEvent::Queued { .. } => bar.set_message(format!("{name} (queued)")),
            JobEvent::Started { attempt, max_attempts, .. } => {
                bar.set_message(format!("{name} (attempt {attempt}/{max_attempts})"));
            }
            JobEvent::Progress { stage, fraction, .. } => {
                bar.set_position((fraction * 1000.0) as u64);
                bar.set_message(format!("{name} ({stage})"));
            }
            JobEvent::Warning { message, .. } => bar.set_message(format!("{name}: {message}")),
            JobEvent::QueuePosition { position, .. } => {
                bar.set_message(format!("{name} (in provider queue, position {position})"));
            }
            JobEvent::ProviderLog { message, .. } => bar.set_message(format!("{name}: {message}")),
            JobEvent::Retrying { error, delay_ms, .. } => {
                bar.set_message(format!(
                    "{name}: retry in {:.1} s: {error}",
                    *delay_ms as f64 / 1000.0
                ));
            }
            JobEvent::Succeeded { .. }
            | JobEvent::Failed { .. }
            | JobEvent::TimedOut { .. }
            | JobEvent::Cancelled { .. }
            | JobEvent::NeedsAction { .. } => {
                let text = match event {
                    JobEvent::Succeeded { output, .. } => {
                        format!("done: {}", output.path.display())
                    }
                    JobEvent::Failed { error, .. } => format!("FAILED: {error}"),
                    JobEvent::TimedOut { error, .. } => format!("TIMED OUT: {error}"),
                    JobEvent::NeedsAction { state, error, .. } => format!("{state}: {error}"),
                    _ => "cancelled".to_string(),
                };
                if matches!(event, JobEvent::Succeeded { .. }) {
                    bar.set_position(1000);
                    bar.finish_with_message(text);
                } else {
                    bar.abandon_with_message(text);
                }
                overall.inc(1);
            }
        }
    }

    fn finish(&self) {
        if let Some(overall) = &self.overall {
            overall.finish();
        }
    }
}
