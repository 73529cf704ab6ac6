"""Suggested grades: a small model trained on this team's own judgements proposes a grade, with a
confidence, for every unjudged result. A suggestion is a hint: it is never written as a label,
and its agreement with held-out human labels (quadratic-weighted Cohen's kappa, out of fold by
query) is reported next to it, so the team knows how far to trust it.

Features of a (query, document) pair, per vector space (each compared configuration's encoder):
its cosine, its rank among the whole corpus (log2), and its gap to the query's best cosine; plus
the BM25 score relative to the query's best and its rank, and the lengths of both texts. The
model is scikit-learn's multinomial logistic regression on standardised features: a few dozen
labels train it in milliseconds and it gives calibrated-enough probabilities for a confidence.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

MIN_LABELS = 30        # fewer judged pairs than this (or a single grade among them): no suggestions
MIN_QUERIES = 5        # the out-of-fold agreement needs labels from at least this many queries


@dataclass(frozen=True)
class Space:
    """One configuration's vectors: query vectors by query text and the corpus matrix (rows =
    corpus positions), both L2-normalised as every vecscope encoder returns them."""
    queries: Mapping[str, np.ndarray]
    docs: np.ndarray


def features(pairs: Sequence[tuple[str, str]], position: Mapping[str, int], spaces: Sequence[Space],
             bm25: Mapping[str, np.ndarray] | None = None, doc_lengths: np.ndarray | None = None) -> np.ndarray:
    """One row per (query, doc_id) pair; ``position`` maps doc ids to corpus rows, ``bm25`` query ->
    scores over the corpus. Queries are scored against the whole corpus once each."""
    cols: list[np.ndarray] = []
    queries = list(dict.fromkeys(q for q, _ in pairs))
    rows = np.array([position[d] for _, d in pairs], dtype=int)
    qidx = {q: i for i, q in enumerate(queries)}
    which = np.array([qidx[q] for q, _ in pairs], dtype=int)
    for space in spaces:
        qv = np.stack([space.queries[q] for q in queries]).astype(np.float32)
        cols += _score_columns(qv @ space.docs.T, which, rows)
    if bm25 is not None:
        cols += _score_columns(np.stack([bm25[q] for q in queries]).astype(np.float32), which, rows, relative=True)
    if doc_lengths is not None:
        cols.append(np.log1p(np.asarray(doc_lengths, dtype=float)[rows]))
    cols.append(np.log1p(np.array([len(q) for q, _ in pairs], dtype=float)))
    return np.column_stack(cols) if cols else np.zeros((len(pairs), 0))


def _score_columns(scores: np.ndarray, which: np.ndarray, rows: np.ndarray, relative: bool = False) -> list:
    """The pair's score, its rank among the corpus (log2) and its gap to the query's best."""
    own = scores[which, rows]
    best = scores.max(axis=1)[which]
    rank = (scores[which] > own[:, None]).sum(axis=1) + 1
    value = own / np.where(best > 0, best, 1.0) if relative else own
    return [value, np.log2(rank), best - own]


@dataclass
class Suggester:
    model: object            # sklearn Pipeline(StandardScaler, LogisticRegression)
    grades: np.ndarray       # the grade of each probability column
    n_labels: int

    def suggest(self, X: np.ndarray) -> pd.DataFrame:
        """grade (the likeliest), confidence (its probability) and expected (the mean grade)."""
        if not len(X):
            return pd.DataFrame(columns=["grade", "confidence", "expected"])
        proba = self.model.predict_proba(X)
        best = proba.argmax(axis=1)
        return pd.DataFrame({"grade": self.grades[best].astype(int), "confidence": proba.max(axis=1),
                             "expected": proba @ self.grades.astype(float)})


def fit(X: np.ndarray, y: Sequence[int]) -> Suggester | None:
    """The model, or None with too few labels or a single grade among them. Grade -1 ("can't
    judge") says nothing about relevance and must be left out by the caller."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(y, dtype=int)
    if len(y) < MIN_LABELS or len(np.unique(y)) < 2:
        return None
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X, y)
    return Suggester(model, model.classes_, len(y))


def agreement(X: np.ndarray, y: Sequence[int], groups: Sequence[str], folds: int = 5) -> dict:
    """How far to trust suggestions: out-of-fold predictions with whole queries held out
    (GroupKFold: a query's labels never train the model that grades it), compared with the human
    grades. ``{"kappa" (quadratic-weighted Cohen's), "exact" (share identical), "n", "queries"}``;
    nan when there is too little to say."""
    from sklearn.model_selection import GroupKFold

    y = np.asarray(y, dtype=int)
    groups = np.asarray(groups)
    n_groups = len(np.unique(groups))
    out = {"kappa": math.nan, "exact": math.nan, "n": int(len(y)), "queries": int(n_groups)}
    if len(y) < MIN_LABELS or n_groups < MIN_QUERIES or len(np.unique(y)) < 2:
        return out
    pred = np.full(len(y), -99)
    for train, test in GroupKFold(n_splits=min(folds, n_groups)).split(X, y, groups):
        s = fit(X[train], y[train]) if len(np.unique(y[train])) > 1 else None
        if s is None:
            continue
        pred[test] = s.suggest(X[test])["grade"].to_numpy()
    ok = pred != -99
    if ok.sum() < MIN_LABELS or len(np.unique(np.concatenate([y[ok], pred[ok]]))) < 2:
        return out
    out["kappa"], out["exact"] = kappa_exact(y[ok], pred[ok])
    out["n"] = int(ok.sum())
    return out


def kappa_exact(human: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """(quadratic-weighted Cohen's kappa, share identical) of predicted grades against human ones:
    how the page reports any source of hints, the team's model or an LLM judge."""
    from sklearn.metrics import cohen_kappa_score
    return (float(cohen_kappa_score(human, predicted, weights="quadratic")),
            float((np.asarray(human) == np.asarray(predicted)).mean()))


def kappa_words(kappa: float) -> str:
    """One Russian line on what the kappa means (Landis & Koch's bands)."""
    if math.isnan(kappa):
        return "согласие с людьми пока не измерить: мало оценок"
    if kappa >= 0.8:
        return "почти как у второго аннотатора"
    if kappa >= 0.6:
        return "заметное согласие: подсказкам можно доверять как черновику"
    if kappa >= 0.4:
        return "умеренное согласие: проверяйте каждую подсказку"
    return "слабое согласие: подсказки почти ничего не говорят"


# --------------------------------------------------------------------------- on a corpus


def query_space(encoder, queries: Sequence[str], doc_vectors: np.ndarray, cache_root) -> Space:
    """A configuration's space for these queries: query vectors through the embedding cache (a
    query embedded once is never embedded again), the corpus matrix as the index holds it."""
    from core.retrieval.cache import EmbeddingCache, embed_cached
    queries = list(dict.fromkeys(queries))
    qv = embed_cached(encoder, queries, EmbeddingCache(cache_root, encoder.id), "query") if queries else \
        np.zeros((0, doc_vectors.shape[1]), np.float32)
    return Space(dict(zip(queries, qv)), np.asarray(doc_vectors, dtype=np.float32))


def labelled(qrels: Mapping[str, Mapping[str, int]], position: Mapping[str, int]) -> tuple[list, np.ndarray]:
    """(pairs, grades) a model can learn from: grades 0..2 of documents still in the corpus."""
    pairs, y = [], []
    for q, grades in qrels.items():
        for d, g in grades.items():
            if g is not None and g >= 0 and d in position:
                pairs.append((q, d))
                y.append(int(g))
    return pairs, np.array(y, dtype=int)


@dataclass
class Suggestions:
    """A model trained on a corpus' labels, its measured agreement, and what it says per pair."""
    model: Suggester | None
    agreement: dict
    by_pair: dict            # (query, doc_id) -> (grade, confidence, expected)

    def get(self, query: str, doc_id: str):
        return self.by_pair.get((query, doc_id))


def suggest_for(qrels: Mapping[str, Mapping[str, int]], wanted: Sequence[tuple[str, str]],
                position: Mapping[str, int], spaces: Sequence[Space], bm25=None,
                doc_lengths: np.ndarray | None = None) -> Suggestions:
    """Train on ``qrels`` and suggest for every pair of ``wanted`` not judged there. ``bm25`` is a
    core.retrieval.lexical.BM25Index (or None); every query of qrels and wanted must be in spaces."""
    pairs, y = labelled(qrels, position)
    queries = list(dict.fromkeys([q for q, _ in pairs] + [q for q, _ in wanted]))
    scores = {q: bm25.scores(q) for q in queries} if bm25 is not None else None
    X = features(pairs, position, spaces, scores, doc_lengths) if pairs else np.zeros((0, 0))
    model = fit(X, y) if len(pairs) else None
    agree = agreement(X, y, [q for q, _ in pairs]) if model is not None else \
        {"kappa": math.nan, "exact": math.nan, "n": len(pairs), "queries": len({q for q, _ in pairs})}
    todo = [(q, d) for q, d in dict.fromkeys(wanted) if d in position and d not in qrels.get(q, {})]
    by_pair = {}
    if model is not None and todo:
        out = model.suggest(features(todo, position, spaces, scores, doc_lengths))
        by_pair = {p: (int(g), float(c), float(e)) for p, g, c, e in
                   zip(todo, out["grade"], out["confidence"], out["expected"])}
    return Suggestions(model, agree, by_pair)
