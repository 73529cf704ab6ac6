"""The password gate in a real browser (issue 15): a deep link shows the login form, not "Page not
found"; after the login the link opens; a reload keeps the login (a signed token in the URL,
never the password)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import streamlit_server, wait_for_app

PASSWORD = "s3cret-пароль"


@pytest.fixture
def gated_server(tmp_path, warm_cache):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'password = "{PASSWORD}"\n', encoding="utf-8")
    # `streamlit run --secrets.files`, through its environment variable
    with streamlit_server(tmp_path, warm_cache, STREAMLIT_SECRETS_FILES=str(secrets),
                          VECSCOPE_VAR_DIR=str(tmp_path / "var"), VECSCOPE_IMPORTS_DIR=str(tmp_path / "imports"),
                          VECSCOPE_USER_MODELS_YAML=str(tmp_path / "users.yaml")) as url:
        yield url


def login_form_only(page) -> None:
    expect(page.get_by_role("heading", name="vecscope")).to_be_visible()
    expect(page.get_by_label("Пароль")).to_be_visible()
    expect(page.get_by_text("Page not found")).to_have_count(0)
    expect(page.get_by_role("textbox", name="Аннотатор")).to_have_count(0)   # no sidebar, no page
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)


def log_in(page, password: str = PASSWORD) -> None:
    box = page.get_by_label("Пароль")
    box.fill(password)
    page.get_by_role("button", name="Войти").click()
    wait_for_app(page)


def test_a_deep_link_gets_the_login_form_then_the_page_and_a_reload_keeps_the_login(gated_server, page, context):
    # the server's first session, deep-linked: Streamlit runs the page without the frame (STYLE M1)
    page.goto(f"{gated_server}/labels")
    wait_for_app(page)
    login_form_only(page)
    log_in(page, "wrong")
    expect(page.get_by_text("Неверный пароль.")).to_be_visible()
    log_in(page)
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name="Разметка")).to_be_visible()    # the frame's navigation
    expect(nav).not_to_contain_text("labels")
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    assert "login=" in page.url and PASSWORD not in page.url and "%D0%BF%D0%B0%D1%80" not in page.url

    page.reload()
    wait_for_app(page)
    expect(page.get_by_test_id("stSidebarNav")).to_be_visible()
    expect(page.get_by_label("Пароль")).to_have_count(0)

    # a later session's deep link: the login form at that address, and the page itself after it
    fresh = context.browser.new_context()
    other = fresh.new_page()
    other.goto(f"{gated_server}/labels")
    wait_for_app(other)
    login_form_only(other)
    assert other.url.startswith(f"{gated_server}/labels")
    log_in(other)
    expect(other.get_by_role("heading", name="Разметка")).to_be_visible()
    other.reload()                                              # a reload of the deep-linked page
    wait_for_app(other)
    expect(other.get_by_role("heading", name="Разметка")).to_be_visible()

    # the address is the login: a new tab with it opens the page; a forged token does not
    tab = fresh.new_page()
    tab.goto(other.url)
    wait_for_app(tab)
    expect(tab.get_by_role("heading", name="Разметка")).to_be_visible()
    forged = fresh.new_page()
    stamp = other.url.split("login=")[1].split("&")[0].split(".")[0]
    forged.goto(f"{gated_server}/labels?login={stamp}.{'0' * 64}")
    wait_for_app(forged)
    login_form_only(forged)
    fresh.close()
