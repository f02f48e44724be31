import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import * as api from "../src/api";
import { HistoryView, PAGE_SIZE, ROW_HEIGHT } from "../src/components/HistoryView";
import type { HistoryQuery, JobState } from "../src/types";
import { installApiDefaults, makeInfo, makeRow } from "./helpers";

vi.mock("../src/api", async (importOriginal) => (await import("./helpers")).apiModuleMock(await importOriginal()));

const TOTAL = 10_000;
const VIEWPORT_HEIGHT = 520;
const STATES: JobState[] = ["succeeded", "failed", "cancelled"];

/** Serves a history of TOTAL rows, as the backend pages them. */
function serveHistory(total = TOTAL) {
  vi.mocked(api.listJobs).mockImplementation(async (query: HistoryQuery) => {
    const offset = query.offset ?? 0;
    const limit = query.limit ?? 100;
    const rows = [];
    for (let index = offset; index < Math.min(total, offset + limit); index += 1) {
      rows.push(
        makeRow({
          id: `job-${index}`,
          name: `clip ${index}`,
          state: STATES[index % STATES.length],
          provider_request_id: index % 2 ? `req-${index}` : null,
        }),
      );
    }
    return { rows, total, offset };
  });
}

function renderHistory() {
  const onRerun = vi.fn();
  render(
    <HistoryView info={makeInfo()} selectedJobId={null} onSelectJob={vi.fn()} onPreview={vi.fn()} onRerun={onRerun} />,
  );
  return { onRerun };
}

function rows(): HTMLElement[] {
  return screen.queryAllByTestId("history-row");
}

function rowById(id: string): HTMLElement {
  const found = rows().find((row) => row.dataset.jobId === id);
  if (!found) {
    throw new Error(`no history row ${id}`);
  }
  return found;
}

describe("History", () => {
  beforeEach(() => {
    installApiDefaults(api);
    serveHistory();
    // jsdom does no layout, so the list gets its viewport height through clientHeight.
    vi.spyOn(HTMLElement.prototype, "clientHeight", "get").mockImplementation(function (this: HTMLElement) {
      return this.dataset.testid === "history-scroll" ? VIEWPORT_HEIGHT : 0;
    });
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it("renders a window of 10,000", async () => {
    renderHistory();
    await waitFor(() => expect(rows().length).toBeGreaterThan(0));
    expect(screen.getByTestId("history-count")).toHaveTextContent("10,000 jobs");
    expect(rows().length).toBeLessThan(60);
    expect(rows()[0]).toHaveAttribute("data-job-id", "job-0");
    expect(api.listJobs).toHaveBeenCalledTimes(1);
    expect(api.listJobs).toHaveBeenCalledWith(expect.objectContaining({ offset: 0, limit: PAGE_SIZE }));
  });

  it("scrolling fetches the page in view", async () => {
    renderHistory();
    await waitFor(() => expect(rows().length).toBeGreaterThan(0));
    const scroller = screen.getByTestId("history-scroll");
    const target = 5_000;
    Object.defineProperty(scroller, "scrollTop", { configurable: true, value: target * ROW_HEIGHT });
    await act(async () => {
      fireEvent.scroll(scroller);
    });
    await waitFor(() => expect(api.listJobs).toHaveBeenCalledWith(expect.objectContaining({ offset: 5_000 })));
    await waitFor(() => expect(rows().some((row) => row.dataset.jobId === `job-${target}`)).toBe(true));
    expect(rows().length).toBeLessThan(60);
    expect(api.listJobs).not.toHaveBeenCalledWith(expect.objectContaining({ offset: 2_500 }));
  });

  it("search calls list_jobs after the debounce", async () => {
    const user = userEvent.setup();
    renderHistory();
    await waitFor(() => expect(rows().length).toBeGreaterThan(0));
    vi.mocked(api.listJobs).mockClear();
    await user.type(screen.getByTestId("history-search"), "shot42");
    await waitFor(() => expect(api.listJobs).toHaveBeenCalledWith(expect.objectContaining({ search: "shot42", offset: 0 })));
    const searches = vi.mocked(api.listJobs).mock.calls.map(([query]) => query.search);
    expect(searches).toEqual(["shot42"]);
  });

  it("state filter goes into the query", async () => {
    const user = userEvent.setup();
    renderHistory();
    await waitFor(() => expect(rows().length).toBeGreaterThan(0));
    await user.click(screen.getByRole("button", { name: "Failed" }));
    await waitFor(() => expect(api.listJobs).toHaveBeenLastCalledWith(expect.objectContaining({ states: ["failed"] })));
    await user.click(screen.getByRole("button", { name: "Timed out" }));
    await waitFor(() =>
      expect(api.listJobs).toHaveBeenLastCalledWith(expect.objectContaining({ states: ["failed", "timed_out"] })),
    );
  });

  it("date range becomes Unix ms", async () => {
    renderHistory();
    await waitFor(() => expect(rows().length).toBeGreaterThan(0));
    fireEvent.change(screen.getByTestId("history-from"), { target: { value: "2026-03-01" } });
    fireEvent.change(screen.getByTestId("history-to"), { target: { value: "2026-03-31" } });
    const since = new Date(2026, 2, 1).getTime();
    const until = new Date(2026, 3, 1).getTime();
    await waitFor(() =>
      expect(api.listJobs).toHaveBeenLastCalledWith(expect.objectContaining({ since_ms: since, until_ms: until })),
    );
  });

  it("delete needs confirmation", async () => {
    const user = userEvent.setup();
    renderHistory();
    await waitFor(() => expect(rows().length).toBeGreaterThan(0));
    await user.click(within(rowById("job-1")).getByTestId("history-delete"));
    expect(api.deleteJobs).not.toHaveBeenCalled();
    const confirm = screen.getByTestId("delete-confirm");
    expect(confirm).toHaveTextContent("Delete 1 job from the history?");
    await user.click(within(confirm).getByTestId("delete-confirm-yes"));
    expect(api.deleteJobs).toHaveBeenCalledWith(["job-1"]);
  });

  it("declined delete deletes nothing", async () => {
    const user = userEvent.setup();
    renderHistory();
    await waitFor(() => expect(rows().length).toBeGreaterThan(0));
    await user.click(within(rowById("job-2")).getByTestId("history-delete"));
    await user.click(screen.getByTestId("delete-confirm-no"));
    expect(screen.queryByTestId("delete-confirm")).toBeNull();
    expect(api.deleteJobs).not.toHaveBeenCalled();
  });

  it("shift and ctrl select several rows", async () => {
    const user = userEvent.setup();
    renderHistory();
    await waitFor(() => expect(rows().length).toBeGreaterThan(0));
    await user.click(within(rowById("job-1")).getByText("clip 1"));
    await user.keyboard("{Shift>}");
    await user.click(within(rowById("job-3")).getByText("clip 3"));
    await user.keyboard("{/Shift}{Control>}");
    await user.click(within(rowById("job-5")).getByText("clip 5"));
    await user.keyboard("{/Control}");
    await user.click(screen.getByTestId("history-delete-selected"));
    expect(screen.getByTestId("delete-confirm")).toHaveTextContent("Delete 4 jobs");
    await user.click(screen.getByTestId("delete-confirm-yes"));
    expect(api.deleteJobs).toHaveBeenCalledWith(["job-1", "job-2", "job-3", "job-5"]);
  });

  it("copy writes the request id", async () => {
    const writeText = vi.fn().mockResolvedValue(undefined);
    const user = userEvent.setup();
    Object.defineProperty(navigator, "clipboard", { configurable: true, value: { writeText } });
    renderHistory();
    await waitFor(() => expect(rows().length).toBeGreaterThan(0));
    const button = within(rowById("job-1")).getByTestId("history-copy-request");
    await user.click(button);
    expect(writeText).toHaveBeenCalledWith("req-1");
    expect(button).toHaveTextContent("Copied");
  });

  it("re-run queues the job again", async () => {
    const user = userEvent.setup();
    const { onRerun } = renderHistory();
    await waitFor(() => expect(rows().length).toBeGreaterThan(0));
    await user.click(within(rowById("job-0")).getByTestId("history-rerun"));
    expect(api.rerunJob).toHaveBeenCalledWith("job-0");
    await waitFor(() => expect(onRerun).toHaveBeenCalledWith("new-job"));
  });
});
