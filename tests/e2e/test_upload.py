"""Import a corpus by uploading a CSV in a real browser, and see it listed."""
from playwright.sync_api import expect

from core.config import Settings
from core.corpora.catalog import Catalog
from tests.e2e.conftest import streamlit_server, wait_for_app

CSV = ("id,channel_id,raw_text,category\n"
       "a1,c1,Скидка 30% на курсы английского до конца недели,Образование\n"
       "a2,c1,Как выбрать кроссовки для бега: три простых правила,Спорт\n"
       "a3,c2,Сборная вышла в финал после серии пенальти,Спорт\n")


def test_an_uploaded_csv_is_imported_and_listed(tmp_path, warm_cache, page, monkeypatch):
    imports = tmp_path / "imports"
    csv = tmp_path / "рекламные посты.csv"
    csv.write_text(CSV, encoding="utf-8")
    with streamlit_server(tmp_path, warm_cache, VECSCOPE_IMPORTS_DIR=str(imports)) as url:
        page.goto(url)
        wait_for_app(page)
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Данные").click()
        wait_for_app(page)
        expect(page.get_by_role("heading", name="Данные")).to_be_visible()

        page.locator(".st-key-data_upload_0 input[type='file']").set_input_files(str(csv))
        wait_for_app(page)
        expect(page.get_by_text("Готово к импорту: 3 записи")).to_be_visible()
        name = page.get_by_role("textbox", name="Название корпуса")
        name.fill("ads-may")
        name.press("Enter")
        wait_for_app(page)
        page.get_by_role("button", name="Импортировать").click()
        wait_for_app(page)

        expect(page.get_by_text("Корпус «ads-may» импортирован: 3 записи.")).to_be_visible()
        expect(page.get_by_text("Готово к импорту")).to_have_count(0)   # the uploader is emptied
        listed = page.locator(".st-key-data_corpus_ads-may")
        expect(listed).to_contain_text("ads-may")
        expect(listed).to_contain_text("3 записи")
        expect(listed).to_contain_text("рекламные посты.csv")
        page.screenshot(path=str(tmp_path / "data.png"), full_page=True)

    monkeypatch.setenv("VECSCOPE_IMPORTS_DIR", str(imports))
    corpus = Catalog(Settings.from_env()).load("ads-may")
    assert corpus.kind == "posts" and list(corpus.frame["category"]) == ["Образование", "Спорт", "Спорт"]
