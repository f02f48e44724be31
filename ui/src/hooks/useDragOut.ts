import { useRef, type PointerEvent } from "react";

import * as api from "../api";
import type { JobId } from "../types";

/** Pointer travel in CSS pixels before a press on the handle becomes a drag. */
const DRAG_THRESHOLD_PX = 4;

/**
 * Pointer handlers that start a native drag of a finished job's clip once
 * the pointer moves a few pixels with the button held. Errors go to
 * `onError`.
 */
export function useDragOut(id: JobId, onError: (message: string) => void) {
  const start = useRef<{ x: number; y: number } | null>(null);

  return {
    onPointerDown(event: PointerEvent<HTMLElement>) {
      if (event.button !== 0) {
        return;
      }
      start.current = { x: event.clientX, y: event.clientY };
    },
    onPointerMove(event: PointerEvent<HTMLElement>) {
      const origin = start.current;
      if (origin === null) {
        return;
      }
      const distance = Math.hypot(event.clientX - origin.x, event.clientY - origin.y);
      if (distance < DRAG_THRESHOLD_PX) {
        return;
      }
      start.current = null;
      api.dragOut(id).catch((error: unknown) => onError(`Dragging the clip failed: ${api.errorMessage(error)}`));
    },
    onPointerUp() {
      start.current = null;
    },
    onPointerCancel() {
      start.current = null;
    },
  };
}
