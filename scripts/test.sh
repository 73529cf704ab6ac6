#!/usr/bin/env bash
# Set up (dev requirements) and run every test: unit, AppTest and real-browser e2e.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements-dev.txt
export VECSCOPE_OFFLINE=1
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/lib/chromium/chromium}"
exec .venv/bin/python -m pytest -q --screenshot only-on-failure --output test-results "$@"
