"""The label store in PostgreSQL, so several app servers share one eval set.

The same contract as the CSV store (core.labels.base): append / append_many / undo / read /
latest / grades_for / history / version, the same columns, the same checks, the same frame out.

- One table (default `vecscope_labels`), one row per judgement, `id` = write order. Created on
  first use when the role may; otherwise create it once with `CREATE_SQL` (see README).
- Every write takes one transaction-level advisory lock, stamps `ts` from the server's clock
  under it and commits before returning (`synchronous_commit = on`): a label is confirmed when
  append returns, ids and ts follow commit order on every server, and undo's read-decide-append
  cannot interleave with another writer. Readers never wait.
- `ts` is kept as text, exactly as written (the file store's ISO form), so exports match byte
  for byte. Text is stored as typed, except the one character PostgreSQL text cannot hold: a
  value containing NUL (or starting with the marker) is stored as MARK + the CSV file's
  escaping; read() undoes it exactly.
- read() re-fetches only rows added since the last read (ids only grow under the lock).
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import replace
from typing import Iterable
from urllib.parse import urlsplit

import pandas as pd
import psycopg
from psycopg import sql

from core.labels.base import (
    COLUMNS,
    Label,
    LabelQueries,
    LabelsRead,
    typed_frame,
    undo_target,
    validate,
)
from core.labels.csv_store import escape, unescape

TABLE = "vecscope_labels"
MARK = "\x1a"   # ASCII SUB: starts a value stored escaped (it had a NUL, or began with MARK)
_TS_SQL = """to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"')"""

CREATE_SQL = """
CREATE TABLE IF NOT EXISTS {table} (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts        text NOT NULL,
    annotator text NOT NULL CHECK (annotator <> ''),
    corpus    text NOT NULL CHECK (corpus <> ''),
    query     text NOT NULL CHECK (query <> ''),
    doc_id    text NOT NULL CHECK (doc_id <> ''),
    grade     smallint CHECK (grade IN (-1, 0, 1, 2)),
    model     text NOT NULL,
    rank      integer CHECK (rank >= 0),
    split     text NOT NULL CHECK (split IN ('train', 'eval')),
    note      text NOT NULL
);
CREATE INDEX IF NOT EXISTS {doc_index} ON {table} USING hash (doc_id);
"""
# a hash index: a btree entry is limited to ~2.7 KB, and a query or doc id may be longer


def _store_text(value: str) -> str:
    if "\0" in value or value.startswith(MARK):
        return MARK + escape(value)
    return value


def _load_text(value: str) -> str:
    return unescape(value[1:]) if value.startswith(MARK) else value


class PgLabelStore(LabelQueries):
    """Labels in one PostgreSQL table; safe for many processes on many machines."""

    def __init__(self, url: str, eval_share: float = 0.3, table: str = TABLE, connect_timeout_s: int = 10):
        self.url, self.eval_share, self.table = url, eval_share, table
        self._timeout = connect_timeout_s
        self._t = sql.Identifier(table)
        # one advisory lock per table, the same number in every process
        self._lock_key = int.from_bytes(hashlib.sha256(f"vecscope-labels:{table}".encode()).digest()[:8], "big",
                                        signed=True)
        self._mutex = threading.Lock()   # one connection per store; Streamlit sessions are threads
        self._conn: psycopg.Connection | None = None
        self._pid = os.getpid()
        self._ready = False
        self._cache: tuple[int, int, pd.DataFrame] | None = None   # (rows, max id, frame)

    @property
    def location(self) -> str:
        """The server, database and table, without the password."""
        parts = urlsplit(self.url)
        host = parts.hostname or "localhost"
        user = f"{parts.username}@" if parts.username else ""
        port = f":{parts.port}" if parts.port else ""
        return f"postgresql://{user}{host}{port}{parts.path or '/'} (таблица {self.table})"

    # -- connection

    def _connection(self) -> psycopg.Connection:
        if self._pid != os.getpid():   # a forked child never shares its parent's socket
            self._conn, self._pid, self._cache = None, os.getpid(), None
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.url, connect_timeout=self._timeout, autocommit=False,
                                         application_name="vecscope-labels")
            self._conn.execute("SET synchronous_commit TO on")   # durable at COMMIT, whatever the default
            self._conn.commit()
        if not self._ready:
            self._ensure_table(self._conn)
        return self._conn

    def _ensure_table(self, conn: psycopg.Connection) -> None:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (self.table,)).fetchone()[0]
        conn.commit()
        if not exists:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))   # two servers start at once
                conn.execute(sql.SQL(CREATE_SQL).format(table=self._t, doc_index=sql.Identifier(f"{self.table}_doc")))
        self._ready = True

    def _run(self, work, retry_safe: bool):
        """work(conn, state) under the mutex. A dead connection (a server restart) is replaced,
        and the work retried once when that cannot store anything twice: reads, and writes
        that failed before their COMMIT was sent (work sets state["committing"] first)."""
        with self._mutex:
            for attempt in (1, 2):
                conn, state = self._connection(), {}
                try:
                    return work(conn, state)
                except psycopg.OperationalError:
                    dead = conn.broken or conn.closed
                    if dead:
                        self._conn = None
                    else:
                        _rollback(conn)
                    if not (dead and attempt == 1 and (retry_safe or not state.get("committing"))):
                        raise
                except BaseException:
                    _rollback(conn)
                    raise

    # -- writing

    def append(self, label: Label) -> Label:
        """Store one label durably; returns it with ts and split filled."""
        return self.append_many([label])[0]

    def append_many(self, labels: Iterable[Label]) -> list[Label]:
        """Store labels in one transaction: all of them or (if any is invalid) none."""
        checked = [validate(lab, self.eval_share) for lab in labels]
        if not checked:
            return []
        return self._run(lambda conn, state: self._write(conn, checked, state), retry_safe=False)

    def undo(self, annotator: str, corpus: str, query: str, doc_id: str) -> Label | None:
        """Revert this annotator's last change for the key by appending a row (see
        core.labels.base.undo_target). None: nothing to undo."""
        def work(conn, state):
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
            rows = conn.execute(
                sql.SQL("SELECT {} FROM {} WHERE doc_id = %s AND annotator = %s AND corpus = %s AND query = %s "
                        "ORDER BY id").format(_columns(), self._t),
                [_store_text(v) for v in (doc_id, annotator, corpus, query)]).fetchall()
            restored = undo_target(_frame(rows), annotator, corpus, query, doc_id)
            if restored is None:
                conn.rollback()
                return None
            out = self._insert(conn, [validate(restored, self.eval_share)])
            state["committing"] = True
            conn.commit()
            return out[0]
        return self._run(work, retry_safe=False)

    def _write(self, conn: psycopg.Connection, labels: list[Label], state: dict) -> list[Label]:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))   # held until COMMIT
        out = self._insert(conn, labels)
        state["committing"] = True
        conn.commit()   # returns only once the rows are durable
        return out

    def _insert(self, conn: psycopg.Connection, labels: list[Label]) -> list[Label]:
        now = conn.execute(f"SELECT {_TS_SQL}").fetchone()[0]   # the server's clock, under the lock
        labels = [lab if lab.ts else replace(lab, ts=now) for lab in labels]
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            self._t, _columns(), sql.SQL(", ").join([sql.Placeholder()] * len(COLUMNS)))
        with conn.cursor() as cur:
            cur.executemany(query, [
                (_store_text(lab.ts), _store_text(lab.annotator), _store_text(lab.corpus), _store_text(lab.query),
                 _store_text(lab.doc_id), lab.grade, _store_text(lab.model), lab.rank, lab.split,
                 _store_text(lab.note)) for lab in labels])
        return labels

    # -- reading

    def version(self) -> str:
        """Changes whenever a row is added (a cheap cache key for the app)."""
        def work(conn, state):
            n, top = conn.execute(sql.SQL("SELECT count(*), coalesce(max(id), 0) FROM {}").format(self._t)).fetchone()
            conn.rollback()
            return f"{n}:{top}"
        return self._run(work, retry_safe=True)

    def read(self) -> LabelsRead:
        """Every row in write order (nothing is ever skipped: the table's checks keep bad rows out)."""
        def work(conn, state):
            # one snapshot for the count and the new rows, so the two always agree
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                n, top = conn.execute(sql.SQL("SELECT count(*), coalesce(max(id), 0) FROM {}")
                                      .format(self._t)).fetchone()
                cached = self._cache
                if cached and (cached[0], cached[1]) == (n, top):
                    return cached[2]
                since = cached[1] if cached and cached[1] <= top else 0
                select = sql.SQL("SELECT {} FROM {} WHERE id > %s ORDER BY id").format(_columns(), self._t)
                frame = _frame(conn.execute(select, (since,)).fetchall())
                if since and cached[0] + len(frame) == n:
                    frame = pd.concat([cached[2], frame], ignore_index=True)
                elif since:   # rows vanished or were added around the lock (a hand edit): read everything
                    frame = _frame(conn.execute(select, (0,)).fetchall())
                self._cache = (n, top, frame)
                return frame
            finally:
                conn.rollback()
        return LabelsRead(self._run(work, retry_safe=True).copy(), [])

    def close(self) -> None:
        with self._mutex:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


def _columns() -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, COLUMNS))


def _rollback(conn: psycopg.Connection) -> None:
    if not conn.closed:
        try:
            conn.rollback()
        except psycopg.Error:
            pass


def _frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of COLUMNS from the table -> the frame the file store's read() gives."""
    cols: dict[str, list] = {name: [] for name in COLUMNS}
    names = list(enumerate(COLUMNS))
    for row in rows:
        for i, name in names:
            value = row[i]
            cols[name].append(value if name in ("grade", "rank") else _load_text(value))
    return typed_frame(cols)


def create_sql(table: str = TABLE) -> str:
    """The table's DDL as plain SQL, for an owner to run once (`python -m core.labels.pg_store`)."""
    quote = lambda name: '"' + name.replace('"', '""') + '"'  # noqa: E731
    return CREATE_SQL.format(table=quote(table), doc_index=quote(f"{table}_doc")).strip() + "\n"


if __name__ == "__main__":
    print(create_sql(), end="")
