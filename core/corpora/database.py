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
import re
import threading
import time
from typing import Any, Mapping, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd

from core.config import Settings
from core.corpora.catalog import Catalog, CorpusInfo, prepare_import
from core.corpora.records import CorpusError

ENV_URL = "VECSCOPE_PG_URL"
MAX_ROWS = int(os.environ.get("VECSCOPE_PG_MAX_ROWS", "5000000"))
STATEMENT_TIMEOUT_S = float(os.environ.get("VECSCOPE_PG_TIMEOUT_S", "600"))   # the whole query, wall clock
FETCH_BATCH = 10_000

# Membership in these lets a role act outside the database's transactions.
PRIVILEGED_ROLES = ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program",
                    "pg_signal_backend")
# Functions whose effects a rollback does not undo, or that run SQL built at run time (so the
# name check cannot see what they call). Matched as words anywhere in the query.
FORBIDDEN_FUNCTIONS = (
    "lo_from_bytea", "lo_get", "lo_put", "lo_open", "lo_close", "lo_creat", "lo_create", "lo_import",
    "lo_export", "lo_unlink", "lo_lseek", "lo_lseek64", "lo_tell", "lo_tell64", "lo_truncate",
    "lo_truncate64", "loread", "lowrite",
    "pg_terminate_backend", "pg_cancel_backend", "pg_signal_backend", "pg_reload_conf",
    "pg_rotate_logfile", "pg_read_file", "pg_read_binary_file", "pg_stat_file", "pg_ls_dir",
    "pg_ls_logdir", "pg_ls_waldir", "pg_ls_tmpdir", "pg_ls_archive_statusdir", "pg_file_write",
    "pg_file_rename", "pg_file_unlink", "set_config", "pg_advisory_lock", "pg_advisory_lock_shared",
    "pg_try_advisory_lock", "pg_try_advisory_lock_shared", "pg_advisory_xact_lock",
    "pg_notify", "pg_logical_emit_message", "pg_create_logical_replication_slot",
    "pg_create_physical_replication_slot", "pg_drop_replication_slot", "pg_switch_wal",
    "pg_create_restore_point", "pg_promote", "pg_export_snapshot",
    "dblink", "dblink_exec", "dblink_connect", "dblink_connect_u", "dblink_send_query",
    "query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema", "ts_stat",
)
_FORBIDDEN_RE = re.compile(r"(?<![\w$])(" + "|".join(FORBIDDEN_FUNCTIONS) + r")(?![\w$])", re.I)
_UNICODE_IDENT_RE = re.compile(r'u&"', re.I)   # U&"lo\005funlink" would hide a name from the check


class DatabaseError(RuntimeError):
    """The database cannot be reached or the query failed; the message never holds a password."""


def resolve_url(url: str | None = None) -> str:
    url = (url or os.environ.get(ENV_URL) or "").strip()
    if not url:
        raise DatabaseError(f"Не задан адрес PostgreSQL: укажите {ENV_URL}=postgresql://user:password@host:5432/db "
                            "или `url` в разделе [postgres] файла .streamlit/secrets.toml.")
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
        raise DatabaseError("Не установлен psycopg: pip install 'psycopg[binary]==3.3.9'.") from exc
    return psycopg


def _connect(url: str, timeout_s: int = 10):
    psycopg = _psycopg()
    try:
        conn = psycopg.connect(url, connect_timeout=timeout_s)
    except psycopg.Error as exc:
        raise DatabaseError(f"Не удалось подключиться к {redact(url)}: {_scrub(str(exc).strip(), url)}") from exc
    conn.read_only = True   # BEGIN READ ONLY; the transaction is always rolled back (_close)
    return conn


def _close(conn) -> None:
    """Roll back and disconnect. Never `with conn:` - psycopg commits when that block ends."""
    try:
        conn.rollback()
    except Exception:   # a cancelled or broken connection: closing it rolls back on the server
        pass
    finally:
        conn.close()


ROLE_HINT = "Создайте роль только для чтения (README, раздел «Database role») и подключайтесь под ней."


def check_role(conn, url: str) -> None:
    """Refuse a role that can act outside the read-only, rolled-back transaction."""
    rows = conn.execute(
        "SELECT r.rolname, r.rolsuper, r.rolreplication FROM pg_roles r "
        "WHERE pg_has_role(current_user, r.oid, 'MEMBER') "
        "AND (r.rolsuper OR r.rolreplication OR r.rolname = ANY(%s)) ORDER BY r.rolname",
        (list(PRIVILEGED_ROLES),)).fetchall()
    user = conn.execute("SELECT current_user").fetchone()[0]
    problems = []
    for name, superuser, replication in rows:
        own = "роль" if name == user else f"роль {name!r}, в которую входит {user!r},"
        if superuser:
            problems.append(f"{own} — суперпользователь (может читать и писать файлы на сервере базы, "
                            "завершать чужие сеансы)")
        elif replication:
            problems.append(f"{own} имеет право REPLICATION (слоты репликации удерживают WAL)")
        else:
            problems.append(f"{user!r} входит в {name} (действия вне транзакции: файлы сервера, чужие сеансы)")
    if problems:
        raise DatabaseError(f"Отказ: подключение {redact(url)} идёт под ролью {user!r} с лишними правами: "
                            f"{'; '.join(problems)}. Запрос не выполнен. {ROLE_HINT}")


def check_sql(sql: str) -> None:
    """Refuse queries naming a function whose effects a rollback cannot undo (a safety net on
    top of the role's privileges)."""
    if _UNICODE_IDENT_RE.search(sql):
        raise DatabaseError('Запрос отклонён: идентификаторы вида U&"…" не поддерживаются; '
                            "напишите имя обычными буквами.")
    found = sorted({m.group(1).lower() for m in _FORBIDDEN_RE.finditer(sql)})
    if found:
        raise DatabaseError(f"Запрос отклонён: он вызывает {', '.join(found)} — такие функции меняют что-то "
                            "вне транзакции (файлы, большие объекты, чужие сеансы, настройки), а импорт только "
                            "читает данные. Уберите их из запроса (если это имя столбца, переименуйте его в "
                            "представлении).")


class _Watchdog:
    """Cancels the running query on the server once `timeout_s` of wall clock has passed,
    and again every half second until the query is over (a cancel that lands between two
    FETCHes has nothing to cancel)."""

    def __init__(self, conn, timeout_s: float) -> None:
        self.conn, self.timeout_s = conn, timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.fired = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vecscope-pg-watchdog", daemon=True)

    def __enter__(self) -> "_Watchdog":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        if self._done.wait(self.timeout_s):
            return
        self.fired = True
        while not self._done.is_set():
            try:
                self.conn.cancel_safe(timeout=5)
            except Exception:   # nothing running, or the server is unreachable: try again
                pass
            self._done.wait(0.5)

    @property
    def overdue(self) -> bool:
        return self.fired or time.monotonic() > self.deadline


def _timeout_message(url: str, timeout_s: float) -> str:
    return (f"Запрос к {redact(url)} выполнялся дольше {timeout_s:g} с и был остановлен на сервере. "
            "Сузьте его (WHERE, LIMIT) или увеличьте VECSCOPE_PG_TIMEOUT_S.")


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
    psycopg = _psycopg()
    conn = _connect(url)
    watchdog = None
    try:
        check_role(conn, url)
        with _Watchdog(conn, timeout_s) as watchdog:
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
                        raise DatabaseError(_timeout_message(url, timeout_s))
                    if len(rows) > max_rows:
                        raise DatabaseError(f"Запрос вернул больше {max_rows:,} строк; добавьте LIMIT или WHERE "
                                            "или увеличьте VECSCOPE_PG_MAX_ROWS.".replace(",", " "))
    except psycopg.Error as exc:
        if isinstance(exc, psycopg.errors.QueryCanceled) or (watchdog is not None and watchdog.fired):
            raise DatabaseError(_timeout_message(url, timeout_s)) from exc
        hint = ""
        if "multiple commands" in str(exc) or "syntax error at or near" in str(exc):
            hint = " Разрешён только один запрос SELECT (или WITH … SELECT)."
        elif "read-only transaction" in str(exc):
            hint = " Запросы выполняются только на чтение: приложение ничего не пишет в базу."
        elif isinstance(exc, psycopg.errors.InsufficientPrivilege):
            hint = " У роли нет на это прав — так и задумано, если это не SELECT нужной таблицы."
        raise DatabaseError(f"Запрос к {redact(url)} не выполнен: {_scrub(str(exc).strip(), url)}{hint}") from exc
    finally:
        _close(conn)
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
