#!/usr/bin/env bash
# The test suite, with all set-up: bash ./scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash ./scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
