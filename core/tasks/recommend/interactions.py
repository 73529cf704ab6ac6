"""Interactions (`user_id, item_id, action, ts`) of users with the items of a corpus.

    load_interactions(path, corpus) -> Interactions      # checked against the corpus's ids
    save_interactions(settings, corpus_name, data, name) # atomically, only after the check
    interactions_for(settings, corpus_name) -> Path | None

Checking is all-or-nothing, like a corpus: an unknown item, a missing column, an unreadable
time or an unknown action raises InteractionsError naming the file, the column and the row, and
nothing is saved - the interactions already imported for that corpus stay as they were.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core import display
from core.atomic import atomic_bytes
from core.config import Settings
from core.corpora.catalog import imports_root
from core.corpora.errors import CorpusError
from core.corpora.files import column_list, read_table, row_number
from core.corpora.records import Corpus

COLUMNS = ("user_id", "item_id", "action", "ts")
# what an action says about the item: a like or a forward is taste; a view only "seen"
POSITIVE = {"like": 1.0, "forward": 1.0, "comment": 1.0, "reaction": 1.0}
ACTIONS = ("view", *POSITIVE)
DEMO_FILE = "interactions.csv"    # the bundled readers of the demo posts, beside posts.csv


class InteractionsError(ValueError):
    """An interactions file cannot be used; the message says what, where and how to fix it."""


@dataclass(frozen=True)
class Interactions:
    frame: pd.DataFrame     # user_id, item_id, action, ts (UTC), item (row position in the corpus), positive
    source: str

    @property
    def users(self) -> list[str]:
        return sorted(self.frame["user_id"].unique())


def check(frame: pd.DataFrame, corpus: Corpus, source: str) -> Interactions:
    """The validated interactions with each item's corpus row position."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InteractionsError(f"{source}: нет {'столбца' if len(missing) == 1 else 'столбцов'} "
                                f"{display.quoted(missing)}; нужны {display.quoted(COLUMNS)}, в файле есть "
                                f"{column_list(frame.columns)}.")
    if frame.empty:
        raise InteractionsError(f"{source}: в файле есть заголовок, но нет ни одной строки.")
    frame = frame[list(COLUMNS)].astype(str).apply(lambda c: c.str.strip()).reset_index(drop=True)
    for col in ("user_id", "item_id"):
        _first_bad(frame, frame[col] == "", col, source, "пустое значение")
    position = pd.Series(np.arange(len(corpus)), index=corpus.frame["id"].to_numpy())
    item = frame["item_id"].map(position)
    _first_bad(frame, item.isna(), "item_id", source,
               f"такого поста нет в корпусе «{corpus.name}»", value=True)
    action = frame["action"].str.lower()
    _first_bad(frame, ~action.isin(ACTIONS), "action", source,
               f"неизвестное действие (бывают {', '.join(ACTIONS)})", value=True)
    ts = pd.to_datetime(frame["ts"], errors="coerce", utc=True, format="ISO8601")
    _first_bad(frame, ts.isna(), "ts", source, "не время (нужно как 2025-09-01T08:00:00)", value=True)
    out = frame.assign(action=action, ts=ts, item=item.astype(np.int64), positive=action.map(POSITIVE).fillna(0.0))
    return Interactions(out, source)


def _first_bad(frame: pd.DataFrame, bad: pd.Series, column: str, source: str, what: str, value: bool = False) -> None:
    rows = np.flatnonzero(bad.to_numpy())
    if len(rows):
        i = rows[0]
        shown = f" {display.snippet(frame[column].iat[i], 60)!r}" if value else ""
        raise InteractionsError(f"{source}: в столбце {column!r} в строке {row_number(i)}{shown} — {what} "
                                f"(всего таких строк: {display.number(len(rows))}). Исправьте файл и загрузите снова; "
                                "уже сохранённые взаимодействия не тронуты.")


def load_interactions(path: str | Path, corpus: Corpus) -> Interactions:
    try:
        table = read_table(path)
    except CorpusError as exc:   # the reader's messages (encoding, separator) fit here as they are
        raise InteractionsError(str(exc)) from exc
    return check(table, corpus, str(path))


def stored_path(settings: Settings, corpus_name: str) -> Path:
    """Where imported interactions of a corpus live: a hidden folder the catalog does not list."""
    return imports_root(settings) / ".interactions" / f"{corpus_name}.csv"


def interactions_for(settings: Settings, corpus_name: str) -> Path | None:
    """The imported interactions of a corpus, else the bundled ones for the demo posts, else None."""
    stored = stored_path(settings, corpus_name)
    if stored.exists():
        return stored
    bundled = settings.data_dir / DEMO_FILE
    return bundled if corpus_name == "posts" and bundled.exists() else None


def save_interactions(settings: Settings, corpus: Corpus, data: bytes, name: str) -> Interactions:
    """Check an uploaded file against the corpus, then (only then) replace the stored one atomically."""
    import tempfile
    suffix = Path(name).suffix.lower() if Path(name).suffix.lower() in (".csv", ".parquet", ".pq") else ".csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            table = read_table(path)
        except CorpusError as exc:
            raise InteractionsError(str(exc).replace(str(path), name)) from exc
    checked = check(table, corpus, name)
    target = stored_path(settings, corpus.name)   # stored as CSV whatever came in: one format to read back
    atomic_bytes(target, table[list(COLUMNS)].to_csv(index=False, lineterminator="\n").encode("utf-8"))
    return Interactions(checked.frame, str(target))
