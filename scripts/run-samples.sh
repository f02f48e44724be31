#!/usr/bin/env bash
# Sets the machine up, builds the release `segue` binary and makes the
# sample transitions: the photos in samples/ in name order make a chain,
# rendered by the local renderer at 1080p, 5 s each. Extra arguments go to
# `segue batch` (for example --type energetic).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release --locked --bin segue
out=${SEGUE_SAMPLES_OUT:-segue-output/samples}
./target/release/segue batch samples --out "$out" "$@"
