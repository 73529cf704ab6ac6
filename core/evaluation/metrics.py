"""Retrieval metrics over graded relevance judgements (pure functions, no streamlit).

Conventions (see DESIGN.md, "Metrics" and "Labels = the eval set"):

* Grades: 2 relevant, 1 partly relevant, 0 irrelevant, -1 can't judge.
* ``ranked`` is a sequence of doc ids, best first. ``grades`` maps *every judged doc of the
  query* (retrieved or not) to its grade.
* A doc missing from ``grades`` is unjudged and counts as irrelevant (gain 0).
* A doc is *relevant* for the binary metrics (MRR, recall, precision, hit rate) when
  ``grade >= min_grade`` (default 1, so "partly" counts). ``min_grade`` must be >= 1, so a
  -1 ("can't judge") is never relevant.
* The gain of a doc for nDCG is ``max(grade, 0)``: -1 contributes nothing.
* -1 counts as *judged* for ``judged_at_k`` only.
* If a doc id occurs more than once in ``ranked`` only its first occurrence can earn gain or
  count as relevant; later copies keep their positions but score as irrelevant, so no
  metric can exceed 1 because of a duplicated result.
* Ranks are 1-based: the first doc has rank 1.
* One denominator per table: a query without any relevant judged doc (no ``grade >=
  min_grade``) has no defined nDCG or recall, and scoring it 0 for MRR/precision/hit rate
  would average those over more queries than nDCG and recall. :func:`evaluate_run` therefore
  leaves such a query out of *every* metric (its row is all ``nan``) and :func:`summarise`
  reports how many were left out (``n_excluded``) beside the number scored (``n_queries``).
  The per-query functions below still return their own value (0 or nan) for such a query.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "ndcg_at_k",
    "mrr_at_k",
    "recall_at_k",
    "precision_at_k",
    "hit_rate_at_k",
    "judged_at_k",
    "has_relevant",
    "excluded_queries",
    "METRICS",
    "DEFAULT_METRICS",
    "parse_metric",
    "evaluate_run",
    "summarise",
]

DocId = Hashable
Grades = Mapping[DocId, int]


# --------------------------------------------------------------------------- helpers


def _check_inputs(ranked: Sequence[DocId], grades: Grades, k: int) -> None:
    if isinstance(ranked, (str, bytes)):
        raise TypeError("ranked must be a sequence of doc ids, not a single string")
    if not isinstance(grades, Mapping):
        raise TypeError(f"grades must be a mapping doc_id -> grade, got {type(grades).__name__}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")


def _check_min_grade(min_grade: int) -> None:
    if isinstance(min_grade, bool) or not isinstance(min_grade, (int, np.integer)) or min_grade < 1:
        raise ValueError(f"min_grade must be an integer >= 1, got {min_grade!r}")


def _first_occurrences(ranked: Sequence[DocId], k: int) -> list[DocId | None]:
    """Top-k of ``ranked`` with repeated doc ids replaced by ``None`` (scores as unjudged)."""
    seen: set = set()
    out: list[DocId | None] = []
    for doc in ranked[:k]:
        if doc in seen:
            out.append(None)
        else:
            seen.add(doc)
            out.append(doc)
    return out


def _gain(grades: Grades, doc: DocId | None) -> float:
    if doc is None:
        return 0.0
    g = grades.get(doc)
    return float(g) if g is not None and g > 0 else 0.0


def _is_relevant(grades: Grades, doc: DocId | None, min_grade: int) -> bool:
    if doc is None:
        return False
    g = grades.get(doc)
    return g is not None and g >= min_grade


def _n_relevant(grades: Grades, min_grade: int) -> int:
    return sum(1 for g in grades.values() if g is not None and g >= min_grade)


# --------------------------------------------------------------------------- per-query


def ndcg_at_k(ranked: Sequence[DocId], grades: Grades, k: int) -> float:
    """Normalised discounted cumulative gain with linear graded gains.

    ``DCG@k  = sum_{i=1..min(k, n)} gain(d_i) / log2(i + 1)``, ``gain = max(grade, 0)``

    ``IDCG@k`` is the DCG@k of the ideal ranking: *all* judged grades of the query (retrieved
    or not) sorted descending. ``nDCG@k = DCG@k / IDCG@k``.

    Returns ``nan`` when the query has no positive grade (IDCG = 0: undefined).
    """
    _check_inputs(ranked, grades, k)
    ideal = sorted((float(g) for g in grades.values() if g is not None and g > 0), reverse=True)[:k]
    if not ideal:
        return math.nan
    idcg = sum(g / math.log2(i + 1) for i, g in enumerate(ideal, start=1))
    dcg = sum(
        _gain(grades, doc) / math.log2(i + 1)
        for i, doc in enumerate(_first_occurrences(ranked, k), start=1)
    )
    return dcg / idcg


def mrr_at_k(ranked: Sequence[DocId], grades: Grades, k: int, min_grade: int = 1) -> float:
    """Reciprocal rank of the first relevant doc in the top k.

    ``RR@k = 1 / rank`` of the first ``d_i`` (i <= k) with ``grade >= min_grade``; 0 if none.
    (MRR is the mean of RR over queries, see :func:`summarise`.)
    """
    _check_inputs(ranked, grades, k)
    _check_min_grade(min_grade)
    for i, doc in enumerate(_first_occurrences(ranked, k), start=1):
        if _is_relevant(grades, doc, min_grade):
            return 1.0 / i
    return 0.0


def recall_at_k(ranked: Sequence[DocId], grades: Grades, k: int, min_grade: int = 1) -> float:
    """Share of the query's relevant judged docs that appear in the top k.

    ``Recall@k = |{relevant docs in top k}| / |{judged docs with grade >= min_grade}|``

    Returns ``nan`` when the query has no relevant judged doc.
    """
    _check_inputs(ranked, grades, k)
    _check_min_grade(min_grade)
    n_rel = _n_relevant(grades, min_grade)
    if n_rel == 0:
        return math.nan
    hits = sum(_is_relevant(grades, d, min_grade) for d in _first_occurrences(ranked, k))
    return hits / n_rel


def precision_at_k(ranked: Sequence[DocId], grades: Grades, k: int, min_grade: int = 1) -> float:
    """Share of the k positions holding a relevant doc.

    ``Precision@k = |{relevant docs in top k}| / k`` -- always divided by k, so a ranking
    shorter than k is penalised for the empty positions.
    """
    _check_inputs(ranked, grades, k)
    _check_min_grade(min_grade)
    hits = sum(_is_relevant(grades, d, min_grade) for d in _first_occurrences(ranked, k))
    return hits / k


def hit_rate_at_k(ranked: Sequence[DocId], grades: Grades, k: int, min_grade: int = 1) -> float:
    """1.0 if any of the top k is relevant (``grade >= min_grade``), else 0.0.

    ``HitRate@k = 1[ |{relevant docs in top k}| > 0 ]``
    """
    _check_inputs(ranked, grades, k)
    _check_min_grade(min_grade)
    return 1.0 if any(_is_relevant(grades, d, min_grade) for d in ranked[:k]) else 0.0


def judged_at_k(ranked: Sequence[DocId], grades: Grades, k: int) -> float:
    """Label coverage of the top k: how far the other metrics can be trusted.

    ``Judged@k = |{i <= min(k, n) : d_i has any grade, -1 included}| / min(k, n)``
    where n = len(ranked); 0.0 for an empty ranking.
    """
    _check_inputs(ranked, grades, k)
    top = ranked[:k]
    if len(top) == 0:
        return 0.0
    return sum(1 for d in top if d in grades) / len(top)


def has_relevant(grades: Grades, min_grade: int = 1) -> bool:
    """Whether the query has a judged doc with ``grade >= min_grade``: only such a query is
    scored by :func:`evaluate_run`."""
    _check_min_grade(min_grade)
    return _n_relevant(grades, min_grade) > 0


def excluded_queries(qrels: Mapping[Hashable, Grades], min_grade: int = 1) -> list[Hashable]:
    """The queries of ``qrels`` left out of every metric: no relevant judged doc (qrels order)."""
    return [qid for qid, grades in qrels.items() if not has_relevant(grades, min_grade)]


# --------------------------------------------------------------------------- registry

MetricFn = Callable[[Sequence[DocId], Grades, int, int], float]

#: name -> ``fn(ranked, grades, k, min_grade)``; graded / coverage metrics ignore min_grade.
METRICS: dict[str, MetricFn] = {
    "ndcg": lambda ranked, grades, k, min_grade=1: ndcg_at_k(ranked, grades, k),
    "mrr": mrr_at_k,
    "recall": recall_at_k,
    "precision": precision_at_k,
    "hit_rate": hit_rate_at_k,
    "judged": lambda ranked, grades, k, min_grade=1: judged_at_k(ranked, grades, k),
}

DEFAULT_METRICS: tuple[str, ...] = ("ndcg@10", "mrr@10", "recall@10", "hit_rate@5", "judged@10")


def parse_metric(spec: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``. Raises ValueError for an unknown name or bad k."""
    if not isinstance(spec, str) or spec.count("@") != 1:
        raise ValueError(f"metric must look like 'name@k' (e.g. 'ndcg@10'), got {spec!r}")
    name, k_str = (s.strip() for s in spec.split("@"))
    name = name.lower()
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r} in {spec!r}; known: {', '.join(METRICS)}")
    if not k_str.isdigit() or int(k_str) < 1:
        raise ValueError(f"k must be a positive integer in {spec!r}")
    return name, int(k_str)


def evaluate_run(
    run: Mapping[Hashable, Sequence[DocId]],
    qrels: Mapping[Hashable, Grades],
    metrics: Iterable[str] = DEFAULT_METRICS,
    min_grade: int = 1,
) -> pd.DataFrame:
    """Score a run (qid -> ranked doc ids) against qrels (qid -> {doc_id: grade}).

    One row per query of ``qrels`` (index ``qid``, in qrels order), one column per metric spec
    (as given, e.g. ``"ndcg@10"``). The evaluated queries are exactly those of ``qrels``: a
    query of qrels missing from ``run`` is scored with an empty ranking; a query of ``run``
    without judgements is not scored (there is nothing to grade it against).

    A query of ``qrels`` without any relevant judged doc (``grade >= min_grade``) is left out
    of every metric: its row is all ``nan`` (for judged@k too), so every column averages the
    same queries. Their ids are in ``df.attrs["excluded"]``; :func:`summarise` counts them.
    """
    specs = list(metrics)
    if len(set(specs)) != len(specs):
        raise ValueError(f"duplicate metric names in {specs}")
    parsed = [(spec, *parse_metric(spec)) for spec in specs]
    _check_min_grade(min_grade)

    rows, excluded = [], []
    qids = list(qrels.keys())
    for qid in qids:
        grades = qrels[qid]
        if not has_relevant(grades, min_grade):
            excluded.append(qid)
            rows.append([math.nan] * len(parsed))
            continue
        ranked = run.get(qid, ())
        if ranked is None:
            ranked = ()
        if not isinstance(ranked, (str, bytes)):
            ranked = list(ranked)
        rows.append([METRICS[name](ranked, grades, k, min_grade) for _, name, k in parsed])

    df = pd.DataFrame(rows, columns=specs, index=pd.Index(qids, name="qid"), dtype=float)
    df.attrs["excluded"] = excluded
    return df


def summarise(per_query: pd.DataFrame) -> dict[str, float]:
    """Mean of each metric column over the scored queries.

    A row that is ``nan`` in every column is a query :func:`evaluate_run` left out (no relevant
    judged doc); the other rows are the scored queries, and every column is averaged over
    them (a stray ``nan`` inside a scored row is ignored). Returns
    ``{column: mean, ..., "n_queries": scored queries, "n_excluded": left-out queries}``;
    a column with no value summarises to nan.
    """
    vals = per_query.to_numpy(dtype=float)
    left_out = np.isnan(vals).all(axis=1) if vals.shape[1] else np.zeros(len(per_query), bool)
    scored = vals[~left_out]
    out: dict[str, float] = {}
    for i, col in enumerate(per_query.columns):
        finite = scored[:, i][~np.isnan(scored[:, i])]
        out[str(col)] = float(finite.mean()) if finite.size else math.nan
    out["n_queries"] = int((~left_out).sum())
    out["n_excluded"] = int(left_out.sum())
    return out
