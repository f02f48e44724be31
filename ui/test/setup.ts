import "@testing-library/jest-dom/vitest";

import { cleanup } from "@testing-library/react";
import { afterEach } from "vitest";

afterEach(() => {
  cleanup();
});

// jsdom implements no media playback. The player only needs these to exist.
Object.defineProperty(HTMLMediaElement.prototype, "play", {
  configurable: true,
  value() {
    return Promise.resolve();
  },
});
Object.defineProperty(HTMLMediaElement.prototype, "pause", {
  configurable: true,
  value() {},
});
