"""Comparisons that survive incomplete labels, and a judging queue that settles them fastest.

Pool bias: when the labels come from configuration A's top k (what the Search page shows), an
unjudged result of B counts as irrelevant and B looks worse than it is. This module

* measures coverage of each configuration's top k side by side and says when it is low *or
  unequal* (and which documents of B to judge);
* scores robust variants next to the usual metrics: **condensed** lists (unjudged documents
  removed before ranking, Sakai 2007) and the usual metric restricted to the queries whose top
  k is fully judged for both configurations;
* gives a verdict (B better / worse / no evidence) only on what the labels support, and
  otherwise how many judgements of which documents would settle it;
* gives the judging queue (core.evaluation.judging_queue) what it ranks by: each unjudged
  document's discount difference between the two lists.

Pure functions over plain dicts: ``runs`` are ``{query: [doc ids best first]}``, ``qrels`` are
``{query: {doc_id: grade}}`` (-1 counts as judged, as in core.evaluation.metrics). No streamlit here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from core import display
from core.evaluation.metrics import has_relevant, judged_at_k, mrr_at_k, ndcg_at_k
from core.evaluation.significance import paired_bootstrap

TARGET = 0.9          # coverage target per query: judged@k >= 0.9 for both configurations
LOW = 0.5             # mean judged@k under this: low coverage (as core.evaluation.evaluate.LOW_COVERAGE)
UNEQUAL = 0.1         # mean judged@k of A and B further apart than this: unequal coverage
MIN_QUERIES = 10      # fewer scored queries than this: no verdict

Run = Mapping[str, Sequence[str]]
Qrels = Mapping[str, Mapping[str, int]]

#: one Russian line per robust metric, for the page
EXPLAIN = {
    "judged": "judged@{k} — доля оценённых документов в топ-{k} каждой конфигурации; если у одной она заметно "
              "меньше, её неоценённые результаты засчитаны как нерелевантные, и сравнение ей во вред.",
    "condensed": "Сжатые nDCG@{k} и MRR@{k} — неоценённые документы выброшены из выдачи до подсчёта "
                 "(как будто их не было), поэтому дыры в разметке не наказывают ни одну из конфигураций.",
    "full": "nDCG@{k} на полностью оценённых — обычная метрика только по запросам, где топ-{k} обеих "
            "конфигураций оценён целиком: честна, но запросов меньше.",
}


# --------------------------------------------------------------------------- per-query metrics


def condensed(ranked: Sequence[str], grades: Mapping[str, int]) -> list[str]:
    """The ranking with every unjudged document removed (order kept): the condensed list."""
    return [d for d in ranked if d in grades]


def condensed_ndcg_at_k(ranked: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """nDCG@k of the condensed list (nan when the query has no positive grade)."""
    return ndcg_at_k(condensed(ranked, grades), grades, k)


def condensed_mrr_at_k(ranked: Sequence[str], grades: Mapping[str, int], k: int, min_grade: int = 1) -> float:
    """RR@k of the condensed list."""
    return mrr_at_k(condensed(ranked, grades), grades, k, min_grade)


def unjudged(ranked: Sequence[str], grades: Mapping[str, int], k: int) -> list[str]:
    return list(dict.fromkeys(d for d in list(ranked)[:k] if d not in grades))


def _bounds(a: Sequence[str], b: Sequence[str], grades: Mapping[str, int], k: int) -> tuple[float, float]:
    """(lowest, highest) nDCG@k difference B − A over every grade the unjudged documents of the
    two top k could still get: against B, each one ranked higher by A (or only by A) is relevant
    (grade 2) and each ranked higher by B irrelevant; for B, the other way round. Documents at
    the same rank in both move nothing and are taken as irrelevant. Equal to the usual
    difference when both top k are fully judged."""
    ra = {d: i for i, d in reversed(list(enumerate(a[:k], start=1)))}
    rb = {d: i for i, d in reversed(list(enumerate(b[:k], start=1)))}
    holes = [d for d in dict.fromkeys(list(a[:k]) + list(b[:k])) if d not in grades]
    pro_a = [d for d in holes if discount(ra.get(d), k) > discount(rb.get(d), k)]
    pro_b = [d for d in holes if discount(rb.get(d), k) > discount(ra.get(d), k)]
    out = []
    for up, down in ((pro_a, pro_b), (pro_b, pro_a)):
        g = {**grades, **{d: 2 for d in up}, **{d: 0 for d in down}}
        diff = ndcg_at_k(b, g, k) - ndcg_at_k(a, g, k)
        out.append(0.0 if math.isnan(diff) else diff)     # nothing relevant in that case: neither scores
    return out[0], out[1]


def counts_in_verdict(a: Sequence[str], b: Sequence[str], grades: Mapping[str, int], k: int,
                      min_grade: int = 1) -> bool:
    """Does the verdict count this query: it has a relevant grade, or it was taken up (something of
    the two top k judged) and is not finished. Never the relevant grade alone, or where the
    relevant document sits would pick the queries (see _verdict)."""
    top = dict.fromkeys(list(a)[:k] + list(b)[:k])
    return has_relevant(grades, min_grade) or (any(d in grades for d in top) and any(d not in grades for d in top))


def per_query(run_a: Run, run_b: Run, qrels: Qrels, k: int = 10, min_grade: int = 1) -> pd.DataFrame:
    """One row per query of ``qrels`` (qrels order): coverage and the usual and robust scores of
    both configurations. A query without a relevant judged document is not scored (every score
    nan, ``scored`` False), as in core.evaluation.metrics.evaluate_run: one denominator for every metric.

    Columns: judged_a/b (judged@k), ndcg_a/b, cndcg_a/b, cmrr_a/b, full (top k of both fully
    judged), scored, counted (by the verdict: scored, or partly judged), holes_a/b (unjudged in
    each top k), holes (in their union), diff_lo/hi (bounds of the difference, when counted)."""
    rows = []
    for q, grades in qrels.items():
        a, b = list(run_a.get(q, ()) or ()), list(run_b.get(q, ()) or ())
        ha, hb = unjudged(a, grades, k), unjudged(b, grades, k)
        row = {"query": q, "judged_a": judged_at_k(a, grades, k), "judged_b": judged_at_k(b, grades, k),
               "holes_a": len(ha), "holes_b": len(hb), "holes": len(set(ha) | set(hb))}
        scored = has_relevant(grades, min_grade)
        counted = counts_in_verdict(a, b, grades, k, min_grade)
        nan = math.nan
        row.update({
            "ndcg_a": ndcg_at_k(a, grades, k) if scored else nan,
            "ndcg_b": ndcg_at_k(b, grades, k) if scored else nan,
            "cndcg_a": condensed_ndcg_at_k(a, grades, k) if scored else nan,
            "cndcg_b": condensed_ndcg_at_k(b, grades, k) if scored else nan,
            "cmrr_a": condensed_mrr_at_k(a, grades, k, min_grade) if scored else nan,
            "cmrr_b": condensed_mrr_at_k(b, grades, k, min_grade) if scored else nan,
            "full": not ha and not hb, "scored": scored, "counted": counted})
        row["diff_lo"], row["diff_hi"] = _bounds(a, b, grades, k) if counted else (nan, nan)
        rows.append(row)
    cols = ["query", "judged_a", "judged_b", "ndcg_a", "ndcg_b", "cndcg_a", "cndcg_b", "cmrr_a", "cmrr_b",
            "full", "scored", "counted", "holes_a", "holes_b", "holes", "diff_lo", "diff_hi"]
    return pd.DataFrame(rows, columns=cols).set_index("query")


# --------------------------------------------------------------------------- the comparison


@dataclass
class Verdict:
    sign: int                 # +1 B better, -1 B worse, 0 no evidence
    basis: str                # "bounds": worst / best case of the unjudged documents
    metric: str               # e.g. "ndcg@10"
    test: dict                # paired_bootstrap(A, B) on the basis
    text: str                 # one Russian line
    needed: int = 0           # judgements still missing in the union of the top k (0 when settled)


@dataclass
class Comparison:
    a: str
    b: str
    k: int
    per_query: pd.DataFrame
    summary: pd.DataFrame                     # rows a, b; robust columns side by side
    tests: dict[str, dict]                    # basis -> paired_bootstrap(A, B)
    verdict: Verdict
    warning: str | None                       # low or unequal coverage, naming what to judge
    holes_b: list[tuple[str, str]] = field(default_factory=list)   # (query, doc) unjudged in B's top k
    holes_a: list[tuple[str, str]] = field(default_factory=list)

    @property
    def coverage_unequal(self) -> bool:
        ja, jb = self.summary.loc["A", "judged"], self.summary.loc["B", "judged"]
        return abs(ja - jb) > UNEQUAL

    @property
    def coverage_low(self) -> bool:
        return bool(min(self.summary.loc["A", "judged"], self.summary.loc["B", "judged"]) < LOW)


def _mean(x: pd.Series) -> float:
    x = x.dropna()
    return float(x.mean()) if len(x) else math.nan


def _sign(test: dict) -> int:
    if test.get("n", 0) < MIN_QUERIES or math.isnan(test.get("lo", math.nan)):
        return 0
    return 1 if test["lo"] > 0 else -1 if test["hi"] < 0 else 0


def compare(run_a: Run, run_b: Run, qrels: Qrels, k: int = 10, *, a: str = "A", b: str = "B",
            n_resamples: int = 2000, seed: int = 0, min_grade: int = 1) -> Comparison:
    """Coverage side by side, robust metrics, bootstrap tests and a verdict for B against A.

    Tests (paired bootstrap over the scored queries): "all" the usual nDCG@k (unjudged =
    irrelevant), "condensed" and "condensed_mrr" on condensed lists, "full" nDCG@k on the queries
    whose top k is fully judged for both, "bounds_low" / "bounds_high" the worst / best case for
    B of the unjudged documents (see _bounds). The verdict rests on the bounds only, so it never
    counts on a grade nobody gave; see _verdict.
    """
    pq = per_query(run_a, run_b, qrels, k, min_grade)
    scored = pq[pq["scored"]]
    full = scored[scored["full"]]
    tests = {
        "all": paired_bootstrap(scored["ndcg_a"].to_numpy(), scored["ndcg_b"].to_numpy(), n_resamples, seed),
        "condensed": paired_bootstrap(scored["cndcg_a"].to_numpy(), scored["cndcg_b"].to_numpy(), n_resamples, seed),
        "full": paired_bootstrap(full["ndcg_a"].to_numpy(), full["ndcg_b"].to_numpy(), n_resamples, seed),
        "condensed_mrr": paired_bootstrap(scored["cmrr_a"].to_numpy(), scored["cmrr_b"].to_numpy(), n_resamples,
                                          seed),
    }
    ja, jb = _mean(pq["judged_a"]), _mean(pq["judged_b"])
    summary = pd.DataFrame({
        "judged": [ja, jb],
        "ndcg": [_mean(scored["ndcg_a"]), _mean(scored["ndcg_b"])],
        "cndcg": [_mean(scored["cndcg_a"]), _mean(scored["cndcg_b"])],
        "cmrr": [_mean(scored["cmrr_a"]), _mean(scored["cmrr_b"])],
        "ndcg_full": [_mean(full["ndcg_a"]), _mean(full["ndcg_b"])],
        "n_queries": [len(scored), len(scored)], "n_full": [len(full), len(full)],
        "unjudged": [int(pq["holes_a"].sum()), int(pq["holes_b"].sum())],
    }, index=pd.Index(["A", "B"], name="config"))

    counted = pq[pq["counted"]]
    tests["bounds_low"] = paired_bootstrap(np.zeros(len(counted)), counted["diff_lo"].to_numpy(), n_resamples, seed)
    tests["bounds_high"] = paired_bootstrap(np.zeros(len(counted)), counted["diff_hi"].to_numpy(), n_resamples, seed)
    holes_a = [(q, d) for q in qrels for d in unjudged(run_a.get(q, ()) or (), qrels[q], k)]
    holes_b = [(q, d) for q in qrels for d in unjudged(run_b.get(q, ()) or (), qrels[q], k)]
    union = int(pq["holes"].sum())
    n_holey = int((pq["holes"] > 0).sum())
    verdict = _verdict(tests, k, a, b, union, n_holey, len(scored))
    warning = _warning(ja, jb, k, a, b, holes_a, holes_b, pq)
    return Comparison(a, b, k, pq, summary, tests, verdict, warning, holes_b, holes_a)


def _verdict(tests: dict, k: int, a: str, b: str, union: int, n_holey: int, n_scored: int) -> Verdict:
    """B better only when even the worst case of the unjudged documents for B (diff_lo) has a
    95 % interval above 0; B worse only when even the best case (diff_hi) is below 0. Condensed
    lists are shown but not trusted for the verdict: when one configuration's top k was judged
    and the other's not (labels from A's top 10), the queries that only B answers have no judged
    relevant document at all, and condensed scores still favour A (measured in bench/judging.py).

    The queries it rests on are every scored query and every query taken up but not finished
    (a partly judged query without a relevant grade yet, with its own bounds): counting only the
    scored ones would let the judged part decide which queries count. Judging only the top 2 of
    each list and moving on then scored exactly the queries whose relevant document sits at the
    top, and a B that wins only lower down got a confident wrong verdict (bench/judging.py,
    «выигрыш только глубже»)."""
    low, high = tests["bounds_low"], tests["bounds_high"]
    n = low.get("n", 0)
    sign = 0
    if n >= MIN_QUERIES and low["lo"] > 0:
        sign, test = 1, low
    elif n >= MIN_QUERIES and high["hi"] < 0:
        sign, test = -1, high
    usual = tests["all"]
    if sign:
        word = "лучше" if sign > 0 else "хуже"
        case = "худшем" if sign > 0 else "лучшем"
        text = (f"{b} {word} {a} по nDCG@{k}: {display.decimal(usual['mean_diff'], sign=True)}; даже в {case} для "
                f"{b} случае неоценённых документов разница {display.decimal(test['mean_diff'], sign=True)} "
                f"(95 % интервал {display.decimal(test['lo'], sign=True)} … {display.decimal(test['hi'], sign=True)}, "
                f"{display.count(n, 'запрос', 'запроса', 'запросов')}).")
        return Verdict(sign, "bounds", f"ndcg@{k}", test, text, 0)
    if n < MIN_QUERIES:
        why = f"оценённых запросов мало: {n} (нужно хотя бы {MIN_QUERIES})"
    else:
        why = (f"в зависимости от оценок неоценённых документов разница nDCG@{k} может быть от "
               f"{display.decimal(low['mean_diff'], sign=True)} до {display.decimal(high['mean_diff'], sign=True)}, "
               "и 95 % интервал одного из краёв включает 0")
    if union:
        todo = (f" Чтобы решить, оцените неоценённые документы объединения топ-{k} обеих конфигураций: до "
                f"{display.count(union, 'документа', 'документов', 'документов')} на "
                f"{display.count(n_holey, 'запросе', 'запросах', 'запросах')}, по порядку очереди разметки "
                "(она сначала доводит запросы, которые решение уже учитывает, потом берёт новые целиком).")
    else:
        todo = (" Топ обеих конфигураций оценён целиком: разница меньше, чем можно увидеть на "
                f"{display.count(n_scored, 'запросе', 'запросах', 'запросах')}; нужны новые проверочные запросы.")
    return Verdict(0, "bounds", f"ndcg@{k}", low, f"Нет доказательств разницы: {why}.{todo}", union)


def _warning(ja: float, jb: float, k: int, a: str, b: str, holes_a, holes_b, pq: pd.DataFrame) -> str | None:
    if math.isnan(ja) or math.isnan(jb):
        return None
    unequal = abs(ja - jb) > UNEQUAL
    low = min(ja, jb) < LOW
    if not unequal and not low:
        return None
    cov = f"judged@{k}: {a} {display.decimal(ja, 2)}, {b} {display.decimal(jb, 2)}"
    if unequal:
        worse, holes = (b, holes_b) if jb < ja else (a, holes_a)
        n_q = len({q for q, _ in holes})
        return (f"Покрытие оценками неравное ({cov}): неоценённые результаты {worse} считаются нерелевантными, "
                f"и обычные метрики занижают {worse}. Оцените неоценённые документы топ-{k} {worse}: "
                f"{display.count(len(holes), 'документ', 'документа', 'документов')} на "
                f"{display.count(n_q, 'запросе', 'запросах', 'запросах')}. До тех пор смотрите на сжатые метрики.")
    n = int(pq["holes"].sum())
    return (f"Мало оценок ({cov}): обычные метрики — нижняя граница. Оцените неоценённые документы "
            f"объединения топ-{k}: {display.count(n, 'документ', 'документа', 'документов')}.")


def discount(rank: int | None, k: int) -> float:
    return 1.0 / math.log2(rank + 1) if rank is not None and rank <= k else 0.0


def summary_frame(c: Comparison, names: Sequence[str] | None = None) -> pd.DataFrame:
    """The side-by-side table the page shows (Russian headers), one row per configuration."""
    k = c.k
    frame = c.summary[["judged", "ndcg", "cndcg", "cmrr", "ndcg_full", "n_full", "unjudged"]].copy()
    if frame["ndcg_full"].isna().any():
        # no fully judged query yet: st.dataframe draws a missing number as "None", so say it in text
        frame["ndcg_full"] = [display.MISSING if pd.isna(v) else display.decimal(v) for v in frame["ndcg_full"]]
    frame.columns = [f"judged@{k}", f"nDCG@{k}", f"сжатый nDCG@{k}", f"сжатый MRR@{k}",
                     f"nDCG@{k} (полностью оценённые)", "полностью оценённых запросов", f"неоценённых в топ-{k}"]
    frame.index = list(names) if names is not None else [c.a, c.b]
    frame.index.name = "конфигурация"
    return frame
