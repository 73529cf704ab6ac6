"""One queue across queries that settles a comparison with the fewest judgements: the unjudged
documents of the pooled top k, the most influential first, blind, with a coverage target per
query and progress toward it (the comparison itself is core.evaluation.judging)."""
from __future__ import annotations

import hashlib
import math
from typing import Sequence

import pandas as pd

from core.evaluation.judging import TARGET, Qrels, Run, discount, unjudged


def _tiebreak(seed: int, query: str, doc: str) -> int:
    h = hashlib.sha256(f"{seed}\0{query}\0{doc}".encode("utf-8", "surrogatepass")).hexdigest()
    return int(h[:12], 16)


def needed_for_target(holes_a: int, holes_b: int, shared: int, k: int, n_a: int, n_b: int,
                      target: float = TARGET) -> int:
    """Fewest judgements that bring judged@k of both top-k lists (lengths n_a, n_b <= k) to
    ``target``, given holes in each and ``shared`` holes in both (one grade fills both)."""
    need_a = max(0, holes_a - int(math.floor(min(n_a, k) * (1 - target) + 1e-9)))
    need_b = max(0, holes_b - int(math.floor(min(n_b, k) * (1 - target) + 1e-9)))
    both = min(shared, max(need_a, need_b))
    return both + max(0, need_a - min(both, need_a)) + max(0, need_b - min(both, need_b))


def judging_queue(run_a: Run, run_b: Run, qrels: Qrels, k: int = 10, *, seed: int = 0, target: float = TARGET,
                  blind: bool = True, queries: Sequence[str] | None = None) -> pd.DataFrame:
    """One queue across queries: the unjudged documents of the union of both top-k lists
    (pooling), the most useful first.

    Impact of one grade of document d on query q: if d turns out relevant, the DCG@k difference
    B − A moves by ``|disc(rank_B) − disc(rank_A)|`` (disc(r) = 1/log2(r+1) inside the top k,
    0 outside), so a document high in one list and low or absent in the other moves it most;
    one at the same rank in both moves nothing. The uncertainty of q is the sum of those over its
    unjudged documents (how far its per-query difference could still swing). Priority = impact x
    uncertainty of its query; ties (e.g. equal ranks) go to documents still needed for the
    coverage target, then a stable seeded shuffle. ``blind`` (default) leaves out the ranks, so
    nothing tells the annotator which configuration found a document.

    Columns: query, doc_id, priority, for_target (needed to bring its query to ``target``)
    and, unless blind, rank_a and rank_b (None when absent from that top k)."""
    qs = list(queries) if queries is not None else list(dict.fromkeys([*qrels, *run_a, *run_b]))
    rows = []
    for q in qs:
        grades = qrels.get(q, {})
        a, b = list(run_a.get(q, ()) or ())[:k], list(run_b.get(q, ()) or ())[:k]
        ra = {d: i for i, d in reversed(list(enumerate(a, start=1)))}
        rb = {d: i for i, d in reversed(list(enumerate(b, start=1)))}
        pool = [d for d in dict.fromkeys(a + b) if d not in grades]
        if not pool:
            continue
        impact = {d: abs(discount(rb.get(d), k) - discount(ra.get(d), k)) for d in pool}
        spread = sum(impact.values())
        ha = sum(1 for d in pool if d in ra)
        hb = sum(1 for d in pool if d in rb)
        shared = sum(1 for d in pool if d in ra and d in rb)
        need = needed_for_target(ha, hb, shared, k, len(a), len(b), target)
        # the documents that fill the target fastest: in both lists first, then the needier list
        fill = sorted(pool, key=lambda d: (-(d in ra and d in rb), -impact[d], _tiebreak(seed, q, d)))
        for_target = set(fill[:need])
        for d in pool:
            row = {"query": q, "doc_id": d, "priority": impact[d] * spread, "for_target": d in for_target,
                   "_moves": impact[d] > 1e-12, "_impact": impact[d], "_tie": _tiebreak(seed, q, d),
                   "_qkey": spread / max(1, sum(1 for v in impact.values() if v > 1e-12)),
                   "_qtie": _tiebreak(seed, q, "")}
            if not blind:
                row["rank_a"], row["rank_b"] = ra.get(d), rb.get(d)
            rows.append(row)
    cols = ["query", "doc_id", "priority", "for_target"] + ([] if blind else ["rank_a", "rank_b"])
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(rows)
    # documents that can move the difference first, a query at a time (a fully judged query's
    # difference is exact, a half-judged one's still spans its bounds): queries where one grade
    # resolves most first, the biggest impact first inside a query; then what the target needs
    out = out.sort_values(["_moves", "_qtie", "_impact", "for_target", "_tie"],
                          ascending=[False, True, False, False, True], kind="stable")
    return out[cols].reset_index(drop=True)


def coverage_progress(run_a: Run, run_b: Run, qrels: Qrels, k: int = 10, target: float = TARGET,
                      queries: Sequence[str] | None = None) -> dict:
    """Progress toward judged@k >= target for both configurations on every query:
    ``{"queries", "at_target", "needed" (fewest judgements to reach it everywhere),
    "holes" (unjudged in the union of the top k)}``."""
    qs = list(queries) if queries is not None else list(dict.fromkeys([*qrels, *run_a, *run_b]))
    at, needed, holes = 0, 0, 0
    for q in qs:
        grades = qrels.get(q, {})
        a, b = list(run_a.get(q, ()) or ())[:k], list(run_b.get(q, ()) or ())[:k]
        ua, ub = set(unjudged(a, grades, k)), set(unjudged(b, grades, k))
        n = needed_for_target(len(ua), len(ub), len(ua & ub), k, len(a), len(b), target)
        at += n == 0
        needed += n
        holes += len(ua | ub)
    return {"queries": len(qs), "at_target": at, "needed": needed, "holes": holes}


def next_item(queue: pd.DataFrame) -> tuple[str, str] | None:
    """(query, doc_id) at the head of the queue, or None when there is nothing left to judge."""
    if queue is None or not len(queue):
        return None
    head = queue.iloc[0]
    return str(head["query"]), str(head["doc_id"])
