"""Pairs worth judging: nearest neighbours (within a corpus, or from one source to another, e.g.
shop A's offers against shop B's), mixed with random pairs.

Why the mix: neighbours at rank 1 are mostly "same", at ranks 2-3 mostly look-alikes
("different" but hard); random pairs are the easy "different" ones. Without them the labels
would only cover the region the current model already finds close, and a false-positive rate
measured on them would say nothing about ordinary pairs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.tasks.pairs.labels import pair_key

ORIGINS = {"neighbour": "сосед", "random": "случайная"}


def _side(groups, value, n_rows: int) -> np.ndarray:
    """Rows of one side: all of them, or those whose group is `value`."""
    if groups is None or value is None:
        return np.arange(n_rows)
    return np.flatnonzero(np.asarray(groups, dtype=object) == value)


def propose_pairs(ids, vectors: np.ndarray, *, groups=None, a_group=None, b_group=None, n: int = 40,
                  random_share: float = 0.3, k: int = 3, exclude=frozenset(), seed: int = 0) -> pd.DataFrame:
    """Up to n unjudged pairs: a_id, b_id (pair_key order), similarity, origin, rank (neighbour rank,
    0 for random ones), in a shuffled order so neighbours and random pairs alternate.

    groups: one value per row (e.g. the shop); a_group / b_group restrict each side to one value
    (None: the whole corpus). exclude: pair keys already judged; they are skipped."""
    ids = [str(i) for i in ids]
    rng = np.random.default_rng(seed)
    side_a, side_b = _side(groups, a_group, len(ids)), _side(groups, b_group, len(ids))
    if not len(side_a) or not len(side_b):
        return _frame([])
    vecs = vectors.astype(np.float32)
    vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    n_random = int(round(n * random_share))
    seen = set(exclude)
    out = _neighbours(ids, vecs, side_a, side_b, n - n_random, k, seen, rng)
    out += _random(ids, vecs, side_a, side_b, n - len(out), seen, rng)
    order = rng.permutation(len(out))
    return _frame([out[i] for i in order])


def _neighbours(ids, vecs, side_a, side_b, want: int, k: int, seen: set, rng) -> list[tuple]:
    out: list[tuple] = []
    # Anchors in random order, a few at a time: only as many similarity rows as needed are computed,
    # so proposing pairs in a 1M-row corpus costs a few matrix-vector products, not a full matrix.
    anchors = rng.permutation(side_a)
    for start in range(0, len(anchors), 32):
        if len(out) >= want:
            break
        chunk = anchors[start:start + 32]
        sims = vecs[chunk] @ vecs[side_b].T
        for row, a in zip(sims, chunk):
            taken = 0
            for j in np.argsort(-row, kind="stable"):
                b = side_b[j]
                key = pair_key(ids[a], ids[b])
                if b == a or key[0] == key[1] or key in seen:
                    continue
                seen.add(key)
                taken += 1
                out.append((*key, float(row[j]), "neighbour", taken))
                if taken >= k or len(out) >= want:
                    break
            if len(out) >= want:
                break
    return out


def _random(ids, vecs, side_a, side_b, want: int, seen: set, rng) -> list[tuple]:
    out: list[tuple] = []
    for _ in range(want * 20):   # bounded: a corpus where almost every pair is judged ends the loop
        if len(out) >= want:
            break
        a, b = int(rng.choice(side_a)), int(rng.choice(side_b))
        key = pair_key(ids[a], ids[b])
        if a == b or key in seen:
            continue
        seen.add(key)
        out.append((*key, float(vecs[a] @ vecs[b]), "random", 0))
    return out


def _frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["a_id", "b_id", "similarity", "origin", "rank"])
