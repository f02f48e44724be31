import { useEffect, useRef, useState } from "react";

import * as api from "../api";
import type { BatchCheck, JobRequest, PairCheck } from "../types";

/** Quiet time after the last draft change before `check_requests` runs. */
export const CHECK_DELAY_MS = 250;

interface CheckResult {
  /** JSON of the pair ids and requests that were checked. */
  key: string;
  /** Pair ids in the order of the checked requests. */
  ids: string[];
  check: BatchCheck;
}

export interface BatchCheckState {
  check: BatchCheck | null;
  /** Check of a pair by its draft id, from the latest result. */
  pairCheck: (id: string) => PairCheck | undefined;
  /** Whether the latest result belongs to the current requests. */
  current: boolean;
  /** Error message of the latest check call, when it failed for the current requests. */
  error: string | null;
}

/**
 * Runs `check_requests` on the draft's requests once they stop changing for
 * CHECK_DELAY_MS. Results of calls overtaken by a newer one are dropped.
 */
export function useBatchCheck(requests: JobRequest[], ids: string[]): BatchCheckState {
  const key = JSON.stringify({ ids, requests });
  const [result, setResult] = useState<CheckResult | null>(null);
  const [failure, setFailure] = useState<{ key: string; message: string } | null>(null);
  const sequence = useRef(0);
  const latest = useRef({ requests, ids });
  latest.current = { requests, ids };

  useEffect(() => {
    const call = ++sequence.current;
    if (latest.current.requests.length === 0) {
      setResult(null);
      setFailure(null);
      return;
    }
    const timer = setTimeout(() => {
      const { requests: checked, ids: checkedIds } = latest.current;
      api.checkRequests(checked).then(
        (check) => {
          if (call === sequence.current) {
            setResult({ key, ids: checkedIds, check });
            setFailure(null);
          }
        },
        (error: unknown) => {
          if (call === sequence.current) {
            setFailure({ key, message: api.errorMessage(error) });
          }
        },
      );
    }, CHECK_DELAY_MS);
    return () => clearTimeout(timer);
  }, [key]);

  const pairCheck = (id: string) => {
    if (!result) {
      return undefined;
    }
    const index = result.ids.indexOf(id);
    return index >= 0 ? result.check.pairs[index] : undefined;
  };

  return {
    check: result?.check ?? null,
    pairCheck,
    current: result !== null && result.key === key,
    error: failure !== null && failure.key === key ? failure.message : null,
  };
}
