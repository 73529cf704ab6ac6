#!/usr/bin/env bash
# Set up and start vecscope on the bundled demo data at http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# headless: no e-mail prompt on first run and no browser to open on a server; open the URL yourself
exec .venv/bin/python -m streamlit run app.py --server.headless true --browser.gatherUsageStats false "$@"
