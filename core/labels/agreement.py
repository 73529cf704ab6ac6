"""How far annotators agree, with intervals, and which items need another opinion.

Krippendorff's alpha at the ordinal level (grades 0 < 1 < 2: 0 vs 2 is a worse disagreement than
1 vs 2, and the distance follows how often each grade is used), computed by the `krippendorff`
package, with a percentile bootstrap over items; per annotator pair (the items both graded) and
per query. Krippendorff's own thresholds: alpha >= 0.8 reliable, 0.667 - 0.8 for tentative
conclusions only, below that the instructions or the hard cases need work.
"""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd

from core.labels.quality import ITEM, graded

GOOD, TENTATIVE = 0.8, 0.667
EXPLAIN = ("α ≥ 0,8 — на разметку можно опираться; 0,667–0,8 — только для осторожных выводов; ниже — "
           "уточните инструкцию и разберите спорные случаи (пороги Криппендорфа). Порядковая метрика: "
           "расхождение 0 и 2 весит больше, чем 1 и 2.")
DOMAIN = [0, 1, 2]


def _matrix(judged: pd.DataFrame) -> np.ndarray:
    """annotators x items, nan where an annotator did not grade the item (items graded twice or more)."""
    wide = judged.pivot_table(index="annotator", columns=ITEM, values="grade", aggfunc="last")
    keep = wide.notna().sum(axis=0) >= 2
    return wide.loc[:, keep].to_numpy(dtype=float)


def _alpha(m: np.ndarray) -> float:
    import krippendorff
    if m.shape[1] == 0 or m.shape[0] < 2:
        return math.nan
    values = m[~np.isnan(m)]
    if len(np.unique(values)) < 2:          # one grade everywhere: perfect agreement, alpha undefined
        return 1.0 if len(values) else math.nan
    return float(krippendorff.alpha(reliability_data=m, level_of_measurement="ordinal", value_domain=DOMAIN))


def ordinal_alpha(judged: pd.DataFrame, n_boot: int = 500, seed: int = 0) -> dict:
    """{"alpha", "lo", "hi", "items"}: alpha over items graded by two or more, and a 95 %
    percentile interval from resampling those items (nan when there is nothing to compare)."""
    m = _matrix(judged)
    out = {"alpha": _alpha(m), "lo": math.nan, "hi": math.nan, "items": int(m.shape[1])}
    if m.shape[1] < 2 or math.isnan(out["alpha"]):
        return out
    rng = np.random.default_rng(seed)
    boots = [_alpha(m[:, rng.integers(0, m.shape[1], m.shape[1])]) for _ in range(n_boot)]
    boots = np.array([b for b in boots if not math.isnan(b)])
    if len(boots):
        out["lo"], out["hi"] = (float(v) for v in np.quantile(boots, [0.025, 0.975]))
    return out


def by_pair(latest: pd.DataFrame, n_boot: int = 500) -> pd.DataFrame:
    """One row per pair of annotators who share items: shared, alpha, lo, hi."""
    judged = graded(latest)
    rows = []
    for a, b in combinations(sorted(judged["annotator"].unique()), 2):
        both = judged[judged["annotator"].isin([a, b])]
        r = ordinal_alpha(both, n_boot)
        if r["items"]:
            rows.append({"annotators": f"{a} · {b}", "shared": r["items"], "alpha": r["alpha"], "lo": r["lo"],
                         "hi": r["hi"]})
    return pd.DataFrame(rows, columns=["annotators", "shared", "alpha", "lo", "hi"])


def by_query(latest: pd.DataFrame, n_boot: int = 500) -> pd.DataFrame:
    """One row per query with doubly graded items, the least agreement first."""
    judged = graded(latest)
    rows = []
    for (corpus, query), g in judged.groupby(["corpus", "query"]):
        r = ordinal_alpha(g, n_boot)
        if r["items"]:
            rows.append({"corpus": corpus, "query": query, "items": r["items"], "alpha": r["alpha"],
                         "lo": r["lo"], "hi": r["hi"]})
    out = pd.DataFrame(rows, columns=["corpus", "query", "items", "alpha", "lo", "hi"])
    return out.sort_values(["alpha", "query"], kind="stable", na_position="last").reset_index(drop=True)


def second_opinion(latest: pd.DataFrame, annotator: str) -> pd.DataFrame:
    """Items another annotator should grade: a spread of 2 (0 vs 2), or 1 vs 2 where someone left a
    note, that ``annotator`` has not graded yet; the widest spread first."""
    judged = graded(latest)
    notes = latest.get("note", pd.Series("", index=latest.index)).fillna("").astype(str).str.strip() != ""
    noted = set(map(tuple, latest.loc[notes, ITEM].to_numpy())) if notes.any() else set()
    rows = []
    for key, g in judged.groupby(ITEM):
        if g["annotator"].nunique() < 2 or annotator in set(g["annotator"]):
            continue
        lo, hi = int(g["grade"].min()), int(g["grade"].max())
        if hi - lo >= 2 or ((lo, hi) == (1, 2) and key in noted):
            rows.append({"corpus": key[0], "query": key[1], "doc_id": key[2], "spread": hi - lo,
                         "grades": ", ".join(f"{a}: {int(v)}" for a, v in zip(g["annotator"], g["grade"]))})
    out = pd.DataFrame(rows, columns=["corpus", "query", "doc_id", "spread", "grades"])
    return out.sort_values(["spread", "query"], ascending=[False, True], kind="stable").reset_index(drop=True)
