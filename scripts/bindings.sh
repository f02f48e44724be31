#!/usr/bin/env bash
# Regenerates the web UI's TypeScript bindings (ui/src/bindings) from the
# Rust types with ts-rs. With --check, fails when the committed bindings
# differ from the generated ones, which means a Rust type changed without
# its binding.
set -euo pipefail
cd "$(dirname "$0")/.."

rm -rf ui/src/bindings
cargo test --quiet --locked -p segue-render -p segue-engine -p segue-desk \
  --features segue-render/ts,segue-engine/ts --lib export_bindings >/dev/null

if [[ "${1:-}" == "--check" ]]; then
  stale=$(git status --porcelain -- ui/src/bindings)
  if [[ -n "$stale" ]]; then
    echo "error: ui/src/bindings is stale; run scripts/bindings.sh and commit the result:" >&2
    echo "$stale" >&2
    exit 1
  fi
  echo "ui/src/bindings is up to date"
fi
