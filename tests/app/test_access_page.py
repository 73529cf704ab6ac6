"""Access through app.py with AppTest (issue 15): a login kept across reloads by a signed token
in the URL, guesses slowed down, `admins` without `admin_password` refused at start.
The deep link over the login form is checked in Chromium (tests/e2e/test_access_browser.py)."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import access
from pages import _state
from tests.conftest import ROOT
from tests.unit.test_access import Clock

PASSWORD = "s3cret"


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """The process-wide throttle, empty and on a clock the test moves."""
    clock = Clock()
    monkeypatch.setattr(access.THROTTLE, "_clock", clock)
    access.THROTTLE.reset()
    yield clock
    access.THROTTLE.reset()


def app(**secrets) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in secrets.items():
        at.secrets[key] = value
    return at


def log_in(at: AppTest, password: str) -> AppTest:
    at.text_input(key="_login_password").input(password)
    at.button[0].click().run()
    return at


def errors(at: AppTest) -> str:
    return " | ".join(e.value for e in at.error)


def test_a_login_survives_a_reload_through_a_signed_token_not_the_password(app_env):
    at = app(password=PASSWORD)
    at.run()
    assert [t.value for t in at.title] == ["vecscope"]
    log_in(at, PASSWORD)
    assert at.title[0].value == "Поиск" and not at.exception
    token = at.query_params[_state.TOKEN_PARAM]
    assert PASSWORD not in "".join(at.query_params.values())
    at.switch_page("pages/labels.py").run()                 # page switches drop parameters: it is put back
    assert at.query_params[_state.TOKEN_PARAM] == token
    # a reload is a new session that has only the URL
    fresh = app(password=PASSWORD)
    fresh.query_params[_state.TOKEN_PARAM] = token
    fresh.run()
    assert [t.value for t in fresh.title] == ["Поиск"]


@pytest.mark.parametrize("token", ["", "junk", "99999999999.abc", "login"])
def test_a_forged_token_gets_the_login_form(app_env, token):
    forged = access.login_token("another password")                    # well formed, wrong key
    at = app(password=PASSWORD)
    at.query_params[_state.TOKEN_PARAM] = token or forged
    at.run()
    assert [t.value for t in at.title] == ["vecscope"] and not at.segmented_control


def test_an_expired_token_gets_the_login_form(app_env):
    import time
    at = app(password=PASSWORD)
    at.query_params[_state.TOKEN_PARAM] = access.login_token(PASSWORD, now=time.time() - access.TOKEN_TTL_S - 1)
    at.run()
    assert [t.value for t in at.title] == ["vecscope"]


def test_after_three_failures_guesses_wait_and_the_right_password_too(app_env, clock):
    at = app(password=PASSWORD)
    at.run()
    log_in(at, "a")
    log_in(at, "b")
    assert errors(at) == "Неверный пароль."
    log_in(at, "c")
    assert "Неверный пароль. Следующая попытка — через 8 секунд." in errors(at)
    clock.t += 5
    log_in(at, PASSWORD)                                    # not even compared during the wait
    assert "Слишком много неудачных попыток. Попробуйте снова через 3 секунды." in errors(at)
    assert [t.value for t in at.title] == ["vecscope"]
    # a new session from the same client waits as well
    other = app(password=PASSWORD)
    other.run()
    log_in(other, PASSWORD)
    assert "Слишком много неудачных попыток" in errors(other)
    clock.t += 3
    log_in(at, PASSWORD)
    assert at.title[0].value == "Поиск" and not at.exception


def test_admin_password_guesses_are_slowed_down_too(app_env, clock):
    at = app(admin_password="root!")
    at.run()
    for guess in ("a", "b", "c"):
        at.sidebar.text_input(key="_admin_password").input(guess).run()
    assert "Следующая попытка — через 8 секунд" in " ".join(e.value for e in at.sidebar.error)
    at.sidebar.text_input(key="_admin_password").input("root!").run()
    assert not at.session_state[_state.ADMIN_KEY]
    assert "Слишком много неудачных попыток" in " ".join(e.value for e in at.sidebar.error)
    # after the wait a guess is compared again (the field must change for its callback to run)
    clock.t += 8
    at.sidebar.text_input(key="_admin_password").input("root!!").run()   # 4th failure: 16 s
    clock.t += 16
    at.sidebar.text_input(key="_admin_password").input("root!").run()
    assert at.session_state[_state.ADMIN_KEY] is True


@pytest.mark.parametrize("secrets", [{"admins": ["anna"]}, {"admins": ["anna"], "password": PASSWORD}])
def test_admins_without_an_admin_password_stop_the_app_with_a_message(app_env, secrets):
    at = app(**secrets)
    at.run()
    assert not at.exception
    assert "admin_password" in errors(at) and "Настройка доступа небезопасна" in errors(at)
    assert not at.title and not at.sidebar.text_input and not at.segmented_control   # nothing else opens
    assert not at.text_input                                # not even the login form
    # nor a page run on its own (a deep link's first session on a fresh server runs it without app.py)
    page = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=120)
    for key, value in secrets.items():
        page.secrets[key] = value
    page.run()
    assert not page.exception and not page.title and "admin_password" in errors(page)


def test_a_page_run_on_its_own_is_the_login_form_until_the_password(app_env):
    """A deep link's first session on a fresh server runs the page without app.py (STYLE M1)."""
    page = AppTest.from_file(str(ROOT / "pages" / "labels.py"), default_timeout=120)
    page.secrets["password"] = PASSWORD
    page.run()
    assert [t.value for t in page.title] == ["vecscope"] and not page.exception
    log_in(page, "wrong")
    assert errors(page) == "Неверный пароль." and not page.exception
    # (after the right password the page goes on to app.py, which an AppTest of a page cannot
    # open: the browser test follows that path)


def test_the_token_and_the_annotator_share_the_url(app_env):
    at = app(password=PASSWORD)
    at.run()
    log_in(at, PASSWORD)
    at.sidebar.text_input(key="_w_annotator").input("anna").run()
    assert at.query_params["annotator"] == "anna" and at.query_params[_state.TOKEN_PARAM]
    fresh = app(password=PASSWORD)
    fresh.query_params.update(dict(at.query_params))
    fresh.run()
    assert [t.value for t in fresh.title] == ["Поиск"]
    assert fresh.sidebar.text_input(key="_w_annotator").value == "anna"
