// Shared fakes for component tests: a fake Tauri event bus, a fake webview
// file drop, the mocked api module and payload fixtures.

import { act } from "@testing-library/react";
import { vi } from "vitest";

import type * as Api from "../src/api";
import type { AppInfo, ImageItem, ImportResult, JobRow, Overview, PairingRule, SettingsView } from "../src/types";

type Handler = (event: { event: string; id: number; payload: unknown }) => void;

const listeners = new Map<string, Set<Handler>>();
let dropHandler: ((event: { payload: unknown }) => void) | null = null;

/** Factory for vi.mock("@tauri-apps/api/event"). */
export function eventModuleMock() {
  return {
    listen: vi.fn((name: string, handler: Handler) => {
      const set = listeners.get(name) ?? new Set<Handler>();
      set.add(handler);
      listeners.set(name, set);
      return Promise.resolve(() => {
        set.delete(handler);
      });
    }),
  };
}

/** Factory for vi.mock("@tauri-apps/api/webview"). */
export function webviewModuleMock() {
  return {
    getCurrentWebview: () => ({
      onDragDropEvent: (handler: (event: { payload: unknown }) => void) => {
        dropHandler = handler;
        return Promise.resolve(() => {
          if (dropHandler === handler) {
            dropHandler = null;
          }
        });
      },
    }),
  };
}

/** Delivers an app event to every subscribed handler. */
export async function emitEvent(name: string, payload: unknown): Promise<void> {
  await act(async () => {
    for (const handler of [...(listeners.get(name) ?? [])]) {
      handler({ event: name, id: 0, payload });
    }
  });
}

export function listenerCount(name: string): number {
  return listeners.get(name)?.size ?? 0;
}

/** Delivers a native drag-and-drop event to the webview's handler. */
export async function emitDragDrop(payload: unknown): Promise<void> {
  await act(async () => {
    if (dropHandler === null) {
      throw new Error("nothing subscribed to the webview's file drop");
    }
    dropHandler({ payload });
  });
}

const COMMANDS = [
  "appInfo",
  "importPaths",
  "checkRequests",
  "queueRequests",
  "queueJobs",
  "listJobs",
  "jobDetail",
  "cancelJob",
  "retryJob",
  "runNext",
  "rerunJob",
  "deleteJobs",
  "pauseQueue",
  "resumeQueue",
  "overview",
  "setConcurrency",
  "getSettings",
  "saveSettings",
  "setFalKey",
  "clearFalKey",
  "revealJob",
  "dragOut",
  "openLogDir",
  "pickImages",
  "pickFolder",
] as const;

/** Factory for vi.mock("../src/api"): every command is a vi.fn, the error helpers stay real. */
export function apiModuleMock(actual: typeof Api) {
  const mocked: Record<string, unknown> = { ...actual };
  for (const name of COMMANDS) {
    mocked[name] = vi.fn();
  }
  return mocked;
}

export const LOCAL_MODEL = "segue-local-v1";
export const KLING = "fal-ai/kling-video/v2.5-turbo/pro/image-to-video";

export function makeInfo(): AppInfo {
  return {
    version: "0.1.0",
    types: [
      { kind: "CALM", description: "dissolve with a slow push-in" },
      { kind: "ENERGETIC", description: "fast zoom-through" },
      { kind: "WHIP", description: "whip pan" },
    ],
    models: [
      { provider: "local", id: LOCAL_MODEL, name: "Local renderer", durations: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], price_5s_usd: 0, uses_prompt: false },
      { provider: "fal", id: KLING, name: "Kling 2.5", durations: [5, 10], price_5s_usd: 0.35, uses_prompt: true },
    ],
    clip_origin: "http://127.0.0.1:47110",
    resumed: 2,
  };
}

export function makeSettingsView(): SettingsView {
  return {
    settings: {
      output_dir: "/clips",
      file_name_template: "{name}",
      provider: "local",
      fal_model: KLING,
      kind: "CALM",
      prompt: "",
      output: { aspect: "16:9", resolution: "1080p", fps: 30, fit: "cover", duration_s: 5 },
      pairing: "chain",
      local_concurrency: 2,
      fal_concurrency: 10,
      max_attempts: 3,
      local_soft_limit_s: 600,
      local_hard_limit_s: 900,
      fal_soft_limit_s: 2400,
      fal_hard_limit_s: 3600,
      watch_dir: null,
      watch_pairing: "pairs",
      notify_on_finish: true,
    },
    fal_key: { present: false, source: null, masked: null, keychain_error: null },
    data_dir: "/data/segue",
    log_dir: "/data/segue/logs",
  };
}

export function makeOverview(paused = false): Overview {
  return {
    paused,
    slots: [
      { provider: "local", in_use: 1, limit: 2, queued: 0 },
      { provider: "fal", in_use: 0, limit: 10, queued: 0 },
    ],
    counts: {
      queued: 1,
      running: 1,
      retrying: 0,
      succeeded: 5,
      failed: 1,
      cancelled: 0,
      timed_out: 0,
      needs_action: 0,
    },
    failures_24h: 1,
  };
}

export function makeImage(path: string): ImageItem {
  const name = path.split("/").pop() ?? path;
  return { path, name, width: 1920, height: 1080, format: "JPEG", thumb_url: `http://127.0.0.1:47110/thumb/${name}`, error: null };
}

/** Pairs `paths` the way the backend's chain and pairs rules do. */
export function makeImport(paths: string[], rule: PairingRule = "chain"): ImportResult {
  const images = paths.map(makeImage);
  const pairs: ImportResult["pairs"] = [];
  const step = rule === "chain" ? 1 : 2;
  for (let i = 0; i + 1 < images.length; i += step) {
    pairs.push({ front: images[i], tail: images[i + 1] });
  }
  const unpaired = rule === "pairs" && images.length % 2 ? [images[images.length - 1]] : [];
  return { images, pairs, unpaired, rejected: [] };
}

export function makeRow(overrides: Partial<JobRow> = {}): JobRow {
  const id = overrides.id ?? "0190f3a2-0000-4000-8000-000000000001";
  return {
    id,
    short_id: id.slice(0, 8),
    name: "a-to-b",
    state: "queued",
    stage: null,
    progress: 0,
    attempt: 0,
    max_attempts: 3,
    provider: "local",
    model: LOCAL_MODEL,
    kind: "CALM",
    duration_s: 5,
    prompt: "",
    front: "/shoot/a.jpg",
    tail: "/shoot/b.jpg",
    front_thumb: "http://127.0.0.1:47110/thumb/a.jpg",
    tail_thumb: "http://127.0.0.1:47110/thumb/b.jpg",
    created_at: 1_760_000_000_000,
    started_at: null,
    finished_at: null,
    error_kind: null,
    error_message: null,
    provider_request_id: null,
    price_usd: 0,
    output_path: "/clips/a-to-b.mp4",
    output: null,
    clip_url: null,
    ...overrides,
  };
}

/** Sets every api function to a harmless default. Tests override what they check. */
export function installApiDefaults(api: typeof Api): void {
  vi.mocked(api.appInfo).mockResolvedValue(makeInfo());
  vi.mocked(api.getSettings).mockResolvedValue(makeSettingsView());
  vi.mocked(api.queueJobs).mockResolvedValue([]);
  vi.mocked(api.overview).mockResolvedValue(makeOverview());

  vi.mocked(api.importPaths).mockImplementation(async (paths, rule) => makeImport(paths, rule));
  vi.mocked(api.checkRequests).mockImplementation(async (requests) => ({
    pairs: requests.map((request) => ({
      errors: [],
      price_usd: 0,
      provider: request.provider ?? "local",
      model: request.model ?? LOCAL_MODEL,
    })),
    total_usd: 0,
    unpriced: 0,
    ok: requests.length > 0,
  }));
  vi.mocked(api.queueRequests).mockImplementation(async (requests) => requests.map((_, i) => `job-${i}`));

  vi.mocked(api.listJobs).mockResolvedValue({ rows: [], total: 0, offset: 0 });
  vi.mocked(api.jobDetail).mockRejectedValue({ kind: "not_found", message: "no such job" });
  vi.mocked(api.cancelJob).mockResolvedValue(null);
  vi.mocked(api.retryJob).mockResolvedValue(null);
  vi.mocked(api.runNext).mockResolvedValue(null);
  vi.mocked(api.rerunJob).mockResolvedValue("new-job");
  vi.mocked(api.deleteJobs).mockImplementation(async (ids) => ids.length);

  vi.mocked(api.pauseQueue).mockResolvedValue(makeOverview(true));
  vi.mocked(api.resumeQueue).mockResolvedValue(makeOverview(false));
  vi.mocked(api.setConcurrency).mockResolvedValue(makeOverview());

  vi.mocked(api.saveSettings).mockImplementation(async (settings) => ({ ...makeSettingsView(), settings }));
  vi.mocked(api.setFalKey).mockResolvedValue({ present: true, source: "keychain", masked: "••••1a2b", keychain_error: null });
  vi.mocked(api.clearFalKey).mockResolvedValue({ present: false, source: null, masked: null, keychain_error: null });

  vi.mocked(api.revealJob).mockResolvedValue(null);
  vi.mocked(api.dragOut).mockResolvedValue(null);
  vi.mocked(api.openLogDir).mockResolvedValue(null);
  vi.mocked(api.pickImages).mockResolvedValue([]);
  vi.mocked(api.pickFolder).mockResolvedValue(null);
}
