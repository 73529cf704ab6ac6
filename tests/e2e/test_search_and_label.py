"""The first whole capability in a real browser: search, grade, reload, see the grade."""
from playwright.sync_api import expect

from core.labels.store import LabelStore
from tests.e2e.conftest import wait_for_app

QUERY = "когда экзамен перенесли после бессонной ночи"


def set_annotator(page, name: str) -> None:
    box = page.get_by_role("textbox", name="Аннотатор")
    box.fill(name)
    box.press("Enter")
    wait_for_app(page)


def search(page, query: str) -> None:
    box = page.get_by_role("textbox", name="Ситуация")
    box.fill(query)
    box.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Искать").click()
    wait_for_app(page)


def test_a_grade_is_saved_shown_and_still_there_after_reload(server, page, tmp_path):
    page.goto(server)
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Поиск")).to_be_visible()
    set_annotator(page, "anna")
    search(page, QUERY)
    first = page.locator(".st-key-result_0")
    expect(first).to_contain_text("#1")
    first.get_by_role("button", name="2 · релевантно").click()
    wait_for_app(page)
    expect(page.get_by_text("вы оценили 1 из 10")).to_be_visible()
    page.screenshot(path=str(tmp_path / "search.png"), full_page=True)

    rows = LabelStore(tmp_path / "labels.csv").read().frame
    assert list(rows[["annotator", "query", "grade", "rank"]].itertuples(index=False, name=None)) == [
        ("anna", QUERY, 2, 1)]

    page.reload()
    wait_for_app(page)
    set_annotator(page, "anna")
    search(page, QUERY)
    expect(page.get_by_text("вы оценили 1 из 10")).to_be_visible()
    button = page.locator(".st-key-result_0").get_by_role("button", name="2 · релевантно")
    expect(button).to_have_attribute("data-testid", "stBaseButton-primary")


def test_keyboard_grades_the_next_ungraded_result(server, page, tmp_path):
    page.goto(server)
    wait_for_app(page)
    set_annotator(page, "kira")
    search(page, "кот уронил всё со стола")
    page.locator("h1").click()          # focus leaves the text box, as after reading results
    page.keyboard.press("2")
    wait_for_app(page)
    page.keyboard.press("0")
    wait_for_app(page)
    rows = LabelStore(tmp_path / "labels.csv").read().frame
    assert list(rows["rank"]) == [1, 2] and list(rows["grade"]) == [2, 0]


def test_deep_link_as_first_session_gets_the_page_with_its_sidebar(server, page):
    page.goto(f"{server}/labels")
    wait_for_app(page)
    expect(page.get_by_role("textbox", name="Аннотатор")).to_be_visible()
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name="Разметка")).to_be_visible()
    expect(nav).not_to_contain_text("labels")
    # the redirect lands on the frame's default page; the deep link works from then on
    page.goto(f"{server}/labels")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Разметка")).to_be_visible()
