"""The clearly marked "estimated" column: nDCG@k with the unjudged documents of each top k given
the grade a model suggests (its expected grade), never mixed into the main metrics. It says what
the comparison would look like if the suggestions were right; how far they are is the kappa
reported next to it (core.labels.suggest)."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from core.evaluation.judging import Qrels, Run
from core.evaluation.metrics import ndcg_at_k
from core.evaluation.significance import paired_bootstrap


def filled(runs: Sequence[Run], qrels: Qrels, expected: Mapping[tuple[str, str], float], k: int) -> dict[str, dict]:
    """qrels with each unjudged document of the runs' top k given its suggested expected grade
    (documents without a suggestion stay unjudged); the human grades are never changed."""
    out = {}
    for q, grades in qrels.items():
        g = dict(grades)
        for run in runs:
            for d in list(run.get(q, ()) or ())[:k]:
                if d not in g and (q, d) in expected:
                    g[d] = expected[(q, d)]
        out[q] = g
    return out


def estimated(run_a: Run, run_b: Run, qrels: Qrels, expected: Mapping[tuple[str, str], float], k: int = 10,
              n_resamples: int = 2000, seed: int = 0) -> dict:
    """{"ndcg_a", "ndcg_b", "test" (paired bootstrap B − A), "filled" (holes given a suggestion)}
    over the queries with a positive grade after filling."""
    both = filled([run_a, run_b], qrels, expected, k)
    n_filled = sum(len(both[q]) - len(qrels[q]) for q in qrels)
    a, b = [], []
    for q, g in both.items():
        if any(v is not None and v > 0 for v in g.values()):
            a.append(ndcg_at_k(list(run_a.get(q, ()) or ()), g, k))
            b.append(ndcg_at_k(list(run_b.get(q, ()) or ()), g, k))
    test = paired_bootstrap(np.array(a), np.array(b), n_resamples, seed)
    mean = lambda x: float(np.mean(x)) if len(x) else math.nan   # noqa: E731
    return {"ndcg_a": mean(a), "ndcg_b": mean(b), "test": test, "filled": int(n_filled)}
