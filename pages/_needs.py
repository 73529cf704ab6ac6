"""The information need above a query's results: shown to every annotator, edited in place."""
from __future__ import annotations

import hashlib

import streamlit as st

from core import display
from core.labels.base import LabelError, normalise_query
from core.labels.needs import MAX_CHARS, NeedStore, needs_path
from pages._state import annotator, settings


def _store() -> NeedStore:
    return NeedStore(needs_path(settings().labels_path))


def _save(corpus: str, query: str, key: str) -> None:
    text = st.session_state.get(key, "")
    try:
        _store().write(corpus, query, text, annotator())
    except (LabelError, OSError) as exc:
        st.session_state["needs_error"] = str(exc)
        return
    st.session_state.pop("needs_error", None)
    st.toast("Описание сохранено" if text.strip() else "Описание убрано", icon=":material/check:")


def need_panel(corpus: str, query: str, key: str) -> None:
    """The description (as plain text) and a small editor under it; saved on disk before the toast."""
    current = _store().get(corpus, query)
    if current:
        st.info(f"**Что ищет пользователь:** {display.plain(current)}", icon=":material/target:")
    with st.expander("Описание потребности" if current else "Добавить описание потребности", expanded=False):
        st.caption("Коротко: какой результат нужен по этому запросу. Его увидит каждый, кто оценивает этот запрос.")
        # one editor per query: a description typed for one query never shows under another
        field = f"{key}_need_" + hashlib.sha256(f"{corpus}\0{normalise_query(query)}".encode()).hexdigest()[:12]
        st.session_state.setdefault(field, current)
        st.text_area("Описание", key=field, max_chars=MAX_CHARS, label_visibility="collapsed",
                     placeholder="например: мем-реакция на внезапно сорванный план, без политики")
        st.button("Сохранить описание", key=f"{key}_need_save", on_click=_save, args=(corpus, query, field),
                  icon=":material/save:")
    if err := st.session_state.pop("needs_error", None):
        st.error(display.plain(err))
