import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import { App } from "./App";
import "./styles.css";

async function start() {
  // `npm run dev` in a plain browser has no Tauri backend, so a mock
  // backend with made-up jobs replaces it. Production builds drop this branch.
  if (import.meta.env.DEV && !("__TAURI_INTERNALS__" in window)) {
    const { installMockBackend } = await import("./dev/mockBackend");
    installMockBackend();
  }
  const root = document.getElementById("root");
  if (root === null) {
    throw new Error("index.html has no #root element");
  }
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}

void start();
