// Typed subscriptions to the app's events and to the webview's native file
// drop. Each function resolves to the function that unsubscribes.

import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import { getCurrentWebview } from "@tauri-apps/api/webview";

import type { BatchSummary, ImportResult, JobEvent, Overview, WatchNotice } from "./types";

export type { UnlistenFn };

/** Event names, as the Rust side's `api::events` defines them. */
export const EVENTS = {
  job: "segue://job",
  overview: "segue://overview",
  watch: "segue://watch",
  batchFinished: "segue://batch-finished",
  imported: "segue://imported",
} as const;

function subscribe<T>(name: string, handler: (payload: T) => void): Promise<UnlistenFn> {
  return listen<T>(name, (event) => handler(event.payload));
}

export function onJobEvent(handler: (event: JobEvent) => void): Promise<UnlistenFn> {
  return subscribe(EVENTS.job, handler);
}

export function onOverview(handler: (overview: Overview) => void): Promise<UnlistenFn> {
  return subscribe(EVENTS.overview, handler);
}

export function onWatchNotice(handler: (notice: WatchNotice) => void): Promise<UnlistenFn> {
  return subscribe(EVENTS.watch, handler);
}

export function onBatchFinished(handler: (summary: BatchSummary) => void): Promise<UnlistenFn> {
  return subscribe(EVENTS.batchFinished, handler);
}

/** Files that a second launch of the app handed over. */
export function onImported(handler: (result: ImportResult) => void): Promise<UnlistenFn> {
  return subscribe(EVENTS.imported, handler);
}

/** A native drag of files over the window, reduced to what the UI uses. */
export type FileDrop =
  | { type: "enter"; paths: string[] }
  | { type: "over" }
  | { type: "drop"; paths: string[] }
  | { type: "leave" };

export function onFileDrop(handler: (drop: FileDrop) => void): Promise<UnlistenFn> {
  return getCurrentWebview().onDragDropEvent((event) => {
    const payload = event.payload;
    switch (payload.type) {
      case "enter":
      case "drop":
        handler({ type: payload.type, paths: payload.paths });
        break;
      case "over":
      case "leave":
        handler({ type: payload.type });
        break;
    }
  });
}
