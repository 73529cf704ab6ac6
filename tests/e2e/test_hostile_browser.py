"""Untrusted text in a real browser (issue 15): a demo folder of hostile records is shown as text
on every page - no image, tag, heading, colour or link of its own - and the browser never
talks to another host than the app's."""
from __future__ import annotations

import shutil
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from core.display import WORD_JOINER
from core.labels.store import Label, LabelStore
from tests import hostile
from tests.e2e.conftest import streamlit_server, wait_for_app
from tests.e2e.test_search_and_label import set_annotator

LINKS: set[str] = set()   # the link column's http(s) values, filled by the fixture


@pytest.fixture
def hostile_server(tmp_path, warm_cache):
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache, cache)   # the benign demo rows are embedded already
    data = hostile.write(tmp_path / "data")
    LINKS.clear()
    LINKS.update(hostile.web_links(data))
    assert hostile.GOOD_LINK in LINKS
    with streamlit_server(tmp_path, cache, VECSCOPE_DATA_DIR=str(data), VECSCOPE_VAR_DIR=str(tmp_path / "var"),
                          VECSCOPE_IMPORTS_DIR=str(tmp_path / "imports"),
                          VECSCOPE_USER_MODELS_YAML=str(tmp_path / "users.yaml")) as url:
        yield url


def shown(page) -> str:
    """The main area's text as a reader sees it (the invisible word joiner that keeps a bare
    URL from becoming a link is not a character anyone reads)."""
    return page.get_by_test_id("stMain").inner_text().replace(WORD_JOINER, "")


def assert_inert(page, title: str, *raw: str) -> None:
    """The page shows each raw string as written and draws nothing the data asked for."""
    text = shown(page)
    for value in raw:
        assert value in text, f"{value!r} is not shown as written on {title}:\n{text}"
    main = page.get_by_test_id("stMain")
    assert main.locator("img").count() == 0, f"an image on {title}"
    assert [h.inner_text() for h in main.locator("h1").all()] == [title]
    hrefs = {a.get_attribute("href") for a in main.locator("a[href]").all()}
    outside = {h for h in hrefs if not h.startswith("#")} - LINKS
    assert not outside, f"links made from the data on {title}: {outside}"


def go(page, name: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click()
    wait_for_app(page)


def search(page, query: str) -> None:
    box = page.get_by_role("textbox", name="Ситуация")
    box.fill(query)
    box.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Искать").click()
    wait_for_app(page)


def grade(page, containing: str) -> str:
    """Grade the first search result whose text contains `containing`; the toast's text."""
    result = page.locator("[class*='st-key-result_']").filter(has_text=containing).first
    result.get_by_role("button", name="2 · релевантно").click()
    wait_for_app(page)
    toast = page.get_by_test_id("stToast").last
    expect(toast).to_be_visible()
    return toast.inner_text().replace(WORD_JOINER, "")


def pick_label(page, query_part: str) -> None:
    box = page.get_by_role("textbox", name="Запрос содержит")
    box.fill(query_part)
    box.press("Enter")
    wait_for_app(page)
    table = page.locator("[class*='st-key-labels_table_']").get_by_test_id("stDataFrame")
    expect(table).to_be_visible()
    box = table.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)   # the first row's selection box
    wait_for_app(page)


def test_hostile_records_are_shown_as_text_and_load_nothing_from_outside(hostile_server, page, tmp_path):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    LabelStore(tmp_path / "labels.csv").append(Label(
        annotator="mallory", corpus="memes", query=f"потерянный {hostile.HEADING}", doc_id=hostile.LOST_ID,
        grade=1))

    page.goto(hostile_server)
    wait_for_app(page)
    set_annotator(page, "mallory")

    # Поиск, memes: headers, meanings, the link column (javascript: and data: stay text)
    search(page, hostile.QUERY)
    assert_inert(page, "Поиск", hostile.MEME_HEADER, *hostile.RAW, "javascript:alert(1)",
                 f"data:text/html,{hostile.TAG}", hostile.BARE)
    expect(page.get_by_test_id("stMain").locator(f"a[href='{hostile.GOOD_LINK}']")).to_have_count(1)
    toast = grade(page, "кот фиаско")
    assert f"{hostile.IMG} кот фиаско #" in toast          # the snippet, cut at 60 characters
    assert_inert(page, "Поиск")

    # Поиск, posts: channel titles, post texts (line breaks kept), categories
    page.get_by_test_id("stButtonGroup").get_by_text("Посты", exact=True).click()
    wait_for_app(page)
    search(page, hostile.QUERY)
    assert_inert(page, "Поиск", hostile.CHANNEL_TITLE, hostile.CATEGORY, hostile.BARE, *hostile.RAW)
    toast = grade(page, "nip.io")                       # the post of the hostile channel
    assert ":red[Ваш аккаунт заблокирован] :material/warning" in toast

    # Каналы: neighbour titles, descriptions, categories
    go(page, "Каналы")
    assert_inert(page, "Каналы", hostile.CHANNEL_TITLE, hostile.HEADING, hostile.PHISH, hostile.TAG)

    # Карта: the legend of categories is drawn by plotly, whose text is HTML-ish
    go(page, "Карта")
    chart = page.get_by_test_id("stPlotlyChart")
    expect(chart.locator(".main-svg").first).to_be_visible()
    legend = " ".join(chart.locator(".legendtext").all_text_contents())   # svg: no innerText
    assert hostile.CATEGORY in legend and hostile.HEADING in legend
    assert chart.locator("a").count() == 0
    assert_inert(page, "Карта")

    # Сравнение моделей, side by side
    go(page, "Сравнение моделей")
    box = page.get_by_role("textbox", name="Ситуация")
    box.fill(hostile.QUERY)
    box.press("Enter")
    wait_for_app(page)
    expect(page.locator("[class*='st-key-cmp_a1']")).to_be_visible()
    assert_inert(page, "Сравнение моделей", hostile.MEME_HEADER, hostile.TAG, hostile.WARNING, hostile.PHISH)

    # Разметка: the typed query and the graded document in the history; an id no corpus has
    go(page, "Разметка")
    pick_label(page, "кот уронил")
    assert_inert(page, "Разметка", hostile.QUERY)
    pick_label(page, "потерянный")
    assert_inert(page, "Разметка", hostile.LOST_ID, hostile.HEADING)
    undo = page.get_by_role("button", name="Отменить мою последнюю оценку")
    assert hostile.IMG in undo.inner_text().replace(WORD_JOINER, "")
    page.screenshot(path=str(tmp_path / "hostile-labels.png"), full_page=True)

    strangers = [u for u in requests
                 if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != "127.0.0.1"]
    assert not strangers, f"the browser asked other hosts: {strangers}"
