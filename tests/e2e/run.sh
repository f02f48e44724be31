#!/usr/bin/env bash
# Runs the desktop app's end-to-end test: builds the UI and the debug app,
# then starts Xvfb, a D-Bus session and tauri-driver around app.test.mjs.
# Screenshots go to $SEGUE_E2E_SHOTS (default target/e2e-screenshots).
set -euo pipefail
cd "$(dirname "$0")/../.."

npm --prefix ui run build --silent
# The same targets as `cargo test --workspace`, so the dependencies are
# built with the same features and reused: building the app alone unifies
# features differently and rebuilds Tauri and its dependencies.
cargo build --locked --workspace --all-targets

work=$(mktemp -d)
export SEGUE_E2E_WORK="$work"
export SEGUE_DATA_DIR="$work/data"
export HOME="$work/home"
mkdir -p "$HOME"
export SEGUE_E2E_SHOTS="${SEGUE_E2E_SHOTS:-$PWD/target/e2e-screenshots}"

# xvfb-run picks a free display; dbus-run-session gives the app a session
# bus for its single-instance check and notifications.
status=0
xvfb-run -a -s "-screen 0 1920x1080x24 -nolisten tcp" dbus-run-session -- bash -c '
  tauri-driver --port 4444 --native-driver /usr/bin/WebKitWebDriver >"$SEGUE_E2E_WORK/driver.log" 2>&1 &
  driver=$!
  for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/4444) 2>/dev/null && break
    sleep 0.2
  done
  node tests/e2e/app.test.mjs
  result=$?
  kill "$driver" 2>/dev/null || true
  wait "$driver" 2>/dev/null || true
  exit $result
' || status=$?
if [[ $status -ne 0 ]]; then
  echo "end-to-end test failed; tauri-driver and app log:" >&2
  tail -n 80 "$work/driver.log" >&2 || true
fi
rm -rf "$work"
exit $status
