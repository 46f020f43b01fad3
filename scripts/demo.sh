#!/usr/bin/env bash
# The demo, with all set-up: bash ./scripts/demo.sh [vastcaptcha demo options]
# Offline on the bundled emulator by default; with VASTCAPTCHA_API_KEY set and
# --start-url URL it crawls that site through the real service.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ./scripts/setup.sh
exec .venv/bin/vastcaptcha demo "$@"
