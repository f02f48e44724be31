import { useEffect, useMemo, useRef, useState, type Dispatch, type PointerEvent } from "react";

import * as api from "../api";
import { draftImagePaths, toRequests, type Draft, type DraftAction } from "../draft";
import { formatPrice, PAIRING_RULES } from "../format";
import { useBatchCheck } from "../hooks/useBatchCheck";
import { isTypingTarget } from "../keyboard";
import type { AppInfo, BatchCheck, JobId, PairingRule } from "../types";
import { ErrorText } from "./common";
import { DraftPairRow } from "./DraftPairRow";
import { PairSettingsFields } from "./PairSettingsFields";

interface IntakeProps {
  info: AppInfo | null;
  draft: Draft;
  dispatch: Dispatch<DraftAction>;
  /** Whether a native file drag is over the window. */
  dragging: boolean;
  importing: boolean;
  importError: string | null;
  onDismissImportError: () => void;
  /** Imports paths with the draft's pairing rule and adds them to the draft. */
  onImport: (paths: string[]) => void;
  onQueued: (ids: JobId[]) => void;
}

interface ReorderDrag {
  pointerId: number;
  from: number;
  to: number;
  startY: number;
  offsetY: number;
}

function batchTotalText(count: number, check: BatchCheck | null, current: boolean): string {
  const clips = `${count} ${count === 1 ? "clip" : "clips"}`;
  if (count === 0) {
    return "No pairs";
  }
  if (!check || !current) {
    return `${clips} · checking…`;
  }
  const unpriced = check.unpriced > 0 ? ` + ${check.unpriced} unpriced` : "";
  return `${clips} · ${formatPrice(check.total_usd)}${unpriced}`;
}

/** Renders the draft panel: file intake, batch defaults, the pair list and the Queue button. */
export function Intake(props: IntakeProps) {
  const { info, draft, dispatch, dragging, importing, importError, onDismissImportError, onImport, onQueued } = props;
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [queueing, setQueueing] = useState(false);
  const [queueError, setQueueError] = useState<string | null>(null);
  const [repairing, setRepairing] = useState(false);
  const [repairError, setRepairError] = useState<string | null>(null);
  const [defaultsOpen, setDefaultsOpen] = useState(true);
  const [reorder, setReorder] = useState<ReorderDrag | null>(null);
  const panelRef = useRef<HTMLElement>(null);
  const listRef = useRef<HTMLDivElement>(null);

  const requests = useMemo(() => toRequests(draft), [draft]);
  const ids = useMemo(() => draft.pairs.map((pair) => pair.id), [draft.pairs]);
  const batch = useBatchCheck(requests, ids);
  const canQueue = draft.pairs.length > 0 && batch.current && batch.check?.ok === true && !queueing;
  const rule = PAIRING_RULES.find((entry) => entry.rule === draft.rule) ?? PAIRING_RULES[0];

  const queueDraft = async () => {
    if (!canQueue) {
      return;
    }
    const queuedIds = [...ids];
    setQueueing(true);
    setQueueError(null);
    try {
      const jobIds = await api.queueRequests(requests);
      for (const id of queuedIds) {
        dispatch({ type: "remove", id });
      }
      onQueued(jobIds);
    } catch (error) {
      setQueueError(`Queueing failed: ${api.errorMessage(error)}`);
    } finally {
      setQueueing(false);
    }
  };

  const repair = async () => {
    const paths = draftImagePaths(draft);
    if (paths.length === 0) {
      return;
    }
    setRepairing(true);
    setRepairError(null);
    try {
      const result = await api.importPaths(paths, draft.rule);
      dispatch({ type: "repair", result });
    } catch (error) {
      setRepairError(`Re-pairing failed: ${api.errorMessage(error)}`);
    } finally {
      setRepairing(false);
    }
  };

  const pickImages = async () => {
    try {
      const paths = await api.pickImages();
      if (paths.length) {
        onImport(paths);
      }
    } catch (error) {
      setRepairError(`The file picker failed: ${api.errorMessage(error)}`);
    }
  };

  const pickFolder = async () => {
    try {
      const folder = await api.pickFolder("Add a folder of images");
      if (folder) {
        onImport([folder]);
      }
    } catch (error) {
      setRepairError(`The folder picker failed: ${api.errorMessage(error)}`);
    }
  };

  // The latest values for the window key handler, which subscribes once.
  const keyState = useRef({ selectedId, draft, queueDraft });
  keyState.current = { selectedId, draft, queueDraft };

  useEffect(() => {
    const onKeyDown = (event: KeyboardEvent) => {
      if (isTypingTarget(event.target)) {
        return;
      }
      const { selectedId: selected, draft: current, queueDraft: queue } = keyState.current;
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        void queue();
        return;
      }
      const focus = document.activeElement;
      const focusInDraft = focus === null || focus === document.body || panelRef.current?.contains(focus) === true;
      if (selected === null || !focusInDraft) {
        return;
      }
      const index = current.pairs.findIndex((pair) => pair.id === selected);
      if (index < 0) {
        return;
      }
      if (event.key === "Delete" || event.key === "Backspace") {
        event.preventDefault();
        const next = current.pairs[index + 1] ?? current.pairs[index - 1] ?? null;
        dispatch({ type: "remove", id: selected });
        setSelectedId(next?.id ?? null);
        return;
      }
      if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
        event.preventDefault();
        dispatch({ type: "move", from: index, to: event.key === "ArrowUp" ? index - 1 : index + 1 });
      }
    };
    window.addEventListener("keydown", onKeyDown);
    return () => window.removeEventListener("keydown", onKeyDown);
  }, [dispatch]);

  // Reordering uses pointer events with pointer capture, because the HTML5
  // drag-and-drop API competes with Tauri's native file drop.
  const targetIndex = (clientY: number, from: number): number => {
    const rows = listRef.current?.querySelectorAll<HTMLElement>('[data-testid="draft-pair"]') ?? [];
    let index = 0;
    rows.forEach((row, rowIndex) => {
      if (rowIndex === from) {
        return;
      }
      const rect = row.getBoundingClientRect();
      if (clientY > rect.top + rect.height / 2) {
        index += 1;
      }
    });
    return index;
  };

  const reorderHandlers = (index: number) => ({
    onPointerDown(event: PointerEvent<HTMLElement>) {
      if (event.button !== 0) {
        return;
      }
      event.preventDefault();
      if (typeof event.currentTarget.setPointerCapture === "function") {
        event.currentTarget.setPointerCapture(event.pointerId);
      }
      setReorder({ pointerId: event.pointerId, from: index, to: index, startY: event.clientY, offsetY: 0 });
    },
    onPointerMove(event: PointerEvent<HTMLElement>) {
      if (reorder === null || reorder.pointerId !== event.pointerId) {
        return;
      }
      const to = targetIndex(event.clientY, reorder.from);
      setReorder({ ...reorder, to, offsetY: event.clientY - reorder.startY });
    },
    onPointerUp(event: PointerEvent<HTMLElement>) {
      if (reorder === null || reorder.pointerId !== event.pointerId) {
        return;
      }
      if (
        typeof event.currentTarget.hasPointerCapture === "function" &&
        event.currentTarget.hasPointerCapture(event.pointerId)
      ) {
        event.currentTarget.releasePointerCapture(event.pointerId);
      }
      const to = targetIndex(event.clientY, reorder.from);
      setReorder(null);
      if (to !== reorder.from) {
        dispatch({ type: "move", from: reorder.from, to });
      }
    },
    onPointerCancel() {
      setReorder(null);
    },
  });

  const dragClass = (index: number): string => {
    if (reorder === null) {
      return "";
    }
    if (index === reorder.from) {
      return "reordering";
    }
    // The insertion mark sits before the row that will follow the moved one.
    const others = draft.pairs.map((_, i) => i).filter((i) => i !== reorder.from);
    if (reorder.to < others.length && others[reorder.to] === index) {
      return "drop-before";
    }
    if (reorder.to >= others.length && others[others.length - 1] === index) {
      return "drop-after";
    }
    return "";
  };

  const hasImages = draft.pairs.length > 0 || draft.unpaired.length > 0;

  return (
    <section className="panel draft-panel" aria-label="Draft" ref={panelRef}>
      <header className="panel-header">
        <h2>Draft</h2>
        <div className="rule-picker">
          <label htmlFor="pairing-rule">Pairing</label>
          <select
            id="pairing-rule"
            data-testid="pairing-rule"
            value={draft.rule}
            onChange={(event) => dispatch({ type: "rule", rule: event.target.value as PairingRule })}
          >
            {PAIRING_RULES.map((entry) => (
              <option key={entry.rule} value={entry.rule}>
                {entry.label}
              </option>
            ))}
          </select>
          <button
            type="button"
            data-testid="repair"
            disabled={!hasImages || repairing}
            title="Pair the current images again with the selected rule"
            onClick={() => void repair()}
          >
            Re-pair
          </button>
        </div>
      </header>
      <p className="rule-explanation" data-testid="rule-explanation">
        {rule.explanation}
      </p>

      <div className={`drop-zone ${dragging ? "active" : ""} ${hasImages ? "compact" : ""}`} data-testid="drop-zone">
        <span className="drop-zone-text">{importing ? "Reading images…" : "Drop images or folders anywhere in the window"}</span>
        <div className="drop-zone-buttons">
          <button type="button" data-testid="add-images" onClick={() => void pickImages()}>
            Add images…
          </button>
          <button type="button" data-testid="add-folder" onClick={() => void pickFolder()}>
            Add folder…
          </button>
        </div>
      </div>

      {importError ? (
        <div className="notice notice-error">
          <ErrorText>{importError}</ErrorText>
          <button type="button" className="icon-button" aria-label="Dismiss" onClick={onDismissImportError}>
            ✕
          </button>
        </div>
      ) : null}
      {repairError ? <ErrorText>{repairError}</ErrorText> : null}

      {draft.rejected.length ? (
        <ul className="rejected-list" data-testid="rejected-list" aria-label="Files not added">
          {draft.rejected.map((item) => (
            <li key={item.path} data-testid="rejected-file">
              <span className="rejected-name" title={item.path}>
                {item.name}
              </span>
              <span className="error-text">{item.error ?? "This file cannot be used."}</span>
              <button
                type="button"
                className="icon-button"
                aria-label={`Dismiss ${item.name}`}
                onClick={() => dispatch({ type: "dismissRejected", path: item.path })}
              >
                ✕
              </button>
            </li>
          ))}
        </ul>
      ) : null}

      <div className="batch-defaults">
        <button
          type="button"
          className="section-toggle"
          aria-expanded={defaultsOpen}
          onClick={() => setDefaultsOpen(!defaultsOpen)}
        >
          {defaultsOpen ? "▾" : "▸"} Batch defaults <span className="muted">(pairs without their own setting)</span>
        </button>
        {defaultsOpen ? (
          <PairSettingsFields
            info={info}
            idPrefix="defaults"
            values={draft.defaults}
            onChange={(patch) => dispatch({ type: "defaults", patch })}
          />
        ) : null}
      </div>

      <div className="pair-list" ref={listRef} role="list" aria-label="Image pairs">
        {draft.pairs.map((pair, index) => (
          <DraftPairRow
            key={pair.id}
            pair={pair}
            index={index}
            defaults={draft.defaults}
            info={info}
            check={batch.pairCheck(pair.id)}
            selected={pair.id === selectedId}
            onSelect={() => setSelectedId(pair.id)}
            dispatch={dispatch}
            reorder={reorderHandlers(index)}
            dragClass={dragClass(index)}
          />
        ))}
        {draft.pairs.length === 0 ? <p className="empty">No pairs yet. Add two or more images.</p> : null}
      </div>

      {draft.unpaired.length ? (
        <p className="unpaired" data-testid="unpaired">
          Without a partner: {draft.unpaired.map((image) => image.name).join(", ")}. Add their partners or pick another
          rule and Re-pair.
        </p>
      ) : null}

      <footer className="draft-footer">
        <span className="batch-total" data-testid="batch-total">
          {batchTotalText(draft.pairs.length, batch.check, batch.current)}
        </span>
        {draft.pairs.length ? (
          <button type="button" className="link-button" onClick={() => dispatch({ type: "clearPairs" })}>
            Clear
          </button>
        ) : null}
        <button
          type="button"
          className="primary"
          data-testid="queue-draft"
          disabled={!canQueue}
          title="Queue every pair (Ctrl+Enter)"
          onClick={() => void queueDraft()}
        >
          {queueing ? "Queueing…" : "Queue"}
        </button>
      </footer>
      {batch.error ? <ErrorText>Checking the draft failed: {batch.error}</ErrorText> : null}
      {batch.current && batch.check && !batch.check.ok && draft.pairs.length ? (
        <p className="hint">Fix the pairs marked in red to queue the batch.</p>
      ) : null}
      {queueError ? <ErrorText testId="queue-error">{queueError}</ErrorText> : null}
    </section>
  );
}
