#!/usr/bin/env bash
# Run the benchmark suite: bash benchmarks/run.sh [python -m benchmarks options]
# Uses .venv (made by scripts/setup.sh) or $PYTHON, and adds what only the
# benchmarks need: the official SDK the baselines are written with, and
# matplotlib for the chart.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
if [ ! -x "$PYTHON" ] && ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "benchmarks: $PYTHON not found; run 'bash scripts/setup.sh' first (or set PYTHON)" >&2
  exit 1
fi
if ! "$PYTHON" -c "import vastcap, aiohttp, requests, matplotlib" 2>/dev/null; then
  echo "benchmarks: installing vastcap==1.0.1 and matplotlib" >&2
  "$PYTHON" -m pip install -q "vastcap==1.0.1" aiohttp requests matplotlib 2>&1 \
    | { grep -v "^WARNING: Location" || true; }
fi
exec "$PYTHON" -m benchmarks "$@"
