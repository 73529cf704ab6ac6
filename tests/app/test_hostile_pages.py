"""Untrusted text through AppTest (issue 15): on every page, whatever Streamlit renders as Markdown
(markdown, captions, alerts, toasts, button/expander/metric labels, radio and segmented-control
options, help texts) shows hostile corpus records, queries, ids and file names as text. The
Chromium test (tests/e2e/test_hostile_browser.py) checks what the browser draws and requests."""
from __future__ import annotations

import csv
import io
import re
import shutil

import pytest
from google.protobuf.json_format import MessageToDict
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from core.labels.store import Label, LabelStore
from tests import hostile
from tests.conftest import ROOT

# element types whose `options` are plain text (no Markdown): their options may hold raw data
PLAIN_OPTIONS = {"selectbox", "multiselect", "select_slider"}
MARKDOWN_KEYS = {"body", "label", "help", "caption", "message", "content", "options"}
SKIP_TYPES = {"text", "code", "arrow_data_frame", "dataframe", "html", "text_input", "text_area"}
ESCAPED = re.compile(r"\\[!-/:-@\[-`{-~]")
# what the hostile records would do if their text were read as Markdown
ACTIVE = ["![", "<img", "<b>", "<a href", "<span", "](javascript", ":red[", ":material/warning",
          "# ГИГАНТСКИЙ", "$x^2$", "~~", "http://203", "https://203", "www.203", "@203"]
MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def _strings(value, key: str = "", plain_options: bool = False):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, k, plain_options)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, key, plain_options)
    elif isinstance(value, str) and key in MARKDOWN_KEYS and not (plain_options and key == "options"):
        yield value


def markdown_sources(at: AppTest) -> list[str]:
    """Every string on the screen that Streamlit renders as Markdown."""
    out = []
    for node in at._tree:
        proto = getattr(node, "proto", None)
        kind = getattr(node, "type", "")
        if proto is None or not hasattr(proto, "DESCRIPTOR") or kind in SKIP_TYPES:
            continue
        out += list(_strings(MessageToDict(proto, preserving_proto_field_name=True),
                             plain_options=kind in PLAIN_OPTIONS))
    return out


def assert_inert(at: AppTest, *raw: str) -> str:
    """No Markdown source on screen lets hostile text act; each raw string reads as written.
    Returns what the screen reads as (escapes resolved)."""
    assert not at.exception, at.exception
    sources = markdown_sources(at)
    for source in sources:
        bare = ESCAPED.sub("", source)
        for link in LINKS:   # the link column's own http(s) targets are the one allowed link
            bare = bare.replace(f"]({link})", "]")
        for active in ACTIVE:
            assert active not in bare, f"{active!r} is live in {source[:200]!r}"
        for token in MD.parseInline(source) if "\n" not in source else MD.parse(source):
            for t in [token, *(token.children or [])]:
                assert t.type not in ("image", "html_inline", "html_block"), source[:200]
                if t.type == "link_open":
                    assert t.attrs.get("href") in LINKS, f"a link from data: {t.attrs} in {source[:200]!r}"
    shown = "\n".join(hostile.read(s) for s in sources)
    for value in raw:
        assert value in shown, f"{value!r} is not shown as written"
    return shown


LINKS: set[str] = set()


@pytest.fixture(scope="module")
def hostile_dirs(tmp_path_factory, warm_cache):
    root = tmp_path_factory.mktemp("hostile")
    shutil.copytree(warm_cache, root / "cache")   # the benign demo rows are embedded already
    data = hostile.write(root / "data")
    LINKS.update(hostile.web_links(data))
    return data, root / "cache"


@pytest.fixture
def hostile_env(app_env, hostile_dirs, monkeypatch):
    data, cache = hostile_dirs
    monkeypatch.setenv("VECSCOPE_DATA_DIR", str(data))
    monkeypatch.setenv("VECSCOPE_CACHE_DIR", str(cache))
    monkeypatch.setenv("VECSCOPE_IMPORTS_DIR", str(app_env / "imports"))
    return app_env


def start(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    at.sidebar.text_input(key="_w_annotator").input("mallory").run()
    return at


def search(at: AppTest, corpus: str, query: str = hostile.QUERY) -> AppTest:
    at.segmented_control(key="search_corpus").set_value(corpus).run()
    at.text_input(key="search_query").input(query)
    next(b for b in at.button if b.label == "Искать").click().run()
    return at


def result_index(at: AppTest, containing: str) -> int:
    heads = [m.value for m in at.markdown if m.value.startswith("**#")]
    return next(i for i, h in enumerate(heads) if containing in hostile.read(h))


def test_search_shows_hostile_memes_posts_links_and_toasts_as_text(hostile_env):
    at = search(start(), "memes")
    assert_inert(at, hostile.MEME_HEADER, hostile.MEME_MEANING, "javascript:alert(1)",
                 f"data:text/html,{hostile.TAG}", hostile.GOOD_LINK)
    assert any(f"]({hostile.GOOD_LINK})" in m.value for m in at.markdown)   # the one http(s) link
    at.button(key=f"g2_{result_index(at, 'кот фиаско')}").click().run()
    assert_inert(at, f"Сохранено: «{hostile.IMG} кот фиаско #")
    search(at, "posts")
    assert_inert(at, hostile.CHANNEL_TITLE, hostile.POST_TEXT, hostile.CATEGORY)
    at.button(key=f"g2_{result_index(at, 'Ваш аккаунт')}").click().run()
    assert_inert(at, "Сохранено: «:red[Ваш аккаунт заблокирован]")
    rows = LabelStore(hostile_env / "labels.csv").read().frame
    assert set(rows["doc_id"]) == {hostile.MEME_ID, hostile.POST_ID} and set(rows["query"]) == {hostile.QUERY}


def test_channels_map_and_compare_show_hostile_text_as_text(hostile_env):
    at = start("pages/channels.py")
    assert_inert(at, hostile.CHANNEL_TITLE, hostile.CHANNEL_ABOUT, hostile.CATEGORY)
    at.switch_page("pages/map.py").run()
    assert_inert(at)
    import json
    traces = json.loads(at.get("plotly_chart")[0].proto.spec)["data"]
    names = [t.get("name", "") for t in traces]
    assert not any("<a" in n or "<span" in n for n in names), names       # plotly's legend reads HTML
    assert "&lt;a href" in " ".join(names)
    at.switch_page("pages/compare.py").run()
    at.text_input(key="compare_query").input(hostile.QUERY)
    next(b for b in at.button if b.label == "Сравнить").click().run()
    assert_inert(at, hostile.MEME_MEANING[:200].rsplit(" ", 1)[0])


def test_labels_history_shows_a_hostile_query_and_an_unknown_hostile_id_as_text(hostile_env):
    store = LabelStore(hostile_env / "labels.csv")
    store.append(Label(annotator="mallory", corpus="memes", query=hostile.QUERY, doc_id=hostile.MEME_ID, grade=2))
    store.append(Label(annotator="mallory", corpus="memes", query=f"потерянный {hostile.HEADING}",
                       doc_id=hostile.LOST_ID, grade=1))
    at = start("pages/labels.py")
    assert_inert(at)
    at.session_state["labels_picked"] = ("mallory", "memes", hostile.QUERY, hostile.MEME_ID)
    at.run()
    assert_inert(at, f"«{hostile.QUERY}» → **{hostile.MEME_HEADER}**")
    at.session_state["labels_picked"] = ("mallory", "memes", f"потерянный {hostile.HEADING}", hostile.LOST_ID)
    at.run()
    assert_inert(at, hostile.LOST_ID[:40], f"Отменить мою последнюю оценку «{hostile.LOST_ID[:30]}")
    at.button(key="labels_undo").click().run()
    assert_inert(at, f"Оценка «{hostile.LOST_ID[:30]}")


def test_data_page_shows_hostile_file_names_columns_and_ids_as_text(hostile_env):
    at = start("pages/data.py")
    name = f"{hostile.IMG}.csv"
    rows = [["id", hostile.TAG, "raw_text", "channel_id"], [hostile.MEME_ID, "x", "текст", "c1"],
            [hostile.MEME_ID, "y", "текст", "c1"]]   # a hostile column name, a duplicate hostile id
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    content = out.getvalue().encode()
    at.file_uploader(key="data_upload_0").set_value((name, content, "text/csv")).run()
    shown = assert_inert(at, hostile.IMG, hostile.TAG)
    assert at.error and hostile.MEME_ID[:30] in shown   # the duplicate id is named, as text
