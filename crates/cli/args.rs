//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Make video transitions between photos, in parallel, with a history.
#[derive(Debug, Parser)]
#[command(name = "segue", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Folder holding the history database and temporary files [default:
    /// the platform data folder, e.g. ~/.local/share/segue].
    #[arg(long, global = true, env = "SEGUE_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,

    /// Print JSON for scripts: one event per line while jobs run, or the
    /// records of `history` and `show`.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Print log messages to standard error (repeat for more detail). The
    /// full log is always written to <data dir>/logs/segue.log.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Make one transition from FRONT to TAIL.
    Generate(GenerateArgs),
    /// Make many transitions from a manifest (JSON or CSV) or a folder.
    Batch(BatchArgs),
    /// List past and current jobs, newest first.
    History(HistoryArgs),
    /// Show one job with its settings, attempts and output.
    Show(IdArgs),
    /// Run a failed, timed-out or cancelled job again.
    Retry(RetryArgs),
    /// Cancel a queued or running job.
    Cancel(IdArgs),
    /// Finish the jobs of a `segue` process that stopped (crash, kill, power
    /// cut).
    Resume(RunArgs),
    /// List the transition types.
    Types,
    /// List the hosted fal.ai models with their durations, aspects and
    /// prices.
    Models,
}

/// Settings of the clips, shared by `generate` and `batch`.
#[derive(Debug, Args)]
pub(crate) struct ClipArgs {
    /// Transition type, in any case: CALM, ENERGETIC, SLIDE, FADE_BLACK, WHIP,
    /// BLUR_DISSOLVE (see `segue types`).
    #[arg(long = "type", short = 't', value_name = "TYPE")]
    pub(crate) kind: Option<String>,

    /// Clip length in seconds, 1 to 10 [default: 5].
    #[arg(long, short = 'd', value_name = "SECONDS")]
    pub(crate) duration: Option<f64>,

    /// Text prompt (hosted models use it; the local renderer stores it).
    #[arg(long, short = 'p')]
    pub(crate) prompt: Option<String>,

    /// Negative prompt for hosted models.
    #[arg(long)]
    pub(crate) negative_prompt: Option<String>,

    /// Seed for hosted models.
    #[arg(long)]
    pub(crate) seed: Option<i64>,

    /// Frame size: 720p or 1080p [default: 1080p].
    #[arg(long, short = 'r')]
    pub(crate) resolution: Option<String>,

    /// Frame rate: 24, 25 or 30 [default: 30].
    #[arg(long)]
    pub(crate) fps: Option<u32>,

    /// How images are fitted to the frame: cover (fill and crop) or
    /// letterbox (fit inside, black bars) [default: cover].
    #[arg(long)]
    pub(crate) fit: Option<String>,

    /// Frame shape: 16:9, 9:16, 1:1 or auto (follows the front image)
    /// [default: 16:9].
    #[arg(long)]
    pub(crate) aspect: Option<String>,

    /// Generator: local (the embedded renderer) or fal (hosted models; needs
    /// FAL_KEY) [default: local].
    #[arg(long)]
    pub(crate) provider: Option<String>,

    /// Model id within the provider (see `segue models`) [default for fal:
    /// Kling 2.5 turbo pro].
    #[arg(long)]
    pub(crate) model: Option<String>,

    // clap turns the text "{n}" in help into a line break, so the help
    // spells that placeholder out as "n in braces".
    /// File name of each clip in the output folder, built from these
    /// placeholders: {name}, {front} and {tail} (image file names without
    /// extension), {type}, {duration} (5s), {model}, {provider}, {date}
    /// (YYYY-MM-DD, UTC), {time} (HHMMSS, UTC), {id} (short job id), and n
    /// in braces for the position in the batch (1, 2, ...). `/` becomes `_`,
    /// and -2, -3, ... is added when the name is taken. Not used when --out
    /// names an .mp4 file [default: {name}].
    #[arg(long, value_name = "TEMPLATE")]
    pub(crate) name_template: Option<String>,
}

/// How jobs run: shared by every command that runs jobs.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Jobs run at once, per provider [default: local renderer: the number
    /// of cores, which is also its maximum; fal: 10, at most 64].
    #[arg(long, short = 'j', value_name = "N")]
    pub(crate) concurrency: Option<usize>,

    /// Retries after a transient failure (network, overload); permanent
    /// errors are never retried.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub(crate) retries: u32,

    /// Wait before the first retry, in seconds; it doubles after each
    /// failure, with jitter.
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    pub(crate) retry_delay: f64,

    /// Per attempt: after this many seconds the generator is asked to stop
    /// [default: 600 (fal: 2400), or the hard limit when that is shorter].
    #[arg(long, value_name = "SECONDS")]
    pub(crate) soft_limit: Option<f64>,

    /// Per attempt: after this many seconds the attempt ends as timed out;
    /// timed-out jobs are not retried automatically [default: 900 (fal:
    /// 3600)].
    #[arg(long, value_name = "SECONDS")]
    pub(crate) hard_limit: Option<f64>,
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// Image the clip starts on.
    pub(crate) front: PathBuf,
    /// Image the clip ends on.
    pub(crate) tail: PathBuf,
    /// Output: a folder, or a file path ending in .mp4 [default: ./segue-output].
    #[arg(long, short = 'o', value_name = "PATH")]
    pub(crate) out: Option<PathBuf>,
    /// Name shown in history and used for the file name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    #[command(flatten)]
    pub(crate) clip: ClipArgs,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BatchArgs {
    /// A manifest (.json, or .csv with a header row) or a folder of images.
    pub(crate) source: PathBuf,
    /// How a folder's images are paired, in natural name order: chain
    /// (1→2, 2→3, ...), pairs (1→2, 3→4, ...) or ab (NAME_a → NAME_b).
    #[arg(long, default_value = "chain")]
    pub(crate) pairing: String,
    /// Output folder [default: ./segue-output].
    #[arg(long, short = 'o', value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) clip: ClipArgs,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Only jobs in this state (repeatable): queued, running, retrying,
    /// succeeded, failed, cancelled, timed_out.
    #[arg(long, short = 's')]
    pub(crate) state: Vec<String>,
    /// Only this transition type.
    #[arg(long = "type", short = 't')]
    pub(crate) kind: Option<String>,
    /// Only this provider.
    #[arg(long)]
    pub(crate) provider: Option<String>,
    /// Only jobs created within this period (30m, 24h, 7d) or since this
    /// date (2026-12-01).
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Only jobs whose name contains this text.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// At most this many jobs.
    #[arg(long, short = 'n', default_value_t = 50)]
    pub(crate) limit: u32,
}

#[derive(Debug, Args)]
pub(crate) struct IdArgs {
    /// Job id, or a unique prefix of it as `history` shows.
    pub(crate) id: String,
}

#[derive(Debug, Args)]
pub(crate) struct RetryArgs {
    /// Job id, or a unique prefix of it.
    pub(crate) id: String,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}
