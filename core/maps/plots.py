"""Plotly figures for the map page: coordinates + table in, Figure out. No Streamlit here.

    map_figure(coords, frame, color_by, ...) -> go.Figure
    selected_positions(selection_state) -> [row positions]

Every corpus point carries its row position in `customdata` ([position] per point), so a box,
lasso or click selection maps back to rows whatever trace the point is in. Points are drawn
with WebGL (Scattergl) and built from whole arrays, so 22K points cost a few tens of ms; the few
overlay marks (the typed text, its neighbour lines) are ordinary SVG traces on top and carry no
customdata, so selecting them selects no rows.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from core import display

TITLE_COLUMNS = ("title", "channel_title", "header", "id")
SNIPPET_COLUMNS = ("about", "raw_text", "text", "meaning", "pinned_text")
HOVER_COLUMNS = ("channel_title", "category", "subscribers", "cluster")
SNIPPET_CHARS = 120
MAX_CATEGORIES = 30           # more distinct values than this: the smallest go to "другие"
OTHER = "другие"
MISSING = "—"
SIZE_RANGE = (4.0, 22.0)      # marker px for the smallest and the largest (99th percentile) value
CONTINUOUS_SCALE = "Viridis"
QUERY_COLOUR = "#d62728"


def _column_or_none(frame: pd.DataFrame, candidates: Sequence[str]) -> str | None:
    return next((c for c in candidates if c in frame.columns), None)


def plotly_text(text) -> str:
    """One user text (a model, column or corpus name) for a plotly title, legend or axis, which
    are HTML-ish: shown as written, never opening a tag."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape(values: pd.Series) -> pd.Series:
    """Plotly hover labels are HTML-ish: user text must not open tags (plotly_text, a column at once)."""
    return (values.str.replace("&", "&amp;", regex=False).str.replace("<", "&lt;", regex=False)
            .str.replace(">", "&gt;", regex=False))


def _as_text(values: pd.Series) -> pd.Series:
    """Cells as hover text; numbers (CSV columns load as text) in the app's Russian format."""
    numbers = pd.to_numeric(values, errors="coerce")
    if len(values) and numbers.notna().all():
        if (numbers == numbers.round()).all():
            return numbers.map(display.number)
        return numbers.map(lambda v: display.decimal(v, 2))
    if pd.api.types.is_float_dtype(values):
        return values.map(lambda v: MISSING if pd.isna(v) else display.decimal(v, 2))
    return values.astype(object).where(values.notna(), "").astype(str)


def hover_texts(frame: pd.DataFrame, hover_cols: Sequence[str] = HOVER_COLUMNS) -> list[str]:
    """One hover label per row: bold title, "column: value" lines, the first ~120 characters
    of the about/post text. Vectorised over the frame (no per-row Python)."""
    n = len(frame)
    if n == 0:
        return []
    title_col = _column_or_none(frame, TITLE_COLUMNS)
    snippet_col = _column_or_none(frame, SNIPPET_COLUMNS)
    out = pd.Series([""] * n, index=frame.index, dtype=object)
    if title_col:
        out = "<b>" + _escape(_as_text(frame[title_col]).str.slice(0, 80)) + "</b>"
    for col in hover_cols:
        if col in frame.columns and col != title_col:
            out = out + f"<br>{display.header(col)}: " + _escape(_as_text(frame[col]).str.slice(0, 60))
    if snippet_col:
        raw = _as_text(frame[snippet_col]).str.slice(0, 4 * SNIPPET_CHARS)
        flat = raw.str.replace(r"\s+", " ", regex=True).str.strip()
        cut = flat.str.slice(0, SNIPPET_CHARS) + np.where(flat.str.len() > SNIPPET_CHARS, "…", "")
        out = out + "<br>" + _escape(cut)
    return out.tolist()


def _is_continuous(values: pd.Series) -> bool:
    """Numeric dtypes are continuous; text that is all numbers is too when it has too many
    distinct values to be a legend (CSV columns load as text)."""
    if pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    numbers = pd.to_numeric(values, errors="coerce")
    return bool(numbers.notna().all() and values.nunique() > MAX_CATEGORIES)


def marker_sizes(values: pd.Series | np.ndarray | None, n: int) -> np.ndarray | float:
    """sqrt-scaled marker sizes (area ~ value), the top 1% clipped so one giant channel does
    not shrink the rest; without values a size that suits the number of points."""
    if values is None:
        return 8.0 if n <= 1000 else 5.0 if n <= 10_000 else 3.5
    v = pd.to_numeric(pd.Series(np.asarray(values)), errors="coerce").fillna(0).clip(lower=0).to_numpy(float)
    root = np.sqrt(v)
    top = np.quantile(root, 0.99) if len(root) else 0.0
    scaled = np.clip(root / top, 0, 1) if top > 0 else np.zeros_like(root)
    low, high = SIZE_RANGE
    return (low + (high - low) * scaled).astype(np.float32)


def _palette(k: int) -> list[str]:
    base = qualitative.Plotly if k <= 10 else qualitative.Dark24 if k <= 24 else qualitative.Alphabet
    return [base[i % len(base)] for i in range(k)]


def _categories(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(code per row, category names by size), the tail beyond MAX_CATEGORIES lumped."""
    # distinct values are formatted once (a 1M-row column has a few dozen), rows keep a code
    raw_codes, uniques = pd.factorize(pd.Series(values).reset_index(drop=True), use_na_sentinel=True)
    has_na = bool((raw_codes < 0).any())
    uniq = pd.Series(list(uniques) + ([None] if has_na else []), dtype=object)
    if len(uniques) and not has_na:
        uniq = pd.Series(uniques)
    names_of = _as_text(uniq).replace("", MISSING).tolist()
    if has_na:
        raw_codes = np.where(raw_codes < 0, len(uniques), raw_codes)
    counts_of = np.bincount(raw_codes, minlength=len(names_of)) if len(raw_codes) else np.zeros(0, np.int64)
    counts: dict[str, int] = {}
    for name, c in zip(names_of, counts_of):
        counts[name] = counts.get(name, 0) + int(c)
    order = sorted(counts, key=lambda c: (-counts[c], c))
    if len(order) > MAX_CATEGORIES:
        order = order[:MAX_CATEGORIES - 1] + [OTHER]
    code_of = {name: i for i, name in enumerate(order)}
    other = code_of.get(OTHER, -1)
    lut = np.array([code_of.get(name, other) for name in names_of], np.int64)
    return (lut[raw_codes] if len(raw_codes) else np.zeros(0, np.int64)), order


# A name's box in data units, from a ~1100 x 600 px plot and 12 px text (about 7 px a character).
CHAR_PX, LINE_PX, PLOT_W_PX, PLOT_H_PX = 7.0, 20.0, 1100.0, 600.0


def label_spots(medians: np.ndarray, texts: Sequence[str], sizes: Sequence[int], x_span: float,
                y_span: float) -> list[tuple[float, float]]:
    """Where each cluster name goes so that no two boxes overlap: the biggest clusters keep
    their median; a name that would cover an earlier one moves up or down in line steps (the
    nearest free spot), and the figure then draws an arrow from it to the median."""
    cw, lh = x_span * CHAR_PX / PLOT_W_PX, y_span * LINE_PX / PLOT_H_PX
    placed: list[tuple[float, float, float]] = []         # (x, y, half width)
    spots: list[tuple[float, float]] = [(0.0, 0.0)] * len(texts)
    for i in sorted(range(len(texts)), key=lambda j: -sizes[j]):
        x, y = float(medians[i][0]), float(medians[i][1])
        half = len(texts[i]) * cw / 2 + cw

        def free(yy: float) -> bool:
            return all(abs(x - px) >= half + ph or abs(yy - py) >= lh for px, py, ph in placed)
        for step in range(0, 60):
            yy = y + (step + 1) // 2 * lh * (1 if step % 2 else -1) if step else y
            if free(yy):
                break
        placed.append((x, yy, half))
        spots[i] = (x, yy)
    return spots


def checked_coords(coords: np.ndarray, frame: pd.DataFrame, color_by: str | None) -> np.ndarray:
    """coords as float32 (n, 2), aligned with the table, and a colour column that exists."""
    xy = np.asarray(coords, dtype=np.float32)
    if xy.shape != (len(frame), 2):
        raise ValueError(f"coords must be ({len(frame)}, 2) to match the table; got {xy.shape}")
    if color_by is not None and color_by not in frame.columns:
        raise KeyError(f"no column {color_by!r} to colour by; the table has {', '.join(map(str, frame.columns))}")
    return xy


def map_figure(coords: np.ndarray, frame: pd.DataFrame, color_by: str | None = None,
               size_by: str | None = None, hover_cols: Sequence[str] = HOVER_COLUMNS,
               cluster_labels: np.ndarray | None = None, cluster_names: Mapping | None = None,
               highlight: Iterable[int] | None = None, query_point: Sequence[float] | None = None,
               neighbour_positions: Sequence[int] | None = None, query_label: str = "ваш текст") -> go.Figure:
    """Scatter map of a corpus.

    coords (n, 2) and frame (n rows) are aligned by row position. color_by: a categorical
    column (one trace and legend entry per value, biggest first) or a numeric one (one trace,
    continuous colour scale); size_by: a numeric column, sqrt-scaled; cluster_labels +
    cluster_names: a text label at each cluster's median position; highlight: row positions to
    ring; query_point (2,) + neighbour_positions: a star with lines to those rows."""
    xy = checked_coords(coords, frame, color_by)
    n = len(frame)
    if size_by is not None and size_by not in frame.columns:
        raise KeyError(f"no column {size_by!r} to size by")
    positions = np.arange(n, dtype=np.int64)
    categorical = color_by is not None and not _is_continuous(frame[color_by])
    # a categorical colour's value is the trace name, shown beside each hover label
    # (<extra>), so it is not repeated in 22K per-point strings
    hover = np.array(hover_texts(frame, [c for c in hover_cols if not (categorical and c == color_by)]),
                     dtype=object)
    sizes = marker_sizes(frame[size_by] if size_by else None, n)
    opacity = 0.85 if n <= 2000 else 0.6
    fig = go.Figure()

    def scatter(rows: np.ndarray, name: str, marker: dict, showlegend: bool = True) -> go.Scattergl:
        size = sizes[rows] if isinstance(sizes, np.ndarray) else sizes
        return go.Scattergl(
            x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=name, showlegend=showlegend,
            customdata=positions[rows][:, None], text=hover[rows].tolist(),
            hovertemplate="%{text}<extra>%{fullData.name}</extra>" if categorical else "%{text}<extra></extra>",
            marker={"size": size, "opacity": opacity, "line": {"width": 0}, **marker})

    if color_by is None:
        fig.add_trace(scatter(positions, "все", {"color": qualitative.Plotly[0]}, showlegend=False))
    elif not categorical:
        values = pd.to_numeric(frame[color_by], errors="coerce").to_numpy(float)
        known = ~np.isnan(values)
        fig.add_trace(scatter(positions[known], display.header(color_by), {
            "color": values[known], "colorscale": CONTINUOUS_SCALE, "showscale": True,
            "colorbar": {"title": {"text": display.header(color_by)}, "thickness": 12}}, showlegend=False))
        if (~known).any():
            fig.add_trace(scatter(positions[~known], "нет значения", {"color": "#bbbbbb"}))
    else:
        codes, names = _categories(frame[color_by])
        for code, (name, colour) in enumerate(zip(names, _palette(len(names)))):
            rows = np.flatnonzero(codes == code)
            if len(rows):   # the legend is HTML-ish too: a category is data
                fig.add_trace(scatter(rows, _escape(pd.Series([name])).iloc[0], {"color": colour}))

    if highlight is not None:
        rows = np.unique(np.asarray(list(highlight), dtype=np.int64))
        rows = rows[(rows >= 0) & (rows < n)]
        if len(rows):
            base = sizes[rows] if isinstance(sizes, np.ndarray) else np.full(len(rows), sizes)
            fig.add_trace(go.Scatter(
                x=xy[rows, 0], y=xy[rows, 1], mode="markers", name="выделено", hoverinfo="skip",
                marker={"symbol": "circle-open", "size": base + 6, "color": "#111111", "line": {"width": 2}}))

    if query_point is not None:
        nbrs = _valid_rows(neighbour_positions, n)
        add_query_overlay(fig, xy, query_point, nbrs, hover[nbrs].tolist(), query_label)

    annotations = [] if cluster_labels is None else cluster_annotations(xy, cluster_labels, cluster_names)

    fig.update_layout(
        template="plotly_white", annotations=annotations, hovermode="closest",
        margin={"l": 10, "r": 10, "t": 30, "b": 10}, uirevision="vecscope-map",
        legend={"title": {"text": display.header(color_by) if color_by else ""}, "itemsizing": "constant"},
        hoverlabel={"align": "left"},
        xaxis={"showgrid": False, "zeroline": False, "showticklabels": False, "title": None},
        yaxis={"showgrid": False, "zeroline": False, "showticklabels": False, "title": None},
    )
    return fig


def _valid_rows(positions: Sequence[int] | None, n: int) -> np.ndarray:
    rows = np.asarray([] if positions is None else list(positions), dtype=np.int64)
    return rows[(rows >= 0) & (rows < n)]


def add_query_overlay(fig: go.Figure, xy: np.ndarray, query_point: Sequence[float], nbrs: np.ndarray,
                      nbr_hover: Sequence[str], query_label: str = "ваш текст") -> None:
    """A star at the placed text with lines to its nearest rows (SVG traces, no customdata:
    selecting them selects no rows)."""
    qx, qy = (float(v) for v in np.asarray(query_point, dtype=float).reshape(2))
    if len(nbrs):
        seg_x = np.column_stack([np.full(len(nbrs), qx), xy[nbrs, 0], np.full(len(nbrs), np.nan)]).ravel()
        seg_y = np.column_stack([np.full(len(nbrs), qy), xy[nbrs, 1], np.full(len(nbrs), np.nan)]).ravel()
        fig.add_trace(go.Scatter(x=seg_x, y=seg_y, mode="lines", name="ближайшие", hoverinfo="skip",
                                 line={"color": QUERY_COLOUR, "width": 1.2}, opacity=0.6))
        fig.add_trace(go.Scatter(
            x=xy[nbrs, 0], y=xy[nbrs, 1], mode="markers", name="ближайшие", showlegend=False,
            text=list(nbr_hover), hoverinfo="text",
            marker={"symbol": "circle-open", "size": 12, "color": QUERY_COLOUR, "line": {"width": 2}}))
    fig.add_trace(go.Scatter(
        x=[qx], y=[qy], mode="markers", name=query_label, hovertext=[query_label], hoverinfo="text",
        marker={"symbol": "star", "size": 20, "color": QUERY_COLOUR, "line": {"width": 1, "color": "#111111"}}))


MEDIAN_POINTS = 200_000   # cluster name positions are medians over at most this many (evenly strided) rows


def cluster_annotations(xy: np.ndarray, cluster_labels: np.ndarray, cluster_names: Mapping | None) -> list[dict]:
    """Plotly annotations: each cluster's name at its median position, moved off other names
    (label_spots) with an arrow back to the median when it had to move."""
    labels = np.asarray(cluster_labels)
    n = len(xy)
    if len(labels) != n:
        raise ValueError(f"{len(labels)} cluster labels for {n} points")
    step = max(1, n // MEDIAN_POINTS)
    sub_xy, sub_labels = xy[::step], labels[::step]
    names = dict(cluster_names or {})
    labs = [lab for lab in np.unique(sub_labels) if lab >= 0]        # noise has no place to put a name
    medians = np.array([np.median(sub_xy[sub_labels == lab], axis=0) for lab in labs]).reshape(-1, 2)
    texts = [str(names.get(int(lab), names.get(str(lab), f"кластер {lab}"))) for lab in labs]
    sizes = [int((sub_labels == lab).sum()) for lab in labs]
    spots = label_spots(medians, texts, sizes, np.ptp(sub_xy[:, 0]) or 1.0, np.ptp(sub_xy[:, 1]) or 1.0)
    annotations = []
    for (mx, my), (lx, ly), text in zip(medians, spots, texts):
        moved = (lx, ly) != (mx, my)
        annotations.append({
            "x": float(mx), "y": float(my), "text": text, "font": {"size": 12, "color": "#222222"},
            "bgcolor": "rgba(255,255,255,0.7)", "borderpad": 2, "showarrow": moved,
            **({"ax": float(lx), "ay": float(ly), "axref": "x", "ayref": "y", "arrowwidth": 1,
                "arrowcolor": "#888888"} if moved else {})})
    return annotations


def selected_positions(selection_state) -> list[int]:
    """Row positions of the points in a Streamlit plotly selection, in selection order, each once.

    Accepts what `st.plotly_chart(..., on_select="rerun")` returns (attribute or key access:
    {"selection": {"points": [{"customdata": [pos], ...}], "point_indices": [...]}}) or None.
    Positions come from customdata only: point indices are per trace and would point at the
    wrong rows once the map has one trace per category. Overlay points (no customdata) are skipped."""
    if not selection_state:
        return []
    selection = _get(selection_state, "selection")
    points = _get(selection, "points") if selection is not None else None
    out: list[int] = []
    seen: set[int] = set()
    for point in points or []:
        data = _get(point, "customdata")
        if isinstance(data, dict):   # the browser sends a typed-array row as {"0": value}
            data = data.get("0", next(iter(data.values()), None))
        if isinstance(data, (list, tuple, np.ndarray)):
            data = data[0] if len(data) else None
        if data is None:
            continue
        try:
            position = int(data)
        except (TypeError, ValueError):
            continue
        if position >= 0 and position not in seen:
            seen.add(position)
            out.append(position)
    return out


def _get(obj, key: str):
    if obj is None:
        return None
    try:
        return obj[key]
    except (KeyError, TypeError, IndexError):
        return getattr(obj, key, None)
