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


def _wide(judged: pd.DataFrame) -> pd.DataFrame:
    """annotators x items (columns: corpus, query, doc_id), nan where an annotator did not grade
    the item; only items graded twice or more."""
    wide = judged.pivot_table(index="annotator", columns=ITEM, values="grade", aggfunc="last")
    return wide.loc[:, wide.notna().sum(axis=0) >= 2]


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
    return _summary(_wide(judged).to_numpy(dtype=float), n_boot, seed)


def _summary(m: np.ndarray, n_boot: int, seed: int) -> dict:
    out = {"alpha": _alpha(m), "lo": math.nan, "hi": math.nan, "items": int(m.shape[1])}
    if m.shape[1] < 2 or math.isnan(out["alpha"]) or n_boot < 1:
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


def by_query(latest: pd.DataFrame, n_boot: int = 500, intervals_for: int | None = None) -> pd.DataFrame:
    """One row per query with doubly graded items, the least agreement first. Intervals for the
    first ``intervals_for`` rows only (all when None): a bootstrap per query is the slow part
    (300 queries x 500 resamples took 20 s), and a page shows the worst queries anyway."""
    wide = _wide(graded(latest))
    matrices = {}
    for key in dict.fromkeys(zip(wide.columns.get_level_values(0), wide.columns.get_level_values(1))):
        m = wide.loc[:, key].to_numpy(dtype=float)        # this query's items, one pivot for all queries
        matrices[key] = m[~np.isnan(m).all(axis=1)]
    rows = [{"corpus": c, "query": q, "items": m.shape[1], "alpha": _alpha(m), "lo": math.nan, "hi": math.nan}
            for (c, q), m in matrices.items()]
    out = pd.DataFrame(rows, columns=["corpus", "query", "items", "alpha", "lo", "hi"])
    out = out.sort_values(["alpha", "query"], kind="stable", na_position="last").reset_index(drop=True)
    for i in out.index[:intervals_for]:
        r = _summary(matrices[(out.at[i, "corpus"], out.at[i, "query"])], n_boot, 0)
        out.loc[i, ["lo", "hi"]] = r["lo"], r["hi"]
    return out


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
