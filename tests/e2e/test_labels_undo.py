"""Разметка in a real browser: undo acts on the label it names, and the annotator's name
survives a reload and a new tab (it lives in the URL)."""
import pandas as pd
from playwright.sync_api import expect

from core.corpora.records import load_demo
from core.labels.store import Label, LabelStore
from tests.conftest import DEMO
from tests.e2e.conftest import wait_for_app


def header(doc_id: str) -> str:
    return load_demo(DEMO, "memes").frame.set_index("id").loc[doc_id, "header"]


def open_labels(page, server: str, who: str) -> None:
    page.goto(f"{server}/?annotator={who}")
    wait_for_app(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Разметка").click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Разметка")).to_be_visible()


def click_first_row(page) -> None:
    """st.dataframe is a canvas: click the row marker (checkbox column) of the first data row."""
    table = page.locator("[class*='st-key-labels_table_']").get_by_test_id("stDataFrame")
    expect(table).to_be_visible()
    box = table.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)   # header row 35 px, then the first row
    wait_for_app(page)


def rows_for(store: LabelStore, doc_id: str) -> list:
    frame = store.read().frame
    return frame.loc[frame["doc_id"] == doc_id, "grade"].tolist()


def test_undo_names_its_label_and_a_second_click_never_touches_another(server, page, tmp_path):
    store = LabelStore(tmp_path / "labels.csv")
    for doc in ("m001", "m002"):
        store.append(Label(annotator="anna", corpus="memes", query="кот", doc_id=doc, grade=2))
    open_labels(page, server, "anna")
    click_first_row(page)
    undo = page.get_by_role("button", name="Отменить мою последнюю оценку")
    expect(undo).to_contain_text(header("m001")[:30])
    undo.click()
    wait_for_app(page)
    # m001 had one grade: undo retracts it, so it leaves the table and m002 moves up to row 1
    assert pd.isna(rows_for(store, "m001")[-1])                              # retracted
    assert rows_for(store, "m002") == [2]
    expect(page.get_by_text(f"Оценка «{header('m001')[:30]}")).to_be_visible()
    # the button still names m001; clicking it again acts on m001 (restores it), never on m002
    expect(undo).to_contain_text(header("m001")[:30])
    page.screenshot(path=str(tmp_path / "labels-undo.png"), full_page=True)
    undo.click()
    wait_for_app(page)
    assert rows_for(store, "m001")[-1] == 2 and len(rows_for(store, "m001")) == 3
    assert rows_for(store, "m002") == [2]


def test_the_annotator_name_is_kept_after_a_reload_and_in_a_new_tab(server, page, context):
    page.goto(server)
    wait_for_app(page)
    box = page.get_by_role("textbox", name="Аннотатор")
    box.fill("boris")
    box.press("Enter")
    wait_for_app(page)
    expect(page).to_have_url(f"{server}/?annotator=boris")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Разметка").click()
    wait_for_app(page)
    expect(page).to_have_url(f"{server}/labels?annotator=boris")      # a page switch keeps it
    page.reload()
    wait_for_app(page)
    expect(page.get_by_role("textbox", name="Аннотатор")).to_have_value("boris")
    tab = context.new_page()
    tab.goto(page.url)
    wait_for_app(tab)
    expect(tab.get_by_role("textbox", name="Аннотатор")).to_have_value("boris")


def test_a_deep_link_as_the_first_session_keeps_the_name_from_the_url(server, page):
    page.goto(f"{server}/labels?annotator=kira")     # the frame redirect of a fresh server (STYLE M1)
    wait_for_app(page)
    expect(page.get_by_role("textbox", name="Аннотатор")).to_have_value("kira")
