"""Corpora and embeddings from a REAL PostgreSQL server (Debian's `postgresql` package).

The session fixture runs initdb + pg_ctl in a temp folder (as the `postgres` user when the
tests run as root, since initdb refuses root), listening on 127.0.0.1 on a free port, and
stops it afterwards. Missing binaries fail the tests: CI installs them (.ci/run)."""
from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
import pytest

from core.config import Settings
from core.corpora import database
from core.corpora.catalog import Catalog
from core.corpora.database import fetch_corpus, fetch_embeddings, fetch_frame, import_query, parse_vector, refresh
from core.corpora.db_guard import DatabaseError, redact
from core.corpora.errors import CorpusError
from core.models.encoders import EncoderLoadError
from core.models.precomputed import NO_QUERY_ENCODER, PrecomputedError, PrecomputedVectors, save_vectors
from core.retrieval.cache import EmbeddingCache
from core.retrieval.search import build_corpus_index, search
from tests.conftest import DEMO, ROOT

SCHEMA = """
CREATE SCHEMA parse;
CREATE SCHEMA embeddings;
CREATE TABLE parse.channels (
    id bigint PRIMARY KEY, title text NOT NULL, about text, last_pinned_msg_id bigint);
CREATE TABLE parse.posts_content (
    id bigint NOT NULL, channel_id bigint NOT NULL REFERENCES parse.channels(id), raw_text text,
    PRIMARY KEY (channel_id, id));
CREATE TABLE embeddings.channel_emb (channel_id bigint PRIMARY KEY, emb real[] NOT NULL);
"""
CHANNELS = [
    (-1001111111111, "Кухня без заморочек", "Рецепты на каждый день: быстро, вкусно, из простых продуктов.", 17),
    (-1002222222222, "Бег и ЗОЖ", "Тренировки, питание и экипировка для бегунов-любителей.", 4),
    (-1003333333333, "Москва сейчас", None, None),
    (-1004444444444, "Код на ужин", "Python, Go и немного DevOps. Вакансии по пятницам.", 9),
]
POSTS = [
    (15, -1001111111111, "Сырники как в детстве: творог, одно яйцо, две ложки муки и щепотка ванили."),
    (17, -1001111111111, "Правила канала: без спама, рецепты присылайте в предложку @kitchen_bot."),
    (18, -1001111111111, "Реклама. Доставка продуктов за 15 минут, промокод ВКУСНО даёт скидку 300 рублей."),
    (3, -1002222222222, "Как выбрать кроссовки для первого полумарафона: амортизация и размер."),
    (4, -1002222222222, "Закреп: план подготовки к 10 км за восемь недель для новичков."),
    (5, -1002222222222, "Реклама. Фитнес-браслет со скидкой 40% по промокоду БЕГ до воскресенья."),
    (101, -1003333333333, "На Тверской перекрыли движение до 22:00 из-за репетиции парада."),
    (102, -1003333333333, "Синоптики обещают в Москве мокрый снег и гололёд к утру понедельника."),
    (9, -1004444444444, "Закреп: как устроен канал, где вакансии и как предложить статью."),
    (10, -1004444444444, "Разбираем генераторы в Python на примере чтения большого CSV по частям."),
]
POSTS_SQL = """
SELECT p.channel_id || '_' || p.id AS id, p.channel_id, c.title AS channel_title, p.raw_text
FROM parse.posts_content p JOIN parse.channels c ON c.id = p.channel_id
ORDER BY p.channel_id, p.id;
"""
CHANNELS_SQL = """
SELECT c.id AS channel, c.title, c.about, p.raw_text AS pinned
FROM parse.channels c
LEFT JOIN parse.posts_content p ON p.channel_id = c.id AND p.id = c.last_pinned_msg_id
ORDER BY c.id
"""
CHANNEL_MAPPING = {"id": "channel", "about": "about", "pinned_text": "pinned"}
ADMIN = "vecscope_admin"   # the server's superuser: sets tables up, and is refused by the tool


def _postgres_bin() -> Path:
    candidates = [Path(os.environ["VECSCOPE_PG_BIN"])] if os.environ.get("VECSCOPE_PG_BIN") else []
    version = lambda p: int(re.sub(r"\D", "", p.parent.name) or 0)  # noqa: E731
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's `postgresql` package "
                "(apt-get install postgresql; .ci/run does) or point VECSCOPE_PG_BIN at their folder.")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server():
    """Base URL of a throwaway PostgreSQL server (trust auth, superuser `vecscope_admin`)."""
    bindir = _postgres_bin()
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="vecscope-pg-"))   # under /tmp: reachable by the server user
    if os.geteuid() == 0:   # initdb refuses to run as root
        user = "postgres" if _user_exists("postgres") else "nobody"
        prefix = ["runuser", "-u", user, "--"]
        shutil.chown(folder, user)
    data, log, port = folder / "data", folder / "server.log", _free_port()
    run = lambda *cmd: subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120)  # noqa: E731
    out = run(str(bindir / "initdb"), "-D", str(data), "-U", ADMIN, "-A", "trust", "--encoding", "UTF8",
              "--locale", "C.UTF-8", "--no-sync")
    if out.returncode:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"initdb failed:\n{out.stdout}\n{out.stderr}")
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' -c fsync=off"
    out = run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60", "start")
    if out.returncode:
        text = log.read_text() if log.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"pg_ctl start failed:\n{out.stdout}\n{out.stderr}\n{text}")
    try:
        # the password is ignored (trust auth) but lets tests check it never leaks
        yield f"postgresql://{ADMIN}:s3cr3t-pw@127.0.0.1:{port}"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


READER = "vecscope"   # the SELECT-only role the tool expects; the URLs the tests import with use it


@pytest.fixture
def pg_url(postgres_server):
    """A fresh database with the parse/embeddings tables and realistic rows; the URL logs in
    as the SELECT-only role the tool expects (the server's superuser would be refused)."""
    db = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER,)).fetchone():
            conn.execute(f"CREATE ROLE {READER} LOGIN")
    admin_url = f"{postgres_server}/{db}"
    rng = np.random.default_rng(7)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(SCHEMA)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO parse.channels VALUES (%s, %s, %s, %s)", CHANNELS)
            cur.executemany("INSERT INTO parse.posts_content VALUES (%s, %s, %s)", POSTS)
            cur.executemany("INSERT INTO embeddings.channel_emb VALUES (%s, %s)",
                            [(c[0], rng.normal(size=8).round(4).tolist()) for c in CHANNELS[:3]])
        conn.execute(f"GRANT USAGE ON SCHEMA parse, embeddings TO {READER}; "
                     f"GRANT SELECT ON ALL TABLES IN SCHEMA parse, embeddings TO {READER}")
    yield as_user(admin_url, READER)
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {db} WITH (FORCE)")


def as_user(url: str, user: str) -> str:
    """The same server and database, logged in as `user` (trust auth: any password works)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:s3cr3t-pw@{parts.netloc.rsplit('@', 1)[1]}"))


def admin(url: str) -> str:
    return as_user(url, ADMIN)


def execute(url: str, sql: str, params=None) -> None:
    """Set-up statements, run as the superuser whatever role `url` names."""
    with psycopg.connect(admin(url), autocommit=True) as conn:
        conn.execute(sql, params)


def scalar(url: str, sql: str, params=None):
    with psycopg.connect(admin(url), autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()[0]


@pytest.fixture
def catalog(monkeypatch, tmp_path) -> Catalog:
    monkeypatch.setenv("VECSCOPE_DATA_DIR", str(DEMO))
    monkeypatch.setenv("VECSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VECSCOPE_LABELS", str(tmp_path / "labels.csv"))
    monkeypatch.setenv("VECSCOPE_IMPORTS_DIR", str(tmp_path / "imports"))
    monkeypatch.delenv("VECSCOPE_PG_URL", raising=False)
    return Catalog(Settings.from_env())


def test_import_search_update_refresh_embeds_only_the_changed_row(pg_url, catalog, keyword_encoder):
    info = import_query(catalog, pg_url, POSTS_SQL, "tg-posts", "posts")
    assert (info.rows, info.kind) == (10, "posts")
    assert "s3cr3t" not in info.source and "***" in info.source and info.meta["sql"] == POSTS_SQL
    cache = EmbeddingCache(catalog.settings.cache_dir, keyword_encoder.id)
    ci = build_corpus_index(catalog.load("tg-posts"), keyword_encoder, cache)
    assert keyword_encoder.calls == 10
    hit = search(ci, keyword_encoder, "доставка продуктов за 15 минут промокод", 1).iloc[0]
    assert (hit["id"], hit["channel_title"]) == ("-1001111111111_18", "Кухня без заморочек")

    execute(pg_url, "UPDATE parse.posts_content SET raw_text = %s WHERE channel_id = %s AND id = %s",
            ("Реклама. Курс кондитера онлайн: эклеры и макаронс с нуля, промокод ТОРТ.", -1001111111111, 18))
    refreshed = refresh("tg-posts", catalog, url=pg_url)
    assert refreshed.rows == 10 and refreshed.content_hash != info.content_hash
    keyword_encoder.calls = 0
    ci = build_corpus_index(catalog.load("tg-posts"), keyword_encoder, cache)
    assert keyword_encoder.calls == 1           # exactly one text embedded again
    assert search(ci, keyword_encoder, "курс кондитера эклеры", 1)["id"].iloc[0] == "-1001111111111_18"

    execute(pg_url, "INSERT INTO parse.posts_content VALUES (11, -1004444444444, %s)",
            ("Вышел Go 1.23: итераторы по функциям и новые пакеты стандартной библиотеки.",))
    assert refresh("tg-posts", catalog, url=pg_url).rows == 11
    keyword_encoder.calls = 0
    build_corpus_index(catalog.load("tg-posts"), keyword_encoder, cache)
    assert keyword_encoder.calls == 1           # only the new post


def test_channel_text_joins_title_about_and_pinned_post(pg_url, catalog):
    catalog.import_table(fetch_corpus(pg_url, CHANNELS_SQL, "channels", CHANNEL_MAPPING, "tg-channels"),
                         "tg-channels", "channels", source="db")
    corpus = catalog.load("tg-channels")
    texts = dict(zip(corpus.frame["id"], corpus.texts))
    assert texts["-1001111111111"] == ("Кухня без заморочек\n\nРецепты на каждый день: быстро, вкусно, из простых "
                                       "продуктов.\n\nПравила канала: без спама, рецепты присылайте в предложку "
                                       "@kitchen_bot.")
    assert texts["-1003333333333"] == "Москва сейчас"     # no about, no pinned post: no blank artefacts
    assert catalog.load("tg-channels", channel_parts=("title",)).texts[0] == "Код на ужин"   # ORDER BY c.id


def test_embeddings_from_a_real_array_column_align_to_the_corpus(pg_url, catalog, tmp_path):
    ids, matrix = fetch_embeddings(pg_url, "SELECT channel_id, emb FROM embeddings.channel_emb ORDER BY channel_id")
    assert ids == ["-1003333333333", "-1002222222222", "-1001111111111"]
    assert matrix.dtype == np.float32 and matrix.shape == (3, 8)
    # the same vectors as array text and as pgvector text ('[1,2,3]', what `vector::text` gives)
    _, as_text = fetch_embeddings(pg_url, "SELECT channel_id, emb::text FROM embeddings.channel_emb ORDER BY channel_id")
    _, as_pgvector = fetch_embeddings(pg_url, "SELECT channel_id AS id, '[' || array_to_string(emb, ',') || ']' AS v "
                                              "FROM embeddings.channel_emb ORDER BY channel_id", "id", "v")
    np.testing.assert_allclose(as_text, matrix)
    np.testing.assert_allclose(as_pgvector, matrix)

    spec = save_vectors(tmp_path / "models", "channel-emb", ids, matrix, source="embeddings.channel_emb")
    vectors = PrecomputedVectors.load(tmp_path / "models" / spec.path)
    import_query(catalog, pg_url, CHANNELS_SQL, "tg-channels", "channels", CHANNEL_MAPPING)
    corpus = catalog.load("tg-channels")
    assert vectors.coverage(corpus) == 0.75
    with pytest.raises(PrecomputedError, match=r"1 of 4 records .*'-1004444444444'"):
        vectors.vectors_for(corpus)
    execute(pg_url, "DELETE FROM parse.posts_content WHERE channel_id = -1004444444444")
    execute(pg_url, "DELETE FROM parse.channels WHERE id = -1004444444444")
    refresh("tg-channels", catalog, url=pg_url)
    aligned = vectors.vectors_for(catalog.load("tg-channels"))
    expected = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)   # both ordered by channel id
    np.testing.assert_allclose(aligned, expected, rtol=1e-6)
    with pytest.raises(EncoderLoadError, match=NO_QUERY_ENCODER):
        vectors.encode(["кроссовки для бега"], "query")


def test_queries_are_read_only_and_one_statement(pg_url, catalog):
    for sql in ("SELECT 1; COMMIT; DELETE FROM parse.posts_content",
                "DELETE FROM parse.posts_content",
                "SELECT 1; DELETE FROM parse.posts_content"):
        with pytest.raises(DatabaseError, match="не выполнен"):
            import_query(catalog, pg_url, sql, "x", "generic")
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM parse.posts_content").fetchone()[0] == 10
    with pytest.raises(DatabaseError, match="больше одного раза"):
        fetch_corpus(pg_url, "SELECT p.id, c.id FROM parse.posts_content p JOIN parse.channels c "
                             "ON c.id = p.channel_id", "generic")


def test_a_failed_refresh_keeps_the_current_import(pg_url, catalog):
    import_query(catalog, pg_url, POSTS_SQL, "tg-posts", "posts")
    before = catalog.version("tg-posts")
    execute(pg_url, "UPDATE parse.posts_content SET raw_text = '  ' WHERE id = 102")
    with pytest.raises(CorpusError, match=r"в строке \d+ \(id '-1003333333333_102'\) нет текста в raw_text \(ваш столбец 'raw_text'\)"):
        refresh("tg-posts", catalog, url=pg_url)
    assert catalog.version("tg-posts") == before and len(catalog.load("tg-posts")) == 10
    with pytest.raises(DatabaseError, match="импортирован из"):
        refresh("tg-posts", catalog, url=pg_url.rsplit("/", 1)[0] + "/postgres")


def test_url_from_the_environment_and_errors_without_password(pg_url, catalog, monkeypatch):
    with pytest.raises(DatabaseError, match="VECSCOPE_PG_URL"):
        fetch_corpus(None, POSTS_SQL, "posts")
    monkeypatch.setenv("VECSCOPE_PG_URL", pg_url)
    assert len(fetch_corpus(None, POSTS_SQL, "posts", name="tg")) == 10
    closed = f"postgresql://vecscope:s3cr3t-pw@127.0.0.1:{_free_port()}/nowhere"
    with pytest.raises(DatabaseError) as err:
        fetch_corpus(closed, POSTS_SQL, "posts")
    assert "Не удалось подключиться" in str(err.value) and "s3cr3t" not in str(err.value) and "***" in str(err.value)


def test_redact_and_parse_vector():
    assert redact("postgresql://u:p%40ss@db:5432/x?sslmode=require") == "postgresql://u:***@db:5432/x?sslmode=require"
    assert redact("postgresql://db/x?user=u&password=hunter2") == "postgresql://db/x?user=u&password=***"
    assert redact("host=db user=u password='a b' dbname=x") == "host=db user=u password=*** dbname=x"
    assert redact("postgresql://db/x") == "postgresql://db/x"
    assert parse_vector("[0.5,-1,2e-1]").tolist() == pytest.approx([0.5, -1, 0.2])
    assert parse_vector("{1,2}").tolist() == [1, 2] and parse_vector([1, 2]).dtype == np.float32


# ------------------------------------------------------------------ "read-only" attacks
# Each layer is tested on its own: the name check (check_sql) is switched off where a test is
# about the transaction or the role, so a hole in one layer shows up as a failing test.

def _without_name_check(monkeypatch):
    monkeypatch.setattr(database, "check_sql", lambda sql: None)


def _large_objects(url: str) -> dict[int, bytes]:
    with psycopg.connect(admin(url), autocommit=True) as conn:
        oids = [r[0] for r in conn.execute("SELECT oid FROM pg_largeobject_metadata ORDER BY oid")]
        return {oid: conn.execute("SELECT lo_get(%s)", (oid,)).fetchone()[0] for oid in oids}


def test_large_object_writes_are_rolled_back_even_when_the_import_succeeds(pg_url, catalog, monkeypatch):
    # READ ONLY does not stop lo_from_bytea/lowrite/lo_unlink, and psycopg's `with conn:` commits
    oid = scalar(pg_url, "SELECT lo_from_bytea(0, 'original')")
    execute(pg_url, f"ALTER LARGE OBJECT {oid} OWNER TO {READER}")   # so the role may write to it
    _without_name_check(monkeypatch)
    info = import_query(catalog, pg_url, "SELECT lo_from_bytea(0, 'planted')::text AS id, 'текст' AS text, "
                                         f"lowrite(lo_open({oid}, 131072), 'EVIL') AS w", "lo", "generic")
    assert info.rows == 1                                      # the query ran and was imported…
    fetch_frame(pg_url, f"SELECT lo_unlink({oid}) AS gone")
    assert _large_objects(pg_url) == {oid: b"original"}        # …and none of it stayed


def test_large_object_functions_are_refused_by_name(pg_url, catalog):
    for sql in ("SELECT lo_from_bytea(0, 'x') AS id", "SELECT LO_UNLINK (1)", 'SELECT "lowrite"(lo_open(1, 131072), \'x\')',
                "SELECT pg_catalog.lo_export/**/(1, '/tmp/x')"):
        with pytest.raises(DatabaseError, match="Запрос отклонён: он вызывает lo"):
            fetch_frame(pg_url, sql)
    assert _large_objects(pg_url) == {}


def test_superuser_connection_is_refused_before_the_query_runs(pg_url, monkeypatch):
    target = Path(tempfile.mkdtemp(prefix="vecscope-lo-")) / "exported.txt"
    target.parent.chmod(0o777)   # so lo_export, if it ran, could write there as the server's user
    _without_name_check(monkeypatch)   # the role check alone must stop these
    for sql in (f"SELECT lo_export(lo_from_bytea(0, 'pwned'), '{target}') AS id",
                "SELECT 'h' AS id, pg_read_file('/etc/hostname') AS text",
                "SELECT 1 AS id"):
        with pytest.raises(DatabaseError) as err:
            fetch_frame(admin(pg_url), sql)
        message = str(err.value)
        assert "суперпользователь" in message and f"'{ADMIN}'" in message and "Database role" in message
        assert "s3cr3t" not in message
    assert not target.exists() and _large_objects(pg_url) == {}
    shutil.rmtree(target.parent, ignore_errors=True)


def test_roles_that_can_act_outside_the_transaction_are_refused(pg_url):
    for role, grant, expected in [("r_files", "GRANT pg_read_server_files TO r_files", "pg_read_server_files"),
                                  ("r_signal", "GRANT pg_signal_backend TO r_signal", "pg_signal_backend"),
                                  ("r_su", f"GRANT {ADMIN} TO r_su", f"'{ADMIN}'"),   # may SET ROLE to superuser
                                  ("r_repl", "ALTER ROLE r_repl REPLICATION", "REPLICATION")]:
        execute(pg_url, f"DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN; {grant}")
        with pytest.raises(DatabaseError, match=expected) as err:
            fetch_frame(as_user(pg_url, role), "SELECT 1 AS id")
        assert "Запрос не выполнен" in str(err.value)
        execute(pg_url, f"DROP ROLE {role}")


def test_terminating_other_sessions_is_refused(pg_url):
    victim = psycopg.connect(pg_url, autocommit=True)   # another session of the same role
    try:
        pid = victim.info.backend_pid
        for sql in (f"SELECT pg_terminate_backend({pid}) AS id",
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
                    # the name hidden in a string that query_to_xml would run
                    f"SELECT query_to_xml('select pg_termi' || 'nate_backend({pid})', true, false, '') AS x",
                    f'SELECT U&"pg_te\\0072minate_backend"({pid})'):
            with pytest.raises(DatabaseError, match="Запрос отклонён"):
                fetch_frame(pg_url, sql)
        assert victim.execute("SELECT 1").fetchone() == (1,)   # still alive
    finally:
        victim.close()


def test_ordinary_queries_still_pass_the_name_check():
    database.check_sql("SELECT p.id, p.raw_text AS lo_fi_text, c.title FROM parse.posts_content p "
                       "JOIN parse.channels c ON c.id = p.channel_id WHERE p.raw_text ILIKE '%set config%'")


def test_the_time_limit_covers_the_whole_query_not_each_batch(pg_url):
    # every 10,000-row FETCH sleeps 0.8 s: under the 1.5 s statement_timeout each time, 3.2 s in all
    sql = ("SELECT g::text AS id, CASE WHEN g % 10000 = 1 THEN pg_sleep(0.8)::text END AS s "
           "FROM generate_series(1, 40000) g")
    start = time.monotonic()
    with pytest.raises(DatabaseError, match="дольше 1.5 с") as err:
        fetch_frame(pg_url, sql, timeout_s=1.5)
    assert time.monotonic() - start < 2.6 and "VECSCOPE_PG_TIMEOUT_S" in str(err.value)


def test_a_query_that_switches_off_statement_timeout_is_cancelled_on_the_server(pg_url, monkeypatch):
    _without_name_check(monkeypatch)   # set_config is refused by name too; the clock must hold alone
    marker = f"m{uuid.uuid4().hex[:8]}"
    sql = (f"SELECT g::text AS {marker}, set_config('statement_timeout', '0', true) AS t, "
           "CASE WHEN g = 10001 THEN pg_sleep(20)::text END AS s FROM generate_series(1, 20000) g")
    start = time.monotonic()
    with pytest.raises(DatabaseError, match="остановлен на сервере"):
        fetch_frame(pg_url, sql, timeout_s=1.5)
    assert time.monotonic() - start < 3.5
    # cancelled, not just abandoned: no backend is still sleeping in it
    assert scalar(pg_url, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s "
                          "AND pid <> pg_backend_pid()", (f"%{marker}%",)) == 0


def test_the_readme_recipe_makes_a_role_the_tool_accepts(pg_url):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sql\n(-- vecscope role.*?)```", readme, re.S)
    assert block, "README has no ```sql block starting with '-- vecscope role'"
    role, db = f"r_{uuid.uuid4().hex[:8]}", urlsplit(pg_url).path.lstrip("/")
    recipe = block.group(1).replace("vecscope_reader", role).replace("mydb", db)
    execute(pg_url, recipe)
    url = as_user(pg_url, role)
    assert len(fetch_frame(url, POSTS_SQL)) == 10
    for sql in ("DELETE FROM parse.posts_content", "SELECT pg_read_file('/etc/hostname')"):
        with pytest.raises(psycopg.Error):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sql)
    assert scalar(pg_url, "SELECT count(*) FROM parse.posts_content") == 10
