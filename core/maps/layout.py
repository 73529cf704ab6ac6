"""A computed 2-D map: what core.maps.projection makes, caches and places rows on."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Projection:
    """A 2-D map of n vectors. For PCA, `basis` (3, d) = [mean; axis 1; axis 2] places new
    vectors exactly; UMAP maps place them by their nearest corpus vectors (see module doc)."""
    coords: np.ndarray                      # (n, 2) float32; row i = corpus row position i
    method: str                             # "umap" | "pca"
    params: dict = field(default_factory=dict)
    basis: np.ndarray | None = None         # PCA only
    seconds: float = 0.0                    # time it took to compute (not to load)
    timings: dict = field(default_factory=dict)   # sampled maps: fit_s, place_s, placed, place_index

    def __len__(self) -> int:
        return len(self.coords)
