"""Regenerate the README screenshots: a real server on the demo data, Debian's Chromium.

    .venv/bin/python scripts/screenshots.py [out_dir]
"""
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.e2e.conftest import chromium_path, streamlit_server, wait_for_app  # noqa: E402


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, \
            streamlit_server(Path(tmp), ROOT / ".cache" / "test-embeddings") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(url)
        wait_for_app(page)
        box = page.get_by_role("textbox", name="Аннотатор")
        box.fill("demo")
        box.press("Enter")
        wait_for_app(page)
        q = page.get_by_role("textbox", name="Ситуация")
        q.fill("когда экзамен перенесли после бессонной ночи")
        q.press("Enter")
        wait_for_app(page)
        page.get_by_role("button", name="Искать").click()
        wait_for_app(page)
        page.locator(".st-key-result_0").get_by_role("button", name="2 · релевантно").click()
        wait_for_app(page)
        page.screenshot(path=str(out / "search.png"))
        for name, title in (("channels", "Каналы"), ("map", "Карта"), ("compare", "Сравнение моделей"),
                            ("data", "Данные"), ("labels", "Разметка"), ("pairs", "Пары"),
                            ("outcomes", "Отклик"), ("recommend", "Рекомендации")):
            link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=title)
            if link.count() == 0:
                continue
            link.click()
            wait_for_app(page)
            page.wait_for_timeout(1500)   # plotly draws after the script finishes
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Сравнение моделей").click()
        wait_for_app(page)
        for view, name in (("Оценка", "compare-eval"), ("Дообучение", "finetune")):
            page.get_by_test_id("stButtonGroup").get_by_text(view, exact=True).click()
            wait_for_app(page)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
        # the judging queue's blind view: what the queue asks for first, the rest in an expander
        page.get_by_test_id("stButtonGroup").get_by_text("Оценка", exact=True).click()
        wait_for_app(page)
        page.get_by_role("button", name="Оценить следующий из очереди вслепую").click()
        wait_for_app(page)
        page.get_by_text("Очередь разметки, запрос 1").scroll_into_view_if_needed()
        page.wait_for_timeout(800)
        page.screenshot(path=str(out / "compare-queue.png"), full_page=True)
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs")
