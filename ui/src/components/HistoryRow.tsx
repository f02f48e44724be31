import { memo, type MouseEvent } from "react";

import { formatDateTime, STATE_LABELS } from "../format";
import type { AppInfo, JobRow } from "../types";
import { StateBadge, Thumb } from "./common";
import { modelLabel } from "./PairSettingsFields";

/** Handlers of a history row. All rows share one object, stable across renders. */
export interface HistoryRowActions {
  select: (event: MouseEvent, index: number, row: JobRow) => void;
  preview: (row: JobRow) => void;
  reveal: (row: JobRow) => void;
  rerun: (row: JobRow) => void;
  copyRequestId: (row: JobRow) => void;
  deleteRow: (row: JobRow) => void;
}

interface HistoryRowProps {
  row: JobRow;
  index: number;
  /** Offset from the top of the list in CSS pixels. */
  start: number;
  selected: boolean;
  /** Whether Space would preview this row. */
  current: boolean;
  copied: boolean;
  info: AppInfo | null;
  actions: HistoryRowActions;
}

/** One row of the virtual history list, memoised so scrolling renders only rows that came into view. */
export const HistoryRow = memo(function HistoryRow(props: HistoryRowProps) {
  const { row, index, start, selected, current, copied, info, actions } = props;
  return (
    <div
      className={`history-row ${selected ? "selected" : ""} ${current ? "current" : ""}`}
      style={{ transform: `translateY(${start}px)` }}
      role="listitem"
      aria-selected={selected}
      data-testid="history-row"
      data-job-id={row.id}
      data-state={row.state}
      onClick={(event) => actions.select(event, index, row)}
      onDoubleClick={() => row.state === "succeeded" && actions.preview(row)}
    >
      <span className="col-thumbs">
        <Thumb url={row.front_thumb} label={row.front} size="small" />
        <Thumb url={row.tail_thumb} label={row.tail} size="small" />
      </span>
      <span className="col-name" title={`${row.name} (${row.id})`}>
        {row.name}
        <span className="muted"> {row.short_id}</span>
      </span>
      <span className="col-state">
        <StateBadge state={row.state} />
      </span>
      <span className="col-type">{row.kind}</span>
      <span className="col-model" title={`${row.provider}: ${row.model}`}>
        {modelLabel(info, row.provider, row.model)}
      </span>
      <span className="col-duration">{row.duration_s} s</span>
      <span className="col-created" title={STATE_LABELS[row.state]}>
        {formatDateTime(row.created_at)}
      </span>
      <span className="col-error error-text" title={row.error_message ?? undefined}>
        {row.error_message}
      </span>
      <span className="col-actions" onClick={(event) => event.stopPropagation()}>
        {row.state === "succeeded" ? (
          <>
            <button
              type="button"
              className="small"
              data-testid="history-preview"
              aria-label={`Preview ${row.name}`}
              onClick={() => actions.preview(row)}
            >
              ▶
            </button>
            <button type="button" className="small" data-testid="history-reveal" onClick={() => actions.reveal(row)}>
              Reveal
            </button>
          </>
        ) : null}
        <button type="button" className="small" data-testid="history-rerun" onClick={() => actions.rerun(row)}>
          Re-run
        </button>
        {row.provider_request_id ? (
          <button
            type="button"
            className="small"
            data-testid="history-copy-request"
            title={`Copy the provider request id ${row.provider_request_id}`}
            onClick={() => actions.copyRequestId(row)}
          >
            {copied ? "Copied" : "Copy id"}
          </button>
        ) : null}
        <button type="button" className="small danger" data-testid="history-delete" onClick={() => actions.deleteRow(row)}>
          Delete
        </button>
      </span>
    </div>
  );
});
