import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import * as api from "../src/api";
import { App } from "../src/App";
import { EVENTS } from "../src/events";
import type { JobEvent, OutputInfo } from "../src/types";
import { emitEvent, installApiDefaults, listenerCount, makeOverview, makeRow } from "./helpers";

vi.mock("../src/api", async (importOriginal) => (await import("./helpers")).apiModuleMock(await importOriginal()));
vi.mock("@tauri-apps/api/event", async () => (await import("./helpers")).eventModuleMock());
vi.mock("@tauri-apps/api/webview", async () => (await import("./helpers")).webviewModuleMock());

const ID = "0190f3a2-0000-4000-8000-000000000001";
const OUTPUT: OutputInfo = {
  path: "/clips/a-to-b.mp4",
  bytes: 2_000_000,
  duration_s: 5,
  width: 1920,
  height: 1080,
  fps: 25,
  frames: 125,
  sha256: "cd".repeat(32),
};

function card(id = ID): HTMLElement {
  const found = screen.getAllByTestId("job-card").find((element) => element.dataset.jobId === id);
  if (!found) {
    throw new Error(`no job card for ${id}`);
  }
  return found;
}

async function renderQueue() {
  render(<App />);
  await screen.findAllByTestId("job-card");
  // Events reach the view only once its subscription is in place.
  await waitFor(() => expect(listenerCount(EVENTS.job)).toBeGreaterThan(0));
}

async function send(...events: JobEvent[]) {
  for (const event of events) {
    await emitEvent(EVENTS.job, event);
  }
}

describe("Queue", () => {
  beforeEach(() => {
    installApiDefaults(api);
    vi.mocked(api.queueJobs).mockResolvedValue([makeRow({ id: ID, name: "a-to-b" })]);
  });

  it("job card follows events", async () => {
    await renderQueue();
    expect(card()).toHaveAttribute("data-state", "queued");
    expect(within(card()).getByTestId("job-percent")).toHaveTextContent("0%");

    await send(
      { event: "started", job_id: ID, attempt: 1, max_attempts: 3 },
      { event: "progress", job_id: ID, stage: "generating", fraction: 0.5 },
    );
    expect(card()).toHaveAttribute("data-state", "running");
    expect(within(card()).getByTestId("job-attempt")).toHaveTextContent("attempt 1 of 3");
    expect(within(card()).getByTestId("job-percent")).toHaveTextContent("50%");
    expect(within(card()).getByTestId("job-stage")).toHaveTextContent("Generating");

    await send({ event: "retrying", job_id: ID, attempt: 1, delay_ms: 2000, error: "renderer crashed" });
    expect(card()).toHaveAttribute("data-state", "retrying");
    expect(within(card()).getByTestId("job-error")).toHaveTextContent("renderer crashed");

    await send(
      { event: "started", job_id: ID, attempt: 2, max_attempts: 3 },
      { event: "failed", job_id: ID, kind: "permanent", error: "b.jpg cannot be decoded: truncated JPEG data" },
    );
    expect(card()).toHaveAttribute("data-state", "failed");
    expect(within(card()).getByTestId("job-attempt")).toHaveTextContent("attempt 2 of 3");
    expect(within(card()).getByTestId("job-error")).toHaveTextContent("b.jpg cannot be decoded: truncated JPEG data");
    expect(within(card()).queryByTestId("job-cancel")).toBeNull();
    expect(within(card()).getByTestId("job-retry")).toBeInTheDocument();
  });

  it("cancel calls cancel_job", async () => {
    const user = userEvent.setup();
    await renderQueue();
    await user.click(within(card()).getByTestId("job-cancel"));
    expect(api.cancelJob).toHaveBeenCalledWith(ID);
  });

  it("cancel failure shows on card", async () => {
    vi.mocked(api.cancelJob).mockRejectedValue({ kind: "conflict", message: "the job already ended as succeeded" });
    const user = userEvent.setup();
    await renderQueue();
    await user.click(within(card()).getByTestId("job-cancel"));
    expect(await within(card()).findByTestId("job-action-error")).toHaveTextContent("the job already ended as succeeded");
  });

  it("retry and run next call backend", async () => {
    vi.mocked(api.queueJobs).mockResolvedValue([
      makeRow({ id: ID, state: "queued" }),
      makeRow({ id: "failed-job", state: "failed", error_message: "boom" }),
    ]);
    const user = userEvent.setup();
    await renderQueue();
    await user.click(within(card()).getByTestId("job-run-next"));
    expect(api.runNext).toHaveBeenCalledWith(ID);
    await user.click(within(card("failed-job")).getByTestId("job-retry"));
    expect(api.retryJob).toHaveBeenCalledWith("failed-job");
  });

  it("success fetches row for preview", async () => {
    vi.mocked(api.jobDetail).mockResolvedValue({
      row: makeRow({ id: ID, state: "succeeded", output: OUTPUT, clip_url: "http://127.0.0.1:47110/clip/a.mp4" }),
      spec: {} as never,
      attempts: [],
    });
    const user = userEvent.setup();
    await renderQueue();
    await send(
      { event: "started", job_id: ID, attempt: 1, max_attempts: 3 },
      { event: "succeeded", job_id: ID, output: OUTPUT },
    );
    expect(card()).toHaveAttribute("data-state", "succeeded");
    expect(within(card()).getByTestId("job-percent")).toHaveTextContent("100%");
    await waitFor(() => expect(api.jobDetail).toHaveBeenCalledWith(ID));
    await user.click(within(card()).getByTestId("job-preview"));
    const player = screen.getByTestId("player");
    expect(within(player).getByTestId("player-video")).toHaveAttribute("src", "http://127.0.0.1:47110/clip/a.mp4");
    expect(within(player).getByTestId("player-duration")).toHaveTextContent("00:00:05:00");
  });

  it("reveal calls reveal_job", async () => {
    vi.mocked(api.queueJobs).mockResolvedValue([makeRow({ id: ID, state: "succeeded", output: OUTPUT })]);
    const user = userEvent.setup();
    await renderQueue();
    await user.click(within(card()).getByTestId("job-reveal"));
    expect(api.revealJob).toHaveBeenCalledWith(ID);
  });

  it("new job event fetches queue", async () => {
    await renderQueue();
    const second = makeRow({ id: "second-job", name: "b-to-c" });
    vi.mocked(api.queueJobs).mockResolvedValue([makeRow({ id: ID }), second]);
    await send({ event: "queued", job_id: "second-job", name: "b-to-c", provider: "local" });
    await waitFor(() => expect(screen.getAllByTestId("job-card")).toHaveLength(2));
    expect(card("second-job")).toHaveAttribute("data-state", "queued");
  });

  it("unknown job event changes nothing", async () => {
    await renderQueue();
    await send({ event: "failed", job_id: "unknown", kind: "permanent", error: "x" });
    expect(screen.getAllByTestId("job-card")).toHaveLength(1);
    expect(card()).toHaveAttribute("data-state", "queued");
    expect(screen.queryByTestId("job-error")).toBeNull();
  });

  it("overall progress counts ended jobs", async () => {
    vi.mocked(api.queueJobs).mockResolvedValue([
      makeRow({ id: "1", state: "succeeded" }),
      makeRow({ id: "2", state: "running", stage: "generating", progress: 0.5 }),
      makeRow({ id: "3", state: "queued" }),
      makeRow({ id: "4", state: "failed" }),
    ]);
    await renderQueue();
    const overall = screen.getByTestId("overall-progress");
    expect(overall).toHaveAttribute("data-done", "2");
    expect(overall).toHaveAttribute("data-total", "4");
    await send({ event: "succeeded", job_id: "2", output: OUTPUT });
    expect(overall).toHaveAttribute("data-done", "3");
  });

  it("pause toggle pauses and resumes", async () => {
    const user = userEvent.setup();
    await renderQueue();
    const toggle = await screen.findByTestId("pause-toggle");
    await waitFor(() => expect(toggle).toBeEnabled());
    expect(toggle).toHaveTextContent("Pause after current");
    await user.click(toggle);
    expect(api.pauseQueue).toHaveBeenCalledTimes(1);
    await waitFor(() => expect(toggle).toHaveTextContent("Resume"));
    await user.click(toggle);
    expect(api.resumeQueue).toHaveBeenCalledTimes(1);
  });

  it("overview shows counts and follows events", async () => {
    await renderQueue();
    const overview = screen.getByTestId("overview");
    await waitFor(() => expect(overview).toHaveTextContent("5succeeded"));
    await emitEvent(EVENTS.overview, { ...makeOverview(), failures_24h: 7 });
    expect(overview).toHaveTextContent("7failures 24 h");
  });

  it("concurrency input calls set_concurrency", async () => {
    const user = userEvent.setup();
    await renderQueue();
    const input = await screen.findByTestId("concurrency-local");
    await user.clear(input);
    await user.type(input, "4{Enter}");
    expect(api.setConcurrency).toHaveBeenCalledWith("local", 4);
  });

  it("Space previews the selected finished job", async () => {
    vi.mocked(api.queueJobs).mockResolvedValue([
      makeRow({ id: ID, state: "succeeded", output: OUTPUT, clip_url: "http://127.0.0.1:47110/clip/a.mp4" }),
    ]);
    const user = userEvent.setup();
    await renderQueue();
    await user.click(within(card()).getByText("a-to-b"));
    expect(screen.queryByTestId("player")).toBeNull();
    await user.keyboard(" ");
    expect(screen.getByTestId("player")).toBeInTheDocument();
  });
});
