"""The Данные page through app.py with AppTest: upload, map, import, list, remove, PostgreSQL."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.corpora.catalog import Catalog
from core.models.encoders import default_encoder
from core.retrieval.cache import corpus_coverage
from tests.app.test_pages import set_annotator, start
from tests.conftest import ROOT
from tests.hostile import read
from tests.unit.test_database import execute, pg_url, postgres_server  # noqa: F401  (fixtures)

PAGE = "pages/data.py"
ADS = ("post_id,chan,text,topic\n"
       "a1,c1,Скидка 30% на курсы английского до конца недели,Образование\n"
       "a2,c1,Как выбрать кроссовки для бега: три простых правила,Спорт\n"
       "a3,c2,Сборная вышла в финал после серии пенальти,Спорт\n").encode()


@pytest.fixture
def data_env(app_env, monkeypatch):
    monkeypatch.setenv("VECSCOPE_IMPORTS_DIR", str(app_env / "imports"))
    monkeypatch.delenv("VECSCOPE_PG_URL", raising=False)
    return app_env


def catalog() -> Catalog:
    return Catalog(Settings.from_env())


def errors(at: AppTest) -> str:
    """The error boxes as read (messages quote file names and ids, escaped with display.plain)."""
    return " | ".join(read(e.value) for e in at.error)


def upload(at: AppTest, name: str = "ads.csv", content: bytes = ADS) -> AppTest:
    at.file_uploader(key="data_upload_0").set_value((name, content, "text/csv")).run()
    assert not at.exception, at.exception
    return at


def map_posts(at: AppTest) -> AppTest:
    at.selectbox(key="data_file_form_kind").set_value("posts").run()
    at.selectbox(key="data_file_form_map_id").set_value("post_id").run()
    at.selectbox(key="data_file_form_map_channel_id").set_value("chan").run()
    at.selectbox(key="data_file_form_map_category").set_value("topic").run()
    return at


def test_page_lists_demo_corpora_with_coverage(data_env):
    at = start(PAGE)
    assert at.title[0].value == "Данные"
    table = at.dataframe[0].value
    assert {"memes", "posts", "channels"} <= set(table["корпус"])
    shown = table.set_index("корпус").loc["memes", "покрытие"]
    # the warm cache holds (nearly) every demo text; the page shows what core counts
    assert shown > 0.95 and shown == pytest.approx(corpus_coverage(catalog(), "memes", default_encoder()))
    assert any("Подключение не настроено" in i.value for i in at.info)


def test_upload_map_and_import_a_csv_then_remove_it(data_env):
    at = upload(start(PAGE))
    assert at.dataframe[1].value.shape == (3, 4)                        # the preview
    assert at.text_input(key="data_file_form_name").value == "ads"
    assert at.button(key="data_file_import").disabled                    # raw_text not mapped yet
    map_posts(at)
    assert "'raw_text'" in errors(at) and at.button(key="data_file_import").disabled
    at.selectbox(key="data_file_form_map_raw_text").set_value("text").run()
    assert not at.error and not at.button(key="data_file_import").disabled
    assert any("Готово к импорту: 3 записи" in m.value for m in at.success)
    at.button(key="data_file_import").click().run()
    assert not at.exception, at.exception
    assert any("импортирован: 3 записи" in m.value for m in at.success)
    assert at.file_uploader(key="data_upload_1").value is None               # the uploader is emptied
    assert not [b for b in at.button if b.key == "data_file_import"]
    corpus = catalog().load("ads")
    assert list(corpus.frame["category"]) == ["Образование", "Спорт", "Спорт"]
    assert "ads" in list(at.dataframe[0].value["корпус"])
    at.button(key="data_remove_ads").click().run()
    assert "ads" not in catalog().names()
    assert "ads" not in list(at.dataframe[0].value["корпус"])


def test_a_row_without_text_is_named_and_import_stays_disabled(data_env):
    bad = ADS.replace("Сборная вышла в финал после серии пенальти".encode(), b"")
    at = map_posts(upload(start(PAGE), "bad.csv", bad))
    at.selectbox(key="data_file_form_map_raw_text").set_value("text").run()
    assert "bad.csv" in errors(at) and "в строке 4 (id 'a3')" in errors(at) and "ваш столбец 'text'" in errors(at)
    assert at.button(key="data_file_import").disabled and "bad" not in catalog().names()


def test_a_cp1251_file_gets_a_clear_message(data_env):
    at = upload(start(PAGE), "win.csv", ADS.decode().encode("cp1251"))
    assert "win.csv" in errors(at) and "cp1251" in errors(at) and "/tmp" not in errors(at)


def test_a_posts_file_without_raw_text_is_typed_posts_and_told_about_raw_text(data_env):
    posts = "id,channel_id,text\np1,c1,Скидка на курсы\np2,c2,Итоги матча\n".encode()
    at = upload(start(PAGE), "posts.csv", posts)
    assert at.selectbox(key="data_file_form_kind").value == "posts"
    assert "posts.csv: нет столбца 'raw_text'" in errors(at) and "'text'" in errors(at)
    assert at.button(key="data_file_import").disabled
    at.selectbox(key="data_file_form_map_raw_text").set_value("text").run()
    assert not at.error and not at.button(key="data_file_import").disabled


def test_embed_button_is_off_once_every_embedding_is_cached(data_env, monkeypatch):
    monkeypatch.setenv("VECSCOPE_CACHE_DIR", str(data_env / "cache"))        # an empty cache of our own
    (data_env / "ads.csv").write_bytes(ADS)
    catalog().import_table(data_env / "ads.csv", "ads", "posts", {"id": "post_id", "channel_id": "chan",
                                                                  "raw_text": "text"})
    at = start(PAGE)
    button = at.button(key="data_embed_ads")
    assert not button.disabled and at.dataframe[0].value.set_index("корпус").loc["ads", "покрытие"] == 0.0
    button.click().run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value.set_index("корпус").loc["ads", "покрытие"] == 1.0
    assert at.button(key="data_embed_ads").disabled and "уже в кэше" in at.button(key="data_embed_ads").help


def test_generic_corpus_from_several_text_columns(data_env):
    faq = "key,q,a,lang\nf1,Как вернуть товар?,Напишите в поддержку.,ru\nf2,Сроки доставки,,ru\n".encode()
    at = upload(start(PAGE), "faq.csv", faq)
    assert at.selectbox(key="data_file_form_kind").value == "generic"
    at.selectbox(key="data_file_form_map_id").set_value("key").run()
    at.multiselect(key="data_file_form_text").set_value(["q", "a"]).run()
    assert at.multiselect(key="data_file_form_meta").value == ["lang"]
    at.button(key="data_file_import").click().run()
    assert catalog().load("faq").texts == ("Как вернуть товар?\n\nНапишите в поддержку.", "Сроки доставки")


def test_only_listed_admins_may_remove_when_admins_are_configured(data_env):
    catalog().import_table(ROOT / "data" / "demo" / "memes.csv", "my-memes", "memes")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.secrets["admins"] = ["anna"]
    at.secrets["admin_password"] = "root!"        # admins alone are refused (test_access_page)
    at.run()
    at.switch_page(PAGE).run()
    at.sidebar.text_input(key="_admin_password").input("root!").run()
    set_annotator(at, "boris")
    assert at.button(key="data_remove_my-memes").disabled   # the password, but not a listed name
    set_annotator(at, "anna")
    assert not at.button(key="data_remove_my-memes").disabled
    at.button(key="data_remove_my-memes").click().run()
    assert "my-memes" not in catalog().names()


def test_postgres_import_and_refresh_from_the_page(data_env, pg_url, monkeypatch):  # noqa: F811
    monkeypatch.setenv("VECSCOPE_PG_URL", pg_url)
    at = start(PAGE)
    shown = " ".join(c.value for c in at.caption)
    assert "s3cr3t" not in shown and "vecscope:***@" in shown
    at.text_area(key="data_sql").input("SELECT p.channel_id || '_' || p.id AS id, p.channel_id, p.raw_text "
                                       "FROM parse.posts_content p ORDER BY 1").run()
    at.button(key="data_sql_run").click().run()
    assert not at.exception and not at.error, errors(at)
    at.text_input(key="data_sql_form_name").input("tg-posts").run()
    assert at.selectbox(key="data_sql_form_kind").value == "posts"
    at.button(key="data_sql_import").click().run()
    assert any("импортирован из базы: 10 записей" in m.value for m in at.success)
    execute(pg_url, "INSERT INTO parse.posts_content VALUES (11, -1004444444444, 'Вышел Go 1.23 с итераторами.')")
    at.button(key="data_refresh_tg-posts").click().run()
    assert any("обновлён из базы: 11 записей" in m.value for m in at.success), errors(at)
    assert len(catalog().load("tg-posts")) == 11


def test_a_file_named_like_a_demo_corpus_gets_another_name_and_the_demo_name_is_refused(data_env):
    at = upload(start(PAGE), "posts.csv", "id,channel_id,raw_text\np1,c1,Скидка на курсы\n".encode())
    assert at.text_input(key="data_file_form_name").value == "posts-импорт"
    assert not at.error and not at.button(key="data_file_import").disabled
    at.text_input(key="data_file_form_name").input("posts").run()
    assert "встроенного демо-корпуса" in errors(at) and at.button(key="data_file_import").disabled
