#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine (also fine elsewhere):
# system packages (Chromium, redis-server, venv support), a virtualenv in .venv
# with the package (editable) and the `dev` dependency group of pyproject.toml
# (test requirements, mypy, ruff, nox). Sourced by scripts/test.sh and
# scripts/demo.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
need_apt=()
# Debian's Python creates virtualenvs only with python3-venv (ensurepip).
[ -x .venv/bin/python ] || "$PYTHON" -c "import ensurepip" >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
if [ "${#need_apt[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need_apt[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q "${need_apt[@]}" >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q "${need_apt[@]}" >/dev/null; }
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import scrapy_vastcaptcha, pytest_twisted, playwright, scrapy_redis, nox" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  echo "setup: installing the package and test tools into .venv" >&2
  # Some machines' pip configuration warns about missing local indexes on
  # every package; keep the output readable (failures still fail).
  quiet() { "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; }
  # --group needs pip >= 25.1.
  quiet .venv/bin/python -m pip install -q --upgrade "pip>=25.1"
  quiet .venv/bin/python -m pip install -q -e . --group dev
  touch .venv/.installed
fi

# Debian's Chromium is used when present; elsewhere Playwright downloads its own.
if ! command -v chromium >/dev/null 2>&1 && [ -z "${VASTCAPTCHA_CHROMIUM:-}" ]; then
  echo "setup: no system Chromium; running 'playwright install chromium'" >&2
  .venv/bin/python -m playwright install chromium
fi
