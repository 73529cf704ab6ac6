"""Pages through app.py with streamlit.testing.AppTest (no browser)."""
import pytest
from streamlit.testing.v1 import AppTest

from core.labels.store import LabelStore
from tests.conftest import ROOT


def literal(markdown: str) -> str:
    """What a markdown-escaped string (core.display.plain) reads as on screen."""
    import re
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


PAGES = ["pages/search.py", "pages/channels.py", "pages/map.py", "pages/data.py", "pages/compare.py", "pages/labels.py",
         "pages/pairs.py", "pages/outcomes.py", "pages/recommend.py"]


def start(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_errors(app_env, page):
    at = start(page)
    assert at.title[0].value


def set_annotator(at: AppTest, name: str) -> None:
    at.sidebar.text_input(key="_w_annotator").input(name).run()


def search(at: AppTest, query: str, corpus: str = "memes") -> AppTest:
    at.segmented_control(key="search_corpus").set_value(corpus).run()
    at.text_input(key="search_query").input(query)
    next(b for b in at.button if b.label == "Искать").click().run()
    assert not at.exception, at.exception
    return at


def result_headers(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**#")]


def test_search_shows_ranked_memes_and_a_grade_lands_on_disk(app_env):
    at = search(start(), "когда экзамен перенесли после бессонной ночи")
    heads = result_headers(at)
    assert len(heads) == 10 and heads[0].startswith("**#1**")
    # grading needs a name first
    assert at.button(key="g2_0").disabled
    set_annotator(at, "anna")
    at.button(key="g2_0").click().run()
    rows = LabelStore(app_env / "labels.csv").read().frame
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row["annotator"], row["corpus"], row["grade"], row["rank"]) == ("anna", "memes", 2, 1)
    assert row["query"] == "когда экзамен перенесли после бессонной ночи" and row["model"] == "e5-small"
    assert at.button(key="g2_0").proto.type == "primary"   # the page shows the saved grade
    assert "вы оценили 1 из 10" in " ".join(c.value for c in at.caption)


def test_same_query_later_shows_my_grades_and_others(app_env):
    store = LabelStore(app_env / "labels.csv")
    at = search(start(), "кот разбил вазу")
    set_annotator(at, "anna")
    first_id = at.session_state["search_submitted"]  # the request is remembered
    at.button(key="g1_0").click().run()
    doc = store.read().frame.iloc[0]["doc_id"]
    from core.labels.store import Label
    store.append(Label(annotator="boris", corpus="memes", query="кот разбил вазу", doc_id=doc, grade=0))
    fresh = search(start(), "кот разбил вазу")
    set_annotator(fresh, "anna")
    assert fresh.button(key="g1_0").proto.type == "primary"
    assert any("оценили ещё 1" in c.value for c in fresh.caption)
    assert first_id["query"] == "кот разбил вазу"


def test_posts_can_be_filtered_by_category(app_env):
    at = start()
    at.segmented_control(key="search_corpus").set_value("posts").run()
    at.multiselect(key="search_categories").set_value(["Спорт"])
    search(at, "итоги матча", corpus="posts")
    captions = " ".join(c.value for c in at.caption)
    assert "Спорт" in captions and "Авто" not in captions


def test_empty_query_gives_a_hint_and_no_results(app_env):
    at = search(start(), "   ")
    assert any("Опишите ситуацию" in w.value for w in at.warning)
    assert result_headers(at) == []


def test_huge_query_is_searched_on_its_first_part_with_a_note(app_env):
    at = search(start(), "кот " * 2500)
    assert len(result_headers(at)) == 10
    assert any("искали по первым" in c.value for c in at.caption)


def test_labels_page_reports_a_damaged_line_and_new_labels_still_append(app_env):
    from core.labels.store import Label
    store = LabelStore(app_env / "labels.csv")
    store.append(Label(annotator="anna", corpus="memes", query="кот", doc_id="m001", grade=2))
    with open(app_env / "labels.csv", "a", encoding="utf-8") as fh:
        fh.write("это,не,строка,разметки\n")
    store.append(Label(annotator="anna", corpus="memes", query="кот", doc_id="m002", grade=1))
    at = start("pages/labels.py")
    assert any("Строка 3" in w.value and "пропущена" in w.value for w in at.warning)
    assert at.metric[0].value == "2"


def test_missing_demo_file_names_the_file(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("VECSCOPE_DATA_DIR", str(tmp_path / "nowhere"))
    at = start()
    # messages quote file names as plain text (markdown-escaped): read them as a person sees them
    assert any("memes.csv" in literal(e.value) and "файл не найден" in literal(e.value) for e in at.error)


def test_a_configured_password_gates_every_page(app_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.secrets["password"] = "s3cret"
    at.run()
    assert [t.value for t in at.title] == ["vecscope"] and not at.segmented_control
    at.text_input(key="_login_password").input("wrong")
    at.button[0].click().run()
    assert any("Неверный пароль" in e.value for e in at.error)
    at.text_input(key="_login_password").input("s3cret")
    at.button[0].click().run()
    assert at.title[0].value == "Поиск" and not at.exception


def test_admin_role_comes_from_the_admin_password(app_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.secrets["admin_password"] = "root!"
    at.run()
    from pages import _state
    assert at.sidebar.text_input(key="_admin_password")
    at.sidebar.text_input(key="_admin_password").input("root!").run()
    assert at.session_state[_state.ADMIN_KEY] is True


def test_labels_health_panel_shows_agreement_and_exports(app_env):
    from core.labels.store import Label
    store = LabelStore(app_env / "labels.csv")
    for who, grade in (("anna", 2), ("boris", 0)):
        store.append(Label(annotator=who, corpus="memes", query="кот", doc_id="m001", grade=grade))
    at = start("pages/labels.py")
    at.toggle(key="labels_health").set_value(True).run()
    assert not at.exception, at.exception
    assert any(m.label == "Документов с 2+ оценками" and m.value == "1" for m in at.metric)
    # the disagreement queue names the meme by its header, with Russian column names
    from core.corpora.records import load_demo
    from tests.conftest import DEMO
    header = load_demo(DEMO, "memes").frame.set_index("id").loc["m001", "header"]
    assert header in at.dataframe[2].value["документ"].tolist()


def test_the_annotator_name_survives_a_reload_through_the_url(app_env):
    at = start()
    set_annotator(at, "anna")
    assert at.query_params["annotator"] == "anna"
    at.switch_page("pages/labels.py").run()                 # a page switch keeps it in the URL
    assert at.query_params["annotator"] == "anna"
    # a reload or a new tab is a new session that starts from the URL alone
    fresh = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    fresh.query_params["annotator"] = "anna"
    fresh.run()
    assert fresh.sidebar.text_input(key="_w_annotator").value == "anna"
    search(fresh, "кот разбил вазу")
    assert not fresh.button(key="g2_0").disabled            # grading is signed as anna again
    fresh.button(key="g2_0").click().run()
    assert LabelStore(app_env / "labels.csv").read().frame.iloc[-1]["annotator"] == "anna"
    # clearing the name removes it from the URL
    set_annotator(fresh, "")
    assert "annotator" not in fresh.query_params


def test_a_grade_toast_names_the_document_not_its_id(app_env):
    at = search(start(), "кот разбил вазу")
    set_annotator(at, "anna")
    at.button(key="g1_0").click().run()
    doc = LabelStore(app_env / "labels.csv").read().frame.iloc[0]["doc_id"]
    from core.corpora.records import load_demo
    from tests.conftest import DEMO
    header = load_demo(DEMO, "memes").frame.set_index("id").loc[doc, "header"]
    toasts = [literal(t.value) for t in at.toast]
    assert toasts and header[:40] in toasts[0] and doc not in toasts[0] and "частично" in toasts[0]


def test_an_information_need_is_saved_and_shown_to_the_next_annotator(app_env):
    from core.labels.needs import NeedStore, needs_path
    at = search(start(), "когда всё пошло не по плану")
    set_annotator(at, "ann")
    field = next(t for t in at.text_area if t.key and t.key.startswith("search_need_"))
    field.input("Нужен мем-реакция на **сорванный** план <b>без политики</b>").run()
    next(b for b in at.button if b.label == "Сохранить описание").click().run()
    assert not at.exception, at.exception
    stored = NeedStore(needs_path(app_env / "labels.csv")).get("memes", "Когда всё пошло не по плану")
    assert stored == "Нужен мем-реакция на **сорванный** план <b>без политики</b>"
    # another annotator, a fresh session, the same query written differently: the need is above the results
    other = search(start(), "когда  всё пошло НЕ по плану")
    shown = next(i.value for i in other.info if "Что ищет пользователь" in i.value)
    assert literal(shown).endswith("Нужен мем-реакция на **сорванный** план <b>без политики</b>")


def test_a_wide_disagreement_goes_to_someone_new_with_ordinal_agreement_shown(app_env):
    from core.labels.store import Label
    store = LabelStore(app_env / "labels.csv")
    for who, grade in (("anna", 2), ("boris", 0)):
        store.append(Label(annotator=who, corpus="memes", query="кот", doc_id="m001", grade=grade))
        store.append(Label(annotator=who, corpus="memes", query="кот", doc_id="m002", grade=1))
    at = start("pages/labels.py")
    set_annotator(at, "vera")
    at.toggle(key="labels_health").set_value(True).run()
    assert not at.exception, at.exception
    assert any("0,667" in c.value and "0,8" in c.value for c in at.caption)      # what alpha's bands mean
    assert any(m.value.startswith("**Нужно ещё одно мнение:** 1 документ") for m in at.markdown)
    pairs = next(d.value for d in at.dataframe if "аннотаторы" in d.value.columns and "α" in d.value.columns)
    assert list(pairs["аннотаторы"]) == ["anna · boris"]
    next(b for b in at.button if b.label == "Оценить вслепую").click().run()
    assert not at.exception, at.exception
    assert at.session_state["compare_view"] == "blind" and at.session_state["compare_query"] == "кот"
