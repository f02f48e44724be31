#!/usr/bin/env bash
# Sets the machine up and runs every check CI runs: formatting, clippy with
# warnings denied, and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
