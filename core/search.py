"""Search a corpus with a short situation description."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from core.cache import EmbeddingCache, embed_cached
from core.corpora import Corpus
from core.encoders import Encoder, l2_normalise
from core.index import FlatIndex

MAX_QUERY_CHARS = 1000   # e5 reads 512 tokens; a situation description never needs more


class QueryError(ValueError):
    pass


@dataclass(frozen=True)
class CorpusIndex:
    """A corpus, its vectors under one model, and the faiss index over them."""
    corpus: Corpus
    model_id: str
    vectors: np.ndarray
    index: FlatIndex


def build_corpus_index(corpus: Corpus, encoder: Encoder, cache: EmbeddingCache,
                       progress: Callable[[int, int], None] | None = None) -> CorpusIndex:
    if hasattr(encoder, "vectors_for"):   # precomputed embeddings: looked up by id, nothing to embed
        vectors = encoder.vectors_for(corpus)
    else:
        vectors = embed_cached(encoder, corpus.texts, cache, "passage", progress=progress)
    vectors.setflags(write=False)   # shared by every session: nobody may mutate it
    return CorpusIndex(corpus, encoder.id, vectors, FlatIndex(vectors))


def prepare_query(text: str | None) -> tuple[str, str]:
    """(query to search, note for the user). Empty queries are refused; long ones are cut."""
    text = (text or "").strip()
    if not text:
        raise QueryError("Опишите ситуацию — например, «когда экзамен перенесли после бессонной ночи».")
    if len(text) > MAX_QUERY_CHARS:
        cut = text[:MAX_QUERY_CHARS].rsplit(" ", 1)[0] or text[:MAX_QUERY_CHARS]
        return cut, (f"Запрос длиной {len(text):,} символов: искали по первым {len(cut):,} "
                     "(модель читает не больше ~512 токенов).").replace(",", " ")
    return text, ""


def filter_positions(frame: pd.DataFrame, filters: dict | None) -> np.ndarray | None:
    """Row positions matching every filter; None = no filter. A filter is either
    {column: [allowed values]} or {column: (low, high)} for a numeric range."""
    active = {c: v for c, v in (filters or {}).items() if v is not None and len(v)}
    if not active:
        return None
    mask = np.ones(len(frame), bool)
    for col, rule in active.items():
        if isinstance(rule, tuple):
            values = pd.to_numeric(frame[col], errors="coerce").to_numpy()
            mask &= (values >= rule[0]) & (values <= rule[1])
        else:
            mask &= frame[col].isin(rule).to_numpy()
    return np.flatnonzero(mask)


def search_vector(ci: CorpusIndex, qvec: np.ndarray, k: int, filters: dict | None = None,
                  exclude: int | None = None) -> pd.DataFrame:
    """Top-k rows for a query vector; `exclude` drops one row position (a channel's own
    vector when looking for its neighbours)."""
    subset = filter_positions(ci.corpus.frame, filters)
    if exclude is not None:
        subset = np.setdiff1d(np.arange(len(ci.corpus)) if subset is None else subset, [exclude])
    if subset is not None and len(subset) == 0:
        return _results(ci, np.zeros(0), np.zeros(0, np.int64))
    scores, positions = ci.index.search(qvec.reshape(1, -1), k, subset)
    keep = positions[0] >= 0
    return _results(ci, scores[0][keep], positions[0][keep])


def search(ci: CorpusIndex, encoder: Encoder, query: str, k: int = 10,
           filters: dict | None = None) -> pd.DataFrame:
    qvec = l2_normalise(encoder.encode([query], "query"))[0]
    return search_vector(ci, qvec, k, filters)


def list_changes(before: list[str], after: list[str]) -> tuple[list[str], list[str]]:
    """(ids that entered, ids that left) when a ranked list changes, in rank order."""
    return [d for d in after if d not in set(before)], [d for d in before if d not in set(after)]


def _results(ci: CorpusIndex, scores: np.ndarray, positions: np.ndarray) -> pd.DataFrame:
    rows = ci.corpus.frame.iloc[positions].copy()
    rows.insert(0, "rank", np.arange(1, len(positions) + 1))
    rows.insert(1, "score", np.round(scores.astype(float), 4))
    rows["text"] = [ci.corpus.texts[p] for p in positions]
    rows["position"] = positions
    return rows.reset_index(drop=True)
