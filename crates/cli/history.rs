//! `segue history` and `segue show`: reading the store for people and
//! scripts.

use anyhow::{Result, bail};
use segue_engine::{JobFilter, JobRecord, JobState, Store};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::args::HistoryArgs;
use crate::exit::UsageError;
use crate::output::{errln, outln};

/// Builds the store filter from the command's flags.
pub(crate) fn filter(args: &HistoryArgs) -> Result<JobFilter> {
    let mut states = Vec::new();
    for state in &args.state {
        states.push(state.parse::<JobState>().map_err(UsageError)?);
    }
    let kind = match &args.kind {
        Some(kind) => Some(
            kind.parse::<segue_render::TransitionKind>()
                .map_err(|err| UsageError(format!("invalid --type {kind:?}: {err}")))?
                .to_string(),
        ),
        None => None,
    };
    let since_ms = args.since.as_deref().map(parse_since).transpose()?;
    Ok(JobFilter {
        states,
        kind,
        provider: args.provider.clone(),
        since_ms,
        name_contains: args.name.clone(),
        limit: Some(args.limit),
        ..JobFilter::default()
    })
}

/// Parses `30m`, `24h`, `7d` (ago) or a date `2026-12-01` (UTC midnight).
fn parse_since(text: &str) -> Result<i64> {
    let now = segue_engine::store::now_ms();
    let text = text.trim();
    let unit_ms = match text.chars().last() {
        Some('m') => Some(60_000),
        Some('h') => Some(3_600_000),
        Some('d') => Some(86_400_000),
        _ => None,
    };
    if let Some(unit_ms) = unit_ms
        && let Ok(count) = text[..text.len() - 1].parse::<i64>()
    {
        return Ok(now - count * unit_ms);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(text, &format) {
        Ok(date) => Ok(date.midnight().assume_utc().unix_timestamp() * 1000),
        Err(_) => bail!(UsageError(format!(
            "invalid --since {text:?}; use a period such as 30m, 24h or 7d, or a date such as 2026-12-01"
        ))),
    }
}

fn time_text(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

fn short_time(ms: i64) -> String {
    let full = time_text(ms);
    // 2026-12-04T15:07:25.123Z -> 2026-12-04 15:07
    full.get(..16).map(|s| s.replace('T', " ")).unwrap_or(full)
}

/// Prints jobs as a table, one row each.
pub(crate) fn print_table(jobs: &[JobRecord]) {
    if jobs.is_empty() {
        errln!("no jobs match");
        return;
    }
    outln!(
        "{:<8}  {:<9}  {:<13}  {:>4}  {:<8}  {:>4}  {:<16}  NAME: OUTPUT OR ERROR",
        "ID",
        "STATE",
        "TYPE",
        "SEC",
        "PROVIDER",
        "TRY",
        "CREATED (UTC)"
    );
    for job in jobs {
        let detail = match (&job.output, &job.error_message) {
            (Some(output), _) if job.state == JobState::Succeeded => {
                output.path.display().to_string()
            }
            (_, Some(error)) if job.state.is_terminal() || job.state == JobState::Retrying => {
                error.clone()
            }
            _ => job.stage.map(|s| format!("{s} {:.0}%", job.progress * 100.0)).unwrap_or_default(),
        };
        outln!(
            "{:<8}  {:<9}  {:<13}  {:>4}  {:<8}  {:>4}  {:<16}  {}: {}",
            job.id.short(),
            job.state.as_str(),
            job.spec.kind.to_string(),
            job.spec.output.duration_s,
            job.provider,
            format!("{}/{}", job.attempt, job.max_attempts),
            short_time(job.created_at),
            job.spec.name,
            detail
        );
    }
}

/// Prints one job in full.
pub(crate) async fn print_job(store: &Store, job: &JobRecord, json: bool) -> Result<()> {
    let attempts = store.attempts(job.id).await?;
    if json {
        let value = serde_json::json!({ "job": job, "attempts": attempts });
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let spec = &job.spec;
    let out = &spec.output;
    outln!("job        {}", job.id);
    outln!("name       {}", spec.name);
    outln!("state      {}{}", job.state, job.stage.map(|s| format!(" ({s})")).unwrap_or_default());
    outln!("front      {}", spec.front.display());
    outln!("tail       {}", spec.tail.display());
    outln!("type       {} ({})", spec.kind, spec.kind.description());
    outln!("duration   {} s", out.duration_s);
    outln!("output     {} {} {} fps, fit {}", out.aspect, out.resolution, out.fps, out.fit);
    outln!("provider   {} / {}", spec.provider, spec.model);
    if !spec.prompt.is_empty() {
        outln!("prompt     {}", spec.prompt);
    }
    if !spec.negative_prompt.is_empty() {
        outln!("negative   {}", spec.negative_prompt);
    }
    if let Some(seed) = spec.seed {
        outln!("seed       {seed}");
    }
    outln!("created    {}", time_text(job.created_at));
    if let Some(finished) = job.finished_at {
        outln!("finished   {}", time_text(finished));
    }
    if let Some(request_id) = &job.provider_request_id {
        outln!("request id {request_id}");
    }
    let finished = job.state.is_terminal();
    match &job.output {
        Some(o) => outln!(
            "clip       {} ({} bytes, {}x{}, {:.3} s, {:.2} fps, {} frames, sha256 {})",
            o.path.display(),
            o.bytes,
            o.width,
            o.height,
            o.duration_s,
            o.fps,
            o.frames,
            o.sha256
        ),
        None if finished => outln!("clip       none ({} was reserved)", job.output_path.display()),
        None => outln!("clip       {} (not written yet)", job.output_path.display()),
    }
    if let Some(error) = &job.error_message {
        outln!("error      [{}] {error}", job.error_kind.as_deref().unwrap_or("unknown"));
    }
    outln!(
        "attempts   {} run, {} failed, {} failures allowed before the job fails",
        job.attempt,
        job.charged_attempts,
        job.max_attempts
    );
    for attempt in &attempts {
        let took = attempt
            .finished_at
            .map(|end| format!(", {:.1} s", (end - attempt.started_at) as f64 / 1000.0))
            .unwrap_or_default();
        let error = attempt.error_message.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
        outln!(
            "  #{} {} at {}{took}{error}",
            attempt.number,
            attempt.outcome,
            time_text(attempt.started_at)
        );
    }
    Ok(())
}

/// Prints the hosted models: id, name, durations, aspects and the price of
/// a 5-second clip (or the model's shortest) where it is known.
pub(crate) fn print_models(json: bool) {
    for model in segue_fal::models() {
        let durations = match model.durations {
            segue_fal::Durations::Choices(choices) => choices
                .iter()
                .map(|(seconds, _)| seconds.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            segue_fal::Durations::Fixed(seconds) => seconds.to_string(),
            segue_fal::Durations::Frames { min_frames, max_frames, max_fps, min_fps, .. } => {
                format!(
                    "{:.0} to {:.0}",
                    f64::from(min_frames) / f64::from(max_fps),
                    f64::from(max_frames) / f64::from(min_fps)
                )
            }
        };
        let seconds = match model.durations {
            segue_fal::Durations::Choices(choices) => choices
                .iter()
                .map(|(s, _)| *s)
                .find(|&s| s == 5)
                .or(choices.first().map(|(s, _)| *s)),
            segue_fal::Durations::Fixed(seconds) => Some(seconds),
            segue_fal::Durations::Frames { .. } => Some(5),
        }
        .unwrap_or(5);
        let input = segue_fal::PriceInput {
            seconds: f64::from(seconds),
            resolution: model.resolutions.first().copied().unwrap_or(""),
            num_frames: matches!(model.durations, segue_fal::Durations::Frames { .. })
                .then_some(81),
        };
        let price = model.price.map(|price| price(&input));
        let aspects =
            model.aspect_ratios.map(|a| a.join(", ")).unwrap_or_else(|| "follows the image".into());
        if json {
            let line = serde_json::json!({
                "id": model.id, "alias": model.alias, "name": model.name,
                "durations_s": durations, "aspect_ratios": model.aspect_ratios,
                "resolutions": model.resolutions, "price_usd": price, "price_for_s": seconds,
            });
            outln!("{line}");
        } else {
            let price = price
                .map(|p| format!("${p:.2} for {seconds} s"))
                .unwrap_or_else(|| "price unknown".into());
            outln!(
                "{}\n    {}; durations {durations} s; aspect {aspects}; {price}",
                model.id,
                model.name
            );
        }
    }
}
