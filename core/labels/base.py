"""What every label store shares: the record, its checks, the split, and the queries over a read.

Two stores implement one contract (core.labels.store.LabelStore on a CSV file, core.labels.pg_store.PgLabelStore
on PostgreSQL): append / append_many / undo / read / latest / grades_for / history / version.
A label is confirmed (durable) when append returns; history is every row in write order; the
latest row per KEY wins; undo appends a row. See DESIGN.md, "Labels = the eval set".
"""

from __future__ import annotations

import hashlib
import numbers
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import pandas as pd

COLUMNS = ["ts", "annotator", "corpus", "query", "doc_id", "grade", "model", "rank", "split", "note"]
GRADES = {2: "relevant", 1: "partly", 0: "irrelevant", -1: "can't judge"}
KEY = ["annotator", "corpus", "query", "doc_id"]
SPLITS = ("train", "eval")
TEXT_COLUMNS = ["ts", "annotator", "corpus", "query", "doc_id", "model", "split", "note"]


# ---------------------------------------------------------------------------- split


def split_of(query: str, eval_share: float = 0.3) -> str:
    """'train' or 'eval' for a query, the same on every machine and in every process.

    Uses sha256 (not hash(), which is salted per process) of the normalised query, so
    "Cat  meme" and "cat meme" land together and one query never both trains and evaluates.
    """
    if not 0.0 <= eval_share <= 1.0:
        raise ValueError(f"eval_share must be between 0 and 1, got {eval_share}")
    digest = hashlib.sha256(normalise_query(query).encode("utf-8", "surrogatepass")).digest()
    bucket = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    return "eval" if bucket < eval_share else "train"


def normalise_query(query: str) -> str:
    # NFKC so composed/decomposed "й" (and full-width forms) count as the same query.
    return " ".join(unicodedata.normalize("NFKC", query).casefold().split())


# ---------------------------------------------------------------------------- records


class LabelError(ValueError):
    """A label that cannot be stored; the message is meant for the person labelling."""


@dataclass(frozen=True)
class Label:
    annotator: str
    corpus: str
    query: str
    doc_id: str
    grade: int | None  # a key of GRADES, or None = retraction (written by undo)
    model: str = ""
    rank: int | None = None
    note: str = ""
    ts: str = ""  # UTC ISO time, filled at append
    split: str = ""  # filled by split_of at append


@dataclass(frozen=True)
class SkippedLine:
    line_no: int  # physical line (1 = header) where the damaged record starts
    reason: str
    text_excerpt: str


@dataclass
class LabelsRead:
    frame: pd.DataFrame  # COLUMNS, every history row in write order
    skipped: list[SkippedLine] = field(default_factory=list)


def validate(label: Label, eval_share: float) -> Label:
    """Check a label before it is stored; returns it with split filled."""
    if not isinstance(label, Label):
        raise LabelError(f"expected a Label, got {type(label).__name__}")
    for name in ("annotator", "corpus", "query", "doc_id", "model", "note", "ts", "split"):
        value = getattr(label, name)
        if not isinstance(value, str):
            raise LabelError(f"{name} must be text, got {type(value).__name__}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise LabelError(f"{name} contains characters that cannot be saved as UTF-8") from None
    for name in KEY:
        if not getattr(label, name).strip():
            raise LabelError(f"{name} is empty: enter a {name.replace('_', ' ')} before saving a grade")
    grade = label.grade
    if grade is not None:
        if isinstance(grade, bool) or not isinstance(grade, numbers.Integral) or int(grade) not in GRADES:
            choices = ", ".join(f"{g} ({name})" for g, name in GRADES.items())
            raise LabelError(f"grade must be one of {choices}; got {grade!r}")
        grade = int(grade)
    rank = label.rank
    if rank is not None:
        if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or not 0 <= rank < 10**9:
            raise LabelError(f"rank must be a whole number from 0 to 999999999, or empty; got {rank!r}")
        rank = int(rank)
    split = split_of(label.query, eval_share)
    if label.split and label.split != split:
        # A caller-chosen split would break "a query never trains and evaluates at once".
        raise LabelError(f"split {label.split!r} contradicts the query's hashed split {split!r}")
    return replace(label, grade=grade, rank=rank, split=split)


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def label_from_row(row) -> Label:
    def opt_int(v):
        return None if pd.isna(v) else int(v)

    return Label(
        annotator=row["annotator"], corpus=row["corpus"], query=row["query"], doc_id=row["doc_id"],
        grade=opt_int(row["grade"]), model=row["model"], rank=opt_int(row["rank"]), note=row["note"],
    )


def typed_frame(columns: dict[str, list]) -> pd.DataFrame:
    """The public frame from column lists (text as str; grade and rank as int or None -> Int64),
    with exactly the dtypes the file store's parser gives, so both stores compare equal."""
    frame = pd.DataFrame({name: columns[name] for name in COLUMNS}, dtype=object).astype(str)
    for name in ("grade", "rank"):
        frame[name] = pd.array(columns[name], dtype="Int64")
    return frame


def key_mask(frame: pd.DataFrame, annotator: str, corpus: str, query: str, doc_id: str):
    return (
        (frame["annotator"] == annotator) & (frame["corpus"] == corpus)
        & (frame["query"] == query) & (frame["doc_id"] == doc_id)
    )


def undo_target(rows: pd.DataFrame, annotator: str, corpus: str, query: str, doc_id: str) -> Label | None:
    """The row undo appends, given every row of one key in write order; None: nothing to undo.

    Restores the row before the last one (its grade, model, rank, note), or a retraction when
    there was only one. Undoing an undo redoes."""
    if rows.empty:
        return None
    if len(rows) >= 2:
        return label_from_row(rows.iloc[-2])
    if pd.isna(rows["grade"].iloc[-1]):
        return None  # already retracted
    return Label(annotator, corpus, query, doc_id, grade=None)


class LabelQueries:
    """Queries every store answers from its read(); a store defines read()."""

    def read(self) -> LabelsRead:  # pragma: no cover - defined by each store
        raise NotImplementedError

    def latest(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """The current grade per key: last row in write order; retracted keys dropped."""
        if frame is None:
            frame = self.read().frame
        last = frame.drop_duplicates(subset=KEY, keep="last")
        return last[last["grade"].notna()].reset_index(drop=True)

    def grades_for(self, corpus: str, query: str, annotator: str) -> dict[str, dict]:
        """{doc_id: {"mine": grade or None, "others": n}} for docs graded for this query."""
        cur = self.latest()
        cur = cur[(cur["corpus"] == corpus) & (cur["query"] == query)]
        out: dict[str, dict] = {}
        for doc_id, who, grade in zip(cur["doc_id"], cur["annotator"], cur["grade"]):
            entry = out.setdefault(doc_id, {"mine": None, "others": 0})
            if who == annotator:
                entry["mine"] = int(grade)
            else:
                entry["others"] += 1
        return out

    def history(self, corpus: str, query: str, doc_id: str) -> pd.DataFrame:
        """All rows (every annotator, retractions included) for one document, oldest first."""
        frame = self.read().frame
        mask = (frame["corpus"] == corpus) & (frame["query"] == query) & (frame["doc_id"] == doc_id)
        return frame[mask].reset_index(drop=True)
