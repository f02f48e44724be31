#!/usr/bin/env bash
# Installs what the benchmarks need on top of the test set-up: the system
# packages of `scripts/setup.sh --bench`, and a Python virtual environment
# with Celery for the queue peer, in target/bench-venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --bench

venv=target/bench-venv
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
