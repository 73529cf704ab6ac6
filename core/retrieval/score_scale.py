"""A similarity on a scale people can read: the percentile of a score among all pairs.

Raw cosine between e5 vectors of short texts sits in a narrow band (0.861 vs 0.872 says
nothing to a person); "closer than 99.2 % of channel pairs" does. The reference is every pair
of the space's channels (a fixed random sample of pairs past `max_pairs`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_PAIRS = 200_000


@dataclass(frozen=True)
class PairScale:
    sorted_scores: np.ndarray      # ascending similarities of the reference pairs

    @classmethod
    def among(cls, vectors: np.ndarray, max_pairs: int = MAX_PAIRS, seed: int = 0) -> "PairScale":
        """All pairs i < j of the rows of `vectors` (normalised), or a seeded sample of them."""
        x = np.asarray(vectors, np.float32)
        n = len(x)
        if n < 2:
            return cls(np.zeros(0, np.float32))
        if n * (n - 1) // 2 <= max_pairs:
            i, j = np.triu_indices(n, k=1)
        else:
            rng = np.random.default_rng(seed)
            i = rng.integers(0, n, size=max_pairs * 2)
            j = rng.integers(0, n, size=max_pairs * 2)
            keep = i != j
            i, j = i[keep][:max_pairs], j[keep][:max_pairs]
        scores = np.einsum("nd,nd->n", x[i], x[j])
        out = np.sort(scores).astype(np.float32)
        out.setflags(write=False)
        return cls(out)

    @classmethod
    def between(cls, a: np.ndarray, b: np.ndarray, max_pairs: int = MAX_PAIRS, seed: int = 0) -> "PairScale":
        """Pairs (row of a, row of b): e.g. every (post, channel) pair, or a seeded sample."""
        a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
        if len(a) == 0 or len(b) == 0:
            return cls(np.zeros(0, np.float32))
        if len(a) * len(b) <= max_pairs:
            scores = (a @ b.T).ravel()
        else:
            rng = np.random.default_rng(seed)
            i, j = rng.integers(0, len(a), size=max_pairs), rng.integers(0, len(b), size=max_pairs)
            scores = np.einsum("nd,nd->n", a[i], b[j])
        out = np.sort(scores).astype(np.float32)
        out.setflags(write=False)
        return cls(out)

    def __len__(self) -> int:
        return len(self.sorted_scores)

    def percentile(self, scores) -> np.ndarray:
        """Share of reference pairs with a lower score, in [0, 1] (ties count half). nan
        without a reference."""
        s = np.atleast_1d(np.asarray(scores, np.float32))
        if len(self.sorted_scores) == 0:
            return np.full(s.shape, np.nan)
        below = np.searchsorted(self.sorted_scores, s, side="left")
        upto = np.searchsorted(self.sorted_scores, s, side="right")
        return (below + upto) / (2.0 * len(self.sorted_scores))
