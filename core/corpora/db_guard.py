"""What keeps a typed query from changing anything and a password from leaking: the URL (from the
caller or $VECSCOPE_PG_URL, redacted in every message), the role check (no superuser or file /
signal privileges), the statement check (one read-only statement, no function whose effect a
rollback cannot undo) and the wall-clock watchdog. core.corpora.database runs the query."""
from __future__ import annotations

import os
import re
import threading
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ENV_URL = "VECSCOPE_PG_URL"


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


def scrub(message: str, url: str) -> str:
    for secret in _secrets_of(url):
        message = message.replace(secret, "***")
    return message


def psycopg_module():
    try:
        import psycopg
    except ImportError as exc:   # optional dependency: only database users need it
        raise DatabaseError("Не установлен psycopg: pip install 'psycopg[binary]==3.3.9'.") from exc
    return psycopg


def connect(url: str, timeout_s: int = 10):
    psycopg = psycopg_module()
    try:
        conn = psycopg.connect(url, connect_timeout=timeout_s)
    except psycopg.Error as exc:
        raise DatabaseError(f"Не удалось подключиться к {redact(url)}: {scrub(str(exc).strip(), url)}") from exc
    conn.read_only = True   # BEGIN READ ONLY; the transaction is always rolled back (close_quietly)
    return conn


def close_quietly(conn) -> None:
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


class Watchdog:
    """Cancels the running query on the server once `timeout_s` of wall clock has passed,
    and again every half second until the query is over (a cancel that lands between two
    FETCHes has nothing to cancel)."""

    def __init__(self, conn, timeout_s: float) -> None:
        self.conn, self.timeout_s = conn, timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.fired = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vecscope-pg-watchdog", daemon=True)

    def __enter__(self) -> "Watchdog":
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


def timeout_message(url: str, timeout_s: float) -> str:
    return (f"Запрос к {redact(url)} выполнялся дольше {timeout_s:g} с и был остановлен на сервере. "
            "Сузьте его (WHERE, LIMIT) или увеличьте VECSCOPE_PG_TIMEOUT_S.")
