// Text forms of prices, times, states and stages.

import type { JobState, PairingRule, Stage } from "./types";

/** Formats a price in US dollars, where 0 reads "free" and `null` "price unknown". */
export function formatPrice(usd: number | null | undefined): string {
  if (usd === null || usd === undefined) {
    return "price unknown";
  }
  if (usd === 0) {
    return "free";
  }
  return `$${usd.toFixed(2)}`;
}

/**
 * Formats a fraction from 0 to 1 as a whole percent, rounded down so 100%
 * means done. The small epsilon keeps sums such as 0.05 + 0.9 × 0.5, which
 * come out as 0.4999…, from showing one percent too low.
 */
export function formatPercent(fraction: number): string {
  const clamped = Math.min(1, Math.max(0, fraction));
  return `${Math.floor(clamped * 100 + 1e-9)}%`;
}

/** Formats milliseconds as m:ss, or h:mm:ss from one hour on. */
export function formatElapsed(ms: number): string {
  const totalSeconds = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  const ss = String(seconds).padStart(2, "0");
  if (hours > 0) {
    return `${hours}:${String(minutes).padStart(2, "0")}:${ss}`;
  }
  return `${minutes}:${ss}`;
}

/** Formats seconds as an HH:MM:SS:FF timecode at `fps` frames per second. */
export function formatTimecode(seconds: number, fps: number): string {
  const rate = Math.max(1, Math.round(fps));
  const totalFrames = Math.max(0, Math.round(seconds * rate));
  const frames = totalFrames % rate;
  const totalSeconds = Math.floor(totalFrames / rate);
  const parts = [Math.floor(totalSeconds / 3600), Math.floor((totalSeconds % 3600) / 60), totalSeconds % 60, frames];
  return parts.map((part) => String(part).padStart(2, "0")).join(":");
}

/** Formats Unix ms as a local "YYYY-MM-DD HH:MM". */
export function formatDateTime(ms: number): string {
  const date = new Date(ms);
  const pad = (value: number) => String(value).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) {
    return `${bytes} B`;
  }
  if (bytes < 1024 * 1024) {
    return `${(bytes / 1024).toFixed(0)} KB`;
  }
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

export const STATE_LABELS: Record<JobState, string> = {
  queued: "Queued",
  running: "Running",
  retrying: "Retrying",
  succeeded: "Succeeded",
  failed: "Failed",
  cancelled: "Cancelled",
  timed_out: "Timed out",
  remote_expired: "Remote result expired",
  submit_unknown: "Submit unconfirmed",
};

export const STAGE_LABELS: Record<Stage, string> = {
  preparing: "Preparing",
  uploading: "Uploading",
  submitting: "Submitting",
  in_provider_queue: "In provider queue",
  generating: "Generating",
  downloading: "Downloading",
  verifying: "Verifying",
};

export const PAIRING_RULES: { rule: PairingRule; label: string; explanation: string }[] = [
  { rule: "chain", label: "Chain", explanation: "1→2, 2→3, 3→4: one transition for every cut of a sequence." },
  { rule: "pairs", label: "Pairs", explanation: "1→2, 3→4: independent pairs in order." },
  { rule: "ab", label: "A/B names", explanation: "NAME_a → NAME_b: files matched by name." },
];

/** Returns the last component of a path with / or \ separators. */
export function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}
