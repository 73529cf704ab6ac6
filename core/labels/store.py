"""The label store: the team's eval set, one append-only row per judgement.

One row per judgement (see DESIGN.md, "Labels = the eval set"). The latest row per
(annotator, corpus, query, doc_id) wins; earlier rows stay as history. Nothing is ever
rewritten: corrections and undo are new rows.

Two stores keep that contract (core.labels.base): LabelStore below, one CSV file on a local
disk (its format: core.labels.csv_store), and core.labels.pg_store.PgLabelStore, a PostgreSQL table that
several app servers share. `open_label_store(settings)` gives the configured one
(VECSCOPE_LABELS: a path, or a postgresql:// URL). Downloads: core.labels.export.
This module is also the import point for the names the app uses (Label, COLUMNS, export_csv, …).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Iterator

from core.atomic import fsync_path
from core.labels.base import (  # noqa: F401  (re-exported: the app imports them from here)
    COLUMNS,
    GRADES,
    KEY,
    SPLITS,
    Label,
    LabelError,
    LabelQueries,
    LabelsRead,
    SkippedLine,
    key_mask,
    now_utc,
    split_of,
    undo_target,
    validate,
)
from core.labels.csv_store import HEADER, TORN_MARK, encode_rows, parse
from core.labels.export import export_csv, neutralise, spreadsheet_csv  # noqa: F401

_encode_rows = encode_rows  # the name tests and older callers use


class LabelStore(LabelQueries):
    """Append-only CSV of labels, safe for several processes on one machine.

    Writers take an exclusive flock for one os.write + fsync; readers take a shared flock so
    they never see half a row. flock is advisory and local: keep the file on a local disk
    (several servers: use PostgreSQL, core.labels.pg_store).
    """

    def __init__(self, path: str | os.PathLike, eval_share: float = 0.3):
        self.path = Path(path)
        self.eval_share = eval_share
        self._cache: tuple[tuple, LabelsRead] | None = None

    @property
    def location(self) -> str:
        """Where the labels are, for people and cache keys."""
        return str(self.path)

    def version(self) -> str:
        """Changes whenever a row is added (a cheap cache key for the app)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "missing"
        return f"{st.st_mtime_ns}:{st.st_size}"

    # -- writing

    def append(self, label: Label) -> Label:
        """Store one label durably; returns it with ts and split filled."""
        return self.append_many([label])[0]

    def append_many(self, labels: Iterable[Label]) -> list[Label]:
        """Store labels as one write: all of them or (if any is invalid) none."""
        checked = [validate(lab, self.eval_share) for lab in labels]
        if not checked:
            return []
        with self._locked() as fd:
            return self._write(fd, checked)

    def undo(self, annotator: str, corpus: str, query: str, doc_id: str) -> Label | None:
        """Revert this annotator's last change for the key by appending a row (see
        core.labels.base.undo_target). None: nothing to undo."""
        with self._locked() as fd:  # read-decide-append under one lock: two undos can't interleave
            frame = self._snapshot(fd).frame
            restored = undo_target(frame[key_mask(frame, annotator, corpus, query, doc_id)],
                                   annotator, corpus, query, doc_id)
            if restored is None:
                return None
            return self._write(fd, [validate(restored, self.eval_share)])[0]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # closing releases the flock

    def _write(self, fd: int, labels: list[Label]) -> list[Label]:
        now = now_utc()  # stamped under the lock, so ts order follows file order
        labels = [lab if lab.ts else replace(lab, ts=now) for lab in labels]
        size = os.fstat(fd).st_size
        prefix = b""
        if size == 0:
            prefix = HEADER  # under the lock: exactly one writer sees an empty file
        elif os.pread(fd, 1, size - 1) != b"\n":
            prefix = TORN_MARK + b"\n"  # close the torn row so it stays its own damaged line
        payload = prefix + encode_rows(labels)
        written = os.write(fd, payload)  # one O_APPEND write: rows land whole and contiguous
        while written < len(payload):  # short write (rare: signal, disk nearly full)
            written += os.write(fd, payload[written:])
        os.fsync(fd)
        if size == 0:
            fsync_path(self.path.parent)  # make the new file's directory entry durable too
        return labels

    # -- reading

    def read(self) -> LabelsRead:
        """Every row in file order plus the damaged lines that were skipped."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return parse(b"")
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return self._snapshot(fd)
        finally:
            os.close(fd)

    def _snapshot(self, fd: int) -> LabelsRead:
        # The app re-reads on every rerun; the file only grows, so (inode, size, mtime) is a
        # cheap and safe cache key. Copies keep callers from mutating the cached frame.
        st = os.fstat(fd)
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, parse(_pread_all(fd, st.st_size)))
        parsed = self._cache[1]
        return LabelsRead(parsed.frame.copy(), list(parsed.skipped))


def _pread_all(fd: int, size: int) -> bytes:
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def is_database_url(location: str | os.PathLike) -> bool:
    return str(location).startswith(("postgresql://", "postgres://"))


def open_label_store(settings, eval_share: float = 0.3):
    """The configured store: PostgreSQL when settings.labels_url is set (VECSCOPE_LABELS was a
    postgresql:// URL), else the CSV file at settings.labels_path. Both have one interface."""
    url = getattr(settings, "labels_url", "")
    if url:
        from core.labels.pg_store import PgLabelStore
        return PgLabelStore(url, eval_share=eval_share)
    return LabelStore(settings.labels_path, eval_share=eval_share)
