import { describe, expect, it } from "vitest";

import {
  applyJobEvent,
  jobFraction,
  queueReducer,
  sessionProgress,
  upsertRows,
  type QueueJob,
} from "../src/queueState";
import type { JobEvent, OutputInfo } from "../src/types";
import { makeRow } from "./helpers";

const ID = "0190f3a2-0000-4000-8000-000000000001";
const NOW = 1_760_000_100_000;

const OUTPUT: OutputInfo = {
  path: "/clips/a-to-b.mp4",
  bytes: 1_000_000,
  duration_s: 5,
  width: 1920,
  height: 1080,
  fps: 30,
  frames: 150,
  sha256: "ab".repeat(32),
};

function apply(jobs: QueueJob[], ...events: JobEvent[]): QueueJob[] {
  return events.reduce((state, event) => applyJobEvent(state, event, NOW), jobs);
}

describe("queueState", () => {
  it("started sets running and attempt", () => {
    const [job] = apply([makeRow()], { event: "started", job_id: ID, attempt: 1, max_attempts: 3 });
    expect(job.state).toBe("running");
    expect(job.attempt).toBe(1);
    expect(job.max_attempts).toBe(3);
    expect(job.started_at).toBe(NOW);
  });

  it("started keeps the first start time", () => {
    const [job] = apply([makeRow({ started_at: 5 })], { event: "started", job_id: ID, attempt: 2, max_attempts: 3 });
    expect(job.started_at).toBe(5);
  });

  it("progress sets stage and fraction", () => {
    const [job] = apply(
      [makeRow()],
      { event: "started", job_id: ID, attempt: 1, max_attempts: 3 },
      { event: "progress", job_id: ID, stage: "generating", fraction: 0.5 },
    );
    expect(job.stage).toBe("generating");
    expect(job.progress).toBe(0.5);
    expect(jobFraction(job)).toBeCloseTo(0.5);
  });

  it("progress after an end is ignored", () => {
    const [job] = apply(
      [makeRow({ state: "running" })],
      { event: "cancelled", job_id: ID },
      { event: "progress", job_id: ID, stage: "generating", fraction: 0.9 },
    );
    expect(job.state).toBe("cancelled");
    expect(job.stage).toBeNull();
  });

  it("queue_position kept while provider queues", () => {
    const [job] = apply(
      [makeRow({ state: "running", provider: "fal" })],
      { event: "progress", job_id: ID, stage: "in_provider_queue", fraction: 0 },
      { event: "queue_position", job_id: ID, position: 4 },
    );
    expect(job.queue_position).toBe(4);
    const [later] = apply([job], { event: "progress", job_id: ID, stage: "generating", fraction: 0 });
    expect(later.queue_position).toBeNull();
  });

  it("retrying sets attempt and error", () => {
    const [job] = apply(
      [makeRow({ state: "running", attempt: 1 })],
      { event: "retrying", job_id: ID, attempt: 1, delay_ms: 4000, error: "fal.ai returned 503" },
    );
    expect(job.state).toBe("retrying");
    expect(job.attempt).toBe(1);
    expect(job.error_message).toBe("fal.ai returned 503");
    expect(job.retry_at).toBe(NOW + 4000);
  });

  it("failed sets the error", () => {
    const [job] = apply(
      [makeRow({ state: "running", stage: "generating", progress: 0.3 })],
      { event: "failed", job_id: ID, kind: "permanent", error: "b.jpg cannot be decoded" },
    );
    expect(job.state).toBe("failed");
    expect(job.error_kind).toBe("permanent");
    expect(job.error_message).toBe("b.jpg cannot be decoded");
    expect(job.finished_at).toBe(NOW);
    expect(job.stage).toBeNull();
  });

  it("timed_out sets the error", () => {
    const [job] = apply([makeRow({ state: "running" })], { event: "timed_out", job_id: ID, error: "hard limit of 900 s" });
    expect(job.state).toBe("timed_out");
    expect(job.error_message).toBe("hard limit of 900 s");
  });

  it("succeeded sets output and clears error", () => {
    const [job] = apply(
      [makeRow({ state: "running", error_message: "attempt 1 failed" })],
      { event: "succeeded", job_id: ID, output: OUTPUT },
    );
    expect(job.state).toBe("succeeded");
    expect(job.output).toEqual(OUTPUT);
    expect(job.error_message).toBeNull();
    expect(jobFraction(job)).toBe(1);
  });

  it("needs_action takes the given state", () => {
    const [job] = apply(
      [makeRow({ state: "running", provider: "fal" })],
      { event: "needs_action", job_id: ID, state: "submit_unknown", error: "retry or cancel" },
    );
    expect(job.state).toBe("submit_unknown");
    expect(job.error_message).toBe("retry or cancel");
  });

  it("queued resets a retried job", () => {
    const [job] = apply(
      [makeRow({ state: "failed", finished_at: 3 })],
      { event: "queued", job_id: ID, name: "a-to-b", provider: "local" },
    );
    expect(job.state).toBe("queued");
    expect(job.finished_at).toBeNull();
  });

  it("warnings and provider logs are kept", () => {
    const [job] = apply(
      [makeRow({ state: "running" })],
      { event: "warning", job_id: ID, message: "image upscaled" },
      { event: "provider_log", job_id: ID, message: "step 3/20" },
    );
    expect(job.warnings).toEqual(["image upscaled"]);
    expect(job.provider_log).toBe("step 3/20");
  });

  it("unknown job is ignored", () => {
    const jobs = [makeRow()];
    const next = apply(jobs, { event: "started", job_id: "other", attempt: 1, max_attempts: 3 });
    expect(next).toBe(jobs);
  });

  it("unknown event kind is ignored", () => {
    const jobs = [makeRow()];
    const event = { event: "paused_by_provider", job_id: ID } as unknown as JobEvent;
    expect(applyJobEvent(jobs, event, NOW)).toBe(jobs);
  });

  it("upsertRows adds rows, keeps ended", () => {
    const ended = makeRow({ state: "succeeded" });
    const other = makeRow({ id: "second", name: "b-to-c" });
    const next = upsertRows([ended], [makeRow({ state: "running" }), other]);
    expect(next.map((job) => job.id)).toEqual([ID, "second"]);
    expect(next[0].state).toBe("succeeded");
  });

  it("upsertRows refreshes unfinished rows", () => {
    const next = upsertRows(
      [{ ...makeRow({ state: "running" }), queue_position: 2 }],
      [makeRow({ state: "succeeded", clip_url: "http://127.0.0.1:1/c.mp4" })],
    );
    expect(next[0].clip_url).toBe("http://127.0.0.1:1/c.mp4");
    expect(next[0].queue_position).toBe(2);
  });

  it("sessionProgress weights unfinished jobs", () => {
    const jobs = [
      makeRow({ id: "1", state: "succeeded" }),
      makeRow({ id: "2", state: "failed" }),
      makeRow({ id: "3", state: "running", stage: "generating", progress: 0.5 }),
      makeRow({ id: "4", state: "queued" }),
    ];
    const progress = sessionProgress(jobs);
    expect(progress.done).toBe(2);
    expect(progress.total).toBe(4);
    expect(progress.fraction).toBeCloseTo((1 + 1 + 0.5 + 0) / 4);
  });

  it("jobFraction maps hosted stages", () => {
    const base = { state: "running" as const, provider: "fal" };
    expect(jobFraction({ ...base, stage: "uploading", progress: 0 })).toBeCloseTo(0.02);
    expect(jobFraction({ ...base, stage: "downloading", progress: 1 })).toBeCloseTo(0.97);
    expect(jobFraction({ ...base, stage: null, progress: 0.7 })).toBe(0);
  });

  it("queueReducer removes jobs", () => {
    const jobs = [makeRow({ id: "1" }), makeRow({ id: "2" })];
    expect(queueReducer(jobs, { type: "remove", ids: ["1"] }).map((job) => job.id)).toEqual(["2"]);
  });
});
