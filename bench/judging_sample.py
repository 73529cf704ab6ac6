"""Settle a comparison from a random sample of judgements: an unbiased estimate with an honest interval.

A measured alternative to the product's judging queue, kept in bench/ (not in core/) because it
did not earn its place: over 8 seeds on the demo memes it needed ~0.7x the judgements of depth-10
pooling at the median, and gave wrong-sign verdicts on the way (see bench/judging.py).

Judging the whole pooled top k of every query settles B vs A exactly, but most of those grades
move nothing. This is the sampling design of statAP (Aslam, Pavlu & Yilmaz 2006) applied to the
nDCG@k *difference*, in two stages:

1. Queries in a seeded random order; the comparison uses the first n of them, so the queries it
   rests on are a simple random sample of all queries. A query whose two top k put every
   document at the same rank has a difference of exactly 0 and needs no judgement.
2. Inside a query, document d moves DCG@k(B) − DCG@k(A) by ``w_d · gain_d`` with
   ``w_d = disc(rank_B) − disc(rank_A)`` (disc(r) = 1/log2(r+1) in the top k, 0 outside). Each
   is sampled independently (Poisson) with probability ``pi_d = min(1, |w_d| · sqrt(p_d) / tau)``
   — the variance-optimal allocation for a prior relevance ``p_d = 1 / (1 + best rank)`` — and
   tau set so a query asks for ``per_query`` judgements on average. The draw is a seeded hash of
   (query, document): the same design on every machine, with no state to store.

The Horvitz–Thompson estimate of a query's difference, ``sum over sampled d of w_d · gain_d /
pi_d``, divided by the query's IDCG@k over its judged documents, is unbiased for the DCG part
whatever the grades turn out to be; the paired bootstrap over the sampled queries then covers
both the spread between queries and the sampling inside them. A document judged elsewhere (on
the Search page) is reused when the design samples it and otherwise left out, so the labels
people chose to give never bias the estimate.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from core.evaluation.judging import MIN_QUERIES, Qrels, Run, discount
from core.evaluation.significance import paired_bootstrap

PER_QUERY = 4.0      # judgements a query asks for on average (measured in bench/judging.py)


def _uniform(seed: int, *parts: str) -> float:
    """A seeded draw in [0, 1), the same for the same (seed, parts) everywhere."""
    h = hashlib.sha256("\0".join([str(seed), *parts]).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def _ranks(ranked: Sequence[str], k: int) -> dict[str, int]:
    return {d: i for i, d in reversed(list(enumerate(list(ranked)[:k], start=1)))}


@dataclass(frozen=True)
class Design:
    """Which queries in which order, which documents each samples, with what probability."""
    order: list[str]              # every query, seeded random order
    docs: pd.DataFrame            # query, doc_id, weight, prior, pi, sampled (moving documents only)
    moving: list[str]             # queries with a document that can move the difference, in order
    seed: int
    k: int
    by_query: dict = field(default_factory=dict, repr=False)   # query -> its sampled rows, likeliest first

    def sampled(self, query: str) -> pd.DataFrame:
        return self.by_query.get(query, self.docs.iloc[0:0])


def design(run_a: Run, run_b: Run, k: int = 10, *, queries: Sequence[str] | None = None, seed: int = 0,
           per_query: float = PER_QUERY) -> Design:
    qs = list(dict.fromkeys(queries if queries is not None else [*run_a, *run_b]))
    order = sorted(qs, key=lambda q: _uniform(seed, "query", q))
    rows = []
    for q in order:
        ra, rb = _ranks(run_a.get(q, ()) or (), k), _ranks(run_b.get(q, ()) or (), k)
        for d in dict.fromkeys([*ra, *rb]):
            w = discount(rb.get(d), k) - discount(ra.get(d), k)
            if abs(w) > 1e-12:
                best = min(r for r in (ra.get(d), rb.get(d)) if r is not None)
                rows.append({"query": q, "doc_id": d, "weight": w, "prior": 1.0 / (1 + best)})
    docs = pd.DataFrame(rows, columns=["query", "doc_id", "weight", "prior"])
    moving = list(dict.fromkeys(docs["query"]))
    size = (docs["weight"].abs() * np.sqrt(docs["prior"])).to_numpy()
    docs["pi"] = _probabilities(size, per_query * len(moving))
    docs["sampled"] = [_uniform(seed, "doc", q, d) < p for q, d, p in zip(docs["query"], docs["doc_id"], docs["pi"])]
    picked = docs[docs["sampled"]].sort_values("pi", ascending=False, kind="stable")
    return Design(order, docs, moving, seed, k, {q: g for q, g in picked.groupby("query", sort=False)})


def _probabilities(size: np.ndarray, total: float) -> np.ndarray:
    """pi = min(1, size / tau) with sum(pi) = total (all 1 when total covers every document)."""
    if not len(size) or total >= len(size):
        return np.ones(len(size))
    lo, hi = 1e-12, float(size.sum()) / max(total, 1e-12) * 2 + 1e-12
    for _ in range(100):                     # bisection on tau: sum(pi) falls as tau grows
        tau = (lo + hi) / 2
        if np.minimum(1.0, size / tau).sum() > total:
            lo = tau
        else:
            hi = tau
    return np.minimum(1.0, size / hi)


def _idcg(grades: Mapping[str, int], k: int) -> float:
    ideal = sorted((float(g) for g in grades.values() if g is not None and g > 0), reverse=True)[:k]
    return sum(g / math.log2(i + 1) for i, g in enumerate(ideal, start=1))


def query_estimate(dsg: Design, query: str, grades: Mapping[str, int]) -> float | None:
    """Horvitz–Thompson nDCG@k difference B − A of one query, or None while a sampled document
    is unjudged. -1 ("can't judge") counts as judged with no gain, as in core.evaluation.metrics."""
    sample = dsg.sampled(query)
    if any(d not in grades for d in sample["doc_id"]):
        return None
    total = sum(w * max(grades[d], 0) / p for d, w, p in zip(sample["doc_id"], sample["weight"], sample["pi"]))
    if total == 0:
        return 0.0
    return total / _idcg(grades, dsg.k)


@dataclass
class Estimate:
    test: dict                   # paired_bootstrap over the sampled queries, scaled to all queries
    done: int                    # moving queries at the front of the order whose sample is judged
    moving: int                  # queries that can move the difference at all
    queries: int                 # every query
    sign: int                    # +1 B better, -1 B worse, 0 not settled


def estimate(dsg: Design, qrels: Qrels, *, n_resamples: int = 2000, seed: int = 0) -> Estimate:
    """The estimate from the longest judged prefix of the design's query order (a random sample
    of the moving queries); the mean over all queries counts every other query as exactly 0."""
    values = []
    for q in dsg.moving:
        v = query_estimate(dsg, q, qrels.get(q, {}))
        if v is None:
            break
        values.append(v)
    scale = len(dsg.moving) / max(1, len(dsg.order))
    d = np.asarray(values, dtype=float) * scale
    test = paired_bootstrap(np.zeros(len(d)), d, n_resamples, seed)
    sign = 0
    if test["n"] >= MIN_QUERIES and test["n"] and not math.isnan(test["lo"]):
        sign = 1 if test["lo"] > 0 else -1 if test["hi"] < 0 else 0
    return Estimate(test, len(values), len(dsg.moving), len(dsg.order), sign)


def sample_queue(dsg: Design, qrels: Qrels) -> list[tuple[str, str]]:
    """(query, doc_id) still to judge for the design, in the order the estimate uses them: the
    next queries of the random order, inside each the documents most likely to matter first."""
    out = []
    for q in dsg.moving:
        grades = qrels.get(q, {})
        out += [(q, d) for d in dsg.sampled(q)["doc_id"] if d not in grades]
    return out
