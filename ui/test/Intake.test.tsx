import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import * as api from "../src/api";
import { App } from "../src/App";
import type { BatchCheck, JobRequest } from "../src/types";
import { emitDragDrop, installApiDefaults, makeImage, makeImport } from "./helpers";

vi.mock("../src/api", async (importOriginal) => (await import("./helpers")).apiModuleMock(await importOriginal()));
vi.mock("@tauri-apps/api/event", async () => (await import("./helpers")).eventModuleMock());
vi.mock("@tauri-apps/api/webview", async () => (await import("./helpers")).webviewModuleMock());

const A = "/shoot/a.jpg";
const B = "/shoot/b.jpg";
const C = "/shoot/c.jpg";
const D = "/shoot/d.jpg";

function pairRows(): HTMLElement[] {
  return screen.queryAllByTestId("draft-pair");
}

function pairOrder(): string[] {
  return pairRows().map((row) => `${row.dataset.front}>${row.dataset.tail}`);
}

async function renderWithDrop(paths: string[]) {
  render(<App />);
  // Settings arrive first, so the draft uses the saved rule.
  await waitFor(() => expect(api.getSettings).toHaveBeenCalled());
  await emitDragDrop({ type: "drop", paths, position: { x: 0, y: 0 } });
  await waitFor(() => expect(pairRows().length).toBeGreaterThan(0));
}

async function waitForQueueEnabled() {
  await waitFor(() => expect(screen.getByTestId("queue-draft")).toBeEnabled());
}

describe("Intake", () => {
  beforeEach(() => {
    installApiDefaults(api);
  });

  it("drop imports and shows pairs", async () => {
    await renderWithDrop([A, B, C]);
    expect(api.importPaths).toHaveBeenCalledWith([A, B, C], "chain");
    expect(pairOrder()).toEqual([`${A}>${B}`, `${B}>${C}`]);
  });

  it("drag over highlights the drop zone", async () => {
    render(<App />);
    await waitFor(() => expect(api.getSettings).toHaveBeenCalled());
    const zone = screen.getByTestId("drop-zone");
    expect(zone).not.toHaveClass("active");
    await emitDragDrop({ type: "enter", paths: [A], position: { x: 1, y: 1 } });
    expect(zone).toHaveClass("active");
    await emitDragDrop({ type: "leave" });
    expect(zone).not.toHaveClass("active");
  });

  it("rejected files are listed and dismissible", async () => {
    vi.mocked(api.importPaths).mockResolvedValue({
      ...makeImport([A, B]),
      rejected: [{ ...makeImage("/shoot/notes.txt"), error: "notes.txt is not an image; use JPEG or PNG" }],
    });
    const user = userEvent.setup();
    await renderWithDrop([A, B, "/shoot/notes.txt"]);
    const list = screen.getByTestId("rejected-list");
    expect(list).toHaveTextContent("notes.txt is not an image; use JPEG or PNG");
    await user.click(within(list).getByRole("button", { name: "Dismiss notes.txt" }));
    expect(screen.queryByTestId("rejected-list")).toBeNull();
  });

  it("swap changes front and tail", async () => {
    const user = userEvent.setup();
    await renderWithDrop([A, B, C]);
    await user.click(within(pairRows()[0]).getByTestId("pair-swap"));
    expect(pairOrder()).toEqual([`${B}>${A}`, `${B}>${C}`]);
  });

  it("Delete key removes the selected pair", async () => {
    const user = userEvent.setup();
    await renderWithDrop([A, B, C]);
    await user.click(within(pairRows()[0]).getByTestId("pair-front-name"));
    await user.keyboard("{Delete}");
    expect(pairOrder()).toEqual([`${B}>${C}`]);
  });

  it("Backspace ignored in text field", async () => {
    const user = userEvent.setup();
    await renderWithDrop([A, B, C]);
    await user.click(within(pairRows()[0]).getByTestId("pair-front-name"));
    const prompt = screen.getByLabelText("Prompt");
    await user.click(prompt);
    await user.keyboard("x{Backspace}");
    expect(pairRows()).toHaveLength(2);
  });

  it("check errors show per pair", async () => {
    vi.mocked(api.checkRequests).mockImplementation(
      async (requests: JobRequest[]): Promise<BatchCheck> => ({
        pairs: requests.map((request) => ({
          errors: request.front === B ? ["duration 3 s: the model makes 5 or 10 s clips"] : [],
          price_usd: 0.35,
          provider: "fal",
          model: "kling",
        })),
        total_usd: 0.7,
        unpriced: 0,
        ok: false,
      }),
    );
    await renderWithDrop([A, B, C]);
    const [first, second] = pairRows();
    await waitFor(() => expect(within(second).getByTestId("pair-errors")).toHaveTextContent("the model makes 5 or 10 s"));
    expect(within(first).queryByTestId("pair-errors")).toBeNull();
    expect(within(first).getByTestId("pair-price")).toHaveTextContent("$0.35");
    expect(screen.getByTestId("queue-draft")).toBeDisabled();
    expect(screen.getByTestId("batch-total")).toHaveTextContent("2 clips · $0.70");
  });

  it("check runs once after quick edits", async () => {
    const user = userEvent.setup();
    await renderWithDrop([A, B, C]);
    await waitForQueueEnabled();
    vi.mocked(api.checkRequests).mockClear();
    await user.click(within(pairRows()[0]).getByTestId("pair-swap"));
    await user.click(within(pairRows()[1]).getByTestId("pair-swap"));
    await waitForQueueEnabled();
    expect(api.checkRequests).toHaveBeenCalledTimes(1);
    const [requests] = vi.mocked(api.checkRequests).mock.calls[0];
    expect(requests.map((request) => request.front)).toEqual([B, C]);
  });

  it("Ctrl+Enter queues the draft requests", async () => {
    const user = userEvent.setup();
    await renderWithDrop([A, B, C]);
    await waitForQueueEnabled();
    await user.keyboard("{Control>}{Enter}{/Control}");
    await waitFor(() => expect(api.queueRequests).toHaveBeenCalledTimes(1));
    const defaults = {
      type: "CALM",
      duration: 5,
      provider: "local",
      model: "segue-local-v1",
      aspect: "16:9",
      resolution: "1080p",
      fps: 30,
      fit: "cover",
    };
    expect(vi.mocked(api.queueRequests).mock.calls[0][0]).toEqual([
      { front: A, tail: B, ...defaults },
      { front: B, tail: C, ...defaults },
    ]);
    await waitFor(() => expect(pairRows()).toHaveLength(0));
  });

  it("pair override reaches the request", async () => {
    const user = userEvent.setup();
    await renderWithDrop([A, B, C]);
    const second = pairRows()[1];
    await user.click(within(second).getByTestId("pair-settings-toggle"));
    const overrides = within(second).getByTestId("pair-overrides");
    await user.selectOptions(within(overrides).getByLabelText("Type"), "WHIP");
    await user.selectOptions(screen.getByLabelText("Duration", { selector: "#defaults-duration" }), "10");
    await waitForQueueEnabled();
    await user.click(screen.getByTestId("queue-draft"));
    await waitFor(() => expect(api.queueRequests).toHaveBeenCalledTimes(1));
    const [requests] = vi.mocked(api.queueRequests).mock.calls[0];
    expect(requests[0]).toMatchObject({ type: "CALM", duration: 10 });
    expect(requests[1]).toMatchObject({ type: "WHIP", duration: 10 });
  });

  it("queue failure shows the error", async () => {
    vi.mocked(api.queueRequests).mockRejectedValue({ kind: "io", message: "output folder /clips is not writable" });
    const user = userEvent.setup();
    await renderWithDrop([A, B]);
    await waitForQueueEnabled();
    await user.click(screen.getByTestId("queue-draft"));
    expect(await screen.findByTestId("queue-error")).toHaveTextContent("output folder /clips is not writable");
    expect(pairRows()).toHaveLength(1);
  });

  it("pointer drag reorders pairs", async () => {
    await renderWithDrop([A, B, C, D]);
    // jsdom does no layout, so each row gets a 60 px box, stacked in DOM order.
    vi.spyOn(HTMLElement.prototype, "getBoundingClientRect").mockImplementation(function (this: HTMLElement) {
      const index = pairRows().indexOf(this);
      const top = Math.max(0, index) * 60;
      return { top, bottom: top + 60, height: 60, left: 0, right: 400, width: 400, x: 0, y: top, toJSON: () => ({}) };
    });
    const handle = within(pairRows()[0]).getByTestId("pair-handle");
    fireEvent.pointerDown(handle, { pointerId: 1, button: 0, clientY: 30 });
    fireEvent.pointerMove(handle, { pointerId: 1, clientY: 120 });
    expect(pairRows()[2]).toHaveClass("drop-before");
    fireEvent.pointerMove(handle, { pointerId: 1, clientY: 170 });
    fireEvent.pointerUp(handle, { pointerId: 1, clientY: 170 });
    expect(pairOrder()).toEqual([`${B}>${C}`, `${C}>${D}`, `${A}>${B}`]);
  });

  it("Re-pair sends the current images", async () => {
    const user = userEvent.setup();
    await renderWithDrop([A, B, C, D]);
    await user.selectOptions(screen.getByTestId("pairing-rule"), "pairs");
    await user.click(screen.getByTestId("repair"));
    await waitFor(() => expect(pairRows()).toHaveLength(2));
    expect(api.importPaths).toHaveBeenLastCalledWith([A, B, C, D], "pairs");
    expect(pairOrder()).toEqual([`${A}>${B}`, `${C}>${D}`]);
  });

  it("Add images imports the picked files", async () => {
    vi.mocked(api.pickImages).mockResolvedValue([C, D]);
    const user = userEvent.setup();
    render(<App />);
    await waitFor(() => expect(api.getSettings).toHaveBeenCalled());
    await user.click(screen.getByTestId("add-images"));
    await waitFor(() => expect(pairOrder()).toEqual([`${C}>${D}`]));
  });
});
