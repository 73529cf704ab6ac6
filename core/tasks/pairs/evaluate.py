"""One model on the judged pairs: cosine similarity of each pair, the threshold chosen on the
validation pairs at a target false-positive rate, and what that threshold does on the test pairs
(TPR, FPR, AUC, average precision, bootstrap intervals, the confusion table, the worst mistakes).

Roles come from core.tasks.pairs.labels.role_of: train pairs (which fine-tuning may learn from)
are never scored, so a base and its fine-tuned model are compared on the same unseen pairs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.tasks.pairs import metrics as m

TARGET_FPRS = (0.01, 0.05)
MIN_PER_CLASS = 3   # fewer same (or different) pairs in validation or test: no honest threshold


class PairEvalError(ValueError):
    """Not enough judged pairs to score; the message says what to label."""


def pair_scores(vectors: np.ndarray, ids, a_ids, b_ids) -> np.ndarray:
    """Cosine similarity of each (a, b) from a corpus' vectors (rows in the order of `ids`)."""
    where = {d: i for i, d in enumerate(ids)}
    a = np.fromiter((where[x] for x in a_ids), np.int64, len(a_ids))
    b = np.fromiter((where[x] for x in b_ids), np.int64, len(b_ids))
    va, vb = vectors[a].astype(np.float32), vectors[b].astype(np.float32)
    norms = np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1)
    return np.einsum("ij,ij->i", va, vb) / np.maximum(norms, 1e-12)


@dataclass
class PairEval:
    model: str
    target_fpr: float
    threshold: float
    validation: dict            # confusion at the threshold on the validation pairs (where it was chosen)
    test: dict                  # confusion on the test pairs, plus auc, ap and their intervals
    scored: pd.DataFrame        # every scored pair: a_id, b_id, label, score, role, predicted
    intervals: dict = field(default_factory=dict)   # {metric: (lo, hi)} on the test pairs

    def test_pairs(self) -> pd.DataFrame:
        return self.scored[self.scored["role"] == "test"]

    def summary_row(self) -> dict:
        t = self.test
        return {"модель": self.model, "AUC": t["auc"], "AUC от": self.intervals["auc"][0],
                "AUC до": self.intervals["auc"][1], "порог": self.threshold,
                "TPR": t["tpr"], "TPR от": self.intervals["tpr"][0], "TPR до": self.intervals["tpr"][1],
                "FPR": t["fpr"], "FPR до": self.intervals["fpr"][1], "AP": t["ap"],
                "пар в проверке": t["tp"] + t["fn"] + t["fp"] + t["tn"]}


def _counts(frame: pd.DataFrame) -> tuple[int, int]:
    return int((frame["label"] == 1).sum()), int((frame["label"] == 0).sum())


def check_enough(pairs: pd.DataFrame) -> None:
    """Raise PairEvalError unless validation and test each hold both classes."""
    for role, name in (("validation", "валидационной"), ("test", "тестовой")):
        same, diff = _counts(pairs[pairs["role"] == role])
        if same < MIN_PER_CLASS or diff < MIN_PER_CLASS:
            raise PairEvalError(
                f"В {name} части отложенных пар {same} «одно и то же» и {diff} «разные»; нужно хотя бы "
                f"{MIN_PER_CLASS} каждого класса. Отложена половина пар (по стабильному хэшу), так что "
                "разметьте ещё пар — предложенные инструментом соседи дают оба класса.")


def evaluate_pairs(pairs: pd.DataFrame, scores: np.ndarray, model: str, target_fpr: float = 0.05,
                   n_resamples: int = 1000, seed: int = 0) -> PairEval:
    """`pairs`: a_id, b_id, label (1/0, <NA> = not scored), role; `scores` aligned with its rows."""
    frame = pairs.assign(score=np.asarray(scores, dtype=np.float64))
    frame = frame[frame["label"].notna() & frame["role"].isin(["validation", "test"])].copy()
    frame["label"] = frame["label"].astype(int)
    check_enough(frame)
    val, test = frame[frame["role"] == "validation"], frame[frame["role"] == "test"]
    threshold = m.threshold_at_fpr(val["score"], val["label"], target_fpr)
    frame["predicted"] = (frame["score"] >= threshold).astype(int)
    s, y = test["score"].to_numpy(), test["label"].to_numpy()
    result = m.confusion(s, y, threshold) | {"auc": m.auc(s, y), "ap": m.average_precision(s, y)}
    intervals = {"auc": m.bootstrap(m.auc, s, y, n_resamples, seed),
                 "tpr": m.bootstrap(rate_at(threshold, "tpr"), s, y, n_resamples, seed),
                 "fpr": m.bootstrap(rate_at(threshold, "fpr"), s, y, n_resamples, seed)}
    return PairEval(model, target_fpr, threshold, m.confusion(val["score"], val["label"], threshold), result,
                    frame.reset_index(drop=True), intervals)


def rate_at(threshold: float, name: str):
    """stat(scores, labels) -> one rate of the confusion at a fixed threshold, for the bootstrap
    (the threshold stays the one chosen on validation: the interval is about the test pairs)."""
    return lambda s, y: m.confusion(s, y, threshold)[name]


def hardest_mistakes(result: PairEval, n: int = 10) -> pd.DataFrame:
    """Test pairs on the wrong side of the threshold, furthest from it first: "same" pairs the
    model scores lowest, "different" pairs it scores highest."""
    test = result.test_pairs()
    wrong = test[test["predicted"] != test["label"]].copy()
    wrong["margin"] = (wrong["score"] - result.threshold).abs()
    return wrong.sort_values("margin", ascending=False, kind="stable").head(n).reset_index(drop=True)


def threshold_record(result: PairEval, model_id: str, corpus: str) -> dict:
    """What "export the threshold with the model" writes: enough to apply and to audit it."""
    t = result.test
    return {"model": result.model, "model_id": model_id, "corpus": corpus, "similarity": "cosine",
            "rule": "одно и то же, если сходство >= threshold", "threshold": round(result.threshold, 6),
            "target_fpr": result.target_fpr, "chosen_on": "validation",
            "validation": {k: result.validation[k] for k in ("tp", "fp", "tn", "fn", "tpr", "fpr")},
            "test": {k: t[k] for k in ("tp", "fp", "tn", "fn", "tpr", "fpr", "auc", "ap")},
            "test_intervals_95": {k: list(v) for k, v in result.intervals.items()}}
