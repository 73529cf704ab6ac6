"""Streamlit side of channel spaces (core.retrieval.channels): the representation and post-processing
controls shared by the Channels and Map pages, the cached spaces, the cached quality table."""
from __future__ import annotations

import streamlit as st

from core.config import Settings
from core.corpora.errors import CorpusError
from core.corpora.records import CHANNEL_PARTS, Corpus
from core.evaluation import channel_quality as cq
from core.finetune.data import label_grades
from core.models.encoders import Encoder, l2_normalise
from core.retrieval import postprocess
from core.retrieval.cache import cache_id
from core.retrieval.channels import REPRESENTATION_NAMES, REPRESENTATIONS, ChannelSpace, SpaceSpec, build_space
from pages import _cache

DEFAULT = SpaceSpec()                   # chosen by bench/channels.py: see the quality table
PLACED_POSTS = 3000                     # posts placed for the page's quality table (a seeded sample past it)
REPR_KEY, PP_KEY = "channel_space_repr", "channel_space_pp"   # plain keys: survive a page switch


def controls(prefix: str, columns=None) -> SpaceSpec:
    """Two controls (how a channel is represented, how the space is post-processed); the choice
    is shared by the pages that call this (the Map shows what the Channels page lists)."""
    c1, c2 = columns or st.columns(2)
    rep = c1.segmented_control(
        "Вектор канала", list(REPRESENTATIONS), format_func=REPRESENTATION_NAMES.get, required=True,
        default=st.session_state.get(REPR_KEY, DEFAULT.representation), key=f"{prefix}_repr",
        help="Текст канала — название, описание и закреп; посты канала — среднее векторов его постов "
             "(без рекламных); текст + посты — оба вместе. Канал без постов берётся по тексту.")
    pp = c2.selectbox(
        "Постобработка векторов", list(postprocess.SPECS), format_func=postprocess.spec_name,
        index=list(postprocess.SPECS).index(st.session_state.get(PP_KEY, DEFAULT.postprocess)),
        key=f"{prefix}_pp",
        help="Векторы e5 коротких текстов сбиты в узкий конус: сырой косинус почти не различает каналы. "
             "Преобразование обучается на этом корпусе (тексты каналов и посты) и применяется одинаково "
             "к каналам, постам и вставленному тексту.")
    st.session_state[REPR_KEY], st.session_state[PP_KEY] = rep, pp
    return SpaceSpec(rep, pp)


def posts_for(s: Settings, channels_name: str) -> Corpus | None:
    """The posts corpus that goes with a channels corpus: the bundled posts for the bundled
    channels, else the first posts corpus that names any of these channels; None without one."""
    names = list(_cache.corpora_of_kind(s, "posts"))
    if channels_name == "channels":
        names = ["posts"] + [n for n in names if n != "posts"]
    ids = None
    for name in names:
        try:
            posts = _cache.corpus(s, name)
        except (CorpusError, OSError, KeyError):
            continue
        if channels_name == "channels" and name == "posts":
            return posts
        if ids is None:
            ids = set(_cache.corpus(s, channels_name).frame["id"])
        if posts.frame["channel_id"].isin(ids).any():
            return posts
    return None


@st.cache_resource(show_spinner="Собираем векторы каналов…", max_entries=32)
def _space(cache_dir: str, model_id: str, channels_hash: str, posts_hash: str, spec: SpaceSpec,
           _channels, _text_vectors, _posts, _post_vectors) -> ChannelSpace:
    return build_space(spec, model_id, _channels, _text_vectors, _posts, _post_vectors, cache_dir)


def space(s: Settings, channels: Corpus, enc: Encoder, spec: SpaceSpec, posts: Corpus | None) -> ChannelSpace:
    """The channel space for this corpus, model and spec, built once and shared (read-only)."""
    text_ci = _cache.corpus_index(s, channels, enc)
    post_ci = _cache.corpus_index(s, posts, enc) if posts is not None else None
    return _space(str(s.cache_dir), cache_id(enc), channels.content_hash,
                  posts.content_hash if posts is not None else "-", spec, _channels=channels,
                  _text_vectors=text_ci.vectors, _posts=posts,
                  _post_vectors=post_ci.vectors if post_ci is not None else None)


def _grades(s: Settings, corpus_name: str):
    version = _cache.labels_version(s)
    return label_grades(_cache.labels(s, version).frame, corpus_name), version


@st.cache_resource(show_spinner="Измеряем качество соседей…", max_entries=8)
def _quality(cache_dir: str, model: str, channels_name: str, channels_hash: str, posts_hash: str, labels: str,
             _s, _channels, _enc, _posts, _grades):
    truth = cq.lookalike_truth(_channels.frame, _grades)

    def encode(texts):
        return l2_normalise(_enc.encode(texts, "passage"))

    specs = [SpaceSpec(r, p) for r in REPRESENTATIONS for p in postprocess.SPECS]
    first = space(_s, _channels, _enc, specs[0], _posts)
    # the posts to place do not depend on the spec; past PLACED_POSTS a seeded sample keeps it quick
    placement = cq.placement_queries(first, _posts, _grades, encode, limit=PLACED_POSTS)
    rows = cq.grid(specs, lambda sp: space(_s, _channels, _enc, sp, _posts), truth, lambda sp: placement, model)
    rows += cq.baseline_rows(first, truth, placement)
    return cq.table(rows), truth


def quality(s: Settings, channels_name: str, channels: Corpus, enc: Encoder, model: str, posts: Corpus | None):
    """(table, truth) for every representation × post-processing under the current model."""
    grades, version = _grades(s, "channels")
    return _quality(str(s.cache_dir), model, channels_name, channels.content_hash,
                    posts.content_hash if posts is not None else "-", version, _s=s, _channels=channels,
                    _enc=enc, _posts=posts, _grades=grades)


def channel_corpus(s: Settings, name: str, parts=CHANNEL_PARTS) -> Corpus:
    return _cache.corpus(s, name, tuple(parts))
