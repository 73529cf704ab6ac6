"""The information need behind a query: a short description of what the user wants, written once
and shown to every annotator above that query's results (what Quepid and Argilla call the
information need). Append-only like the labels: the latest description per (corpus, query)
wins, earlier ones stay as history; a write is on disk (fsync) before it returns.

Queries match as the label split does (NFKC, case and spaces folded), so "Cat  meme" and
"cat meme" share one description. The file sits next to the labels file; it is local to one
machine even when the labels live in PostgreSQL.
"""
from __future__ import annotations

import csv
import fcntl
import io
import os
from pathlib import Path

import pandas as pd

from core.atomic import fsync_path
from core.labels.base import LabelError, normalise_query, now_utc

COLUMNS = ["ts", "author", "corpus", "query", "description"]
MAX_CHARS = 1000


def needs_path(labels_path: str | os.PathLike) -> Path:
    p = Path(labels_path)
    return p.with_name(p.stem + ".needs.csv")


class NeedStore:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def write(self, corpus: str, query: str, description: str, author: str = "") -> dict:
        """Store a description (empty = cleared) durably; returns the stored row."""
        text = " ".join(str(description or "").replace("\x00", "").split())
        if len(text) > MAX_CHARS:
            raise LabelError(f"Описание длиннее {MAX_CHARS} символов ({len(text)}): сократите его.")
        if not str(query or "").strip():
            raise LabelError("Описание относится к запросу, а запрос пустой.")
        row = {"ts": now_utc(), "author": str(author or ""), "corpus": str(corpus), "query": str(query),
               "description": text}
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([row[c] for c in COLUMNS])
        data = buf.getvalue().encode("utf-8", "surrogatepass")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_size == 0:
                data = (",".join(COLUMNS) + "\n").encode() + data
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_path(self.path.parent)
        return row

    def history(self) -> pd.DataFrame:
        if not self.path.exists():
            return pd.DataFrame(columns=COLUMNS)
        with open(self.path, "rb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH)
            raw = f.read()
        text = raw.decode("utf-8", "replace")
        if text and not text.endswith("\n"):          # a torn last line from a crash: drop it
            text = text[: text.rfind("\n") + 1]
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, on_bad_lines="skip")
        return frame.reindex(columns=COLUMNS, fill_value="")

    def get(self, corpus: str, query: str) -> str:
        """The latest description of this query in this corpus, or ""."""
        h = self.history()
        if h.empty:
            return ""
        key = normalise_query(query)
        mine = h[(h["corpus"] == corpus) & (h["query"].map(normalise_query) == key)]
        return str(mine["description"].iloc[-1]) if len(mine) else ""

    def latest(self, corpus: str) -> dict[str, str]:
        """{normalised query: its latest description} of one corpus, from one read of the file
        (cleared descriptions are left out); look a query up by normalise_query(query)."""
        h = self.history()
        out: dict[str, str] = {}
        for q, text in zip(h["query"][h["corpus"] == corpus], h["description"][h["corpus"] == corpus]):
            out[normalise_query(q)] = str(text)
        return {q: t for q, t in out.items() if t}
