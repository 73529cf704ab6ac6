"""One Outcomes run from a corpus: target values, feature sets, CV, and what converts.

    evaluate(corpus, target, {"e5-small": vectors}, metadata=["is_ad"]) -> Report
    cluster_means(labels, rows, y) / extremes(report) / neighbour_outcomes(vectors, rows, y, positions)
    predictions_csv(report, ids) -> bytes

Vectors are the corpus's own (row position = corpus row); rows the target leaves out (blank,
zero views) are dropped from every feature set alike, so all models see the same rows and folds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from core.corpora.records import Corpus
from core.retrieval.index import exact_topk
from core.tasks.outcomes.fit import LENGTH, MEAN, METADATA, CVResult, cross_validate, length_features, metadata_features
from core.tasks.outcomes.target import OutcomeError, Target, numeric_candidates, target_values

MIN_ROWS = 20          # fewer usable rows than this: K-fold scores would say nothing


@dataclass
class Report:
    target: Target
    rows: np.ndarray            # corpus row positions scored, aligned with y and the predictions
    y: np.ndarray
    trials: np.ndarray | None   # rate targets: the denominator (views), for "enough views to judge"
    cv: CVResult
    best: str                   # the model with the highest mean R² (baselines included)
    notes: tuple[str, ...]


def evaluate(corpus: Corpus, target: Target, vectors: Mapping[str, np.ndarray],
             metadata: Sequence[str] = (), k: int = 5, seed: int = 0) -> Report:
    frame, source = corpus.frame, corpus.source or corpus.name
    values = target_values(frame, target, source)
    if len(values.y) < max(MIN_ROWS, k):
        raise OutcomeError(f"{source}: для «{target.label()}» годятся только {len(values.y)} строк — "
                           f"нужно хотя бы {max(MIN_ROWS, k)}, чтобы проверка на {k} частях что-то значила.")
    rows = values.rows
    used = set(target.columns)
    clash = [c for c in metadata if c in used]
    if clash:   # the target's own columns as a feature would predict it from itself
        raise OutcomeError(f"Столбец {clash[0]!r} входит в цель «{target.label()}» — уберите его из метаданных.")
    numeric = set(numeric_candidates(frame))
    meta = metadata_features(frame.iloc[rows], list(metadata), list(numeric)) if metadata else None
    features: dict[str, np.ndarray | None] = {MEAN: None, LENGTH: length_features([corpus.texts[i] for i in rows])}
    if meta is not None:
        features[METADATA] = meta
    for name, vecs in vectors.items():
        x = np.asarray(vecs, np.float32)[rows]
        features[name] = x if meta is None else np.hstack([x, meta])
    blocks = {name: meta.shape[1] for name in vectors} if meta is not None else None
    cv = cross_validate(features, values.y, k, seed, values.successes, values.trials, blocks)
    best = str(cv.table.loc[cv.table["r2"].idxmax(), "model"])
    return Report(target, rows, values.y, values.trials, cv, best, values.notes)


def cluster_means(labels: np.ndarray, rows: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """Per cluster of the map: how many scored posts and their mean outcome, best first."""
    frame = pd.DataFrame({"cluster": np.asarray(labels)[rows], "y": y})
    out = frame.groupby("cluster")["y"].agg(n="size", mean="mean").reset_index()
    return out.sort_values("mean", ascending=False, kind="stable").reset_index(drop=True)


def extremes(report: Report, n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(best, worst) corpus row positions by the actual outcome. For a rate only posts with at
    least the median number of views compete: 3 likes of 10 views is luck, not conversion."""
    eligible = np.arange(len(report.y))
    if report.trials is not None:
        eligible = eligible[report.trials >= np.median(report.trials)]
    order = eligible[np.argsort(-report.y[eligible], kind="stable")]
    return report.rows[order[:n]], report.rows[order[::-1][:n]]


def neighbour_outcomes(vectors: np.ndarray, rows: np.ndarray, y: np.ndarray, positions: Sequence[int],
                       k: int = 10) -> pd.DataFrame:
    """For each given post: its k nearest scored posts (itself excluded) and their mean outcome,
    so a best post's neighbours show whether its topic converts or only it does."""
    scored = np.asarray(vectors, np.float32)[rows]
    where = {int(r): i for i, r in enumerate(rows)}
    out = []
    queries = np.asarray(vectors, np.float32)[list(positions)]
    _, near = exact_topk(scored, queries, k + 1)
    for pos, hits in zip(positions, near):
        hits = [h for h in hits if h >= 0 and h != where.get(int(pos), -1)][:k]
        out.append({"position": int(pos), "neighbours": [int(rows[h]) for h in hits],
                    "neighbour_mean": float(np.mean(y[hits])) if hits else np.nan})
    return pd.DataFrame(out)


def predictions_csv(report: Report, ids: Sequence[str]) -> bytes:
    """id, actual, fold and every model's out-of-fold prediction, as UTF-8 CSV (Excel reads BOM)."""
    pred = report.cv.predictions
    frame = pd.DataFrame({"id": np.asarray(ids, dtype=object)[report.rows], "actual": report.y,
                          "fold": pred["fold"] + 1})
    for col in pred.columns.drop(["y", "fold"]):
        frame[f"predicted: {col}"] = pred[col].to_numpy()
    return frame.to_csv(index=False).encode("utf-8-sig")


def data_version(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """A cache key for the values of these columns: the corpus's content hash covers only ids
    and texts, so an edited views column with the same texts must still change the key."""
    import hashlib
    cols = [c for c in dict.fromkeys(columns) if c in frame.columns]
    hashed = pd.util.hash_pandas_object(frame[cols].astype(str), index=False).to_numpy() if cols else np.zeros(0)
    return hashlib.sha256(hashed.tobytes() + "|".join(cols).encode()).hexdigest()[:16]
