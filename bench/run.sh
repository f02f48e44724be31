#!/usr/bin/env bash
# Runs every benchmark and writes the results into docs/benchmarks.md, one
# section per script. `--quick` runs each at a small size to check that the
# scripts work; its numbers are not for the record.
#
#   bench/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
[[ "${1:-}" == "--quick" ]] && quick=(--quick)

bench/setup.sh
cargo build --release --locked --bin segue --bin fal-mock --bin segue-app
python=target/bench-venv/bin/python

"$python" bench/render.py "${quick[@]}"
"$python" bench/queue_bench.py "${quick[@]}"
"$python" bench/scale.py "${quick[@]}"
"$python" bench/app.py "${quick[@]}"
"$python" bench/chaos.py "${quick[@]}"
"$python" bench/bad_input.py "${quick[@]}"
echo "results written to docs/benchmarks.md"
