import { useState } from "react";

import * as api from "../api";
import { formatElapsed, formatPercent, STAGE_LABELS } from "../format";
import { useDragOut } from "../hooks/useDragOut";
import { canCancel, canRetry, isTerminal, jobFraction, NEEDS_ACTION_STATES, type QueueJob } from "../queueState";
import type { AppInfo, JobRow } from "../types";
import { ErrorText, ProgressBar, StateBadge, Thumb } from "./common";
import { modelLabel } from "./PairSettingsFields";

interface JobCardProps {
  job: QueueJob;
  info: AppInfo | null;
  now: number;
  selected: boolean;
  onSelect: (job: JobRow) => void;
  onPreview: (job: JobRow) => void;
}

function statusLine(job: QueueJob, now: number): string {
  if (job.state === "retrying" && job.retry_at) {
    const seconds = Math.max(0, Math.ceil((job.retry_at - now) / 1000));
    return `Retrying in ${seconds} s`;
  }
  if (job.stage) {
    if (job.stage === "in_provider_queue" && job.queue_position !== null && job.queue_position !== undefined) {
      return `${STAGE_LABELS[job.stage]}: ${job.queue_position} ahead`;
    }
    return STAGE_LABELS[job.stage];
  }
  if (job.state === "queued") {
    return "Waiting for a slot";
  }
  return "";
}

/** Shows one job of the session in the Queue view, with its actions. */
export function JobCard({ job, info, now, selected, onSelect, onPreview }: JobCardProps) {
  const [actionError, setActionError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const dragOut = useDragOut(job.id, setActionError);
  const fraction = jobFraction(job);
  const succeeded = job.state === "succeeded";
  const ended = isTerminal(job.state);
  const elapsed = job.started_at !== null ? (job.finished_at ?? now) - job.started_at : null;
  const errorIsFinal = ended || NEEDS_ACTION_STATES.has(job.state);

  const run = async (label: string, action: () => Promise<unknown>) => {
    setBusy(true);
    setActionError(null);
    try {
      await action();
    } catch (error) {
      setActionError(`${label} failed: ${api.errorMessage(error)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <article
      className={`job-card state-${job.state} ${selected ? "selected" : ""}`}
      data-testid="job-card"
      data-job-id={job.id}
      data-state={job.state}
      tabIndex={0}
      aria-selected={selected}
      aria-label={job.name}
      onClick={() => onSelect(job)}
      onDoubleClick={() => succeeded && onPreview(job)}
    >
      <div
        className={`job-thumbs ${succeeded ? "draggable" : ""}`}
        title={succeeded ? "Drag the clip into your editor" : undefined}
        {...(succeeded ? dragOut : {})}
      >
        <Thumb url={job.front_thumb} label={job.front} size="small" />
        <span className="pair-arrow" aria-hidden="true">
          →
        </span>
        <Thumb url={job.tail_thumb} label={job.tail} size="small" />
      </div>
      <div className="job-body">
        <div className="job-title">
          <span className="job-name" title={job.name}>
            {job.name}
          </span>
          <span className="job-id muted">{job.short_id}</span>
          <StateBadge state={job.state} />
          <span className="job-settings muted" title={`${job.kind} · ${job.duration_s} s · ${job.provider}: ${job.model}`}>
            {job.kind} · {job.duration_s} s · {modelLabel(info, job.provider, job.model)}
          </span>
        </div>
        <div className="job-progress-row">
          <ProgressBar fraction={fraction} label={`Progress of ${job.name}`} className={`progress-${job.state}`} />
          <span className="job-percent" data-testid="job-percent">
            {formatPercent(fraction)}
          </span>
        </div>
        <div className="job-meta">
          <span className="job-stage" data-testid="job-stage">
            {statusLine(job, now)}
          </span>
          {job.attempt > 0 ? (
            <span data-testid="job-attempt">
              attempt {job.attempt} of {job.max_attempts}
            </span>
          ) : null}
          {elapsed !== null ? (
            <span data-testid="job-elapsed" title="Time since the first attempt started">
              {formatElapsed(elapsed)}
            </span>
          ) : null}
          {job.provider_log ? (
            <span className="provider-log muted" title={job.provider_log}>
              {job.provider_log}
            </span>
          ) : null}
        </div>
        {job.error_message ? (
          errorIsFinal ? (
            <ErrorText testId="job-error">{job.error_message}</ErrorText>
          ) : (
            <div className="warning-text" data-testid="job-error">
              Attempt {job.attempt} failed: {job.error_message}
            </div>
          )
        ) : null}
        {job.warnings?.length ? (
          <div className="warning-text" data-testid="job-warnings">
            {job.warnings[job.warnings.length - 1]}
          </div>
        ) : null}
        {actionError ? <ErrorText testId="job-action-error">{actionError}</ErrorText> : null}
      </div>
      <div className="job-actions" onClick={(event) => event.stopPropagation()}>
        {succeeded ? (
          <>
            <button type="button" data-testid="job-preview" onClick={() => onPreview(job)} title="Preview (Space)">
              ▶ Preview
            </button>
            <button
              type="button"
              data-testid="job-reveal"
              disabled={busy}
              onClick={() => void run("Reveal", () => api.revealJob(job.id))}
            >
              Reveal
            </button>
            <span className="drag-out" data-testid="job-drag-out" title="Drag the clip into your editor" {...dragOut}>
              ⠿ Drag
            </span>
          </>
        ) : null}
        {job.state === "queued" ? (
          <button
            type="button"
            data-testid="job-run-next"
            disabled={busy}
            title="Move to the front of its provider's queue"
            onClick={() => void run("Run next", () => api.runNext(job.id))}
          >
            Run next
          </button>
        ) : null}
        {canRetry(job.state) ? (
          <button
            type="button"
            data-testid="job-retry"
            disabled={busy}
            onClick={() => void run("Retry", () => api.retryJob(job.id))}
          >
            Retry
          </button>
        ) : null}
        {canCancel(job.state) ? (
          <button
            type="button"
            className="danger"
            data-testid="job-cancel"
            disabled={busy}
            onClick={() => void run("Cancel", () => api.cancelJob(job.id))}
          >
            Cancel
          </button>
        ) : null}
      </div>
    </article>
  );
}
