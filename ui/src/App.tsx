import { useCallback, useEffect, useReducer, useRef, useState } from "react";

import * as api from "./api";
import { HistoryView } from "./components/HistoryView";
import { Intake } from "./components/Intake";
import { Player, type PlayerHandle } from "./components/Player";
import { QueuePanel } from "./components/QueuePanel";
import { SettingsPanel } from "./components/SettingsPanel";
import { defaultsFromSettings, draftReducer, emptyDraft } from "./draft";
import { onBatchFinished, onFileDrop, onImported, onWatchNotice, type FileDrop } from "./events";
import { baseName } from "./format";
import { useQueue } from "./hooks/useQueue";
import { useSubscription } from "./hooks/useSubscription";
import { isActivatedBySpace, isTypingTarget } from "./keyboard";
import type { AppInfo, BatchSummary, ImportResult, JobId, JobRow, KeyStatus, SettingsView, WatchNotice } from "./types";

type Tab = "queue" | "history" | "settings";

/** Notices kept at the bottom of the window. Older ones are dropped. */
const MAX_NOTICES = 5;

interface Notice {
  id: number;
  text: string;
  tone: "info" | "error";
}

function watchNoticeText(notice: WatchNotice): Notice["text"] | null {
  switch (notice.kind) {
    case "queued":
      return `Watch folder: queued ${baseName(notice.front)} → ${baseName(notice.tail)}.`;
    case "rejected":
      return `Watch folder: ${baseName(notice.path)} was skipped: ${notice.error}`;
    case "error":
      return `Watch folder stopped: ${notice.error}`;
    case "waiting":
      return null;
  }
}

function batchSummaryText(summary: BatchSummary): string {
  const parts = [`${summary.succeeded} ${summary.succeeded === 1 ? "clip" : "clips"} made`];
  if (summary.failed) {
    parts.push(`${summary.failed} failed`);
  }
  if (summary.cancelled) {
    parts.push(`${summary.cancelled} cancelled`);
  }
  return `Batch finished: ${parts.join(", ")}.`;
}

export function App() {
  const [info, setInfo] = useState<AppInfo | null>(null);
  const [settingsView, setSettingsView] = useState<SettingsView | null>(null);
  const [startError, setStartError] = useState<string | null>(null);
  const [tab, setTab] = useState<Tab>("queue");
  const [draft, dispatchDraft] = useReducer(draftReducer, undefined, () => emptyDraft());
  const queue = useQueue();
  const [selectedJob, setSelectedJob] = useState<JobRow | null>(null);
  const [playerJob, setPlayerJob] = useState<JobRow | null>(null);
  const playerRef = useRef<PlayerHandle>(null);
  const [dragging, setDragging] = useState(false);
  const [importing, setImporting] = useState(false);
  const [importError, setImportError] = useState<string | null>(null);
  const [notices, setNotices] = useState<Notice[]>([]);
  const [historyToken, setHistoryToken] = useState(0);
  const noticeId = useRef(0);

  const addNotice = useCallback((text: string, tone: Notice["tone"] = "info") => {
    noticeId.current += 1;
    const notice = { id: noticeId.current, text, tone };
    setNotices((current) => [...current, notice].slice(-MAX_NOTICES));
  }, []);

  useEffect(() => {
    api.appInfo().then(setInfo, (error: unknown) => setStartError(`Loading the app failed: ${api.errorMessage(error)}`));
    api.getSettings().then(
      (view) => {
        setSettingsView(view);
        dispatchDraft({ type: "defaults", patch: defaultsFromSettings(view.settings) });
        dispatchDraft({ type: "rule", rule: view.settings.pairing });
      },
      (error: unknown) => setStartError(`Loading the settings failed: ${api.errorMessage(error)}`),
    );
  }, []);

  // The drop handler subscribes once, so it reads the pairing rule from a ref.
  const ruleRef = useRef(draft.rule);
  ruleRef.current = draft.rule;

  const importFiles = useCallback(async (paths: string[]) => {
    if (paths.length === 0) {
      return;
    }
    setImporting(true);
    setImportError(null);
    try {
      const result = await api.importPaths(paths, ruleRef.current);
      dispatchDraft({ type: "import", result });
    } catch (error) {
      setImportError(`Adding the files failed: ${api.errorMessage(error)}`);
    } finally {
      setImporting(false);
    }
  }, []);

  useSubscription(onFileDrop, (drop: FileDrop) => {
    switch (drop.type) {
      case "enter":
      case "over":
        setDragging(true);
        break;
      case "leave":
        setDragging(false);
        break;
      case "drop":
        setDragging(false);
        setTab("queue");
        void importFiles(drop.paths);
        break;
    }
  });
  useSubscription(onImported, (result: ImportResult) => {
    dispatchDraft({ type: "import", result });
    setTab("queue");
  });
  useSubscription(onWatchNotice, (notice: WatchNotice) => {
    const text = watchNoticeText(notice);
    if (text) {
      addNotice(text, notice.kind === "queued" ? "info" : "error");
    }
  });
  useSubscription(onBatchFinished, (summary: BatchSummary) => {
    addNotice(batchSummaryText(summary), summary.failed ? "error" : "info");
    setHistoryToken((token) => token + 1);
  });

  const onQueued = useCallback(
    (ids: JobId[]) => {
      void queue.refresh();
      addNotice(`Queued ${ids.length} ${ids.length === 1 ? "job" : "jobs"}.`);
    },
    [queue, addNotice],
  );

  const openPreview = useCallback((job: JobRow) => {
    setSelectedJob(job);
    setPlayerJob(job);
  }, []);

  // Space previews the selected finished job, or plays and pauses it when
  // the player already shows it. Inside the player, the player handles Space.
  const spaceState = useRef({ selectedJob, playerJob });
  spaceState.current = { selectedJob, playerJob };
  useEffect(() => {
    const onKeyDown = (event: KeyboardEvent) => {
      if (event.key !== " " || isTypingTarget(event.target) || isActivatedBySpace(event.target)) {
        return;
      }
      if (event.target instanceof Element && event.target.closest('[data-testid="player"]')) {
        return;
      }
      const { selectedJob: selected, playerJob: shown } = spaceState.current;
      if (selected && shown && selected.id === shown.id) {
        event.preventDefault();
        playerRef.current?.togglePlay();
      } else if (selected && selected.state === "succeeded") {
        event.preventDefault();
        setPlayerJob(selected);
      } else if (shown) {
        event.preventDefault();
        playerRef.current?.togglePlay();
      }
    };
    window.addEventListener("keydown", onKeyDown);
    return () => window.removeEventListener("keydown", onKeyDown);
  }, []);

  // A selected queue job is replaced by its live row, so Space acts on the
  // job's current state.
  const liveSelected =
    selectedJob === null ? null : (queue.jobs.find((job) => job.id === selectedJob.id) ?? selectedJob);
  useEffect(() => {
    if (liveSelected !== selectedJob) {
      setSelectedJob(liveSelected);
    }
  }, [liveSelected, selectedJob]);

  // The player follows the queue's row too: a clip URL arrives with the
  // row fetched after the `succeeded` event.
  const livePlayerJob =
    playerJob === null ? null : (queue.jobs.find((job) => job.id === playerJob.id) ?? playerJob);

  const onKeyStatus = (status: KeyStatus) => {
    setSettingsView((view) => (view ? { ...view, fal_key: status } : view));
  };

  const onSettingsSaved = (view: SettingsView) => {
    setSettingsView(view);
    dispatchDraft({ type: "defaults", patch: defaultsFromSettings(view.settings) });
    dispatchDraft({ type: "rule", rule: view.settings.pairing });
  };

  const tabButton = (id: Tab, label: string, extra?: string) => (
    <button
      type="button"
      role="tab"
      className={`tab ${tab === id ? "active" : ""}`}
      aria-selected={tab === id}
      data-testid={`nav-${id}`}
      onClick={() => setTab(id)}
    >
      {label}
      {extra ? <span className="tab-extra">{extra}</span> : null}
    </button>
  );

  const activeCount = queue.jobs.filter((job) => job.state === "running" || job.state === "retrying").length;

  return (
    <div className={`app ${dragging ? "dragging" : ""}`}>
      <nav className="tabs" role="tablist" aria-label="Views">
        <span className="brand">Segue</span>
        {tabButton("queue", "Queue", activeCount ? String(activeCount) : undefined)}
        {tabButton("history", "History")}
        {tabButton("settings", "Settings")}
      </nav>
      {startError ? <div className="start-error error-text">{startError}</div> : null}

      <main className="main">
        {tab === "queue" ? (
          <div className="workspace">
            <Intake
              info={info}
              draft={draft}
              dispatch={dispatchDraft}
              dragging={dragging}
              importing={importing}
              importError={importError}
              onDismissImportError={() => setImportError(null)}
              onImport={(paths) => void importFiles(paths)}
              onQueued={onQueued}
            />
            <QueuePanel
              info={info}
              jobs={queue.jobs}
              overview={queue.overview}
              onOverview={queue.setOverview}
              loadError={queue.loadError}
              selectedJobId={selectedJob?.id ?? null}
              onSelectJob={setSelectedJob}
              onPreview={openPreview}
            />
          </div>
        ) : null}
        {tab === "history" ? (
          <HistoryView
            info={info}
            selectedJobId={selectedJob?.id ?? null}
            onSelectJob={setSelectedJob}
            onPreview={openPreview}
            onRerun={() => void queue.refresh()}
            refreshToken={historyToken}
          />
        ) : null}
        {tab === "settings" ? (
          <SettingsPanel info={info} view={settingsView} onSaved={onSettingsSaved} onKeyStatus={onKeyStatus} />
        ) : null}
      </main>

      {livePlayerJob ? (
        <Player key={livePlayerJob.id} ref={playerRef} job={livePlayerJob} onClose={() => setPlayerJob(null)} />
      ) : null}

      {dragging ? (
        <div className="drop-overlay" aria-hidden="true">
          Drop images or folders to add them to the draft
        </div>
      ) : null}

      {notices.length ? (
        <ul className="notices" aria-live="polite">
          {notices.map((notice) => (
            <li key={notice.id} className={`notice notice-${notice.tone}`}>
              <span className="selectable">{notice.text}</span>
              <button
                type="button"
                className="icon-button"
                aria-label="Dismiss"
                onClick={() => setNotices((current) => current.filter((other) => other.id !== notice.id))}
              >
                ✕
              </button>
            </li>
          ))}
        </ul>
      ) : null}

      <footer className="status-line">
        <span title="Origin of the loopback server for thumbnails and clips">
          Clip server: {info?.clip_origin ?? "…"}
        </span>
        <span title="Folder of the history database and logs">Data: {settingsView?.data_dir ?? "…"}</span>
        <span data-testid="resumed" title="Jobs of an earlier run that were resumed at start">
          Resumed: {info?.resumed ?? "…"}
        </span>
        <span className="status-version">{info ? `Segue ${info.version}` : ""}</span>
      </footer>
    </div>
  );
}
