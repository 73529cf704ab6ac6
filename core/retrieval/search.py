"""Search a corpus with a short situation description."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from core import display
from core.config import AnnConfig
from core.corpora.records import Corpus
from core.models.encoders import Encoder, l2_normalise
from core.retrieval.cache import EmbeddingCache, embed_cached
from core.retrieval.index import FlatIndex, VectorIndex

MAX_QUERY_CHARS = 1000   # e5 reads 512 tokens; a situation description never needs more


class QueryError(ValueError):
    pass


@dataclass(frozen=True)
class CorpusIndex:
    """A corpus, its vectors under one model, and the index over them: exact (FlatIndex,
    float32 vectors) below AnnConfig.min_vectors, approximate (core.retrieval.ann.AnnIndex, float16
    vectors memory-mapped from its folder) from there up."""
    corpus: Corpus
    model_id: str
    vectors: np.ndarray
    index: VectorIndex


def build_corpus_index(corpus: Corpus, encoder: Encoder, cache: EmbeddingCache,
                       progress: Callable[[int, int], None] | None = None, ann: AnnConfig | None = None,
                       queries: Sequence[str] | None = None) -> CorpusIndex:
    """The corpus's index under the encoder. From `ann.min_vectors` rows up (AnnConfig.from_env()
    when not given) an ANN index saved beside the embedding cache is loaded, or built once and
    saved; its recall@10 is measured on `queries` (e.g. the labelled queries), else on the
    corpus's example queries, else on sampled documents."""
    ann = ann or AnnConfig.from_env()
    if len(corpus) >= ann.min_vectors:
        return _ann_corpus_index(corpus, encoder, cache, progress, ann, queries)
    vectors = _vectors(corpus, encoder, cache, progress)
    vectors.setflags(write=False)   # shared by every session: nobody may mutate it
    return CorpusIndex(corpus, encoder.id, vectors, FlatIndex(vectors))


def ann_ready(corpus: Corpus, cache: EmbeddingCache, ann: AnnConfig | None = None) -> bool:
    """True when build_corpus_index will load a saved ANN index (nothing to embed or build)."""
    from core.retrieval.ann import META, index_folder
    ann = ann or AnnConfig.from_env()
    return len(corpus) >= ann.min_vectors and (
        index_folder(cache.root, cache.model_id, corpus.content_hash, ann) / META).exists()


def _vectors(corpus: Corpus, encoder: Encoder, cache: EmbeddingCache, progress) -> np.ndarray:
    if hasattr(encoder, "vectors_for"):   # precomputed embeddings: looked up by id, nothing to embed
        return encoder.vectors_for(corpus)
    return embed_cached(encoder, corpus.texts, cache, "passage", progress=progress)


def _ann_corpus_index(corpus, encoder, cache, progress, ann, queries) -> CorpusIndex:
    from core.retrieval.ann import RECALL_QUERIES, build_ann, index_folder, load_ann
    folder = index_folder(cache.root, cache.model_id, corpus.content_hash, ann)
    index = load_ann(folder)
    if index is None:
        vectors = _vectors(corpus, encoder, cache, progress)
        texts = list(dict.fromkeys(t for t in (queries or example_queries(corpus)) if t.strip()))[:RECALL_QUERIES]
        qvecs, source = None, ""
        if texts and not hasattr(encoder, "vectors_for"):
            qvecs, source = l2_normalise(encoder.encode(texts, "query")), "queries"
        index = build_ann(vectors, ann, folder, queries=qvecs, query_source=source)
        del vectors
    return CorpusIndex(corpus, encoder.id, index.vectors, index)


def example_queries(corpus: Corpus) -> list[str]:
    """Real user queries a corpus carries (memes: the `examples` column, `|`-separated)."""
    if "examples" not in corpus.frame:
        return []
    return [q.strip() for cell in corpus.frame["examples"] for q in str(cell).split("|") if q.strip()]


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
    hits = ci.index.query(qvec.reshape(1, -1), k, subset)
    keep = hits.positions[0] >= 0
    rows = _results(ci, hits.scores[0][keep], hits.positions[0][keep])
    rows.attrs["search"] = {"approximate": ci.index.approximate and not hits.exact, "k": int(k),
                            "recall": ci.index.meta.get("recall@10"), "overfetch": hits.overfetch,
                            "filtered": subset is not None}
    return rows


def search_note(results: pd.DataFrame) -> str:
    """What the Search page says next to approximate results: "приближённый поиск, recall@10 0,98",
    and, when a filter made the search widen, by how much (and how many rows it found)."""
    info = results.attrs.get("search") or {}
    if not info.get("approximate"):
        return ""
    parts = ["приближённый поиск"]
    if info.get("recall") is not None:
        parts.append(f"recall@10 {display.decimal(info['recall'], 2)}")
    factor, short = info.get("overfetch", 1), len(results) < info.get("k", 0)
    if info.get("filtered") and (factor > 1 or short):
        widened = f"фильтр: поиск расширен в {factor} {display.plural(factor, 'раз', 'раза', 'раз')}"
        parts.append(widened + (f", найдено {len(results)} из {info['k']}" if short else ""))
    return ", ".join(parts)


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
