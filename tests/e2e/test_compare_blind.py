"""Blind grading on the Compare page in a real browser."""
from playwright.sync_api import expect

from core.labels.store import LabelStore
from tests.e2e.conftest import wait_for_app
from tests.e2e.test_search_and_label import set_annotator


def test_blind_grading_hides_model_names_and_saves_the_grade(server, page, tmp_path):
    page.goto(server)
    wait_for_app(page)
    set_annotator(page, "vera")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Сравнение моделей").click()
    wait_for_app(page)
    page.get_by_test_id("stButtonGroup").get_by_text("Вслепую", exact=True).click()
    wait_for_app(page)
    box = page.get_by_role("textbox", name="Ситуация")
    box.fill("когда дедлайн завтра а ты ещё не начинал")
    box.press("Enter")
    wait_for_app(page)
    pool = page.locator("[class*='st-key-cmp_blind']")
    expect(pool.first).to_be_visible()
    assert "e5-small" not in pool.first.inner_text()
    pool.first.get_by_role("button", name="1 · частично").click()
    wait_for_app(page)
    expect(pool.first.get_by_role("button", name="1 · частично")).to_have_attribute(
        "data-testid", "stBaseButton-primary")
    page.screenshot(path=str(tmp_path / "blind.png"), full_page=True)
    row = LabelStore(tmp_path / "labels.csv").read().frame.iloc[0]
    assert row["annotator"] == "vera" and row["grade"] == 1 and row["model"].startswith("blind:")
