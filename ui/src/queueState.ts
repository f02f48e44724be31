// Live state of the Queue view: the rows from `queue_jobs`, updated by
// `segue://job` events. Every function here is pure.

import type { JobEvent, JobRow, JobState, Stage } from "./types";

/** A queue row plus facts that only events carry. */
export interface QueueJob extends JobRow {
  /** Requests ahead of this one in the hosted provider's queue. */
  queue_position?: number | null;
  /** Unix ms at which a retrying job runs again. */
  retry_at?: number | null;
  /** Last log line from the hosted provider. */
  provider_log?: string | null;
  /** Warnings of the current run, oldest first. */
  warnings?: string[];
}

export const TERMINAL_STATES: ReadonlySet<JobState> = new Set(["succeeded", "failed", "cancelled", "timed_out"]);
export const NEEDS_ACTION_STATES: ReadonlySet<JobState> = new Set(["remote_expired", "submit_unknown"]);

/** Warnings kept per job. Older ones are dropped. */
const MAX_WARNINGS = 20;

export function isTerminal(state: JobState): boolean {
  return TERMINAL_STATES.has(state);
}

export function canCancel(state: JobState): boolean {
  return state === "queued" || state === "running" || state === "retrying" || NEEDS_ACTION_STATES.has(state);
}

export function canRetry(state: JobState): boolean {
  return state === "failed" || state === "timed_out" || state === "cancelled" || NEEDS_ACTION_STATES.has(state);
}

function update(jobs: QueueJob[], id: string, change: (job: QueueJob) => QueueJob): QueueJob[] {
  const index = jobs.findIndex((job) => job.id === id);
  if (index < 0) {
    return jobs;
  }
  const next = [...jobs];
  next[index] = change(jobs[index]);
  return next;
}

/**
 * Applies one job event. Events of jobs not in `jobs` are ignored: the
 * caller fetches such rows, because a `queued` event lacks the images and
 * settings. `now` is the Unix ms time the event arrived.
 */
export function applyJobEvent(jobs: QueueJob[], event: JobEvent, now: number): QueueJob[] {
  switch (event.event) {
    case "queued":
      return update(jobs, event.job_id, (job) => ({
        ...job,
        name: event.name,
        provider: event.provider,
        state: "queued",
        stage: null,
        progress: 0,
        finished_at: null,
        queue_position: null,
        retry_at: null,
      }));
    case "started":
      return update(jobs, event.job_id, (job) => ({
        ...job,
        state: "running",
        stage: null,
        progress: 0,
        attempt: event.attempt,
        max_attempts: event.max_attempts,
        started_at: job.started_at ?? now,
        finished_at: null,
        retry_at: null,
        warnings: [],
      }));
    case "progress":
      return update(jobs, event.job_id, (job) => {
        if (isTerminal(job.state)) {
          return job;
        }
        return {
          ...job,
          state: "running",
          stage: event.stage,
          progress: Math.min(1, Math.max(0, event.fraction)),
          queue_position: event.stage === "in_provider_queue" ? job.queue_position : null,
        };
      });
    case "queue_position":
      return update(jobs, event.job_id, (job) => ({ ...job, queue_position: event.position }));
    case "provider_log":
      return update(jobs, event.job_id, (job) => ({ ...job, provider_log: event.message }));
    case "warning":
      return update(jobs, event.job_id, (job) => ({
        ...job,
        warnings: [...(job.warnings ?? []), event.message].slice(-MAX_WARNINGS),
      }));
    case "retrying":
      return update(jobs, event.job_id, (job) => ({
        ...job,
        state: "retrying",
        stage: null,
        progress: 0,
        attempt: event.attempt,
        error_message: event.error,
        retry_at: now + Number(event.delay_ms),
        queue_position: null,
      }));
    case "succeeded":
      return update(jobs, event.job_id, (job) => ({
        ...job,
        state: "succeeded",
        stage: null,
        progress: 1,
        output: event.output,
        output_path: event.output.path,
        finished_at: now,
        error_kind: null,
        error_message: null,
        queue_position: null,
        retry_at: null,
      }));
    case "failed":
      return update(jobs, event.job_id, (job) => ({
        ...job,
        state: "failed",
        stage: null,
        error_kind: event.kind,
        error_message: event.error,
        finished_at: now,
        queue_position: null,
        retry_at: null,
      }));
    case "timed_out":
      return update(jobs, event.job_id, (job) => ({
        ...job,
        state: "timed_out",
        stage: null,
        error_kind: "timeout",
        error_message: event.error,
        finished_at: now,
        queue_position: null,
        retry_at: null,
      }));
    case "cancelled":
      return update(jobs, event.job_id, (job) => ({
        ...job,
        state: "cancelled",
        stage: null,
        finished_at: now,
        queue_position: null,
        retry_at: null,
      }));
    case "needs_action":
      return update(jobs, event.job_id, (job) => ({
        ...job,
        state: event.state,
        stage: null,
        error_message: event.error,
        queue_position: null,
        retry_at: null,
      }));
    default:
      return jobs;
  }
}

/**
 * Adds fetched rows that are missing and refreshes known ones, keeping the
 * event-only fields. A fetched row never turns an ended job back into an
 * unfinished one, because the fetch may have read the database before the
 * event that ended the job was applied.
 */
export function upsertRows(jobs: QueueJob[], rows: JobRow[]): QueueJob[] {
  const byId = new Map(rows.map((row) => [row.id, row]));
  const next = jobs.map((job) => {
    const row = byId.get(job.id);
    if (!row) {
      return job;
    }
    byId.delete(job.id);
    if (isTerminal(job.state) && !isTerminal(row.state)) {
      return job;
    }
    return { ...job, ...row };
  });
  for (const row of rows) {
    if (byId.has(row.id)) {
      next.push(row);
    }
  }
  return next;
}

export function removeJobs(jobs: QueueJob[], ids: readonly string[]): QueueJob[] {
  const removed = new Set(ids);
  return jobs.filter((job) => !removed.has(job.id));
}

// Share of a whole attempt that each stage covers, as [start, end]. These
// are estimates: the engine reports progress per stage only, and a hosted
// model reports none while it generates.
const LOCAL_STAGES: Partial<Record<Stage, [number, number]>> = {
  preparing: [0, 0.05],
  generating: [0.05, 0.95],
  verifying: [0.95, 1],
};
const HOSTED_STAGES: Record<Stage, [number, number]> = {
  preparing: [0, 0.02],
  uploading: [0.02, 0.1],
  submitting: [0.1, 0.12],
  in_provider_queue: [0.12, 0.2],
  generating: [0.2, 0.85],
  downloading: [0.85, 0.97],
  verifying: [0.97, 1],
};

/** Estimates the fraction of a job done, 0 to 1, from its stage and stage progress. */
export function jobFraction(job: Pick<JobRow, "state" | "stage" | "progress" | "provider">): number {
  if (job.state === "succeeded") {
    return 1;
  }
  if (job.stage === null) {
    return 0;
  }
  const band =
    (job.provider === "local" ? LOCAL_STAGES[job.stage] : undefined) ?? HOSTED_STAGES[job.stage] ?? [0, 1];
  const [start, end] = band;
  return start + (end - start) * Math.min(1, Math.max(0, job.progress));
}

export interface SessionProgress {
  /** Jobs that ended. */
  done: number;
  total: number;
  /** Share done from 0 to 1, where ended jobs count 1 each and unfinished ones their estimated fraction. */
  fraction: number;
}

export function sessionProgress(jobs: readonly QueueJob[]): SessionProgress {
  let done = 0;
  let weighted = 0;
  for (const job of jobs) {
    if (isTerminal(job.state)) {
      done += 1;
      weighted += 1;
    } else {
      weighted += jobFraction(job);
    }
  }
  const total = jobs.length;
  return { done, total, fraction: total === 0 ? 0 : weighted / total };
}

export type QueueAction =
  | { type: "event"; event: JobEvent; now: number }
  | { type: "rows"; rows: JobRow[] }
  | { type: "remove"; ids: string[] };

export function queueReducer(jobs: QueueJob[], action: QueueAction): QueueJob[] {
  switch (action.type) {
    case "event":
      return applyJobEvent(jobs, action.event, action.now);
    case "rows":
      return upsertRows(jobs, action.rows);
    case "remove":
      return removeJobs(jobs, action.ids);
  }
}
