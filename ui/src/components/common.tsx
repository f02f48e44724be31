import type { ReactNode } from "react";

import { formatPercent, STATE_LABELS } from "../format";
import type { JobState } from "../types";

interface ThumbProps {
  url: string | null | undefined;
  /** Text for screen readers and the tooltip: usually the file name. */
  label: string;
  size?: "small" | "medium";
}

/** Image thumbnail from the clip server, or an empty frame when there is none. */
export function Thumb({ url, label, size = "medium" }: ThumbProps) {
  const className = `thumb thumb-${size}`;
  if (!url) {
    return (
      <span className={`${className} thumb-empty`} title={label} role="img" aria-label={label}>
        ?
      </span>
    );
  }
  // draggable=false keeps the browser's own image drag from starting, which
  // would compete with Tauri's native file drop and the native drag out.
  return <img className={className} src={url} alt={label} title={label} draggable={false} loading="lazy" />;
}

export function StateBadge({ state }: { state: JobState }) {
  return <span className={`badge badge-${state}`}>{STATE_LABELS[state]}</span>;
}

interface ProgressBarProps {
  fraction: number;
  label: string;
  className?: string;
}

export function ProgressBar({ fraction, label, className }: ProgressBarProps) {
  const clamped = Math.min(1, Math.max(0, fraction));
  return (
    <div
      className={`progress ${className ?? ""}`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.floor(clamped * 100)}
      aria-valuetext={formatPercent(clamped)}
    >
      <div className="progress-fill" style={{ width: `${clamped * 100}%` }} />
    </div>
  );
}

/** Error text shown in red, selectable so it can be copied whole. */
export function ErrorText({ children, testId }: { children: ReactNode; testId?: string }) {
  return (
    <div className="error-text" role="alert" data-testid={testId}>
      {children}
    </div>
  );
}
