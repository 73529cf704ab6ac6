"""Scores of a same/different decision: ROC and PR curves, AUC, the threshold at a target false-
positive rate, the confusion at a threshold, and bootstrap intervals. Plain numpy, so every
number can be checked by hand (tests/unit/test_pairs_metrics.py) and against sklearn.

Convention: a pair is predicted "same" when its score >= threshold; label 1 = same, 0 = different.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def _arrays(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores and labels must be two 1-d arrays of one length, got {s.shape} and {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (different) or 1 (same)")
    return s, y


def auc(scores, labels) -> float:
    """Area under the ROC curve = P(a same pair scores above a different one), ties counting half
    (the Mann-Whitney U statistic). nan when one class is missing."""
    s, y = _arrays(scores, labels)
    pos, neg = s[y == 1], s[y == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.sort(neg)
    below = np.searchsorted(order, pos, side="left")            # negatives strictly below each positive
    ties = np.searchsorted(order, pos, side="right") - below
    return float((below + 0.5 * ties).sum() / (len(pos) * len(neg)))


def roc_points(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds): one point per distinct score, highest first, after (0, 0) at +inf."""
    s, y = _arrays(scores, labels)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]       # the last row of each run of equal scores
    tp, fp = np.cumsum(y)[last], np.cumsum(1 - y)[last]
    n_pos, n_neg = max(int(y.sum()), 1), max(int((1 - y).sum()), 1)
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos], np.r_[np.inf, s[last]]


def pr_points(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds), one point per distinct score, highest first."""
    s, y = _arrays(scores, labels)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp, predicted = np.cumsum(y)[last], last + 1
    return tp / predicted, tp / max(int(y.sum()), 1), s[last]


def average_precision(scores, labels) -> float:
    """sum over thresholds of (recall step) x precision: sklearn's average_precision_score."""
    precision, recall, _ = pr_points(scores, labels)
    if not len(recall) or recall[-1] == 0:
        return float("nan")
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def threshold_at_fpr(scores, labels, target_fpr: float) -> float:
    """The lowest threshold whose false-positive rate on these pairs is <= target_fpr.

    With n negatives, k = floor(target * n) of them may score at or above the threshold, so it
    must lie above the (k+1)-th highest negative score; it is put halfway to the next higher
    score, so a pair scoring like that negative on other data is still called "different"."""
    if not 0.0 <= target_fpr < 1.0:
        raise ValueError(f"target FPR must be in [0, 1), got {target_fpr}")
    s, y = _arrays(scores, labels)
    neg = np.sort(s[y == 0])[::-1]
    if not len(neg):
        raise ValueError("no 'different' pairs: a false-positive rate cannot be measured")
    k = int(np.floor(target_fpr * len(neg) + 1e-9))
    if k >= len(neg):
        return float(s.min())
    boundary = neg[k]
    above = s[s > boundary]
    return float((boundary + above.min()) / 2) if len(above) else float(np.nextafter(boundary, np.inf))


def confusion(scores, labels, threshold: float) -> dict[str, float]:
    """tp, fp, tn, fn and tpr, fpr, precision at a threshold (score >= threshold -> same)."""
    s, y = _arrays(scores, labels)
    pred = s >= threshold
    tp, fp = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum())
    fn, tn = int((~pred & (y == 1)).sum()), int((~pred & (y == 0)).sum())
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn,
            "tpr": tp / (tp + fn) if tp + fn else float("nan"),
            "fpr": fp / (fp + tn) if fp + tn else float("nan"),
            "precision": tp / (tp + fp) if tp + fp else float("nan")}


def bootstrap(stat: Callable[[np.ndarray, np.ndarray], float], scores, labels, n_resamples: int = 1000,
              seed: int = 0, ci: float = 0.95) -> tuple[float, float]:
    """Percentile interval of stat(scores, labels) over resamples of the pairs, drawn within each
    class (so every resample has the same numbers of same and different pairs, and AUC and TPR
    are always defined). Deterministic for a seed; (nan, nan) when a class is missing."""
    s, y = _arrays(scores, labels)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if not len(pos) or not len(neg):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    for r in range(n_resamples):
        idx = np.r_[rng.choice(pos, len(pos)), rng.choice(neg, len(neg))]
        values[r] = stat(s[idx], y[idx])
    lo, hi = np.nanpercentile(values, [(1 - ci) / 2 * 100, (1 + ci) / 2 * 100])
    return float(lo), float(hi)
