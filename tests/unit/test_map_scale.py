"""Maps past the sample size: UMAP on a sample, the rest placed; the aggregated view's selection."""
import numpy as np
import pandas as pd

from core.maps import density
from core.maps.clusters import cached_clusters
from core.maps.projection import (
    cached_projection,
    load_cached_projection,
    map_params,
    project,
    projection_key,
    sample_rows,
)


def blobs(n, d=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, d))
    x = centres[rng.integers(0, 4, n)] + 0.2 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_sampled_map_places_every_row_and_keeps_the_samples_own_umap():
    x = blobs(400)
    sampled = project(x, n_neighbors=5, sample=120)
    rows = sample_rows(400, 120, 42)
    assert sampled.coords.shape == (400, 2) and np.isfinite(sampled.coords).all()
    assert np.array_equal(sampled.coords[rows], project(x[rows], n_neighbors=5).coords)
    assert np.array_equal(sampled.coords, project(x, n_neighbors=5, sample=120).coords)   # deterministic
    assert sampled.params["sample"] == 120
    # a placed row lands among the rows of its own blob: its nearest fitted row is one of its neighbours
    placed = np.setdiff1d(np.arange(400), rows)
    nearest_fitted = rows[np.argmax(x[placed] @ x[rows].T, axis=1)]
    dist = np.linalg.norm(sampled.coords[placed] - sampled.coords[nearest_fitted], axis=1)
    span = np.ptp(sampled.coords, axis=0).max()
    assert np.median(dist) < 0.1 * span


def test_the_sample_size_is_in_the_cache_key_only_past_it(tmp_path):
    assert map_params({}, 100, 200) == map_params({}, 100, None)          # below: nothing changes
    assert projection_key("m", "h", map_params({}, 100, 200)) == projection_key("m", "h", {})
    big = map_params({}, 300, 200)
    assert big["sample"] == 200
    assert projection_key("m", "h", big) != projection_key("m", "h", {})
    assert projection_key("m", "h", big) != projection_key("m", "h", map_params({}, 300, 250))
    x = blobs(300)
    made = cached_projection(tmp_path, "m", "h", x, {**big, "n_neighbors": 5})
    again = load_cached_projection(tmp_path, "m", "h", {**big, "n_neighbors": 5}, n=300)
    assert again is not None and np.array_equal(again.coords, made.coords)
    assert load_cached_projection(tmp_path, "m", "h", {"n_neighbors": 5}, n=300) is None


def test_big_corpus_clusters_cover_every_row_and_are_cached(tmp_path):
    x = blobs(500)
    texts = [f"кот {i % 4}" if i % 2 else f"пёс {i % 4}" for i in range(500)]
    labels, names = cached_clusters(tmp_path, "m", "h", x, texts, sample=100)
    assert labels.shape == (500,) and set(np.unique(labels)) == set(names)
    again, names2 = cached_clusters(tmp_path, "m", "h", x, texts, sample=100)
    assert np.array_equal(labels, again) and names == names2


# Six points on a hand-drawable grid:  (0,0) (1,0) (2,0) / (0,1) (1,1) (5,5)
COORDS = np.array([[0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [5, 5]], np.float32)
FRAME = pd.DataFrame({"id": list("abcdef"), "title": ["Альфа", "Бета", "Гамма", "Дельта", "Эпсилон", "Дзета"],
                      "category": ["кошки", "кошки", "собаки", "собаки", "кошки", "птицы"]})


def test_box_selection_on_the_aggregated_map_is_exactly_the_records_inside():
    fig, grid = density.density_figure(COORDS, FRAME, "channels", color_by="category")
    # the box x 0.5..2.5, y -0.5..0.5 holds (1,0) and (2,0): rows 1 and 2, nothing else
    box = {"selection": {"points": [{"customdata": [0]}], "box": [{"x": [2.5, 0.5], "y": [-0.5, 0.5]}]}}
    assert density.selected_rows(COORDS, box, grid).tolist() == [1, 2]
    # a lasso triangle (−0.5,−0.5) (1.6,−0.5) (−0.5,1.6) holds (0,0) (1,0) (0,1); (1,1) lies outside
    lasso = {"selection": {"lasso": [{"x": [-0.5, 1.6, -0.5], "y": [-0.5, -0.5, 1.6]}]}}
    assert density.selected_rows(COORDS, lasso, grid).tolist() == [0, 1, 3]
    # a click on a hover cell selects that cell's records: (5,5) is alone in its cell
    cell = int(grid.hover_cell[5])
    assert density.selected_rows(COORDS, {"selection": {"points": [{"customdata": {"0": cell}}]}}, grid).tolist() == [5]
    assert density.selected_rows(COORDS, None, grid).tolist() == []


def test_aggregated_map_is_an_image_with_useful_hover_and_no_markup_from_the_data():
    frame = FRAME.assign(title=FRAME["title"].where(FRAME.index != 5, "<b>Дзета</b>"))
    fig, _ = density.density_figure(COORDS, frame, "channels", color_by="category")
    spec = fig.to_dict()
    assert spec["layout"]["images"][0]["source"].startswith("data:image/png;base64,")
    assert len(fig.data[0].x) == 6                      # one hover marker per occupied cell
    hover = " ".join(fig.data[0].text)
    assert "1 запись" in hover and "например: Альфа" in hover and "чаще всего" in hover
    assert "&lt;b&gt;Дзета" in hover and "<b>Дзета" not in hover
    assert {t["name"] for t in spec["data"][1:]} == {"кошки", "собаки", "птицы"}
