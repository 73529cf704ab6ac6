"""Several annotators on one server at once: every grade lands in the CSV."""
from core.labels.store import LabelStore
from tests.e2e.conftest import wait_for_app
from tests.e2e.test_search_and_label import search, set_annotator


def test_four_sessions_grading_at_once_lose_nothing(server, browser, tmp_path):
    pages = []
    for i in range(4):
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(server)
        wait_for_app(page)
        set_annotator(page, f"annotator{i}")
        search(page, "когда начальник пишет в пятницу вечером")
        pages.append(page)
    # click in every session without waiting, then wait for all: the writes overlap
    for rank in range(3):
        for page in pages:
            page.locator(f".st-key-result_{rank}").get_by_role("button", name="1 · частично").click(no_wait_after=True)
        for page in pages:
            wait_for_app(page)
    frame = LabelStore(tmp_path / "labels.csv").read().frame
    got = sorted(zip(frame["annotator"], frame["rank"]))
    assert got == sorted((f"annotator{i}", r + 1) for i in range(4) for r in range(3))
