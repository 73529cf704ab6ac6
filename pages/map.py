"""UMAP maps of channel and post embeddings: colour, clusters, selection, placing a text."""
import numpy as np
import pandas as pd
import streamlit as st

from core import display
from core.maps import density, plots
from core.retrieval.search import search_vector
from pages import _cache, _maps, _spaces
from pages._state import corpus_and_encoder, require_frame, settings

require_frame()
s = settings()
CORPORA = {"channels": "Каналы", "posts": "Посты"}
TABLE_ROWS = 1000   # a selection of a big map can hold 100K records: the table lists the first ones

st.title("Карта")
top = st.columns([1, 2, 1])
# the corpus is in the address (/map?corpus=posts): a link opens that map at once, and a reload keeps it
st.session_state.setdefault("map_corpus", st.query_params.get("corpus") if st.query_params.get("corpus") in CORPORA
                            else "channels")
corpus_name = top[0].segmented_control("Корпус", list(CORPORA), format_func=CORPORA.get, required=True,
                                       key="map_corpus")
st.query_params["corpus"] = corpus_name
corpus, enc = corpus_and_encoder(corpus_name)
space = None
if corpus.kind == "channels":   # the same channel vectors and post-processing as the Channels page
    spec = _spaces.controls("map")
    space = _spaces.space(s, corpus, enc, spec, _spaces.posts_for(s, corpus_name))
    ci = space.index
else:
    ci = _cache.corpus_index(s, corpus, enc)

colour_options = {"category": "тематика", "cluster": "кластер"}
colour_options.update({"log_subscribers": "подписчики (логарифм)"} if corpus.kind == "channels"
                      else {"channel_title": "канал"})
colour = top[1].segmented_control("Цвет", list(colour_options), format_func=colour_options.get,
                                  default="category", required=True, key="map_colour")
with top[2].popover("Параметры UMAP", icon=":material/tune:"):
    params = {
        "n_neighbors": st.slider("Соседей на точку `n_neighbors`", 5, 100, 15, key="map_n_neighbors",
                                 help="Больше — глобальная структура, меньше — локальные группы."),
        "min_dist": st.slider("Минимальное расстояние `min_dist`", 0.0, 0.99, 0.1, 0.05, key="map_min_dist",
                              format="%.2f", help="Меньше — плотнее группы, больше — точки ровнее по карте."),
        "metric": st.selectbox("Мера близости `metric`", ["cosine", "euclidean"], key="map_metric",
                               format_func={"cosine": "косинусная", "euclidean": "евклидова"}.get),
    }

projection, job = _maps.projection(s, ci, params)
if job is not None:
    st.caption(":material/hourglass_top: Показан быстрый PCA-предпросмотр; UMAP считается в фоне и "
               "заменит его сам. Страницей можно пользоваться.")
    _maps.watch(job)

labels, names = _maps.clusters(s, ci)
cluster_of = np.asarray([names.get(c, f"кластер {c}") for c in range(int(labels.max(initial=-1)) + 1)], dtype=object)
frame = corpus.frame.assign(cluster=cluster_of[labels] if len(labels) else [])
if "subscribers" in frame:
    frame["log_subscribers"] = np.log10(frame["subscribers"].astype(float).clip(lower=1))

placed = st.text_input("Куда ляжет текст?", key="map_place_text",
                       placeholder="например: обзор нового смартфона и его камеры")
query_point, neighbour_positions = None, None
if placed.strip():
    qvec = _cache.passage_vector(enc.id, placed.strip(), _encoder=enc)
    if space is not None:
        qvec = space.place(qvec)
    coords, nbrs = _maps.place(projection, ci, qvec)
    query_point, neighbour_positions = coords[0], nbrs[0]

aggregated = len(frame) > s.map.aggregate_above
if aggregated:   # past ~100K points the browser gets a density image drawn here (core.maps.density)
    fig, grid = _maps.density_view(ci, projection, frame, colour, labels, names, query_point, neighbour_positions)
    st.caption(f"{display.count(len(frame), 'точка', 'точки', 'точек')}: показана плотность (ярче — больше "
               "записей), наведите на область, чтобы увидеть число записей и пример; рамка и лассо выбирают "
               "записи внутри.")
else:
    fig = plots.map_figure(projection.coords, frame, color_by=colour,
                           size_by="subscribers" if "subscribers" in frame else None,
                           cluster_labels=labels, cluster_names=names,
                           query_point=query_point, neighbour_positions=neighbour_positions)
fig.update_layout(dragmode="select")   # dragging selects (box); lasso and zoom are in the toolbar
event = st.plotly_chart(fig, on_select="rerun", selection_mode=("points", "box", "lasso"), key="map_chart",
                        height=640)

picked = (density.selected_rows(projection.coords, event, grid).tolist() if aggregated
          else plots.selected_positions(event))
if not picked:
    st.info("Выделите область рамкой или лассо (или кликните точку) — выбранные записи появятся ниже.")
else:
    shown_rows = picked[:TABLE_ROWS]
    chosen = frame.iloc[shown_rows]
    # readable names, never ids: a channel's title, a post's channel and text
    table = pd.DataFrame({"name": display.record_titles(corpus.kind, chosen).to_numpy()})
    for col in ("category", "subscribers", "cluster"):
        if col in chosen:
            values = chosen[col].to_numpy()
            table[col] = pd.to_numeric(values, errors="coerce") if col == "subscribers" else values
    st.subheader(f"Выбрано: {display.number(len(picked))}")
    if len(picked) > TABLE_ROWS:
        st.caption(f"В таблице первые {display.number(TABLE_ROWS)} из {display.number(len(picked))}.")
    name = "название" if corpus.kind == "channels" else "пост"
    row = st.dataframe(display.styled(table, names={"name": name}), hide_index=True, on_select="rerun",
                       selection_mode="single-row", key="map_table")
    rows = row.selection.rows if row else []
    if rows:
        position = shown_rows[rows[0]]
        st.markdown(f"**Соседи «{display.plain(table['name'].iloc[rows[0]], one_line=True)}»**")
        nbrs = search_vector(ci, ci.vectors[position], 10, exclude=position)
        shown = nbrs[[c for c in ("rank", "score", "category") if c in nbrs]].copy()
        shown.insert(2, "name", display.record_titles(corpus.kind, nbrs).to_numpy())
        st.dataframe(display.styled(shown, names={"name": name}), hide_index=True)

_maps.neighbour_change_view(s, corpus, ci, index_for=None if space is None else (
    lambda enc_b: _spaces.space(s, corpus, enc_b, space.spec, _spaces.posts_for(s, corpus_name)).index))
