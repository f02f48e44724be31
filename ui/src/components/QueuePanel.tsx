import { useEffect, useState } from "react";

import * as api from "../api";
import { formatPercent } from "../format";
import { useNow } from "../hooks/useNow";
import { sessionProgress, type QueueJob } from "../queueState";
import type { AppInfo, JobRow, Overview, SlotUse } from "../types";
import { ErrorText, ProgressBar } from "./common";
import { JobCard } from "./JobCard";

interface QueuePanelProps {
  info: AppInfo | null;
  jobs: QueueJob[];
  overview: Overview | null;
  onOverview: (overview: Overview) => void;
  loadError: string | null;
  selectedJobId: string | null;
  onSelectJob: (job: JobRow) => void;
  onPreview: (job: JobRow) => void;
}

function providerName(provider: string): string {
  return provider === "fal" ? "fal.ai" : provider;
}

function ConcurrencyInput({ slot, onOverview }: { slot: SlotUse; onOverview: (overview: Overview) => void }) {
  const [value, setValue] = useState(String(slot.limit));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setValue(String(slot.limit)), [slot.limit]);

  const commit = async () => {
    const limit = Number(value);
    if (!Number.isInteger(limit) || limit < 1) {
      setError("Enter a whole number of 1 or more.");
      return;
    }
    if (limit === slot.limit) {
      setError(null);
      return;
    }
    try {
      onOverview(await api.setConcurrency(slot.provider, limit));
      setError(null);
    } catch (error) {
      setError(api.errorMessage(error));
      setValue(String(slot.limit));
    }
  };

  return (
    <span className="slot" data-testid="slot" data-provider={slot.provider}>
      <span className="slot-name">{providerName(slot.provider)}</span>
      <span className="slot-use" title="Jobs running / concurrency limit">
        {slot.in_use}/{slot.limit}
      </span>
      {slot.queued ? <span className="muted">{slot.queued} waiting</span> : null}
      <label className="slot-limit">
        <span className="visually-hidden">Concurrency of {providerName(slot.provider)}</span>
        <input
          type="number"
          min={1}
          step={1}
          value={value}
          data-testid={`concurrency-${slot.provider}`}
          onChange={(event) => setValue(event.target.value)}
          onBlur={() => void commit()}
          onKeyDown={(event) => {
            if (event.key === "Enter") {
              void commit();
            }
          }}
        />
      </label>
      {error ? <span className="error-text">{error}</span> : null}
    </span>
  );
}

function OverviewStrip({ overview, onOverview }: { overview: Overview | null; onOverview: (o: Overview) => void }) {
  if (!overview) {
    return (
      <div className="overview" data-testid="overview">
        <span className="muted">Loading the queue state…</span>
      </div>
    );
  }
  const { counts } = overview;
  const stat = (label: string, value: number, className = "") => (
    <span className={`stat ${className}`}>
      <span className="stat-value">{value}</span>
      <span className="stat-label">{label}</span>
    </span>
  );
  return (
    <div className="overview" data-testid="overview">
      {stat("active", counts.running, "stat-running")}
      {stat("queued", counts.queued)}
      {stat("retrying", counts.retrying, counts.retrying ? "stat-warning" : "")}
      {stat("failures 24 h", overview.failures_24h, overview.failures_24h ? "stat-error" : "")}
      {stat("succeeded", counts.succeeded, "stat-ok")}
      {counts.needs_action ? stat("need action", counts.needs_action, "stat-warning") : null}
      <span className="slots">
        {overview.slots.map((slot) => (
          <ConcurrencyInput key={slot.provider} slot={slot} onOverview={onOverview} />
        ))}
      </span>
    </div>
  );
}

/** Shows the session's jobs, their overall progress and the queue controls. */
export function QueuePanel(props: QueuePanelProps) {
  const { info, jobs, overview, onOverview, loadError, selectedJobId, onSelectJob, onPreview } = props;
  const [pauseError, setPauseError] = useState<string | null>(null);
  const ticking = jobs.some((job) => job.state === "running" || job.state === "retrying");
  const now = useNow(ticking);
  const progress = sessionProgress(jobs);
  const paused = overview?.paused ?? false;

  const togglePause = async () => {
    setPauseError(null);
    try {
      onOverview(paused ? await api.resumeQueue() : await api.pauseQueue());
    } catch (error) {
      setPauseError(`${paused ? "Resuming" : "Pausing"} failed: ${api.errorMessage(error)}`);
    }
  };

  return (
    <section className="panel queue-panel" aria-label="Queue">
      <header className="panel-header">
        <h2>Queue</h2>
        <div
          className="overall"
          data-testid="overall-progress"
          data-done={progress.done}
          data-total={progress.total}
        >
          <ProgressBar fraction={progress.fraction} label="Progress of this session's jobs" />
          <span className="overall-text">
            {progress.done} of {progress.total} done · {formatPercent(progress.fraction)}
          </span>
        </div>
        <button
          type="button"
          data-testid="pause-toggle"
          className={paused ? "primary" : ""}
          aria-pressed={paused}
          disabled={!overview}
          title={paused ? "Let new attempts start again" : "Running jobs finish, and no new attempt starts"}
          onClick={() => void togglePause()}
        >
          {paused ? "Resume" : "Pause after current"}
        </button>
      </header>
      <OverviewStrip overview={overview} onOverview={onOverview} />
      {paused ? <p className="hint">Paused: running jobs finish, queued jobs wait.</p> : null}
      {pauseError ? <ErrorText>{pauseError}</ErrorText> : null}
      {loadError ? <ErrorText>{loadError}</ErrorText> : null}
      <div className="job-list" role="list">
        {jobs.map((job) => (
          <JobCard
            key={job.id}
            job={job}
            info={info}
            now={now}
            selected={job.id === selectedJobId}
            onSelect={onSelectJob}
            onPreview={onPreview}
          />
        ))}
        {jobs.length === 0 ? <p className="empty">No jobs in this session yet. Queue the draft to start.</p> : null}
      </div>
    </section>
  );
}
