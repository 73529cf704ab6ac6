"""Streamlit-side shared state: the sidebar, settings, and the guard against deep links.

Not a page (app.py does not register it). Session keys are set once here; pages read them.
"""
from __future__ import annotations

import inspect
import math
import secrets as _secrets
import time
from pathlib import Path

import streamlit as st

from core import access
from core.access import secret
from core.config import Settings
from core.display import count, plain
from pages import _cache

APP_MARKER = "_vecscope_frame_ran"     # set by app.py on every run, consumed by the page
SEEN_MARKER = "_vecscope_frame_seen"   # this session has run app.py at least once
MODEL_KEY = "model_name"
ANNOTATOR_KEY = "annotator"
ANNOTATOR_PARAM = "annotator"          # ?annotator=anna keeps the name across reloads and new tabs
AUTH_KEY, ADMIN_KEY = "_vecscope_authenticated", "_vecscope_admin"
TOKEN_KEY = "_vecscope_login_token"
TOKEN_PARAM = "login"                  # ?login=<expiry>.<signature> keeps a login across reloads
SESSION_ID = "_vecscope_session_id"
LOGIN_MSG, ADMIN_MSG = "_vecscope_login_msg", "_vecscope_admin_msg"


def _throttle_keys(scope: str) -> list[str]:
    """This session and this client (its address; all local ones are one client) as throttle keys."""
    sid = st.session_state.setdefault(SESSION_ID, _secrets.token_hex(8))
    try:
        ip = st.context.ip_address
    except Exception:   # no browser connection
        ip = None
    client = ip if isinstance(ip, str) and ip else "local"   # (AppTest gives a mock object)
    return [f"{scope}:session:{sid}", f"{scope}:client:{client}"]


def _wait_text(seconds: float) -> str:
    n = max(1, math.ceil(seconds))
    return count(n, "секунду", "секунды", "секунд")


def _refusal(result: access.Attempt, wrong: str) -> str:
    if result.refused:
        return f"Слишком много неудачных попыток. Попробуйте снова через {_wait_text(result.wait_s)}."
    if result.wait_s > 0:
        return f"{wrong} Следующая попытка — через {_wait_text(result.wait_s)}."
    return wrong


def access_granted() -> bool:
    """Whether this session may use the app, drawing nothing: the access configuration is safe
    and there is no password, or this session logged in, or the URL carries a valid token (a
    reload or a bookmark of a logged-in page)."""
    if access.config_problem(st.secrets):
        return False
    expected = secret(st.secrets, "password")
    if not expected:
        return True
    if not st.session_state.get(AUTH_KEY):
        token = st.query_params.get(TOKEN_PARAM)
        if access.token_expiry(token, expected) is not None:
            st.session_state[AUTH_KEY], st.session_state[TOKEN_KEY] = True, token
    return bool(st.session_state.get(AUTH_KEY))


def gate() -> bool:
    """True when the session may use the app; otherwise draws the login form (the app
    password is optional, set as `password` in Streamlit secrets). An unsafe access
    configuration (core.access.config_problem) opens nothing: it is shown and the app stops."""
    problem = access.config_problem(st.secrets)
    if problem:
        st.error(problem, icon=":material/gpp_bad:")
        return False
    expected = secret(st.secrets, "password")
    if access_granted():
        if expected:
            _token_in_url(expected)
        return True
    st.title("vecscope")
    with st.form("login", border=False):
        given = st.text_input("Пароль", type="password", key="_login_password")
        if st.form_submit_button("Войти", type="primary"):
            result = access.attempt(given, expected, _throttle_keys("login"))
            if result.ok:
                st.session_state[AUTH_KEY] = True
                st.session_state.pop(LOGIN_MSG, None)
                _token_in_url(expected)
                st.rerun()
            st.session_state[LOGIN_MSG] = _refusal(result, "Неверный пароль.")
    if msg := st.session_state.get(LOGIN_MSG):
        st.error(msg)
    return False


def _token_in_url(password: str) -> None:
    """Keep this session's login token in the page address (page switches drop query
    parameters, so this runs on every run); a token past half its life is renewed."""
    token = st.session_state.get(TOKEN_KEY)
    expires = access.token_expiry(token, password)
    if expires is None or expires - time.time() < access.TOKEN_TTL_S / 2:
        token = st.session_state[TOKEN_KEY] = access.login_token(password)
    if st.query_params.get(TOKEN_PARAM) != token:
        st.query_params[TOKEN_PARAM] = token


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


def _check_admin(expected: str) -> None:
    result = access.attempt(st.session_state.get("_admin_password"), expected, _throttle_keys("admin"))
    st.session_state[ADMIN_KEY] = result.ok
    st.session_state[ADMIN_MSG] = None if result.ok else _refusal(result, "Неверный пароль администратора.")


def _admin_login() -> None:
    expected = secret(st.secrets, "admin_password")
    if not expected or st.session_state.get(ADMIN_KEY):
        return
    with st.expander("Администратор"):
        # checked in the callback: it sees the typed value even when the widget is redrawn elsewhere
        st.text_input("Пароль администратора", type="password", key="_admin_password",
                      on_change=_check_admin, args=(expected,))
        if msg := st.session_state.get(ADMIN_MSG):
            st.error(msg)


def require_frame() -> None:
    """Streamlit runs the first deep-link session of a fresh server without app.py when a
    `pages/` folder exists (STYLE.md M1): send such a session through the frame. A session
    that has seen the frame but whose page now runs alone (AppTest's reruns do this) gets
    the shared sidebar from here, so every run has the same controls. Before the login such a
    run is the login form, drawn here under the page's own address (the same form as app.py's,
    so a password typed in either counts)."""
    if st.session_state.pop(APP_MARKER, False):
        return
    if not access_granted():
        # registered under this page's own address and hidden: the login form keeps the deep
        # link, and the file-name navigation of such a run is not shown
        here = Path(inspect.stack()[1].filename).stem
        st.navigation([st.Page(gate, title="vecscope", url_path="vecscope", default=True),   # the only page
                       st.Page(gate, title="vecscope", url_path=here)], position="hidden").run()  # would be "/"
        st.stop()
    if not st.session_state.get(SEEN_MARKER):
        st.switch_page("app.py", query_params=st.query_params.to_dict())   # keeps ?annotator=… and ?login=…
    gate()
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
            st.warning(f"Эта модель недоступна офлайн: {plain(missing[st.session_state[MODEL_KEY]])}.",
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
    from core.corpora.errors import CorpusError
    from core.models.encoders import EncoderLoadError
    s = settings()
    try:
        return _cache.corpus(s, name), _cache.current_encoder(s, st.session_state[MODEL_KEY])
    except (CorpusError, EncoderLoadError) as exc:
        st.error(plain(exc))   # messages quote file names, columns and ids: as text
        st.stop()


def annotator() -> str:
    return (st.session_state.get(ANNOTATOR_KEY) or "").strip()
