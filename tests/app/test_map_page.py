"""Map page through app.py with AppTest."""
import json
import time

from tests.app.test_pages import start


def finished_map(at, timeout=180):
    """The first visit shows a PCA preview while UMAP runs in the background; wait for it."""
    deadline = time.time() + timeout
    while any("PCA" in c.value for c in at.caption) and time.time() < deadline:
        time.sleep(1)
        at.run()
    assert not any("PCA" in c.value for c in at.caption), "UMAP did not finish"
    return at


def test_map_shows_a_preview_first_then_the_umap_map(app_env):
    at = start("pages/map.py")
    assert at.get("plotly_chart"), "a map is drawn at once (PCA preview or cached UMAP)"
    finished_map(at)
    chart = at.get("plotly_chart")[0]
    assert "scattergl" in chart.proto.spec or "Scattergl" in chart.proto.spec


def test_placing_a_text_draws_it_with_its_neighbours(app_env):
    at = finished_map(start("pages/map.py"))
    at.text_input(key="map_place_text").input("обзор нового смартфона и его камеры").run()
    assert not at.exception, at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "ваш текст" in [trace.get("name") for trace in spec["data"]]


def test_posts_map_and_colour_by_cluster(app_env):
    at = start("pages/map.py")
    at.segmented_control(key="map_colour").set_value("cluster").run()
    assert not at.exception, at.exception
    at.segmented_control(key="map_corpus").set_value("posts").run()
    assert not at.exception, at.exception
    assert at.get("plotly_chart")


def test_a_map_past_the_threshold_is_a_density_view_in_russian(app_env, monkeypatch):
    # thresholds lowered for the 120 demo channels: aggregated past 50 points, UMAP fitted on 60
    monkeypatch.setenv("VECSCOPE_MAP_AGGREGATE", "50")
    monkeypatch.setenv("VECSCOPE_MAP_SAMPLE", "60")
    at = finished_map(start("pages/map.py"))
    assert not at.exception, at.exception
    assert any("плотность" in c.value for c in at.caption)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["images"][0]["source"].startswith("data:image/png")
    assert "записей" in " ".join(spec["data"][0]["text"]) or "запись" in " ".join(spec["data"][0]["text"])
    at.text_input(key="map_place_text").input("обзор нового смартфона и его камеры").run()
    assert not at.exception, at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "ваш текст" in [trace.get("name") for trace in spec["data"]]


def test_the_map_corpus_is_in_the_address(app_env):
    """/map?corpus=posts opens the posts map at once (a shared link, a reload); a choice updates the link."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["corpus"] = "posts"
    at.run()
    at.switch_page("pages/map.py").run()
    assert not at.exception, at.exception
    assert at.segmented_control(key="map_corpus").value == "posts"
    at.segmented_control(key="map_corpus").set_value("channels").run()
    assert at.query_params["corpus"] == "channels"
    # a made-up value in the address is ignored, not an error
    other = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    other.query_params["corpus"] = "<script>"
    other.run()
    other.switch_page("pages/map.py").run()
    assert not other.exception and other.segmented_control(key="map_corpus").value == "channels"
