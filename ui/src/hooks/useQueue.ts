import { useCallback, useEffect, useReducer, useRef, useState } from "react";

import * as api from "../api";
import { onJobEvent, onOverview } from "../events";
import { queueReducer, type QueueJob } from "../queueState";
import type { JobEvent, JobId, Overview } from "../types";
import { useSubscription } from "./useSubscription";

/** Delay that collects a burst of `queued` events into one `queue_jobs` call. */
const REFRESH_DELAY_MS = 150;

export interface QueueModel {
  jobs: QueueJob[];
  overview: Overview | null;
  setOverview: (overview: Overview) => void;
  /** Error of the last failed fetch, shown above the queue. */
  loadError: string | null;
  /** Fetches `queue_jobs` and merges the rows. */
  refresh: () => Promise<void>;
}

/**
 * Keeps the session's jobs and the queue overview live: fetches them once,
 * then applies `segue://job` and `segue://overview` events. A `queued` or
 * `started` event of an unknown job and a `succeeded` event trigger a
 * fetch, because those events lack the row's images, thumbnails and clip
 * URL.
 */
export function useQueue(): QueueModel {
  const [jobs, dispatch] = useReducer(queueReducer, []);
  const [overview, setOverview] = useState<Overview | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const jobsRef = useRef(jobs);
  jobsRef.current = jobs;
  const refreshTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const refresh = useCallback(async () => {
    try {
      const rows = await api.queueJobs();
      dispatch({ type: "rows", rows });
      setLoadError(null);
    } catch (error) {
      setLoadError(`Loading the queue failed: ${api.errorMessage(error)}`);
    }
  }, []);

  const refreshJob = useCallback(async (id: JobId) => {
    try {
      const detail = await api.jobDetail(id);
      dispatch({ type: "rows", rows: [detail.row] });
    } catch (error) {
      console.error(`loading job ${id} failed`, error);
    }
  }, []);

  const scheduleRefresh = useCallback(() => {
    if (refreshTimer.current !== null) {
      return;
    }
    refreshTimer.current = setTimeout(() => {
      refreshTimer.current = null;
      void refresh();
    }, REFRESH_DELAY_MS);
  }, [refresh]);

  useEffect(() => {
    void refresh();
    api.overview().then(setOverview, (error: unknown) => {
      setLoadError(`Loading the queue overview failed: ${api.errorMessage(error)}`);
    });
    return () => {
      if (refreshTimer.current !== null) {
        clearTimeout(refreshTimer.current);
        refreshTimer.current = null;
      }
    };
  }, [refresh]);

  useSubscription(onJobEvent, (event: JobEvent) => {
    const known = jobsRef.current.some((job) => job.id === event.job_id);
    dispatch({ type: "event", event, now: Date.now() });
    if (!known && (event.event === "queued" || event.event === "started")) {
      scheduleRefresh();
    } else if (event.event === "succeeded") {
      void refreshJob(event.job_id);
    }
  });
  useSubscription(onOverview, setOverview);

  return { jobs, overview, setOverview, loadError, refresh };
}
