"""Channel vectors the user can switch between, and the space they are compared in.

A channel is represented by
    text    the embedding of its composed text (title / about / pinned post), as before;
    posts   the mean of its posts' vectors (ad posts left out: they are the advertiser's words,
            not the channel's; optionally recent posts weigh more);
    mix     both, normalised and averaged with `text_weight` on the text.
A channel without posts falls back to its text vector in `posts` and `mix` (real corpora have
such channels); a channel's text is whatever parts it has (see core.corpora.records.channel_text).

The space then post-processes the channel vectors with a transform fitted on the corpus (core.
postprocess), and every vector placed against the channels (a post, a pasted ad) goes through
the same transform. `ChannelSpace.key` names all of it (model, texts, posts, representation,
transform) and keys everything derived: the faiss index, the map, the score scale.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from core.corpora.records import Corpus
from core.retrieval import postprocess
from core.retrieval.index import FlatIndex
from core.retrieval.score_scale import PairScale
from core.retrieval.search import CorpusIndex, filter_positions, search_vector

REPRESENTATIONS = ("text", "posts", "mix")
REPRESENTATION_NAMES = {"text": "текст канала", "posts": "посты канала", "mix": "текст + посты"}
TEXT_WEIGHT = 0.3          # of the text in "mix" (bench/channels.py measures 0.2-0.5)


@dataclass(frozen=True)
class SpaceSpec:
    """How channel vectors are built and post-processed."""
    representation: str = "mix"
    postprocess: str = "centre"
    text_weight: float = TEXT_WEIGHT
    half_life_days: float | None = None     # None: every post weighs the same
    skip_ads: bool = True                   # leave posts marked is_ad == 1 out of the mean

    def __post_init__(self) -> None:
        if self.representation not in REPRESENTATIONS:
            raise ValueError(f"неизвестное представление канала {self.representation!r}; есть: "
                             f"{', '.join(REPRESENTATIONS)}")
        postprocess.parse_spec(self.postprocess)
        if not 0.0 <= self.text_weight <= 1.0:
            raise ValueError(f"вес текста должен быть от 0 до 1, а не {self.text_weight}")

    @property
    def uses_posts(self) -> bool:
        return self.representation != "text"

    @property
    def label(self) -> str:
        """"текст + посты · центрирование" for tables and captions."""
        rep = REPRESENTATION_NAMES[self.representation]
        if self.representation == "mix" and self.text_weight != TEXT_WEIGHT:
            rep += f" ({round(100 * self.text_weight)} % текста)"
        if self.uses_posts and self.half_life_days:
            rep += f", полураспад {self.half_life_days:g} дн."
        if self.uses_posts and not self.skip_ads:
            rep += ", с рекламой"
        return f"{rep} · {postprocess.spec_name(self.postprocess)}"


def _normalised(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


def post_weights(posts: pd.DataFrame, half_life_days: float | None = None, skip_ads: bool = True) -> np.ndarray:
    """Weight of each post in its channel's mean: 0 for ads (when skip_ads and the column
    exists), 0.5 ** (days before the channel's newest post / half-life) with a half-life,
    else 1. A post without a readable date weighs as much as its channel's newest post."""
    w = np.ones(len(posts), np.float64)
    if skip_ads and "is_ad" in posts:
        w[posts["is_ad"].astype(str).str.strip().isin(["1", "true", "True"]).to_numpy()] = 0.0
    if half_life_days and "published_at" in posts:
        ts = pd.to_datetime(posts["published_at"], errors="coerce", utc=True, format="ISO8601")
        newest = ts.groupby(posts["channel_id"].to_numpy()).transform("max")
        age = ((newest - ts).dt.total_seconds() / 86400.0).fillna(0.0).clip(lower=0.0).to_numpy()
        w *= 0.5 ** (age / float(half_life_days))
    return w


@dataclass(frozen=True)
class PostSums:
    """Per channel: the weighted sum of its post vectors, the sum of weights, the post count."""
    sums: np.ndarray          # (n_channels, d) float64
    weight: np.ndarray        # (n_channels,)
    count: np.ndarray         # (n_channels,) int: posts with weight > 0
    post_channel: np.ndarray  # (n_posts,) channel position of each post, -1 if unknown
    post_weight: np.ndarray   # (n_posts,)


def post_sums(channel_ids, posts: pd.DataFrame, post_vectors: np.ndarray, weights: np.ndarray) -> PostSums:
    where = {c: i for i, c in enumerate(channel_ids)}
    pos = np.array([where.get(c, -1) for c in posts["channel_id"]], dtype=np.int64)
    n, d = len(where), post_vectors.shape[1]
    known = (pos >= 0) & (weights > 0)
    sums = np.zeros((n, d), np.float64)
    np.add.at(sums, pos[known], post_vectors[known].astype(np.float64) * weights[known, None])
    weight = np.bincount(pos[known], weights=weights[known], minlength=n)
    count = np.bincount(pos[known], minlength=n)
    return PostSums(sums, weight, count, pos, np.where(pos >= 0, weights, 0.0))


def combine(text_vectors: np.ndarray, sums: np.ndarray | None, weight: np.ndarray | None,
            representation: str, text_weight: float = TEXT_WEIGHT) -> np.ndarray:
    """Raw channel vectors (n, d), L2-normalised. Channels without posts get their text vector."""
    text = _normalised(np.asarray(text_vectors, np.float32))
    if representation == "text" or sums is None:
        return text
    has = (weight > 0)[:, None]
    mean = np.where(has, _normalised(sums / np.maximum(weight, 1e-12)[:, None]), text)
    if representation == "posts":
        return mean.astype(np.float32)
    return _normalised(np.where(has, text_weight * text + (1 - text_weight) * mean, text))


@dataclass(frozen=True)
class ChannelSpace:
    spec: SpaceSpec
    key: str
    channels: Corpus
    vectors: np.ndarray                  # (n, d) post-processed, normalised, read-only
    transform: postprocess.PostProcess
    text_vectors: np.ndarray             # raw text vectors (for held-out rebuilding)
    sums: PostSums | None
    index: CorpusIndex = field(repr=False)
    post_vectors: np.ndarray | None = field(default=None, repr=False)   # raw, of the posts corpus

    @cached_property
    def placement_scale(self) -> PairScale:
        """Where a post → channel score stands among all (corpus post, channel) pairs."""
        if self.post_vectors is None:
            return self.scale
        return PairScale.between(self.place(self.post_vectors), self.vectors)

    @cached_property
    def scale(self) -> PairScale:
        """Where a channel → channel score stands among all channel pairs of this space."""
        return PairScale.among(self.vectors)

    def place(self, vectors: np.ndarray) -> np.ndarray:
        """A raw vector (a post, a pasted ad) in this space: the same transform as the channels."""
        return self.transform.apply(vectors)

    @property
    def n_posts(self) -> np.ndarray:
        return self.sums.count if self.sums is not None else np.zeros(len(self.channels), np.int64)

    def without_post(self, post_positions: np.ndarray) -> np.ndarray:
        """(m, d): for each given post (positions in the posts corpus the space was built with),
        its own channel's vector rebuilt without that post (leave-one-out), post-processed.
        Posts of unknown channels get the zero vector."""
        post_positions = np.asarray(post_positions, np.int64)
        out = np.zeros((len(post_positions), self.vectors.shape[1]), np.float32)
        if self.sums is None:
            return out
        post_vectors = self.post_vectors[post_positions]
        owner = self.sums.post_channel[post_positions]
        ok = owner >= 0
        if not self.spec.uses_posts:
            out[ok] = self.vectors[owner[ok]]
            return out
        w = self.sums.post_weight[post_positions][ok]
        sums = self.sums.sums[owner[ok]] - w[:, None] * np.asarray(post_vectors, np.float64)[ok]
        weight = self.sums.weight[owner[ok]] - w
        weight = np.where(weight > 1e-9, weight, 0.0)
        raw = combine(self.text_vectors[owner[ok]], sums, weight, self.spec.representation, self.spec.text_weight)
        out[ok] = self.transform.apply(raw)
        return out


def space_key(model_id: str, channels: Corpus, posts: Corpus | None, spec: SpaceSpec) -> str:
    blob = "\0".join([model_id, channels.content_hash, posts.content_hash if posts is not None else "-",
                      repr(spec)])
    return f"{model_id}#channels-{spec.representation}-{spec.postprocess}-" \
           f"{hashlib.sha256(blob.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


def build_space(spec: SpaceSpec, model_id: str, channels: Corpus, text_vectors: np.ndarray,
                posts: Corpus | None = None, post_vectors: np.ndarray | None = None,
                cache_dir: str | Path | None = None) -> ChannelSpace:
    """Channel vectors under `spec`, post-processed with a transform fitted on the channel
    texts and the posts, weighted equally (whatever the representation, so a post and a
    channel land in one space). The transform is cached on disk under cache_dir when given."""
    sums = None
    fit_parts = [np.asarray(text_vectors)]
    fit_content = channels.content_hash
    if posts is not None and post_vectors is not None and len(posts):
        weights = post_weights(posts.frame, spec.half_life_days, spec.skip_ads)
        sums = post_sums(channels.frame["id"], posts.frame, np.asarray(post_vectors), weights)
        fit_parts.append(np.asarray(post_vectors))
        fit_content += posts.content_hash
    raw = combine(text_vectors, sums.sums if sums and spec.uses_posts else None,
                  sums.weight if sums and spec.uses_posts else None, spec.representation, spec.text_weight)
    key = postprocess.transform_key(model_id, fit_content, spec.postprocess)
    transform = postprocess.cached_fit(cache_dir, fit_parts, spec.postprocess, key)
    vectors = transform.apply(raw)
    vectors.setflags(write=False)   # shared by every session: nobody may mutate it
    skey = space_key(model_id, channels, posts, spec)
    index = CorpusIndex(channels, skey, vectors, FlatIndex(vectors))
    return ChannelSpace(spec, skey, channels, vectors, transform, np.asarray(text_vectors), sums, index,
                        None if sums is None else np.asarray(post_vectors))


def neighbours(space: ChannelSpace, qvec: np.ndarray, k: int, filters: dict | None = None,
               exclude: int | None = None, held_out_post: int | None = None) -> pd.DataFrame:
    """Top-k channels for a vector already in the space (core.retrieval.search.search_vector's rows, plus
    `percentile` among all pairs of its kind). With `held_out_post` (a corpus post placed
    against the channels) the post's own channel is scored without that post, as a new ad
    would be: otherwise a channel built from its posts would find its own post trivially."""
    scale = space.scale if held_out_post is None else space.placement_scale
    own = -1
    if held_out_post is not None and space.sums is not None and space.spec.uses_posts:
        own = int(space.sums.post_channel[held_out_post])
        allowed = filter_positions(space.channels.frame, filters)
        if own >= 0 and allowed is not None and own not in set(allowed.tolist()):
            own = -1
    if own < 0:
        rows = search_vector(space.index, qvec, k, filters, exclude=exclude)
    else:
        rows = search_vector(space.index, qvec, k, filters, exclude=own)
        mine = space.channels.frame.iloc[[own]].copy()
        mine.insert(0, "rank", 0)
        mine.insert(1, "score", round(float(qvec @ space.without_post([held_out_post])[0]), 4))
        mine["text"] = space.channels.texts[own]
        mine["position"] = own
        rows = pd.concat([rows, mine], ignore_index=True).sort_values("score", ascending=False, kind="stable")
        rows = rows.head(k).reset_index(drop=True)
        rows["rank"] = np.arange(1, len(rows) + 1)
    rows["percentile"] = scale.percentile(rows["score"].to_numpy()) if len(rows) else []
    return rows
