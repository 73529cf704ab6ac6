"""core.maps.plots: figures checked through fig.to_dict(), selections mapped back to rows."""
import base64
import re

import numpy as np
import pandas as pd
import pytest

from core.corpora.records import load_demo
from core.maps import plots
from tests.conftest import DEMO


def arr(value) -> np.ndarray:
    """A trace array from fig.to_dict(): plotly 6+ stores numpy arrays as base64 typed arrays."""
    if isinstance(value, dict) and "bdata" in value:
        out = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        return out.reshape([int(s) for s in str(shape).split(",")]) if shape else out
    return np.asarray(value)


@pytest.fixture(scope="module")
def channels():
    corpus = load_demo(DEMO, "channels")
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(len(corpus), 2)).astype(np.float32)
    return corpus.frame, coords


def points(fig_dict, with_customdata=True):
    return [t for t in fig_dict["data"] if ("customdata" in t) == with_customdata]


def test_one_trace_per_category_with_row_positions(channels):
    frame, coords = channels
    d = plots.map_figure(coords, frame, color_by="category", size_by="subscribers").to_dict()
    traces = points(d)
    assert all(t["type"] == "scattergl" for t in traces)
    counts = frame["category"].value_counts()
    assert sorted(t["name"] for t in traces) == sorted(counts.index)
    assert d["layout"]["legend"]["title"]["text"] == "тематика"          # the Russian name, not "category"
    sizes = [len(arr(t["customdata"])) for t in traces]
    assert sizes == sorted(sizes, reverse=True)                        # biggest category first
    seen = []
    for t in traces:
        pos = arr(t["customdata"]).reshape(-1)
        seen += pos.tolist()
        assert (frame["category"].iloc[pos] == t["name"]).all()
        np.testing.assert_allclose(arr(t["x"]), coords[pos, 0])
        np.testing.assert_allclose(arr(t["y"]), coords[pos, 1])
    assert sorted(seen) == list(range(len(frame)))                     # every row exactly once


def test_hover_shows_title_category_and_a_short_snippet(channels):
    frame, coords = channels
    d = plots.map_figure(coords, frame, color_by="category").to_dict()
    by_position = {}
    for t in points(d):
        # the colour's value (the category) is the trace name, shown beside every label
        assert t["hovertemplate"] == "%{text}<extra>%{fullData.name}</extra>"
        for pos, text in zip(arr(t["customdata"]).reshape(-1), t["text"]):
            by_position[int(pos)] = (t["name"], text)
    position = int(np.flatnonzero(frame["about"].str.len() > 150)[0])
    row = frame.iloc[position]
    category, text = by_position[position]
    assert category == row["category"] and "тематика:" not in text
    subs = f"{int(row['subscribers']):,}".replace(",", "\xa0")              # 1 850 000, Russian style
    assert text.startswith(f"<b>{row['title']}</b>") and f"подписчики: {subs}" in text
    assert "subscribers" not in text and "category" not in text
    assert re.search("[а-яА-Я]", text)
    snippet = text.rsplit("<br>", 1)[1]
    assert len(snippet) <= plots.SNIPPET_CHARS + 1 and snippet.endswith("…")
    assert snippet[:40] == " ".join(row["about"].split())[:40]


def test_hover_text_is_escaped():
    frame = pd.DataFrame({"id": ["a", "b"], "title": ["<script>x</script>", "Кот & пёс"], "about": ["x < y", "ok"]})
    texts = plots.hover_texts(frame)
    assert "<script>" not in texts[0] and "&lt;script&gt;" in texts[0] and "x &lt; y" in texts[0]
    assert "Кот &amp; пёс" in texts[1]


def test_cluster_names_are_annotations_at_cluster_medians(channels):
    frame, coords = channels
    labels = np.arange(len(frame)) % 3
    names = {0: "крипта · биткоин · курс", 1: "рецепт · тесто · духовка", 2: "матч · гол · тренер"}
    d = plots.map_figure(coords, frame, color_by="category", cluster_labels=labels, cluster_names=names).to_dict()
    notes = {a["text"]: (a["x"], a["y"]) for a in d["layout"]["annotations"]}
    assert set(notes) == set(names.values())
    for lab, name in names.items():
        np.testing.assert_allclose(notes[name], np.median(coords[labels == lab], axis=0), rtol=1e-5)


def test_numeric_colour_is_one_trace_with_a_scale(channels):
    frame, coords = channels
    frame = frame.assign(log_subscribers=np.log10(frame["subscribers"].astype(float)))
    d = plots.map_figure(coords, frame, color_by="log_subscribers").to_dict()
    (trace,) = points(d)
    assert f"тематика: {frame['category'].iloc[0]}" in trace["text"][0]
    assert trace["marker"]["colorbar"]["title"]["text"] == "подписчики (логарифм)"
    assert trace["marker"]["showscale"] is True and trace["marker"]["colorscale"]
    np.testing.assert_allclose(arr(trace["marker"]["color"]),
                               frame["log_subscribers"].to_numpy()[arr(trace["customdata"]).reshape(-1)], rtol=1e-6)


def test_sizes_grow_with_subscribers_by_square_root():
    subs = pd.Series([0, 100, 400, 10_000, 10**8])
    sizes = plots.marker_sizes(subs, 5)
    assert sizes[0] == plots.SIZE_RANGE[0] and sizes.max() <= plots.SIZE_RANGE[1]
    assert (np.diff(sizes) >= 0).all()
    # sqrt: 400 subscribers is twice as far above the minimum as 100, not four times
    grow = sizes - plots.SIZE_RANGE[0]
    assert grow[2] == pytest.approx(2 * grow[1], rel=0.05)


def test_query_point_draws_a_star_and_lines_to_its_neighbours(channels):
    frame, coords = channels
    nbrs = [5, 9, 11]
    d = plots.map_figure(coords, frame, color_by="category", query_point=(0.5, -0.5),
                         neighbour_positions=nbrs, highlight=[1, 2]).to_dict()
    overlay = points(d, with_customdata=False)
    star = next(t for t in overlay if t.get("marker", {}).get("symbol") == "star")
    assert (star["x"], star["y"]) == ((0.5,), (-0.5,)) or (list(star["x"]), list(star["y"])) == ([0.5], [-0.5])
    lines = next(t for t in overlay if t["mode"] == "lines")
    xs = arr(lines["x"]).reshape(-1, 3)
    np.testing.assert_allclose(xs[:, 0], 0.5)
    np.testing.assert_allclose(xs[:, 1], coords[nbrs, 0])
    assert np.isnan(xs[:, 2]).all()                                   # one segment per neighbour
    ring = next(t for t in overlay if t["name"] == "выделено")
    np.testing.assert_allclose(arr(ring["x"]), coords[[1, 2], 0])


def test_many_points_and_categories_build_in_one_pass():
    n = 22_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": [f"p{i}" for i in range(n)],
                          "channel_title": rng.choice([f"Канал {i}" for i in range(40)], n),
                          "raw_text": ["Текст поста про что-то важное " * 10] * n})
    d = plots.map_figure(rng.normal(size=(n, 2)), frame, color_by="channel_title").to_dict()
    traces = points(d)
    assert len(traces) == plots.MAX_CATEGORIES and traces[-1]["name"] == plots.OTHER
    assert sum(len(arr(t["customdata"])) for t in traces) == n


def test_bad_inputs_name_the_problem(channels):
    frame, coords = channels
    with pytest.raises(ValueError, match="coords"):
        plots.map_figure(coords[:-1], frame, color_by="category")
    with pytest.raises(KeyError, match="colour"):
        plots.map_figure(coords, frame, color_by="nope")


def test_selected_positions_round_trip(channels):
    frame, coords = channels
    d = plots.map_figure(coords, frame, color_by="category", query_point=(0, 0), neighbour_positions=[1]).to_dict()
    # what Streamlit returns: the points of the box/lasso with their customdata, in order
    chosen = []
    for t in points(d)[:2]:
        for i, pos in enumerate(arr(t["customdata"]).reshape(-1)[:3]):
            chosen.append({"curve_number": 0, "point_number": i, "point_index": i, "customdata": [int(pos)]})
    expected = [p["customdata"][0] for p in chosen]
    state = {"selection": {"points": chosen + [chosen[0], {"x": 0, "y": 0}],   # a repeat, the star
                           "point_indices": list(range(len(chosen))), "box": [], "lasso": []}}
    assert plots.selected_positions(state) == expected

    class Attr(dict):                                    # Streamlit's state also reads as attributes
        __getattr__ = dict.get
    assert plots.selected_positions(Attr(selection=Attr(points=[Attr(customdata=[7]), Attr(customdata=3)]))) == [7, 3]
    assert plots.selected_positions(None) == []
    assert plots.selected_positions({"selection": {"points": []}}) == []
    assert plots.selected_positions({}) == []


def test_cluster_names_never_overlap_and_a_moved_name_points_to_its_cluster():
    from core.maps.plots import CHAR_PX, LINE_PX, PLOT_H_PX, PLOT_W_PX, label_spots
    # three clusters whose medians nearly coincide in the middle of the map, one far away
    medians = np.array([[0.0, 0.0], [0.05, 0.02], [-0.04, -0.01], [8.0, 8.0]])
    texts = ["крипта · биткоин · курс", "рецепт · тесто · мука", "матч · гол · команда", "вдали"]
    spots = label_spots(medians, texts, [30, 20, 10, 5], 10.0, 10.0)
    cw, lh = 10.0 * CHAR_PX / PLOT_W_PX, 10.0 * LINE_PX / PLOT_H_PX
    boxes = [(x, y, len(t) * cw / 2 + cw) for (x, y), t in zip(spots, texts)]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            (xi, yi, hi), (xj, yj, hj) = boxes[i], boxes[j]
            assert abs(xi - xj) >= hi + hj or abs(yi - yj) >= lh - 1e-9, (texts[i], texts[j])
    assert spots[0] == (0.0, 0.0) and spots[3] == (8.0, 8.0)       # the biggest and the lonely stay put
    xy = np.vstack([np.repeat(medians[:3], 10, axis=0), [[8.0, 8.0]], [[10.0, 10.0]], [[-2.0, -2.0]]])
    frame = pd.DataFrame({"id": [f"c{i}" for i in range(len(xy))], "category": ["x"] * len(xy)})
    labels = np.array([0] * 10 + [1] * 10 + [2] * 10 + [3, 3, 3])
    fig = plots.map_figure(xy, frame, color_by="category", cluster_labels=labels,
                           cluster_names=dict(enumerate(texts))).to_dict()
    moved = [a for a in fig["layout"]["annotations"] if a["showarrow"]]
    assert moved and all(a["axref"] == "x" and (a["ax"], a["ay"]) != (a["x"], a["y"]) for a in moved)
