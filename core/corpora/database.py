"""Corpora and embeddings from PostgreSQL (psycopg 3).

The connection URL comes from the caller (the page reads Streamlit secrets) or from
$VECSCOPE_PG_URL; it is never written anywhere with its password.

What keeps a typed query from changing anything (each layer covers holes in the others):

  * The role. The tool expects a role that may only SELECT (README, "Database role"). A
    superuser, a role that can become one, or a member of pg_read_server_files /
    pg_write_server_files / pg_execute_server_program / pg_signal_backend or with REPLICATION
    is refused before the query runs: such a role can read and write files on the database
    host and stop other sessions, and no transaction setting prevents that.
  * The transaction. The query runs in a READ ONLY transaction that is always ROLLED BACK,
    never committed: READ ONLY alone still lets lo_from_bytea/lowrite/lo_unlink change large
    objects, and rolling back undoes every transactional change.
  * The statement. A server-side cursor (`DECLARE … CURSOR FOR <sql>`) takes exactly one
    SELECT/VALUES/WITH statement (`select 1; commit; delete …` is refused), and functions whose
    effects a rollback cannot undo (pg_terminate_backend, lo_export, set_config, dblink, …)
    are refused by name - a safety net, not the boundary: the role is.
  * The clock. statement_timeout limits each FETCH on the server, and a client-side watchdog
    limits the whole query by wall clock and cancels it on the server when it runs over
    (a query can reset statement_timeout itself, or spread its work over many batches).

A query result goes through the same validation and atomic import as a file
(core.corpora.catalog), and its SQL is stored with the import so `refresh` can re-run it; since the
embedding cache is keyed by text hash, a refresh embeds only new or changed rows.
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from core.config import Settings
from core.corpora.catalog import Catalog, CorpusInfo
from core.corpora.db_guard import (
    DatabaseError,
    Watchdog,
    check_role,
    check_sql,
    close_quietly,
    connect,
    psycopg_module,
    redact,
    resolve_url,
    scrub,
    timeout_message,
)
from core.corpora.errors import CorpusError
from core.corpora.prepare import prepare_import

MAX_ROWS = int(os.environ.get("VECSCOPE_PG_MAX_ROWS", "5000000"))
STATEMENT_TIMEOUT_S = float(os.environ.get("VECSCOPE_PG_TIMEOUT_S", "600"))   # the whole query, wall clock
FETCH_BATCH = 10_000































def fetch_frame(url: str | None, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None,
                max_rows: int = MAX_ROWS, convert: bool = True, timeout_s: float | None = None) -> pd.DataFrame:
    """Run one read-only query; cells come back as str (None for NULL) when `convert`,
    else as psycopg returns them. `timeout_s` (default VECSCOPE_PG_TIMEOUT_S) limits the whole
    query by wall clock. Nothing the query does is ever committed."""
    url = resolve_url(url)
    sql = (sql or "").strip().rstrip(";").strip()
    if not sql:
        raise DatabaseError("SQL-запрос пуст: напишите один запрос SELECT.")
    check_sql(sql)
    timeout_s = float(STATEMENT_TIMEOUT_S if timeout_s is None else timeout_s)
    psycopg = psycopg_module()
    conn = connect(url)
    watchdog = None
    try:
        check_role(conn, url)
        with Watchdog(conn, timeout_s) as watchdog:
            with conn.cursor() as cur:
                cur.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}")
            with conn.cursor(name="vecscope_fetch") as cur:
                cur.itersize = FETCH_BATCH
                cur.execute(sql, params)
                columns = [d.name for d in cur.description or ()]
                rows: list[tuple] = []
                while batch := cur.fetchmany(FETCH_BATCH):
                    rows.extend(batch)
                    if watchdog.overdue:
                        raise DatabaseError(timeout_message(url, timeout_s))
                    if len(rows) > max_rows:
                        raise DatabaseError(f"Запрос вернул больше {max_rows:,} строк; добавьте LIMIT или WHERE "
                                            "или увеличьте VECSCOPE_PG_MAX_ROWS.".replace(",", " "))
    except psycopg.Error as exc:
        if isinstance(exc, psycopg.errors.QueryCanceled) or (watchdog is not None and watchdog.fired):
            raise DatabaseError(timeout_message(url, timeout_s)) from exc
        hint = ""
        if "multiple commands" in str(exc) or "syntax error at or near" in str(exc):
            hint = " Разрешён только один запрос SELECT (или WITH … SELECT)."
        elif "read-only transaction" in str(exc):
            hint = " Запросы выполняются только на чтение: приложение ничего не пишет в базу."
        elif isinstance(exc, psycopg.errors.InsufficientPrivilege):
            hint = " У роли нет на это прав — так и задумано, если это не SELECT нужной таблицы."
        raise DatabaseError(f"Запрос к {redact(url)} не выполнен: {scrub(str(exc).strip(), url)}{hint}") from exc
    finally:
        close_quietly(conn)
    dup = sorted({c for c in columns if columns.count(c) > 1})
    if dup:
        raise DatabaseError(f"Запрос возвращает столбец {dup[0]!r} больше одного раза; дайте каждому столбцу своё "
                            "имя через AS (например, `c.id AS channel_id`).")
    # built column by column as object: pandas would turn NULLs in a text column into NaN ("nan")
    cell = _to_str if convert else (lambda v: v)
    return pd.DataFrame({c: [cell(r[i]) for r in rows] for i, c in enumerate(columns)}, columns=columns, dtype=object)


def _to_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return str(value)


def _source(url: str) -> str:
    return f"запрос PostgreSQL к {redact(url)}"


def fetch_corpus(url: str | None, sql: str, kind: str, mapping: Mapping[str, str] | None = None,
                 name: str = "query", text_columns: Sequence[str] | None = None,
                 meta_columns: Sequence[str] = ()) -> pd.DataFrame:
    """The query's rows mapped and validated as a corpus of `kind` (nothing is written).
    Row numbers in errors count the first result row as row 2, as in a CSV with a header."""
    url = resolve_url(url)
    frame = fetch_frame(url, sql)
    return prepare_import(frame, kind, name, _source(url), mapping, text_columns, meta_columns=meta_columns).frame


def import_query(catalog: Catalog, url: str | None, sql: str, name: str, kind: str,
                 mapping: Mapping[str, str] | None = None, text_columns: Sequence[str] | None = None,
                 joiner: str = "\n\n", meta_columns: Sequence[str] = (),
                 frame: pd.DataFrame | None = None) -> CorpusInfo:
    """Run the query and import its rows as corpus `name`; the SQL is kept for `refresh`.
    `frame`: the query's result fetched already (the page previews it before importing)."""
    url = resolve_url(url)
    frame = fetch_frame(url, sql) if frame is None else frame
    return catalog.import_table(frame, name, kind, mapping, text_columns, joiner, meta_columns,
                                source=_source(url), extra={"sql": sql, "database": redact(url)})


def refresh(name: str, catalog: Catalog | None = None, url: str | None = None) -> CorpusInfo:
    """Re-run the stored SQL of a database import and re-import the result (atomically).
    The URL must point to the same database the corpus came from."""
    catalog = catalog or Catalog(Settings.from_env())
    info = catalog.info(name)
    meta = info.meta
    if not meta.get("sql"):
        raise CorpusError(f"Корпус {name!r} импортирован не из базы ({info.source}); "
                          "обновить его можно, только импортировав файл заново.")
    url = resolve_url(url)
    if meta.get("database") and redact(url) != meta["database"]:
        raise DatabaseError(f"Корпус {name!r} импортирован из {meta['database']}, а сейчас настроен адрес "
                            f"{redact(url)}; укажите адрес той же базы, чтобы его обновить.")
    return import_query(catalog, url, meta["sql"], name, meta["kind"], meta.get("mapping"),
                        meta.get("text_columns") or None, meta.get("joiner", "\n\n"), meta.get("meta_columns", ()))


def fetch_embeddings(url: str | None, sql: str, id_column: str | None = None,
                     vector_column: str | None = None) -> tuple[list[str], np.ndarray]:
    """(ids, float32 matrix (n, d)) from a query returning an id and a vector per row. The
    vector may be real[] / double precision[] or pgvector's `vector` (read as text when no
    adapter is registered). Without column names, the first column is the id and the second
    the vector."""
    url = resolve_url(url)
    frame = fetch_frame(url, sql, convert=False)
    if frame.empty:
        raise DatabaseError("Запрос векторов не вернул ни одной строки.")
    cols = list(frame.columns)
    id_column = id_column or cols[0]
    vector_column = vector_column or (cols[1] if len(cols) > 1 else "")
    for col in (id_column, vector_column):
        if col not in cols:
            raise DatabaseError(f"В результате запроса векторов нет столбца {col!r}; есть: {', '.join(map(repr, cols))}.")
    ids = [_to_str(v) for v in frame[id_column]]
    return ids, vectors_from_values(ids, list(frame[vector_column]), f"столбец {vector_column!r}")


def parse_vector(value: Any) -> np.ndarray:
    """One vector from a Python list, a numpy array, pgvector text `[1,2]` or array text `{1,2}`."""
    if isinstance(value, str):
        body = value.strip()
        if body[:1] in "[{(" and body[-1:] in "]})":
            body = body[1:-1]
        return np.array([float(x) for x in body.split(",") if x.strip()], np.float32)
    if hasattr(value, "to_numpy"):   # pgvector's own Vector/HalfVector classes
        value = value.to_numpy()
    return np.asarray(value, np.float32).reshape(-1)


def vectors_from_values(ids: Sequence[str | None], values: Sequence[Any], where: str) -> np.ndarray:
    """Stack parsed vectors, naming the row and id of the first bad one."""
    rows, dim = [], None
    seen: dict[str, int] = {}
    for i, (doc_id, value) in enumerate(zip(ids, values)):
        if doc_id in (None, ""):
            raise DatabaseError(f"{where}: в строке {i + 1} нет id.")
        if doc_id in seen:
            raise DatabaseError(f"{where}: id {doc_id!r} встречается в строках {seen[doc_id] + 1} и {i + 1}; "
                                "id должны быть уникальными.")
        seen[doc_id] = i
        if value is None:
            raise DatabaseError(f"{where}: в строке {i + 1} (id {doc_id!r}) нет вектора (NULL).")
        try:
            vec = parse_vector(value)
        except (TypeError, ValueError) as exc:
            raise DatabaseError(f"{where}: строка {i + 1} (id {doc_id!r}) — не вектор ({exc}).") from exc
        if dim is None:
            dim = len(vec)
        if len(vec) != dim or dim == 0:
            raise DatabaseError(f"{where}: в строке {i + 1} (id {doc_id!r}) {len(vec)} измерений, "
                                f"а в строке 1 — {dim}.")
        if not np.isfinite(vec).all():
            raise DatabaseError(f"{where}: в строке {i + 1} (id {doc_id!r}) есть NaN или бесконечность.")
        rows.append(vec)
    return np.stack(rows).astype(np.float32, copy=False)
