"""Exact nearest-neighbour search over normalised vectors with faiss.

IndexFlatIP on L2-normalised float32 vectors ranks by cosine similarity, exactly (no
approximation), which is what an eval set needs. Ids are row positions in the corpus.
Above ~200K vectors an ANN index (HNSW/IVF) would be the next step; `exact_search` stays
as the reference its recall is checked against.
"""
from __future__ import annotations

import faiss
import numpy as np


class FlatIndex:
    def __init__(self, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.dim = vectors.shape[1]
        self.size = vectors.shape[0]
        self._index = faiss.IndexFlatIP(self.dim)
        self._index.add(vectors)

    def search(self, queries: np.ndarray, k: int, subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, positions) per query row; `subset` limits the search to those
        row positions (filters). Rows with fewer than k hits are padded with -1."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(int(k), self.size))
        params = None
        if subset is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(subset, dtype=np.int64)))
        scores, positions = self._index.search(queries, k, params=params)
        return scores, positions


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Plain numpy reference: the same contract as FlatIndex.search without subset."""
    sims = np.atleast_2d(queries) @ vectors.T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, order, axis=1), order
