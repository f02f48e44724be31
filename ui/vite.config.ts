import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// Tauri serves ui/dist at the root of its own origin, so the default base "/"
// works. The dev server listens on loopback only, on the port that
// tauri.conf.json's devUrl names.
export default defineConfig({
  plugins: [react()],
  clearScreen: false,
  server: {
    host: "127.0.0.1",
    port: 1420,
    strictPort: true,
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./test/setup.ts"],
    include: ["test/**/*.test.{ts,tsx}"],
    mockReset: true,
    restoreMocks: true,
    testTimeout: 10000,
  },
});
