"""Pair labels: "are these two records the same thing?", stored with the relevance labels' machinery.

A pair label is a core.labels.base.Label in a CSV of its own (Settings.pair_labels_path,
VECSCOPE_PAIR_LABELS): query = the smaller id, doc_id = the larger, so (a, b) and (b, a) are one
key; grade 1 = same, 0 = different, -1 = can't judge. Everything else is LabelStore's: a label
is fsynced before append returns, history is every row, undo appends a row, torn rows are
reported. The split is split_of(smaller id): pairs sharing an anchor never straddle train/eval.
"""
from __future__ import annotations

import hashlib

import pandas as pd

from core.labels.base import KEY, Label
from core.labels.store import LabelStore

SAME, DIFFERENT, UNSURE = 1, 0, -1
PAIR_GRADES = {SAME: "одно и то же", DIFFERENT: "разные", UNSURE: "не могу оценить"}
# Half the pairs are held out (not the relevance labels' 0.3): the held-out half is split once
# more into validation (the threshold is chosen there) and test (it is reported there).
PAIR_EVAL_SHARE = 0.5
ROLES = ("train", "validation", "test")


def open_pair_store(settings) -> LabelStore:
    return LabelStore(settings.pair_labels_path, eval_share=PAIR_EVAL_SHARE)


def pair_key(a_id: str, b_id: str) -> tuple[str, str]:
    """The order-free key of a pair."""
    a_id, b_id = str(a_id).strip(), str(b_id).strip()
    return (a_id, b_id) if a_id <= b_id else (b_id, a_id)


def pair_label(annotator: str, corpus: str, a_id: str, b_id: str, grade: int | None, *, model: str = "",
               note: str = "") -> Label:
    a, b = pair_key(a_id, b_id)
    return Label(annotator=annotator, corpus=corpus, query=a, doc_id=b, grade=grade, model=model, note=note)


def undo_pair(store: LabelStore, annotator: str, corpus: str, a_id: str, b_id: str) -> Label | None:
    a, b = pair_key(a_id, b_id)
    return store.undo(annotator, corpus, a, b)


def role_of(a_id: str, b_id: str, split: str) -> str:
    """train / validation / test. Eval pairs are halved by a second stable hash of the pair, so
    the threshold is never chosen on the pairs it is reported on."""
    if split != "eval":
        return "train"
    a, b = pair_key(a_id, b_id)
    digest = hashlib.sha256(f"{a}\0{b}".encode("utf-8", "surrogatepass")).digest()
    return "validation" if digest[0] < 128 else "test"


def current_pairs(frame: pd.DataFrame, corpus: str) -> pd.DataFrame:
    """One row per judged pair of a corpus: a_id, b_id, label (1 same / 0 different), votes,
    unsure, split, role. The latest row per annotator counts; several annotators: the majority
    of same/different (a tie, or only "can't judge", leaves label empty: not scored)."""
    rows = frame[frame["corpus"] == corpus]
    rows = rows.drop_duplicates(subset=KEY, keep="last")
    rows = rows[rows["grade"].notna()]
    out = []
    for (a, b), group in rows.groupby(["query", "doc_id"], sort=True):
        grades = [int(g) for g in group["grade"]]
        same, diff = grades.count(SAME), grades.count(DIFFERENT)
        label = SAME if same > diff else DIFFERENT if diff > same else None
        split = "eval" if (group["split"] == "eval").any() else "train"
        out.append({"a_id": a, "b_id": b, "label": label, "votes": same + diff, "unsure": grades.count(UNSURE),
                    "split": split, "role": role_of(a, b, split)})
    columns = ["a_id", "b_id", "label", "votes", "unsure", "split", "role"]
    result = pd.DataFrame(out, columns=columns)
    result["label"] = result["label"].astype("Int64")
    return result


def mine(frame: pd.DataFrame, corpus: str, annotator: str) -> dict[tuple[str, str], int]:
    """{(a, b): grade} this annotator currently has for the corpus."""
    rows = frame[(frame["corpus"] == corpus) & (frame["annotator"] == annotator)]
    rows = rows.drop_duplicates(subset=KEY, keep="last")
    rows = rows[rows["grade"].notna()]
    return {(a, b): int(g) for a, b, g in zip(rows["query"], rows["doc_id"], rows["grade"])}
