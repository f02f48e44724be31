#!/usr/bin/env bash
# Sets the machine up and runs every check CI runs: formatting, the web
# UI's type check, tests and build, stale TypeScript bindings, clippy with
# warnings denied, the whole Rust test suite, and the desktop app's
# end-to-end test under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --app
cargo fmt --all --check
npm --prefix ui run typecheck
npm --prefix ui test
npm --prefix ui run build
scripts/bindings.sh --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
tests/e2e/run.sh
