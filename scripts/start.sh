#!/usr/bin/env bash
# Set up and start vecscope on the bundled demo data at http://localhost:8501
# (server settings: .streamlit/config.toml — headless, no file watcher, no usage stats).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "[start] запускаем vecscope: откройте http://localhost:8501 (первый запуск один раз считает эмбеддинги" \
     "демо-корпусов — на двух ядрах около минуты, с индикатором на странице)"
exec .venv/bin/python -m streamlit run app.py "$@"
