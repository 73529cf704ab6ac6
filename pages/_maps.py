"""Streamlit side of the Map page: UMAP in a background job with a PCA preview meanwhile,
clusters and their names cached per (model, corpus content)."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from core import display
from core.config import Settings
from core.jobs.runner import Job, JobRegistry
from core.maps import density
from core.maps import projection as proj
from core.maps.clusters import cached_clusters
from core.retrieval.search import CorpusIndex


@st.cache_resource(show_spinner=False)
def _jobs() -> JobRegistry:
    return JobRegistry()


def _compute(cache_dir, model_id, corpus_hash, vectors, params, progress, should_stop):
    return proj.cached_projection(cache_dir, model_id, corpus_hash, vectors, params, progress=progress,
                                  should_stop=should_stop)


def projection(s: Settings, ci: CorpusIndex, params: dict) -> tuple[proj.Projection, Job | None]:
    """The UMAP map if it is on disk; otherwise a PCA preview plus the job computing UMAP.
    Past s.map.sample rows UMAP is fitted on a sample and the rest placed (its own cache entry)."""
    params = proj.map_params(params, len(ci.vectors), s.map.sample)
    done = proj.load_cached_projection(s.cache_dir, ci.model_id, ci.corpus.content_hash, params)
    if done is not None:
        return done, None
    key = (str(s.cache_dir), ci.model_id, ci.corpus.content_hash, tuple(sorted(params.items())))
    job = _jobs().start(key, _compute, s.cache_dir, ci.model_id, ci.corpus.content_hash, ci.vectors, params)
    if job.done and job.error is None and job.result is not None:
        return job.result, None
    if job.done and job.error is not None:
        st.error(f"UMAP не посчитался ({display.plain(job.error)}); показан PCA. Попробуйте другие параметры.")
        return _pca(ci.model_id, ci.corpus.content_hash, _vectors=ci.vectors), None
    return _pca(ci.model_id, ci.corpus.content_hash, _vectors=ci.vectors), job


@st.cache_resource(show_spinner=False, max_entries=8)
def _pca(model_id: str, corpus_hash: str, _vectors):
    return proj.pca_preview(_vectors)


@st.fragment(run_every=1.0)
def watch(job: Job) -> None:
    """Progress of the UMAP job; when it finishes, rerun the page to draw the real map."""
    if job.done:
        st.rerun(scope="app")
    st.progress(job.fraction, text="UMAP считается в фоне…")


@st.cache_resource(show_spinner="Ищем кластеры…", max_entries=8)
def _clusters(cache_dir: str, model_id: str, corpus_hash: str, sample: int, _vectors, _texts):
    return cached_clusters(cache_dir, model_id, corpus_hash, _vectors, _texts, sample)


def clusters(s: Settings, ci: CorpusIndex):
    """Cluster labels and names, from the disk cache (`python -m core map` writes it) or computed."""
    return _clusters(str(s.cache_dir), ci.model_id, ci.corpus.content_hash, s.map.sample, _vectors=ci.vectors,
                     _texts=ci.corpus.texts)


@st.cache_resource(show_spinner="Рисуем карту плотности…", max_entries=4)
def _density(model_id: str, corpus_hash: str, params_key: str, colour: str, _coords, _frame, _kind, _labels, _names):
    return density.density_figure(_coords, _frame, _kind, color_by=colour, cluster_labels=_labels,
                                  cluster_names=_names)


def density_view(ci: CorpusIndex, projection_: proj.Projection, frame, colour: str, labels, names,
                 query_point=None, neighbour_positions=None):
    """(figure, grid) of the aggregated map; without a placed text the figure is built once per
    (map, colour) and shared (read-only), with one it is built for this run."""
    if query_point is None:
        fig, grid = _density(ci.model_id, ci.corpus.content_hash, repr(sorted(projection_.params.items())), colour,
                        _coords=projection_.coords, _frame=frame, _kind=ci.corpus.kind, _labels=labels, _names=names)
        return go.Figure(fig), grid   # a copy: the cached one is shared and must not change
    return density.density_figure(projection_.coords, frame, ci.corpus.kind, color_by=colour, cluster_labels=labels,
                                  cluster_names=names, query_point=query_point,
                                  neighbour_positions=neighbour_positions)


def place(projection_: proj.Projection, ci: CorpusIndex, qvec):
    # past 100K rows through the corpus's index (exact or ANN): a numpy product would first turn
    # a float16 store of 1M x 384 into 1.5 GB of float32, for one text
    corpus = ci.index if len(ci.vectors) > 100_000 else ci.vectors
    return proj.place(projection_, corpus, qvec.reshape(1, -1))


def neighbour_change_view(s: Settings, corpus, ci: CorpusIndex, index_for=None) -> None:
    """Per record: how much its top-k neighbours change under another model. `index_for(encoder)`
    builds the other model's index the way `ci` was built (channels: the same channel space)."""
    from pages import _cache
    from pages._state import MODEL_KEY
    default, specs = _cache.models(s)
    others = [sp.name for sp in specs if sp.name != st.session_state[MODEL_KEY]]
    with st.expander("Как меняются соседи при смене модели", icon=":material/swap_horiz:"):
        other = st.selectbox("Вторая модель", ["—"] + others, key="map_other_model")
        if other == "—":
            st.caption("Выберите вторую модель (например, дообученную), чтобы увидеть, у каких записей "
                       "сильнее всего поменялись ближайшие соседи.")
            return
        try:
            enc_b = _cache.current_encoder(s, other)
        except Exception as exc:   # the message of EncoderLoadError says how to fix it
            st.error(display.plain(exc))
            return
        ci_b = index_for(enc_b) if index_for else _cache.corpus_index(s, corpus, enc_b)
        table = _neighbour_change(ci.model_id, ci_b.model_id, corpus.content_hash,
                                  _a=ci.vectors, _b=ci_b.vectors)
        if ci_b.model_id == ci.model_id:
            st.info("У этой модели те же векторы документов (например, адаптер меняет только запросы): "
                    "соседи документов не меняются.")
        names = display.record_titles(corpus.kind, corpus.frame).rename("name")
        shown = table.join(names, on="position").drop(columns=["position"])
        shown = shown[["name"] + [c for c in shown.columns if c != "name"]]
        for col in ("only_a", "only_b"):   # neighbour positions -> their names
            shown[col] = shown[col].map(lambda ps: ", ".join(names.iloc[p] for p in ps[:3]) + (" …" if len(ps) > 3 else ""))
        st.dataframe(display.styled(shown, names={"name": "запись", "only_b": f"только у «{other}»"},
                                    formats={"overlap": display.percent}), hide_index=True)


@st.cache_resource(show_spinner="Сравниваем соседей…", max_entries=8)
def _neighbour_change(model_a: str, model_b: str, corpus_hash: str, _a, _b):
    return proj.neighbour_change(_a, _b, k=10)
