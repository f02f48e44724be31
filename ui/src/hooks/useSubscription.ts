import { useEffect, useRef } from "react";

import type { UnlistenFn } from "../events";

/**
 * Subscribes `handler` through `subscribe` while the component is mounted.
 * The handler may change between renders without resubscribing. An
 * unsubscribe function that arrives after unmount is called at once. A
 * failed subscription is logged to the console and leaves the component
 * working without the events.
 */
export function useSubscription<T>(
  subscribe: (handler: (payload: T) => void) => Promise<UnlistenFn>,
  handler: (payload: T) => void,
): void {
  const handlerRef = useRef(handler);
  useEffect(() => {
    handlerRef.current = handler;
  });

  useEffect(() => {
    let active = true;
    let unlisten: UnlistenFn | undefined;
    let subscription: Promise<UnlistenFn>;
    try {
      subscription = subscribe((payload) => {
        if (active) {
          handlerRef.current(payload);
        }
      });
    } catch (error) {
      // getCurrentWebview() throws at once outside a Tauri webview.
      subscription = Promise.reject(error);
    }
    subscription.then(
      (stop) => {
        if (active) {
          unlisten = stop;
        } else {
          stop();
        }
      },
      (error: unknown) => {
        console.error("subscribing to an app event failed", error);
      },
    );
    return () => {
      active = false;
      unlisten?.();
    };
  }, [subscribe]);
}
