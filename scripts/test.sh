#!/usr/bin/env bash
# Set up everything the tests need and run them all: unit, AppTest and real-browser e2e.
# Needs Debian's chromium and postgresql (installed here with apt when missing and run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if ! command -v chromium >/dev/null 2>&1 || [ ! -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] ||
   ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    # postgresql: the database tests start a throwaway server from Debian's binaries (initdb, pg_ctl)
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core fonts-noto-color-emoji \
      postgresql >/dev/null
  else
    echo "Install Debian's chromium, fonts-noto-color-emoji and postgresql first (sudo apt-get install ...)." >&2
    exit 1
  fi
fi
bash scripts/setup.sh requirements-dev.txt
export VECSCOPE_OFFLINE=1
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/lib/chromium/chromium}"
exec .venv/bin/python -m pytest -q --screenshot only-on-failure --output test-results "$@"
