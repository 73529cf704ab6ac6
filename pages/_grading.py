"""Grade buttons shared by every page that shows ranked results.

A click runs a callback that appends the label to the store (flushed and fsynced) *before*
the script reruns, so when the page shows the grade it is already on disk.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core import display
from core.labels.store import Label
from pages import _cache
from pages._state import annotator, settings

BUTTONS = [(g, display.grade_label(g)) for g in (2, 1, 0, -1)]   # "2 · релевантно" … "? · не могу оценить"
GRADE_NAMES = display.GRADE_NAMES
SHORTCUTS = {2: "2", 1: "1", 0: "0", -1: "X"}
FLASH, ERROR = "grading_flash", "grading_error"


def _save(label: Label) -> None:
    try:
        _cache.store(settings()).append(label)
    except Exception as exc:  # disk full, permissions…: say so, keep the page alive
        st.session_state[ERROR] = (f"Оценка НЕ сохранена ({display.plain(exc)}). Проверьте путь VECSCOPE_LABELS; "
                                   "ранее сохранённые оценки не затронуты.")
        return
    name = display.plain(display.snippet(_cache.title(settings(), label.corpus, label.doc_id), 60))
    st.session_state[FLASH] = f"Сохранено: «{name}» — {GRADE_NAMES[label.grade]}"


def show_feedback() -> None:
    """Toast for the last saved grade, error box for a failed one (both are Markdown: whatever
    puts a document's name or other user text in them escapes it with display.plain)."""
    if msg := st.session_state.pop(FLASH, None):
        st.toast(msg, icon=":material/check:")
    if msg := st.session_state.pop(ERROR, None):
        st.error(msg)


def current_grades(corpus: str, query: str) -> dict[str, dict]:
    s = settings()
    read = _cache.labels(s)
    return grades_from(_cache.store(s).latest(read.frame), corpus, query, annotator())


def grades_from(latest: pd.DataFrame, corpus: str, query: str, who: str) -> dict[str, dict]:
    """{doc_id: {"mine": my grade or None, "others": how many others graded it}}."""
    rows = latest[(latest["corpus"] == corpus) & (latest["query"] == query)]
    out: dict[str, dict] = {}
    for doc_id, group in rows.groupby("doc_id"):
        mine = group.loc[group["annotator"] == who, "grade"]
        out[doc_id] = {"mine": int(mine.iloc[0]) if len(mine) else None,
                       "others": int((group["annotator"] != who).sum())}
    return out


def grade_row(*, corpus: str, query: str, doc_id: str, rank: int | None, model: str,
              state: dict | None, key: str, keyboard: bool = False) -> None:
    """One row of grade buttons (+ a note field) for one result."""
    who = annotator()
    mine = (state or {}).get("mine")
    others = (state or {}).get("others", 0)
    note_key = f"note_{key}_{doc_id}"
    with st.container(horizontal=True, vertical_alignment="center", key=f"grade_{key}"):
        for grade, text in BUTTONS:
            st.button(
                text, key=f"g{grade}_{key}", type="primary" if mine == grade else "secondary",
                disabled=not who, shortcut=SHORTCUTS[grade] if keyboard else None,
                on_click=lambda g=grade: _save(Label(
                    annotator=who, corpus=corpus, query=query, doc_id=doc_id, grade=g, model=model,
                    rank=rank, note=st.session_state.get(note_key, "") or "")),
            )
        st.text_input("Заметка", key=note_key, placeholder="заметка (необязательно)",
                      label_visibility="collapsed", width=220)
        if others:
            st.caption(f"оценили ещё {others}")
