"""The map in a real browser: drag a box over points and see them in the table."""
from playwright.sync_api import expect

from tests.e2e.conftest import streamlit_server, wait_for_app


def drag_box_over_the_whole_plot(page):
    plot = page.get_by_test_id("stPlotlyChart").locator(".nsewdrag").first
    expect(plot).to_be_visible()
    box = plot.bounding_box()
    page.mouse.move(box["x"] + 5, box["y"] + 5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 5, box["y"] + box["height"] - 5, steps=10)
    page.mouse.up()
    wait_for_app(page)


def test_box_selection_lists_the_selected_channels(server, page, tmp_path):
    page.goto(server)
    wait_for_app(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Карта").click()
    wait_for_app(page)
    # the first visit may show the PCA preview while UMAP runs; the page swaps itself when done
    expect(page.get_by_text("PCA-предпросмотр")).to_have_count(0, timeout=120_000)
    wait_for_app(page)
    drag_box_over_the_whole_plot(page)
    expect(page.get_by_role("heading", name="Выбрано:")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    page.screenshot(path=str(tmp_path / "map.png"), full_page=True)


def test_box_selection_on_the_density_view_lists_the_records_inside(tmp_path, warm_cache, page):
    # thresholds lowered so the 120 demo channels get the big-map path: UMAP on 60, density past 50
    with streamlit_server(tmp_path, warm_cache, VECSCOPE_MAP_AGGREGATE="50", VECSCOPE_MAP_SAMPLE="60") as url:
        page.goto(url)
        wait_for_app(page)
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Карта").click()
        wait_for_app(page)
        expect(page.get_by_text("PCA-предпросмотр")).to_have_count(0, timeout=120_000)
        wait_for_app(page)
        expect(page.get_by_text("показана плотность")).to_be_visible()
        drag_box_over_the_whole_plot(page)
        # the whole plot area holds all 120 channels
        expect(page.get_by_role("heading", name="Выбрано: 120")).to_be_visible(timeout=30_000)
        expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
        page.screenshot(path=str(tmp_path / "density.png"), full_page=True)
