"""The eval set's health: agreement between annotators, what to judge next, exports."""
from __future__ import annotations

import hashlib
import re
from itertools import combinations
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from core.labels.store import spreadsheet_csv

ITEM = ["corpus", "query", "doc_id"]


def graded(latest: pd.DataFrame) -> pd.DataFrame:
    """Latest labels with a real grade (0..2): -1 "can't judge" and retractions say nothing."""
    grades = pd.to_numeric(latest["grade"], errors="coerce")
    return latest.assign(grade=grades)[grades >= 0]


def krippendorff_alpha(latest: pd.DataFrame) -> tuple[float, int]:
    """(alpha, number of doubly judged items) with the interval metric, over items graded by
    two or more annotators. 1 = perfect agreement, 0 = chance, nan when nothing to compare.

        alpha = 1 - D_o / D_e
        D_o = 1/n * sum_u 1/(m_u - 1) * sum_{i != j in u} (v_i - v_j)^2
        D_e = 1/(n (n - 1)) * sum_{i != j over all pairable values} (v_i - v_j)^2
    """
    judged = graded(latest)
    units = [g["grade"].to_numpy(float) for _, g in judged.groupby(ITEM) if len(g) >= 2]
    if not units:
        return float("nan"), 0
    values = np.concatenate(units)
    n = len(values)
    d_o = sum(((u[:, None] - u[None, :]) ** 2).sum() / (len(u) - 1) for u in units) / n
    d_e = ((values[:, None] - values[None, :]) ** 2).sum() / (n * (n - 1))
    if d_e == 0:
        return (1.0 if d_o == 0 else float("nan")), len(units)
    return float(1 - d_o / d_e), len(units)


def disagreement_queue(latest: pd.DataFrame) -> pd.DataFrame:
    """Doubly judged items, the widest spread of grades first: what to settle next."""
    judged = graded(latest)
    rows = []
    for (corpus, query, doc_id), g in judged.groupby(ITEM):
        if g["annotator"].nunique() >= 2:
            rows.append({"corpus": corpus, "query": query, "doc_id": doc_id,
                         "spread": int(g["grade"].max() - g["grade"].min()),
                         "grades": ", ".join(f"{a}: {int(v)}" for a, v in zip(g["annotator"], g["grade"]))})
    out = pd.DataFrame(rows, columns=["corpus", "query", "doc_id", "spread", "grades"])
    return out.sort_values(["spread", "query"], ascending=[False, True], kind="stable").reset_index(drop=True)


def pairwise_agreement(latest: pd.DataFrame) -> pd.DataFrame:
    """Per pair of annotators: shared items and the share graded identically."""
    judged = graded(latest)
    wide = judged.pivot_table(index=ITEM, columns="annotator", values="grade", aggfunc="last")
    rows = []
    for a, b in combinations(wide.columns, 2):
        both = wide[[a, b]].dropna()
        if len(both):
            rows.append({"annotators": f"{a} · {b}", "shared": len(both),
                         "exact": float((both[a] == both[b]).mean())})
    return pd.DataFrame(rows, columns=["annotators", "shared", "exact"])


def judgements_per_hour(history: pd.DataFrame) -> pd.DataFrame:
    """Per annotator: rows written, active hours (distinct clock hours with a label), rate."""
    if history.empty:
        return pd.DataFrame(columns=["annotator", "labels", "active_hours", "per_hour"])
    ts = pd.to_datetime(history["ts"], errors="coerce", utc=True)
    frame = history.assign(hour=ts.dt.floor("h")).dropna(subset=["hour"])
    out = frame.groupby("annotator").agg(labels=("doc_id", "size"), active_hours=("hour", "nunique"))
    out["per_hour"] = out["labels"] / out["active_hours"]
    return out.reset_index()


def holes(runs: Mapping[str, Mapping[str, Sequence[str]]], judged: Mapping[str, set], k: int = 10) -> pd.DataFrame:
    """For each query, the documents of each configuration's top-k that nobody judged yet:
    exactly what must be labelled for judged@k to reach 1. Most holes first."""
    queries = sorted({q for run in runs.values() for q in run})
    rows = []
    for q in queries:
        missing = {label: [d for d in run.get(q, [])[:k] if d not in judged.get(q, set())]
                   for label, run in runs.items()}
        union = list(dict.fromkeys(d for docs in missing.values() for d in docs))
        if union:
            rows.append({"query": q, "holes": len(union), **{f"{lab}": len(m) for lab, m in missing.items()}})
    out = pd.DataFrame(rows)
    return out.sort_values("holes", ascending=False, kind="stable").reset_index(drop=True) if len(out) else out


def query_id(corpus: str, query: str) -> str:
    """A stable, whitespace-free id for a (corpus, query), as TREC and Quepid need."""
    return hashlib.sha256(f"{corpus}\0{query}".encode("utf-8", "surrogatepass")).hexdigest()[:12]


def consensus(latest: pd.DataFrame) -> pd.DataFrame:
    """One grade per (corpus, query, doc): the rounded mean of the annotators' grades."""
    judged = graded(latest)
    # half up (1.5 -> 2, 0.5 -> 1), not pandas' half-to-even
    grouped = np.floor(judged.groupby(ITEM, sort=True)["grade"].mean() + 0.5).astype(int)
    return grouped.reset_index()


def trec_doc_id(doc_id: str) -> str:
    """A doc id as one TREC token: qrels and runs are split on whitespace, so whitespace, '%'
    and control characters are percent-encoded (`пост 1` -> `пост%201`, reversible with
    urllib.parse.unquote). Write the run file's ids with the same function."""
    return _TREC_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode("utf-8")), str(doc_id))


_TREC_UNSAFE = re.compile(r"[\s%\x00-\x1f\x7f\u0085\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]")


def trec_qrels(latest: pd.DataFrame) -> str:
    """TREC qrels lines: `query_id 0 doc_id grade`, doc ids through trec_doc_id."""
    c = consensus(latest)
    return "".join(f"{query_id(r.corpus, r.query)} 0 {trec_doc_id(r.doc_id)} {r.grade}\n" for r in c.itertuples())


def quepid_csv(latest: pd.DataFrame) -> bytes:
    """The `query,docid,rating` CSV that Quepid imports, safe to open in a spreadsheet too
    (text quoted and defused as in core.labels.store.spreadsheet_csv; ratings stay numbers)."""
    c = consensus(latest)
    frame = c.rename(columns={"doc_id": "docid", "grade": "rating"})[["query", "docid", "rating"]]
    return spreadsheet_csv(frame, bom=False)
