import { fireEvent, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import * as api from "../src/api";
import { Player } from "../src/components/Player";
import type { JobRow } from "../src/types";
import { installApiDefaults, makeRow } from "./helpers";

vi.mock("../src/api", async (importOriginal) => (await import("./helpers")).apiModuleMock(await importOriginal()));

const FPS = 25;

function finishedJob(): JobRow {
  return makeRow({
    id: "clip-job",
    state: "succeeded",
    clip_url: "http://127.0.0.1:47110/clip/a.mp4",
    output: {
      path: "/clips/a-to-b.mp4",
      bytes: 3_000_000,
      duration_s: 5,
      width: 1920,
      height: 1080,
      fps: FPS,
      frames: 125,
      sha256: "ef".repeat(32),
    },
  });
}

function setDuration(video: HTMLVideoElement, seconds: number) {
  Object.defineProperty(video, "duration", { configurable: true, value: seconds });
}

describe("Player", () => {
  beforeEach(() => {
    installApiDefaults(api);
  });

  it("video uses clip and poster", () => {
    render(<Player job={finishedJob()} onClose={vi.fn()} />);
    const video = screen.getByTestId("player-video");
    expect(video).toHaveAttribute("src", "http://127.0.0.1:47110/clip/a.mp4");
    expect(video).toHaveAttribute("poster", "http://127.0.0.1:47110/thumb/a.jpg");
    expect(screen.getByTestId("player-duration")).toHaveTextContent("00:00:05:00");
  });

  it("frame step uses clip fps", async () => {
    const user = userEvent.setup();
    render(<Player job={finishedJob()} onClose={vi.fn()} />);
    const video = screen.getByTestId("player-video") as HTMLVideoElement;
    await user.click(screen.getByRole("button", { name: "Next frame (.)" }));
    expect(video.currentTime).toBeCloseTo(1 / FPS);
    expect(screen.getByTestId("player-time")).toHaveTextContent("00:00:00:01");
    await user.keyboard(".");
    expect(video.currentTime).toBeCloseTo(2 / FPS);
    await user.keyboard(",");
    expect(video.currentTime).toBeCloseTo(1 / FPS);
  });

  it("A/B view seeks clip ends", async () => {
    const user = userEvent.setup();
    render(<Player job={finishedJob()} onClose={vi.fn()} />);
    await user.click(screen.getByTestId("player-ab-toggle"));
    expect(screen.getByTestId("ab-view")).toBeInTheDocument();
    const first = screen.getByTestId("ab-first-frame") as HTMLVideoElement;
    const last = screen.getByTestId("ab-last-frame") as HTMLVideoElement;
    setDuration(first, 5);
    setDuration(last, 5);
    fireEvent.loadedMetadata(first);
    fireEvent.loadedMetadata(last);
    expect(first.currentTime).toBe(0);
    expect(last.currentTime).toBeCloseTo(5 - 0.5 / FPS);
  });

  it("copy path writes the clip path", async () => {
    const writeText = vi.fn().mockResolvedValue(undefined);
    const user = userEvent.setup();
    Object.defineProperty(navigator, "clipboard", { configurable: true, value: { writeText } });
    render(<Player job={finishedJob()} onClose={vi.fn()} />);
    await user.click(screen.getByTestId("player-copy-path"));
    expect(writeText).toHaveBeenCalledWith("/clips/a-to-b.mp4");
  });

  it("drag handle starts native drag", () => {
    render(<Player job={finishedJob()} onClose={vi.fn()} />);
    const handle = screen.getByTestId("player-drag-out");
    fireEvent.pointerDown(handle, { button: 0, clientX: 10, clientY: 10 });
    fireEvent.pointerMove(handle, { clientX: 11, clientY: 11 });
    expect(api.dragOut).not.toHaveBeenCalled();
    fireEvent.pointerMove(handle, { clientX: 20, clientY: 10 });
    expect(api.dragOut).toHaveBeenCalledWith("clip-job");
  });
});
