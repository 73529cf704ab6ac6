"""Streamlit-side shared state: the sidebar, settings, and the guard against deep links.

Not a page (app.py does not register it). Session keys are set once here; pages read them.
"""
from __future__ import annotations

import streamlit as st

from core.access import password_ok, secret
from core.config import Settings
from pages import _cache

APP_MARKER = "_vecscope_frame_ran"     # set by app.py on every run, consumed by the page
SEEN_MARKER = "_vecscope_frame_seen"   # this session has run app.py at least once
MODEL_KEY = "model_name"
ANNOTATOR_KEY = "annotator"
ANNOTATOR_PARAM = "annotator"          # ?annotator=anna keeps the name across reloads and new tabs
AUTH_KEY, ADMIN_KEY = "_vecscope_authenticated", "_vecscope_admin"


def gate() -> bool:
    """True when the session may use the app; otherwise draws the login form (the app
    password is optional, set as `password` in Streamlit secrets)."""
    expected = secret(st.secrets, "password")
    if not expected or st.session_state.get(AUTH_KEY):
        return True
    st.title("vecscope")
    with st.form("login", border=False):
        given = st.text_input("Пароль", type="password", key="_login_password")
        if st.form_submit_button("Войти", type="primary"):
            if password_ok(given, expected):
                st.session_state[AUTH_KEY] = True
                st.rerun()
            st.error("Неверный пароль.")
    return False


def is_admin() -> bool:
    """Admin when no admin password is configured, or this session entered it."""
    return not secret(st.secrets, "admin_password") or bool(st.session_state.get(ADMIN_KEY))


def admin_required(action: str) -> bool:
    """True if the action may run; otherwise says how to get the role."""
    if is_admin():
        return True
    st.warning(f"{action}: нужна роль администратора — введите пароль администратора в боковой панели.",
               icon=":material/lock:")
    return False


def _admin_login() -> None:
    expected = secret(st.secrets, "admin_password")
    if not expected or st.session_state.get(ADMIN_KEY):
        return
    with st.expander("Администратор"):
        # checked in the callback: it sees the typed value even when the widget is redrawn elsewhere
        st.text_input("Пароль администратора", type="password", key="_admin_password",
                      on_change=lambda: st.session_state.update(
                          {ADMIN_KEY: password_ok(st.session_state.get("_admin_password"), expected)}))
        if st.session_state.get(ADMIN_KEY) is False:
            st.error("Неверный пароль администратора.")


def require_frame() -> None:
    """Streamlit runs the first deep-link session of a fresh server without app.py when a
    `pages/` folder exists (STYLE.md M1): send such a session through the frame. A session
    that has seen the frame but whose page now runs alone (AppTest's reruns do this) gets
    the shared sidebar from here, so every run has the same controls."""
    if st.session_state.pop(APP_MARKER, False):
        return
    if not st.session_state.get(SEEN_MARKER):
        st.switch_page("app.py", query_params=st.query_params.to_dict())   # keeps ?annotator=…
    if not gate():
        st.stop()
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
    default, specs = _cache.models(s)
    names = [spec.name for spec in specs]
    missing = _cache.needs_download(s)
    if st.session_state.get(MODEL_KEY) not in names:
        usable = [n for n in names if not missing.get(n)]
        st.session_state[MODEL_KEY] = default if default in usable else (usable or names)[0]
    if ANNOTATOR_KEY not in st.session_state:   # a new session (reload, new tab): the name from the URL
        st.session_state[ANNOTATOR_KEY] = (st.query_params.get(ANNOTATOR_PARAM) or "").strip()[:100]
    with st.sidebar:
        _persistent_widget(st.selectbox, "Модель", MODEL_KEY, options=names,
                           format_func=lambda n: f"{n} · нужно скачать" if missing.get(n) else n,
                           help="e5-small встроена и работает без интернета; модели с пометкой «нужно скачать» "
                                "заработают, когда их файлы появятся на этой машине. Дообученные вами модели "
                                "тоже здесь.")
        if missing.get(st.session_state[MODEL_KEY]):
            st.warning(f"Эта модель недоступна офлайн: {missing[st.session_state[MODEL_KEY]]}.",
                       icon=":material/cloud_off:")
        _persistent_widget(st.text_input, "Аннотатор", ANNOTATOR_KEY, placeholder="ваше имя или ник",
                           help="Нужно для разметки: каждая оценка подписывается этим именем.")
        st.caption(f"Разметка: `{_cache.store(s).location}`")
        _admin_login()
    _name_in_url()


def _name_in_url() -> None:
    """Keep the annotator's name in the URL: a reload or a copied link starts signed the same
    way (page switches drop query parameters, so this runs on every run)."""
    name = annotator()
    if name and st.query_params.get(ANNOTATOR_PARAM) != name:
        st.query_params[ANNOTATOR_PARAM] = name
    elif not name and ANNOTATOR_PARAM in st.query_params:
        del st.query_params[ANNOTATOR_PARAM]


def corpus_and_encoder(name: str):
    """The corpus and the sidebar's model, or an error box that says what to fix and a stopped page."""
    from core.corpora import CorpusError
    from core.encoders import EncoderLoadError
    s = settings()
    try:
        return _cache.corpus(s, name), _cache.current_encoder(s, st.session_state[MODEL_KEY])
    except (CorpusError, EncoderLoadError) as exc:
        st.error(str(exc))
        st.stop()


def annotator() -> str:
    return (st.session_state.get(ANNOTATOR_KEY) or "").strip()
