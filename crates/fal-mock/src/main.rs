//! `fal-mock`: runs the fal.ai mock server until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use fal_mock::{ClipSource, FaultRule, MockConfig};

/// Local mock of fal.ai's queue, storage and file endpoints. Prints
/// "fal-mock listening on URL" on standard output once it accepts
/// connections, then serves until Ctrl-C. Durations take units: 250ms, 2s,
/// 6m, 1h. Set RUST_LOG (for example RUST_LOG=debug) for more log output.
#[derive(Debug, Parser)]
#[command(name = "fal-mock", version)]
struct Args {
    /// Loopback address and port to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Accepted API key, sent as "Authorization: Key KEY"; repeat for more
    /// keys [default: test-key].
    #[arg(long = "key", value_name = "KEY")]
    keys: Vec<String>,
    /// JSON file with a whole configuration (the MockConfig fields); the
    /// other options override its values.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// JSON file with an array of fault rules, as objects or text rules;
    /// they follow the rules of --config.
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,
    /// Fault rule in text form STEP:KIND[:KEY=VALUE]..., such as
    /// "status:503:times=2"; repeatable, added after --faults.
    #[arg(long = "fault", value_name = "RULE")]
    fault_rules: Vec<FaultRule>,
    /// Minimum time a job waits IN_QUEUE [default: 500ms].
    #[arg(long, value_parser = humantime::parse_duration)]
    queue_time: Option<Duration>,
    /// Time a job spends IN_PROGRESS [default: 2s].
    #[arg(long, value_parser = humantime::parse_duration)]
    generation_time: Option<Duration>,
    /// Maximum number of jobs IN_PROGRESS at once [default: 2].
    #[arg(long)]
    concurrency: Option<usize>,
    /// Time a result under 10 KiB stays available after completion
    /// [default: 1h].
    #[arg(long, value_parser = humantime::parse_duration)]
    result_ttl: Option<Duration>,
    /// Time a result of 10 KiB or more stays available [default: 6m].
    #[arg(long, value_parser = humantime::parse_duration)]
    large_result_ttl: Option<Duration>,
    /// Time uploaded files and generated clips stay downloadable
    /// [default: 7days].
    #[arg(long, value_parser = humantime::parse_duration)]
    file_ttl: Option<Duration>,
    /// Time a signed upload URL accepts a PUT [default: 1h].
    #[arg(long, value_parser = humantime::parse_duration)]
    upload_url_ttl: Option<Duration>,
    /// Interval of ": ping" comments on status streams [default: 15s].
    #[arg(long, value_parser = humantime::parse_duration)]
    ping_interval: Option<Duration>,
    /// Render one clip at start from these two images and serve it for every
    /// job, in place of rendering each job's own frames.
    #[arg(long, num_args = 2, value_names = ["FRONT", "TAIL"], conflicts_with = "clip_file")]
    clip_fixture: Option<Vec<PathBuf>>,
    /// Serve this MP4 file for every job, in place of rendering each job's
    /// own frames.
    #[arg(long, value_name = "MP4")]
    clip_file: Option<PathBuf>,
    /// Seed of the random numbers behind probabilistic fault rules.
    #[arg(long)]
    seed: Option<u64>,
    /// Let jobs cancelled while IN_PROGRESS run to a normal completion.
    #[arg(long)]
    finish_cancelled_running: bool,
}

impl Args {
    fn into_config(self) -> anyhow::Result<MockConfig> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the config file {}", path.display()))?;
                serde_json::from_str(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => MockConfig::default(),
        };

        if self.config.is_none() || self.listen != Args::default_listen() {
            config.listen = self.listen;
        }
        if !self.keys.is_empty() {
            config.keys = self.keys;
        }
        if let Some(path) = &self.faults {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the fault file {}", path.display()))?;
            let rules: Vec<FaultRule> = serde_json::from_str(&text)
                .with_context(|| format!("invalid fault file {}", path.display()))?;
            config.faults.extend(rules);
        }
        config.faults.extend(self.fault_rules);

        let durations = [
            (self.queue_time, &mut config.queue_time),
            (self.generation_time, &mut config.generation_time),
            (self.result_ttl, &mut config.result_ttl),
            (self.large_result_ttl, &mut config.large_result_ttl),
            (self.file_ttl, &mut config.file_ttl),
            (self.upload_url_ttl, &mut config.upload_url_ttl),
            (self.ping_interval, &mut config.ping_interval),
        ];
        for (value, field) in durations {
            if let Some(value) = value {
                *field = value;
            }
        }

        if let Some(concurrency) = self.concurrency {
            config.concurrency = concurrency;
        }

        if let Some(paths) = self.clip_fixture {
            let [front, tail]: [PathBuf; 2] =
                paths.try_into().map_err(|_| anyhow::anyhow!("--clip-fixture takes two paths"))?;
            config.clip = ClipSource::RenderFixture { front, tail };
        }
        if let Some(path) = self.clip_file {
            config.clip = ClipSource::File { path };
        }
        if self.seed.is_some() {
            config.seed = self.seed;
        }
        config.finish_cancelled_running |= self.finish_cancelled_running;

        config.validate().map_err(anyhow::Error::msg)?;
        Ok(config)
    }

    fn default_listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Args::parse().into_config()?;
    let stop = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C; stopping");
        }
    };
    fal_mock::serve(config, |server| println!("fal-mock listening on {}", server.base_url), stop)
        .await
        .context("cannot start the fal mock")
}
