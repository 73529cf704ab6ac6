"""Nearest-neighbour search over normalised vectors: one contract, an exact and an ANN backend.

The contract (`VectorIndex`): `size`, `dim`, `approximate`, `meta` (build facts, recall@10 for
an ANN index), and `query(queries, k, subset) -> Hits` with (nq, k) scores and row positions,
best first, padded with position -1 when fewer than k rows qualify; `search()` is the same
as a (scores, positions) pair. Ids are row positions in the corpus. `subset` limits the search
to those positions (filters).

- `FlatIndex` (here): IndexFlatIP on L2-normalised float32 vectors ranks by cosine similarity,
  exactly (no approximation), which is what an eval set needs below ~200K vectors.
- `core.retrieval.ann.AnnIndex`: faiss IVF / HNSW for larger corpora, with its recall@10 against exact
  search measured at build time; `exact_search` / `exact_topk` are the reference it is checked
  against (tests/unit/test_index_contract.py runs one contract test on every backend).
"""
from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np


@dataclass(frozen=True)
class Hits:
    scores: np.ndarray      # (nq, k) float32, best first
    positions: np.ndarray   # (nq, k) int64 row positions; -1 = no row
    exact: bool = True      # the true top-k (an exact index, or an ANN index answering a small filter exactly)
    overfetch: int = 1      # how many times the ANN search was widened because a filter left too few rows


class VectorIndex:
    size: int
    dim: int
    approximate: bool = False
    meta: dict = {}

    def query(self, queries: np.ndarray, k: int, subset: np.ndarray | None = None) -> Hits:
        raise NotImplementedError

    def search(self, queries: np.ndarray, k: int, subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, positions) per query row; `subset` limits the search to those
        row positions (filters). Rows with fewer than k hits are padded with -1."""
        hits = self.query(queries, k, subset)
        return hits.scores, hits.positions


class FlatIndex(VectorIndex):
    def __init__(self, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.dim = vectors.shape[1]
        self.size = vectors.shape[0]
        self.meta = {"kind": "exact", "n": self.size, "dim": self.dim}
        self._index = faiss.IndexFlatIP(self.dim)
        self._index.add(vectors)

    def query(self, queries: np.ndarray, k: int, subset: np.ndarray | None = None) -> Hits:
        queries = as_queries(queries)
        k = max(1, min(int(k), self.size))
        params = None
        if subset is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(subset, dtype=np.int64)))
        scores, positions = self._index.search(queries, k, params=params)
        return Hits(scores, positions)


def as_queries(queries: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Plain numpy reference: the same contract as FlatIndex.search without subset."""
    sims = np.atleast_2d(queries) @ vectors.T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, order, axis=1), order


def exact_topk(vectors: np.ndarray, queries: np.ndarray, k: int, rows: np.ndarray | None = None,
               chunk: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product over `vectors` (any float dtype, a memory map included),
    read `chunk` rows at a time so a 1M x 1024 float16 store never becomes one float32 copy.
    `rows` limits the search to those positions. Same padding as the contract."""
    q = as_queries(queries)
    candidates = np.arange(len(vectors)) if rows is None else np.asarray(rows, dtype=np.int64)
    k_eff = max(1, min(int(k), len(candidates))) if len(candidates) else 0
    best_s = np.full((len(q), int(k)), -np.inf, np.float32)
    best_p = np.full((len(q), int(k)), -1, np.int64)
    for start in range(0, len(candidates), chunk):
        pos = candidates[start:start + chunk]
        block = vectors[pos] if rows is not None else vectors[start:start + len(pos)]
        sims = q @ np.asarray(block, dtype=np.float32).T
        s = np.concatenate([best_s, sims], axis=1)
        p = np.concatenate([best_p, np.broadcast_to(pos, sims.shape)], axis=1)
        top = np.argpartition(-s, int(k) - 1, axis=1)[:, :int(k)]   # the k best, unordered
        s, p = np.take_along_axis(s, top, axis=1), np.take_along_axis(p, top, axis=1)
        order = np.argsort(-s, axis=1, kind="stable")
        best_s, best_p = np.take_along_axis(s, order, axis=1), np.take_along_axis(p, order, axis=1)
    best_p[:, k_eff:] = -1
    return best_s, best_p
