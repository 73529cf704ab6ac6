"""Streamlit-side shared state: the sidebar, settings, and the guard against deep links.

Not a page (app.py does not register it). Session keys are set once here; pages read them.
"""
from __future__ import annotations

import streamlit as st

from core.config import Settings
from pages import _cache

APP_MARKER = "_vecscope_frame_ran"     # set by app.py on every run, consumed by the page
SEEN_MARKER = "_vecscope_frame_seen"   # this session has run app.py at least once
MODEL_KEY = "model_name"
ANNOTATOR_KEY = "annotator"


def require_frame() -> None:
    """Streamlit runs the first deep-link session of a fresh server without app.py when a
    `pages/` folder exists (STYLE.md M1): send such a session through the frame. A session
    that has seen the frame but whose page now runs alone (AppTest's reruns do this) gets
    the shared sidebar from here, so every run has the same controls."""
    if st.session_state.pop(APP_MARKER, False):
        return
    if not st.session_state.get(SEEN_MARKER):
        st.switch_page("app.py")
    sidebar()


def settings() -> Settings:
    return Settings.from_env()


def _persist(key: str) -> None:
    st.session_state[key] = st.session_state[f"_w_{key}"]


def _persistent_widget(widget, label: str, key: str, **kwargs):
    """A widget whose value lives in a plain session key. Streamlit's widget ids include
    the running script's hash, so a widget drawn by app.py can lose its value between
    the first run and later ones (or when a page draws it); the plain key never does."""
    st.session_state[f"_w_{key}"] = st.session_state[key]
    return widget(label, key=f"_w_{key}", on_change=_persist, args=(key,), **kwargs)


def sidebar() -> None:
    st.session_state[SEEN_MARKER] = True
    s = settings()
    default, specs = _cache.registry(str(s.models_yaml), _cache.mtime(s.models_yaml))
    names = [spec.name for spec in specs]
    if st.session_state.get(MODEL_KEY) not in names:
        st.session_state[MODEL_KEY] = default if default in names else names[0]
    st.session_state.setdefault(ANNOTATOR_KEY, "")
    with st.sidebar:
        _persistent_widget(st.selectbox, "Модель", MODEL_KEY, options=names,
                           help="Модели из data/models.yaml. e5-small встроена и работает без интернета.")
        _persistent_widget(st.text_input, "Аннотатор", ANNOTATOR_KEY, placeholder="ваше имя или ник",
                           help="Нужно для разметки: каждая оценка подписывается этим именем.")
        st.caption(f"Разметка: `{s.labels_path}`")


def annotator() -> str:
    return (st.session_state.get(ANNOTATOR_KEY) or "").strip()
