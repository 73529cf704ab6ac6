"""Is B really better than A on these queries? The paired bootstrap of per-query differences
(percentile interval, seeded), used by every comparison in vecscope."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd


def paired_bootstrap(
    a: Sequence[float] | np.ndarray | pd.Series,
    b: Sequence[float] | np.ndarray | pd.Series,
    n_resamples: int = 10000,
    seed: int | None = 0,
    ci: float = 0.95,
) -> dict[str, float]:
    """Paired bootstrap of the mean per-query difference ``d = b - a``.

    ``a`` and ``b`` are per-query scores of two systems on the same queries, position by
    position (two pandas Series are aligned on their index first; their index sets must be
    equal). Pairs where either score is nan are dropped.

    * ``mean_diff = mean(d)``
    * resample the n queries with replacement ``n_resamples`` times: ``m_r = mean(d[idx_r])``
    * ``lo, hi`` = the ``(1-ci)/2`` and ``(1+ci)/2`` percentiles of ``m_r`` (percentile CI)
    * ``p_value`` (two-sided, H0: mean 0) =
      ``(1 + #{r : |m_r - mean_diff| >= |mean_diff|}) / (1 + n_resamples)``
      (the bootstrap distribution shifted to the null; never exactly 0)

    Returns ``{"mean_diff", "lo", "hi", "p_value", "n"}`` where n is the number of pairs
    used; with no usable pair all values but n are nan. Deterministic for a given seed.
    """
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        if not a.index.is_unique or not b.index.is_unique:
            raise ValueError("paired_bootstrap: Series indexes must be unique")
        if set(a.index) != set(b.index):
            raise ValueError("paired_bootstrap: a and b are scored on different queries")
        b = b.reindex(a.index)
    xa = np.asarray(a, dtype=float).ravel()
    xb = np.asarray(b, dtype=float).ravel()
    if xa.shape != xb.shape:
        raise ValueError(f"paired_bootstrap: a and b differ in length ({xa.size} vs {xb.size})")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"n_resamples must be an integer >= 1, got {n_resamples!r}")
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be in (0, 1), got {ci!r}")

    keep = ~(np.isnan(xa) | np.isnan(xb))
    d = xb[keep] - xa[keep]
    n = int(d.size)
    if n == 0:
        return {"mean_diff": math.nan, "lo": math.nan, "hi": math.nan, "p_value": math.nan, "n": 0}

    mean_diff = float(d.mean())
    rng = np.random.default_rng(seed)
    # Resample in chunks so memory stays bounded (~4M indices) for large query sets.
    chunk = max(1, 4_000_000 // n)
    means = np.empty(n_resamples, dtype=float)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = d[idx].mean(axis=1)

    alpha = (1.0 - ci) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    # Tolerance so float noise in the resampled means of a constant d does not count as extreme.
    tol = 1e-12 * max(1.0, abs(mean_diff))
    extreme = np.abs(means - mean_diff) >= abs(mean_diff) - tol
    p_value = (1.0 + float(np.count_nonzero(extreme))) / (1.0 + n_resamples)
    return {
        "mean_diff": mean_diff,
        "lo": float(lo),
        "hi": float(hi),
        "p_value": float(min(p_value, 1.0)),
        "n": n,
    }
