import { useVirtualizer } from "@tanstack/react-virtual";
import { useCallback, useEffect, useMemo, useRef, useState, type MouseEvent } from "react";

import * as api from "../api";
import { useDebouncedValue } from "../hooks/useDebouncedValue";
import { isTypingTarget } from "../keyboard";
import type { AppInfo, HistoryQuery, JobId, JobRow, JobState, TransitionKind } from "../types";
import { ErrorText } from "./common";
import { HistoryRow, type HistoryRowActions } from "./HistoryRow";

/** Rows per `list_jobs` call. The backend allows at most 500. */
export const PAGE_SIZE = 100;
/** Height of one row in CSS pixels. It is fixed, so the list never measures rows. */
export const ROW_HEIGHT = 52;
export const SEARCH_DELAY_MS = 300;
/** How long a row's "Copied" mark stays. */
const COPIED_MS = 1500;

const STATE_FILTERS: { label: string; states: JobState[] }[] = [
  { label: "Queued", states: ["queued"] },
  { label: "Running", states: ["running"] },
  { label: "Retrying", states: ["retrying"] },
  { label: "Succeeded", states: ["succeeded"] },
  { label: "Failed", states: ["failed"] },
  { label: "Timed out", states: ["timed_out"] },
  { label: "Cancelled", states: ["cancelled"] },
  { label: "Need action", states: ["remote_expired", "submit_unknown"] },
];

interface Filters {
  states: JobState[];
  kind: TransitionKind | "";
  /** `provider|model`, or "" for all. */
  model: string;
  /** Local dates as yyyy-mm-dd, or "". */
  from: string;
  to: string;
}

const NO_FILTERS: Filters = { states: [], kind: "", model: "", from: "", to: "" };

/** Returns Unix ms of local midnight at the start of a yyyy-mm-dd date, `days` later. */
function localMidnight(date: string, days = 0): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!match) {
    return undefined;
  }
  return new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]) + days).getTime();
}

function buildQuery(search: string, filters: Filters): HistoryQuery {
  const query: HistoryQuery = { states: filters.states };
  if (search.trim() !== "") {
    query.search = search.trim();
  }
  if (filters.kind !== "") {
    query.kind = filters.kind;
  }
  if (filters.model !== "") {
    const split = filters.model.indexOf("|");
    query.provider = filters.model.slice(0, split);
    query.model = filters.model.slice(split + 1);
  }
  const since = localMidnight(filters.from);
  if (since !== undefined) {
    query.since_ms = since;
  }
  // The "to" date is inclusive, so the range ends at the following midnight.
  const until = localMidnight(filters.to, 1);
  if (until !== undefined) {
    query.until_ms = until;
  }
  return query;
}

/** Pages of one query. A new query or a refresh replaces the whole object. */
interface PageCache {
  pages: Map<number, JobRow[]>;
  loading: Set<number>;
}

interface HistoryViewProps {
  info: AppInfo | null;
  selectedJobId: string | null;
  onSelectJob: (job: JobRow) => void;
  onPreview: (job: JobRow) => void;
  /** Called with the new job's id after a re-run was queued. */
  onRerun: (id: JobId) => void;
  /** Changing this value drops the cached pages and fetches again. */
  refreshToken?: number;
}

/** Lists every job ever run, with search, filters and a virtualised list. */
export function HistoryView({ info, selectedJobId, onSelectJob, onPreview, onRerun, refreshToken = 0 }: HistoryViewProps) {
  const [search, setSearch] = useState("");
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const debouncedSearch = useDebouncedValue(search, SEARCH_DELAY_MS);
  const query = useMemo(() => buildQuery(debouncedSearch, filters), [debouncedSearch, filters]);
  const queryKey = `${JSON.stringify(query)}#${refreshToken}`;

  const cache = useRef<PageCache>({ pages: new Map(), loading: new Set() });
  const [total, setTotal] = useState<number | null>(null);
  const [, setVersion] = useState(0);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [anchor, setAnchor] = useState<number | null>(null);
  const [confirm, setConfirm] = useState<string[] | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [copiedId, setCopiedId] = useState<string | null>(null);
  const scrollRef = useRef<HTMLDivElement>(null);

  const fetchPage = useCallback(
    (page: number) => {
      const current = cache.current;
      if (current.pages.has(page) || current.loading.has(page)) {
        return;
      }
      current.loading.add(page);
      api.listJobs({ ...query, offset: page * PAGE_SIZE, limit: PAGE_SIZE }).then(
        (result) => {
          if (cache.current !== current) {
            return;
          }
          current.loading.delete(page);
          current.pages.set(page, result.rows);
          setTotal(Number(result.total));
          setLoadError(null);
          setVersion((version) => version + 1);
        },
        (error: unknown) => {
          if (cache.current !== current) {
            return;
          }
          current.loading.delete(page);
          setLoadError(`Loading the history failed: ${api.errorMessage(error)}`);
        },
      );
    },
    [query],
  );

  // A new query or refresh starts from an empty cache and the first page.
  useEffect(() => {
    cache.current = { pages: new Map(), loading: new Set() };
    setTotal(null);
    setSelected(new Set());
    setAnchor(null);
    setConfirm(null);
    fetchPage(0);
  }, [queryKey, fetchPage]);

  const count = total ?? 0;
  const virtualizer = useVirtualizer({
    count,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
  });
  const items = virtualizer.getVirtualItems();
  const firstIndex = items.length ? items[0].index : 0;
  const lastIndex = items.length ? items[items.length - 1].index : 0;

  // Fetches the pages that the visible rows fall into.
  useEffect(() => {
    if (count === 0) {
      return;
    }
    const firstPage = Math.floor(firstIndex / PAGE_SIZE);
    const lastPage = Math.floor(lastIndex / PAGE_SIZE);
    for (let page = firstPage; page <= lastPage; page += 1) {
      fetchPage(page);
    }
  }, [firstIndex, lastIndex, count, fetchPage]);

  const rowAt = (index: number): JobRow | undefined =>
    cache.current.pages.get(Math.floor(index / PAGE_SIZE))?.[index % PAGE_SIZE];

  const select = (event: MouseEvent, index: number, row: JobRow) => {
    onSelectJob(row);
    if (event.shiftKey && anchor !== null) {
      const next = new Set<string>();
      const [start, end] = anchor < index ? [anchor, index] : [index, anchor];
      for (let i = start; i <= end; i += 1) {
        const other = rowAt(i);
        if (other) {
          next.add(other.id);
        }
      }
      setSelected(next);
      return;
    }
    if (event.ctrlKey || event.metaKey) {
      const next = new Set(selected);
      if (next.has(row.id)) {
        next.delete(row.id);
      } else {
        next.add(row.id);
      }
      setSelected(next);
      setAnchor(index);
      return;
    }
    setSelected(new Set([row.id]));
    setAnchor(index);
  };

  const askDelete = (ids: string[]) => {
    if (ids.length) {
      setNotice(null);
      setConfirm(ids);
    }
  };

  const confirmDelete = async () => {
    if (!confirm) {
      return;
    }
    const ids = confirm;
    setConfirm(null);
    try {
      const deleted = await api.deleteJobs(ids);
      const notDeleted = ids.length - deleted;
      setNotice(
        notDeleted > 0
          ? `Deleted ${deleted} of ${ids.length} jobs. The other ${notDeleted} have not ended and stay in the history.`
          : `Deleted ${deleted} ${deleted === 1 ? "job" : "jobs"}. Their clips stay on disk.`,
      );
      cache.current = { pages: new Map(), loading: new Set() };
      setSelected(new Set());
      fetchPage(0);
    } catch (error) {
      setNotice(null);
      setLoadError(`Deleting failed: ${api.errorMessage(error)}`);
    }
  };

  const rerun = async (row: JobRow) => {
    try {
      const id = await api.rerunJob(row.id);
      setNotice(`Queued a new run of ${row.name}.`);
      onRerun(id);
    } catch (error) {
      setLoadError(`Re-running ${row.name} failed: ${api.errorMessage(error)}`);
    }
  };

  const copyRequestId = async (row: JobRow) => {
    if (!row.provider_request_id) {
      return;
    }
    try {
      await navigator.clipboard.writeText(row.provider_request_id);
      setCopiedId(row.id);
      setTimeout(() => setCopiedId((id) => (id === row.id ? null : id)), COPIED_MS);
    } catch (error) {
      setLoadError(`Copying failed: ${api.errorMessage(error)}`);
    }
  };

  const reveal = async (row: JobRow) => {
    try {
      await api.revealJob(row.id);
    } catch (error) {
      setLoadError(`Revealing the clip failed: ${api.errorMessage(error)}`);
    }
  };

  const selectedRef = useRef(selected);
  selectedRef.current = selected;
  useEffect(() => {
    const onKeyDown = (event: KeyboardEvent) => {
      if (isTypingTarget(event.target)) {
        return;
      }
      if (event.key === "Delete" && selectedRef.current.size) {
        event.preventDefault();
        setConfirm([...selectedRef.current]);
      }
      if (event.key === "Escape") {
        setConfirm(null);
      }
    };
    window.addEventListener("keydown", onKeyDown);
    return () => window.removeEventListener("keydown", onKeyDown);
  }, []);

  const deleteRow = (row: JobRow) => {
    askDelete(selected.has(row.id) && selected.size > 1 ? [...selected] : [row.id]);
  };

  // Rows are memoised, so they get one stable actions object that calls the
  // latest handlers through a ref.
  const latestActions = useRef({ select, preview: onPreview, reveal, rerun, copyRequestId, deleteRow });
  latestActions.current = { select, preview: onPreview, reveal, rerun, copyRequestId, deleteRow };
  const rowActions = useMemo<HistoryRowActions>(
    () => ({
      select: (event, index, row) => latestActions.current.select(event, index, row),
      preview: (row) => latestActions.current.preview(row),
      reveal: (row) => void latestActions.current.reveal(row),
      rerun: (row) => void latestActions.current.rerun(row),
      copyRequestId: (row) => void latestActions.current.copyRequestId(row),
      deleteRow: (row) => latestActions.current.deleteRow(row),
    }),
    [],
  );

  const toggleState = (states: JobState[]) => {
    const active = states.every((state) => filters.states.includes(state));
    const next = active
      ? filters.states.filter((state) => !states.includes(state))
      : [...new Set([...filters.states, ...states])];
    setFilters({ ...filters, states: next });
  };

  const kinds = info?.types.map((type) => type.kind) ?? [];
  const filtered = JSON.stringify(filters) !== JSON.stringify(NO_FILTERS) || debouncedSearch.trim() !== "";

  return (
    <section className="panel history-panel" aria-label="History">
      <header className="panel-header history-toolbar">
        <h2>History</h2>
        <input
          type="search"
          className="history-search"
          data-testid="history-search"
          placeholder="Search name, prompt, id, request id, path"
          aria-label="Search the history"
          value={search}
          onChange={(event) => setSearch(event.target.value)}
        />
        <select
          aria-label="Transition type"
          data-testid="history-kind"
          value={filters.kind}
          onChange={(event) => setFilters({ ...filters, kind: event.target.value as TransitionKind | "" })}
        >
          <option value="">All types</option>
          {kinds.map((kind) => (
            <option key={kind} value={kind}>
              {kind}
            </option>
          ))}
        </select>
        <select
          aria-label="Model"
          data-testid="history-model"
          value={filters.model}
          onChange={(event) => setFilters({ ...filters, model: event.target.value })}
        >
          <option value="">All models</option>
          {info?.models.map((model) => (
            <option key={`${model.provider}|${model.id}`} value={`${model.provider}|${model.id}`}>
              {model.name}
            </option>
          ))}
        </select>
        <label className="date-filter">
          From
          <input
            type="date"
            data-testid="history-from"
            value={filters.from}
            onChange={(event) => setFilters({ ...filters, from: event.target.value })}
          />
        </label>
        <label className="date-filter">
          To
          <input
            type="date"
            data-testid="history-to"
            value={filters.to}
            onChange={(event) => setFilters({ ...filters, to: event.target.value })}
          />
        </label>
        {filtered ? (
          <button
            type="button"
            className="link-button"
            onClick={() => {
              setSearch("");
              setFilters(NO_FILTERS);
            }}
          >
            Clear filters
          </button>
        ) : null}
      </header>
      <div className="state-filters" role="group" aria-label="Filter by state">
        {STATE_FILTERS.map((entry) => {
          const active = entry.states.every((state) => filters.states.includes(state));
          return (
            <button
              key={entry.label}
              type="button"
              className={`chip ${active ? "active" : ""}`}
              aria-pressed={active}
              onClick={() => toggleState(entry.states)}
            >
              {entry.label}
            </button>
          );
        })}
        <span className="history-count" data-testid="history-count">
          {total === null ? "…" : `${total.toLocaleString("en-US")} ${total === 1 ? "job" : "jobs"}`}
        </span>
        {selected.size ? (
          <>
            <span className="muted">{selected.size} selected</span>
            <button
              type="button"
              className="danger"
              data-testid="history-delete-selected"
              onClick={() => askDelete([...selected])}
            >
              Delete selected
            </button>
          </>
        ) : null}
      </div>

      {confirm ? (
        <div className="confirm-bar" data-testid="delete-confirm" role="alertdialog" aria-label="Confirm delete">
          <span>
            Delete {confirm.length} {confirm.length === 1 ? "job" : "jobs"} from the history? Their clips stay on disk.
          </span>
          <button type="button" className="danger" data-testid="delete-confirm-yes" onClick={() => void confirmDelete()}>
            Delete
          </button>
          <button type="button" data-testid="delete-confirm-no" onClick={() => setConfirm(null)}>
            Keep
          </button>
        </div>
      ) : null}
      {notice ? <p className="hint">{notice}</p> : null}
      {loadError ? <ErrorText>{loadError}</ErrorText> : null}

      <div className="history-header-row" aria-hidden="true">
        <span className="col-thumbs">Images</span>
        <span className="col-name">Name</span>
        <span className="col-state">State</span>
        <span className="col-type">Type</span>
        <span className="col-model">Model</span>
        <span className="col-duration">Length</span>
        <span className="col-created">Created</span>
        <span className="col-error">Error</span>
        <span className="col-actions" />
      </div>
      <div className="history-scroll" ref={scrollRef} data-testid="history-scroll">
        <div className="history-inner" style={{ height: virtualizer.getTotalSize() }} role="list">
          {items.map((item) => {
            const row = rowAt(item.index);
            const style = { height: ROW_HEIGHT, transform: `translateY(${item.start}px)` };
            if (!row) {
              return (
                <div key={item.key} className="history-row placeholder" style={style} data-testid="history-row-placeholder">
                  <span className="muted">Loading…</span>
                </div>
              );
            }
            return (
              <HistoryRow
                key={item.key}
                row={row}
                index={item.index}
                start={item.start}
                selected={selected.has(row.id)}
                current={row.id === selectedJobId}
                copied={copiedId === row.id}
                info={info}
                actions={rowActions}
              />
            );
          })}
        </div>
      </div>
    </section>
  );
}
