"""Judge recommenders on a time-based split: HitRate@5, nDCG@5 and coverage, with intervals.

The split is one moment for everybody (the `1 - test_share` quantile of the timestamps): what
happened before it is the history the recommender sees, the items a user liked after it, and
had not touched before, are the answers. Nothing from after the cut reaches a history, so no
method can peek at the future (tests/unit/test_recommend.py checks this).

A user is scored when they have at least one liked item in the history and at least one
answer; users with answers but no history are counted, not scored (a cold start is a
different problem). Per-user HitRate@5 and nDCG@5 come from core.evaluation.metrics (the
answers are grade 1); coverage is the share of the catalogue that appears in any top-5 list.
Intervals: the bootstrap over users (95 %, seeded), and the paired bootstrap of each method's
difference from popularity on the same users.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.evaluation.metrics import hit_rate_at_k, ndcg_at_k
from core.evaluation.significance import paired_bootstrap
from core.tasks.recommend.methods import HALF_LIFE_DAYS, METHODS, Recommender, histories, popularity_order

TEST_SHARE = 0.2
BOOTSTRAP = 2000


@dataclass(frozen=True)
class Split:
    cutoff: pd.Timestamp
    history: pd.DataFrame
    answers: dict[str, set[int]]   # user -> liked items after the cut that they had not touched before
    cold: list[str]                # users with answers but nothing liked before the cut


def time_split(frame: pd.DataFrame, test_share: float = TEST_SHARE) -> Split:
    cutoff = frame["ts"].quantile(1 - test_share)
    before, after = frame[frame["ts"] < cutoff], frame[frame["ts"] >= cutoff]
    touched = before.groupby("user_id")["item"].agg(set).to_dict()
    liked_before = set(before.loc[before["positive"] > 0, "user_id"])
    answers, cold = {}, []
    for user, part in after[after["positive"] > 0].groupby("user_id"):
        new = set(part["item"].tolist()) - touched.get(user, set())
        if not new:
            continue
        if user in liked_before:
            answers[user] = new
        else:
            cold.append(user)
    return Split(cutoff, before, answers, sorted(cold))


def mean_interval(values) -> tuple[float, float, float]:
    """(mean, lo, hi): the bootstrap of a mean is the paired bootstrap of its difference from 0."""
    x = np.asarray(values, float)
    b = paired_bootstrap(np.zeros_like(x), x, n_resamples=BOOTSTRAP)
    return b["mean_diff"], b["lo"], b["hi"]


def coverage_interval(lists: list[np.ndarray], n_items: int, seed: int = 0) -> tuple[float, float, float]:
    """Share of the catalogue in any list, and its bootstrap interval over users."""
    def share(chosen) -> float:
        return len(set().union(*(set(lists[i].tolist()) for i in chosen))) / n_items if len(chosen) else 0.0
    if not lists:
        return np.nan, np.nan, np.nan
    rng = np.random.default_rng(seed)
    draws = [share(rng.integers(0, len(lists), len(lists))) for _ in range(200)]   # a set union per draw: 200 is enough
    # A resample holds ~63 % distinct users, so its union is smaller than the real one: the
    # percentile interval would sit below the observed coverage. Its spread is kept, re-centred.
    observed = share(range(len(lists)))
    lo, hi = np.quantile(draws, [0.025, 0.975]) - np.median(draws) + observed
    return observed, float(max(lo, 0.0)), float(min(hi, 1.0))


@dataclass
class RecoReport:
    table: pd.DataFrame              # method: hit_rate, ndcg, coverage (+ _lo, _hi), vs popularity
    per_user: pd.DataFrame           # user, method, hit_rate, ndcg
    split: Split
    recommender: Recommender
    histories: dict                  # user -> History as of the cut (what every method saw)


def evaluate(frame: pd.DataFrame, vectors: np.ndarray, k: int = 5, half_life_days: float = HALF_LIFE_DAYS,
             test_share: float = TEST_SHARE, methods=METHODS, centre: bool = True) -> RecoReport:
    split = time_split(frame, test_share)
    rec = Recommender(vectors, popularity_order(split.history), centre=centre)
    hist = histories(split.history, split.cutoff, half_life_days)
    users = sorted(split.answers)
    rows, lists = [], {m: [] for m in methods}
    for user in users:
        grades = dict.fromkeys(split.answers[user], 1)
        for m in methods:
            top, _ = rec.recommend(hist[user], m, k)
            lists[m].append(top)
            ranked = top.tolist()
            rows.append({"user": user, "method": m, "hit_rate": hit_rate_at_k(ranked, grades, k),
                         "ndcg": ndcg_at_k(ranked, grades, k)})
    per_user = pd.DataFrame(rows, columns=["user", "method", "hit_rate", "ndcg"])
    return RecoReport(_table(per_user, lists, len(vectors), methods), per_user, split, rec, hist)


def _table(per_user: pd.DataFrame, lists: dict, n_items: int, methods) -> pd.DataFrame:
    out = []
    base = per_user[per_user["method"] == "popularity"].set_index("user")
    for m in methods:
        part = per_user[per_user["method"] == m].set_index("user")
        row = {"method": m, "users": len(part)}
        for metric in ("hit_rate", "ndcg"):
            row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"] = mean_interval(part[metric])
            if m != "popularity" and len(base):
                d = paired_bootstrap(base[metric], part[metric], n_resamples=BOOTSTRAP)
                row[f"{metric}_gain"], row[f"{metric}_gain_lo"], row[f"{metric}_gain_hi"] = d["mean_diff"], d["lo"], d["hi"]
        row["coverage"], row["coverage_lo"], row["coverage_hi"] = coverage_interval(lists[m], n_items)
        out.append(row)
    return pd.DataFrame(out)
