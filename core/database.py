"""Corpora and embeddings from PostgreSQL (psycopg 3).

The connection URL comes from the caller (the page reads Streamlit secrets) or from
$VECSCOPE_PG_URL; it is never written anywhere with its password. Queries run

  * in a READ ONLY transaction, so a typed query cannot change the database, and
  * through a server-side cursor (`DECLARE … CURSOR FOR <sql>`), which takes exactly one
    SELECT/VALUES/WITH statement - `select 1; commit; delete …` is refused - and streams rows
    in batches instead of holding the whole result twice.

A query result goes through the same validation and atomic import as a file
(core.catalog), and its SQL is stored with the import so `refresh` can re-run it; since the
embedding cache is keyed by text hash, a refresh embeds only new or changed rows.
"""
from __future__ import annotations

import os
import re
from typing import Any, Mapping, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd

from core.catalog import Catalog, CorpusInfo, prepare_import
from core.config import Settings
from core.corpora import CorpusError

ENV_URL = "VECSCOPE_PG_URL"
MAX_ROWS = int(os.environ.get("VECSCOPE_PG_MAX_ROWS", "5000000"))
STATEMENT_TIMEOUT_S = int(os.environ.get("VECSCOPE_PG_TIMEOUT_S", "600"))
FETCH_BATCH = 10_000


class DatabaseError(RuntimeError):
    """The database cannot be reached or the query failed; the message never holds a password."""


def resolve_url(url: str | None = None) -> str:
    url = (url or os.environ.get(ENV_URL) or "").strip()
    if not url:
        raise DatabaseError(f"no PostgreSQL URL: set {ENV_URL}=postgresql://user:password@host:5432/db, "
                            "or `url` under [postgres] in .streamlit/secrets.toml.")
    return url


_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.I)


def redact(url: str) -> str:
    """The URL with its password replaced by ***: safe to show, log and store."""
    if "://" not in url:
        return _KV_PASSWORD.sub(r"\1***", url)   # key=value conninfo
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        auth, host = netloc.rsplit("@", 1)
        if ":" in auth:
            auth = auth.split(":", 1)[0] + ":***"
        netloc = f"{auth}@{host}"
    query = urlencode([(k, "***" if k.lower() == "password" else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _secrets_of(url: str) -> list[str]:
    found = []
    if "://" in url:
        parts = urlsplit(url)
        if parts.password:
            found.append(parts.password)
        found += [v for k, v in parse_qsl(parts.query) if k.lower() == "password" and v]
    else:
        found += [m.group(2).strip("'") for m in _KV_PASSWORD.finditer(url)]
    return [s for s in found if s]


def _scrub(message: str, url: str) -> str:
    for secret in _secrets_of(url):
        message = message.replace(secret, "***")
    return message


def _psycopg():
    try:
        import psycopg
    except ImportError as exc:   # optional dependency: only database users need it
        raise DatabaseError("psycopg is not installed: pip install 'psycopg[binary]==3.3.9'") from exc
    return psycopg


def _connect(url: str, timeout_s: int = 10):
    psycopg = _psycopg()
    try:
        conn = psycopg.connect(url, connect_timeout=timeout_s)
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to {redact(url)}: {_scrub(str(exc).strip(), url)}") from exc
    conn.read_only = True   # BEGIN READ ONLY: nothing typed into the app can write
    return conn


def fetch_frame(url: str | None, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None,
                max_rows: int = MAX_ROWS, convert: bool = True) -> pd.DataFrame:
    """Run one read-only query; cells come back as str (None for NULL) when `convert`,
    else as psycopg returns them."""
    url = resolve_url(url)
    sql = (sql or "").strip().rstrip(";").strip()
    if not sql:
        raise DatabaseError("the SQL is empty: write one SELECT query.")
    psycopg = _psycopg()
    with _connect(url) as conn:
        try:
            with conn.cursor() as cur:
                cur.execute(f"SET LOCAL statement_timeout = {int(STATEMENT_TIMEOUT_S * 1000)}")
            with conn.cursor(name="vecscope_fetch") as cur:
                cur.itersize = FETCH_BATCH
                cur.execute(sql, params)
                columns = [d.name for d in cur.description or ()]
                rows: list[tuple] = []
                while batch := cur.fetchmany(FETCH_BATCH):
                    rows.extend(batch)
                    if len(rows) > max_rows:
                        raise DatabaseError(f"the query returned more than {max_rows:,} rows; add a LIMIT or "
                                            "a WHERE, or raise VECSCOPE_PG_MAX_ROWS.")
        except psycopg.Error as exc:
            hint = ""
            if "multiple commands" in str(exc) or "syntax error at or near" in str(exc):
                hint = " Only one SELECT (or WITH … SELECT) query is allowed."
            elif "read-only transaction" in str(exc):
                hint = " Queries run read-only: the app never writes to the database."
            raise DatabaseError(f"query failed on {redact(url)}: {_scrub(str(exc).strip(), url)}{hint}") from exc
    dup = sorted({c for c in columns if columns.count(c) > 1})
    if dup:
        raise DatabaseError(f"the query returns column {dup[0]!r} more than once; give each column its own "
                            "name with AS (e.g. `c.id AS channel_id`).")
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
    return f"PostgreSQL query on {redact(url)}"


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
        raise CorpusError(f"corpus {name!r} was not imported from a database ({info.source}); "
                          "import the file again instead.")
    url = resolve_url(url)
    if meta.get("database") and redact(url) != meta["database"]:
        raise DatabaseError(f"corpus {name!r} came from {meta['database']}, but the configured URL is "
                            f"{redact(url)}; pass the right URL to refresh it.")
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
        raise DatabaseError("the embeddings query returned no rows.")
    cols = list(frame.columns)
    id_column = id_column or cols[0]
    vector_column = vector_column or (cols[1] if len(cols) > 1 else "")
    for col in (id_column, vector_column):
        if col not in cols:
            raise DatabaseError(f"the embeddings query has no column {col!r}; it returns {', '.join(map(repr, cols))}.")
    ids = [_to_str(v) for v in frame[id_column]]
    return ids, vectors_from_values(ids, list(frame[vector_column]), f"column {vector_column!r}")


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
            raise DatabaseError(f"{where}: row {i + 1} has no id.")
        if doc_id in seen:
            raise DatabaseError(f"{where}: id {doc_id!r} appears in rows {seen[doc_id] + 1} and {i + 1}; "
                                "ids must be unique.")
        seen[doc_id] = i
        if value is None:
            raise DatabaseError(f"{where}: row {i + 1} (id {doc_id!r}) has no vector (NULL).")
        try:
            vec = parse_vector(value)
        except (TypeError, ValueError) as exc:
            raise DatabaseError(f"{where}: row {i + 1} (id {doc_id!r}) is not a vector ({exc}).") from exc
        if dim is None:
            dim = len(vec)
        if len(vec) != dim or dim == 0:
            raise DatabaseError(f"{where}: row {i + 1} (id {doc_id!r}) has {len(vec)} dimensions, "
                                f"row 1 has {dim}.")
        if not np.isfinite(vec).all():
            raise DatabaseError(f"{where}: row {i + 1} (id {doc_id!r}) contains NaN or infinity.")
        rows.append(vec)
    return np.stack(rows).astype(np.float32, copy=False)
