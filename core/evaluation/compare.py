"""Side-by-side and blind comparison of two ranked lists for one query."""
from __future__ import annotations

import hashlib
import random
from typing import Mapping, Sequence


def rank_moves(a: Sequence[str], b: Sequence[str]) -> dict[str, str]:
    """For each doc in b: "↑n" / "↓n" / "=" against its rank in a, or "new" if a lacks it."""
    where = {d: i for i, d in enumerate(a)}
    out = {}
    for i, d in enumerate(b):
        if d not in where:
            out[d] = "new"
        elif where[d] == i:
            out[d] = "="
        else:
            out[d] = f"↑{where[d] - i}" if where[d] > i else f"↓{i - where[d]}"
    return out


def blind_pool(a: Sequence[str], b: Sequence[str], query: str) -> list[str]:
    """The union of both top-k lists in an order that hides which model found what: shuffled
    with a seed from the query, so the order is stable across reruns and annotators."""
    pool = list(dict.fromkeys(list(a) + list(b)))
    seed = int(hashlib.sha256(query.encode("utf-8", "surrogatepass")).hexdigest()[:12], 16)
    random.Random(seed).shuffle(pool)
    return pool


def judged_share(ranked: Sequence[str], judged: Mapping[str, object]) -> float:
    """Share of a top-k list that has any label (judged@k for one query)."""
    return sum(d in judged for d in ranked) / len(ranked) if ranked else 0.0
