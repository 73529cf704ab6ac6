#!/usr/bin/env bash
# Set up and start vecscope on the bundled demo data at http://localhost:8501
# (server settings: .streamlit/config.toml — headless, no file watcher, no usage stats).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Everything the demo pages need (embeddings, compiled UMAP, default maps) is prepared before the
# server opens, with a progress bar and time left: the first session then waits on nothing.
echo "[start] готовим демо-данные (первый раз — одна-две минуты, потом — секунды)"
.venv/bin/python -m core warmup
echo "[start] запускаем vecscope: откройте http://localhost:8501"
exec .venv/bin/python -m streamlit run app.py "$@"
