// Typed wrappers of the Tauri commands and the native file dialogs. Every
// backend call of the UI goes through this module, so component tests
// replace it with vi.mock("../src/api").
//
// Each command rejects with an `IpcError` ({kind, message}). `call`
// normalises anything else that rejects (a string from Tauri itself, an
// Error from a missing backend) into the same shape.

import { invoke } from "@tauri-apps/api/core";
import { open } from "@tauri-apps/plugin-dialog";

import type {
  AppInfo,
  BatchCheck,
  HistoryPage,
  HistoryQuery,
  ImportResult,
  IpcError,
  JobDetail,
  JobId,
  JobRequest,
  JobRow,
  KeyStatus,
  Overview,
  PairingRule,
  Settings,
  SettingsView,
} from "./types";

/** File extensions the image picker offers. */
export const IMAGE_EXTENSIONS = [
  "jpg",
  "jpeg",
  "png",
  "webp",
  "tif",
  "tiff",
  "bmp",
  "gif",
  "heic",
  "heif",
  "avif",
];

const IPC_ERROR_KINDS = new Set(["bad_input", "not_found", "conflict", "keychain", "io", "internal"]);

/** Converts any rejection value into an `IpcError`. */
export function toIpcError(error: unknown): IpcError {
  if (typeof error === "object" && error !== null) {
    const record = error as Record<string, unknown>;
    if (typeof record.message === "string") {
      const kind = typeof record.kind === "string" && IPC_ERROR_KINDS.has(record.kind) ? record.kind : "internal";
      return { kind: kind as IpcError["kind"], message: record.message };
    }
  }
  if (typeof error === "string") {
    return { kind: "internal", message: error };
  }
  return { kind: "internal", message: String(error) };
}

/** Returns the readable text of a rejection value. */
export function errorMessage(error: unknown): string {
  return toIpcError(error).message;
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw toIpcError(error);
  }
}

export function appInfo(): Promise<AppInfo> {
  return call("app_info");
}

/** Turns dropped or picked paths into images and pairs by `rule`. */
export function importPaths(paths: string[], rule: PairingRule): Promise<ImportResult> {
  return call("import_paths", { paths, rule });
}

/** Validates and prices the draft without storing anything. */
export function checkRequests(requests: JobRequest[]): Promise<BatchCheck> {
  return call("check_requests", { requests });
}

/** Queues all requests or none of them. */
export function queueRequests(requests: JobRequest[]): Promise<JobId[]> {
  return call("queue_requests", { requests });
}

/** Unfinished jobs plus the jobs that ended since the app started. */
export function queueJobs(): Promise<JobRow[]> {
  return call("queue_jobs");
}

export function listJobs(query: HistoryQuery): Promise<HistoryPage> {
  return call("list_jobs", { query });
}

export function jobDetail(id: JobId): Promise<JobDetail> {
  return call("job_detail", { id });
}

export function cancelJob(id: JobId): Promise<null> {
  return call("cancel_job", { id });
}

export function retryJob(id: JobId): Promise<null> {
  return call("retry_job", { id });
}

/** Moves a queued job to the front of its provider's queue. */
export function runNext(id: JobId): Promise<null> {
  return call("run_next", { id });
}

/** Queues a new job with the settings of `id` and returns the new id. */
export function rerunJob(id: JobId): Promise<JobId> {
  return call("rerun_job", { id });
}

/** Deletes ended jobs from the history and returns how many were deleted. */
export function deleteJobs(ids: JobId[]): Promise<number> {
  return call("delete_jobs", { ids });
}

export function pauseQueue(): Promise<Overview> {
  return call("pause_queue");
}

export function resumeQueue(): Promise<Overview> {
  return call("resume_queue");
}

export function overview(): Promise<Overview> {
  return call("overview");
}

export function setConcurrency(provider: string, limit: number): Promise<Overview> {
  return call("set_concurrency", { provider, limit });
}

export function getSettings(): Promise<SettingsView> {
  return call("get_settings");
}

export function saveSettings(settings: Settings): Promise<SettingsView> {
  return call("save_settings", { settings });
}

export function setFalKey(key: string): Promise<KeyStatus> {
  return call("set_fal_key", { key });
}

export function clearFalKey(): Promise<KeyStatus> {
  return call("clear_fal_key");
}

/** Opens the OS file manager at the job's clip. */
export function revealJob(id: JobId): Promise<null> {
  return call("reveal_job", { id });
}

/** Starts a native drag of the job's clip file. */
export function dragOut(id: JobId): Promise<null> {
  return call("drag_out", { id });
}

export function openLogDir(): Promise<null> {
  return call("open_log_dir");
}

/** Shows the native image picker and returns the chosen paths, or [] when cancelled. */
export async function pickImages(): Promise<string[]> {
  const chosen = await open({
    multiple: true,
    filters: [{ name: "Images", extensions: IMAGE_EXTENSIONS }],
  });
  if (chosen === null) {
    return [];
  }
  return Array.isArray(chosen) ? chosen : [chosen];
}

/** Shows the native folder picker and returns the folder, or null when cancelled. */
export async function pickFolder(title: string): Promise<string | null> {
  const chosen = await open({ directory: true, multiple: false, title });
  if (Array.isArray(chosen)) {
    return chosen[0] ?? null;
  }
  return chosen;
}
