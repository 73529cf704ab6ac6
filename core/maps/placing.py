"""Where rows land on a 2-D map without recomputing it, and how neighbourhoods differ between
models (the rule and why it is not UMAP's transform: core.maps.projection's module doc)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.maps.layout import Projection

PLACE_TEMPERATURE = 0.05   # cosine units: a neighbour 0.05 less similar weighs e^-1 as much
PLACE_NPROBE = 16          # IVF lists searched per row when placing past PLACE_EXACT_MAX comparisons


def _as_matrix(vectors: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"vectors must be a 2-D array (n, d); got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("vectors contain NaN or infinite values")
    return x


def _normalised(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class _SampleIndex:
    """The fitted sample as `place` searches it: exact faiss inner product, or IVF (nlist ~ 4 sqrt(n),
    PLACE_NPROBE lists per query) when exact search over all rows to place would take too long."""

    def __init__(self, sample: np.ndarray, exact: bool = True) -> None:
        import faiss
        self.size = len(sample)
        d = sample.shape[1]
        nlist = int(4 * np.sqrt(self.size))
        if exact or self.size < 40 * nlist:
            self._index = faiss.IndexFlatIP(d)
        else:
            self._index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            self._index.train(sample)
            self._index.nprobe = PLACE_NPROBE
        self._index.add(sample)
        self.exact = isinstance(self._index, faiss.IndexFlatIP)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sims, pos = self._index.search(np.ascontiguousarray(queries, np.float32), k)
        missing = pos < 0                       # IVF may find fewer than k: repeat the best one
        if missing.any():
            pos = np.where(missing, pos[:, :1], pos)
            sims = np.where(missing, sims[:, :1], sims)
        return sims, pos


def _top_k(corpus: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, positions) of the k most similar corpus rows per query, best first."""
    if hasattr(corpus, "search"):               # a core.retrieval.index.FlatIndex
        return corpus.search(queries, k)
    sims = queries @ np.asarray(corpus, np.float32).T
    k = min(k, sims.shape[1])
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    part_sims = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-part_sims, axis=1, kind="stable")
    return np.take_along_axis(part_sims, order, axis=1), np.take_along_axis(part, order, axis=1)


def place(projection: Projection, corpus_vectors, new_vectors: np.ndarray,
          k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Where new vectors land on an existing map, without recomputing it.

    Returns (coords (m, 2) float32, neighbour positions (m, k) int64, most similar first).
    `corpus_vectors` are the vectors the map was made from (an array, or a FlatIndex over
    them); new vectors must come from the same model. UMAP maps: softmax-weighted mean of the
    neighbours' positions (see module doc); PCA maps: the exact linear projection."""
    q = _as_matrix(np.atleast_2d(new_vectors))
    size = corpus_vectors.size if hasattr(corpus_vectors, "search") else len(corpus_vectors)
    if size != len(projection.coords):
        raise ValueError(f"the map has {len(projection.coords)} points but {size} corpus vectors were "
                         "given: the map belongs to another corpus or model")
    if size == 0:
        raise ValueError("cannot place vectors on an empty map")
    k = max(1, min(int(k), size))
    sims, positions = _top_k(corpus_vectors, _normalised(q), k)
    positions = positions.astype(np.int64)
    if projection.method == "pca" and projection.basis is not None and projection.basis.shape[1] == q.shape[1]:
        mean, axes = projection.basis[0], projection.basis[1:3]
        return ((q - mean) @ axes.T).astype(np.float32), positions
    weights = np.exp((sims - sims[:, :1]) / PLACE_TEMPERATURE)            # best neighbour = 1
    weights /= weights.sum(axis=1, keepdims=True)
    coords = np.einsum("mk,mkc->mc", weights, projection.coords[positions])
    return coords.astype(np.float32), positions


def neighbour_sets(vectors: np.ndarray, k: int = 10) -> np.ndarray:
    """(n, k) positions of each row's k nearest other rows (cosine, self excluded), exact."""
    from core.retrieval.index import FlatIndex
    x = _normalised(_as_matrix(vectors))
    n = len(x)
    k = max(0, min(int(k), n - 1))
    if k == 0:
        return np.zeros((n, 0), np.int64)
    _, pos = FlatIndex(x).search(x, k + 1)
    # drop the row itself wherever it ranks (an exact duplicate may rank first); if it is not
    # among the k + 1 at all (several duplicates), drop the last one instead
    keep = pos != np.arange(n)[:, None]
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(pos, order, axis=1).astype(np.int64)


def neighbour_change(vectors_a: np.ndarray, vectors_b: np.ndarray, k: int = 10) -> pd.DataFrame:
    """How each row's k nearest neighbours differ between two models (same rows, any dims).

    Columns: position (row position), overlap (|A ∩ B| / k, 1.0 = same neighbours), shared
    (count), only_a / only_b (positions that left / joined the neighbour list, in rank order).
    Sorted by overlap ascending (rows whose neighbourhood changed most first), then position."""
    a = np.asarray(vectors_a)
    b = np.asarray(vectors_b)
    if len(a) != len(b):
        raise ValueError(f"both models must embed the same rows: {len(a)} vs {len(b)} vectors")
    na, nb = neighbour_sets(a, k), neighbour_sets(b, k)
    kk = na.shape[1]
    if kk == 0:
        shared = np.zeros(len(a), np.int64)
        overlap = np.ones(len(a))
    else:
        in_b = (na[:, :, None] == nb[:, None, :]).any(axis=2)      # (n, k): A's neighbour also in B
        in_a = (nb[:, :, None] == na[:, None, :]).any(axis=2)
        shared = in_b.sum(axis=1)
        overlap = shared / kk
    frame = pd.DataFrame({
        "position": np.arange(len(a), dtype=np.int64),
        "overlap": overlap.astype(float),
        "shared": shared.astype(np.int64),
        "only_a": [row[~mask].tolist() for row, mask in zip(na, in_b)] if kk else [[] for _ in a],
        "only_b": [row[~mask].tolist() for row, mask in zip(nb, in_a)] if kk else [[] for _ in a],
    })
    return frame.sort_values(["overlap", "position"], kind="stable").reset_index(drop=True)
