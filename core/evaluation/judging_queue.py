"""One queue across queries that settles a comparison with the fewest judgements: the unjudged
documents of the pooled top k, the most influential first, blind, with a coverage target per
query and progress toward it (the comparison itself is core.evaluation.judging)."""
from __future__ import annotations

import hashlib
import math
from typing import Sequence

import pandas as pd

from core.evaluation.judging import TARGET, Qrels, Run, counts_in_verdict, discount, unjudged

STAGES = ("complete", "next", "rest")


def _tiebreak(seed: int, query: str, doc: str) -> int:
    h = hashlib.sha256(f"{seed}\0{query}\0{doc}".encode("utf-8", "surrogatepass")).hexdigest()
    return int(h[:12], 16)


def query_order(queries: Sequence[str], seed: int = 0) -> list[str]:
    """The seeded order in which the queue takes queries up (never by their lists or labels)."""
    return sorted(queries, key=lambda q: _tiebreak(seed, q, ""))


def needed_for_target(holes_a: int, holes_b: int, shared: int, k: int, n_a: int, n_b: int,
                      target: float = TARGET) -> int:
    """Fewest judgements that bring judged@k of both top-k lists (lengths n_a, n_b <= k) to
    ``target``, given holes in each and ``shared`` holes in both (one grade fills both)."""
    need_a = max(0, holes_a - int(math.floor(min(n_a, k) * (1 - target) + 1e-9)))
    need_b = max(0, holes_b - int(math.floor(min(n_b, k) * (1 - target) + 1e-9)))
    both = min(shared, max(need_a, need_b))
    return both + max(0, need_a - min(both, need_a)) + max(0, need_b - min(both, need_b))


def judging_queue(run_a: Run, run_b: Run, qrels: Qrels, k: int = 10, *, seed: int = 0, target: float = TARGET,
                  blind: bool = True, queries: Sequence[str] | None = None,
                  min_grade: int = 1) -> pd.DataFrame:
    """One queue across queries: the unjudged documents of the union of both top-k lists
    (pooling), in the order that settles the comparison with the fewest judgements.

    Impact of one grade of document d on query q: if d turns out relevant, the DCG@k difference
    B − A moves by ``|disc(rank_B) − disc(rank_A)|`` (disc(r) = 1/log2(r+1) inside the top k, 0
    outside); a document at the same rank in both moves nothing. The verdict
    (core.evaluation.judging) counts every query that has a relevant grade or has been taken up,
    at the worst case of its unjudged documents, so the order is, by stage:

    1. ``complete``: every document that moves the difference, on queries already counted, the
       biggest impact first: until they are judged, the worst case counts them against the
       configuration that is ahead, and one such query drags the whole verdict;
    2. ``next``: the next query in a seeded order, all of its moving documents, the biggest impact
       first (one grade takes it up, and from then on it is completed);
    3. ``rest``: the documents at the same rank in both lists (only the coverage target needs them).

    Queries are taken in a seeded order, never by their lists or labels, and a query is judged
    whole once taken up: judging only each list's top 2 and moving on measured two thirds of
    pooling's judgements, but it counted exactly the queries whose relevant document sits at the
    top and gave confident wrong verdicts for a B that wins only lower down (bench/judging.py,
    «выигрыш только глубже»). So what the queue saves over depth-10 pooling is the documents at the
    same rank in both lists and the order within a query: little (see bench/judging.py).
    ``blind`` (default) leaves out the ranks, so nothing tells the annotator which configuration
    found a document.

    Columns: query, doc_id, stage, priority (the impact), for_target (needed to bring its query to
    ``target``) and, unless blind, rank_a and rank_b (None when absent from that top k)."""
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
        counted = counts_in_verdict(a, b, grades, k, min_grade)     # already counted: complete it first
        for_target = _for_target(pool, ra, rb, impact, k, len(a), len(b), target, seed, q)
        qtie = _tiebreak(seed, q, "")
        for d in pool:
            top = min(ra.get(d, k + 1), rb.get(d, k + 1))
            moves = impact[d] > 1e-12
            stage = ("complete" if counted else "next") if moves else "rest"
            # sort key: stage; complete across queries by impact; next and rest a query at a time
            key = (STAGES.index(stage), -impact[d] if stage == "complete" else 0, qtie,
                   -impact[d], top, not for_target[d], _tiebreak(seed, q, d))
            row = {"query": q, "doc_id": d, "stage": stage, "priority": impact[d], "for_target": for_target[d],
                   "_key": key}
            if not blind:
                row["rank_a"], row["rank_b"] = ra.get(d), rb.get(d)
            rows.append(row)
    cols = ["query", "doc_id", "stage", "priority", "for_target"] + ([] if blind else ["rank_a", "rank_b"])
    if not rows:
        return pd.DataFrame(columns=cols)
    rows.sort(key=lambda r: r["_key"])
    return pd.DataFrame(rows)[cols].reset_index(drop=True)


def _for_target(pool, ra, rb, impact, k, n_a, n_b, target, seed, q) -> dict:
    """Which holes of a query to judge to bring it to the coverage target: in both lists first
    (one grade fills both), then the biggest impact."""
    ha = sum(1 for d in pool if d in ra)
    hb = sum(1 for d in pool if d in rb)
    shared = sum(1 for d in pool if d in ra and d in rb)
    need = needed_for_target(ha, hb, shared, k, n_a, n_b, target)
    fill = sorted(pool, key=lambda d: (-(d in ra and d in rb), -impact[d], _tiebreak(seed, q, d)))
    chosen = set(fill[:need])
    return {d: d in chosen for d in pool}


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


def asked_now(a: Sequence[str], b: Sequence[str], grades, k: int = 10) -> set[str]:
    """The documents of one query the queue asks for now (its ``complete`` or ``next`` stage):
    what the blind view puts first when the annotator comes from the queue."""
    queue = judging_queue({"": list(a)}, {"": list(b)}, {"": dict(grades)}, k, queries=[""])
    return set(queue.loc[queue["stage"] != "rest", "doc_id"])


def queue_queries(queue: pd.DataFrame) -> list[str]:
    """The queries of a queue in the order it visits them (those with something asked now first)."""
    if queue is None or not len(queue):
        return []
    now = queue[queue["stage"] != "rest"]["query"].tolist()
    return list(dict.fromkeys(now + queue["query"].tolist()))
