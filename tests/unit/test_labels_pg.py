"""core.labels.pg_store: the label store in a REAL PostgreSQL server, shared by several app servers.

One contract, two stores: the same checks run against the CSV file store and the PostgreSQL one.
Then what only a shared database needs: two app processes grading at once store every label
exactly once, a role that may only SELECT and INSERT can grade but never rewrite history, a
dropped connection costs no label, and the export is byte-identical to the file store's.
The server is the throwaway one test_database.py starts from Debian's binaries."""
from __future__ import annotations

import multiprocessing as mp
import uuid

import pandas as pd
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import Settings
from core.labels.pg_store import MARK, PgLabelStore, create_sql
from core.labels.store import Label, LabelError, LabelStore, export_csv, open_label_store
from tests.unit.test_database import as_user, postgres_server  # noqa: F401  (the session's server)

WRITER_ROLE = "vecscope_labels_rw"


@pytest.fixture
def labels_db(postgres_server):  # noqa: F811
    """URL of a fresh, empty database (logged in as the server's superuser)."""
    db = f"l_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    yield f"{postgres_server}/{db}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {db} WITH (FORCE)")


@pytest.fixture(params=["file", "postgresql"])
def store(request, tmp_path):
    if request.param == "file":
        yield LabelStore(tmp_path / "labels.csv")
    else:
        pg = PgLabelStore(request.getfixturevalue("labels_db"))
        yield pg
        pg.close()


def lab(doc_id="d1", grade=2, annotator="alice", query="кот в сапогах", **kw) -> Label:
    return Label(annotator=annotator, corpus="memes", query=query, doc_id=doc_id, grade=grade, **kw)


# ------------------------------------------------------------------ the contract, run on both stores

def test_contract_latest_wins_history_stays_and_undo_appends(store):
    first = store.append(lab("d1", 2, note="смешно"))
    assert first.ts and first.split in ("train", "eval")
    store.append_many([lab("d1", 0), lab("d2", 1, annotator="bob", rank=3, model="e5-small")])
    assert store.read().frame["grade"].tolist() == [2, 0, 1]
    assert store.latest()["grade"].tolist() == [0, 1]
    assert store.grades_for("memes", "кот в сапогах", "alice") == {"d1": {"mine": 0, "others": 0},
                                                                 "d2": {"mine": None, "others": 1}}
    restored = store.undo("alice", "memes", "кот в сапогах", "d1")    # back to 2, note included
    assert (restored.grade, restored.note) == (2, "смешно")
    assert store.history("memes", "кот в сапогах", "d1")["grade"].tolist() == [2, 0, 2]
    assert store.undo("bob", "memes", "кот в сапогах", "d2").grade is None    # only row: a retraction
    assert store.undo("bob", "memes", "кот в сапогах", "d2").grade == 1        # undoing the undo redoes
    assert store.undo("carol", "memes", "кот в сапогах", "d1") is None        # nothing of hers
    assert len(store.read().frame) == 6                                       # nothing was rewritten
    ts = store.read().frame["ts"].tolist()
    assert ts == sorted(ts)


def test_contract_refuses_bad_labels_and_stores_none_of_a_bad_batch(store):
    store.append(lab("ok"))
    before = store.version()
    for bad in (lab(grade=5), lab(annotator=" "), lab(rank=-1), lab(split="нет")):
        with pytest.raises(LabelError):
            store.append(bad)
    with pytest.raises(LabelError):
        store.append_many([lab("d2"), lab("d3", grade=7)])
    assert store.read().frame["doc_id"].tolist() == ["ok"] and store.version() == before
    store.append(lab("d4"))
    assert store.version() != before


def test_contract_read_is_a_copy(store):
    store.append(lab("d1"))
    frame = store.read().frame
    frame.loc[0, "grade"] = 0
    assert store.read().frame.loc[0, "grade"] == 2


# ------------------------------------------------------------------ the same text, the same bytes

PIECES = ["\0", MARK, "\\", "\\n", "\r\n", "\n", "=1+1", ";-2", "ё", "\t", '"', ",", "\x18", "\U0001f600"]
TEXT = st.lists(st.one_of(st.text(max_size=5), st.sampled_from(PIECES)), max_size=8).map("".join)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=st.lists(st.builds(
    Label, annotator=TEXT.filter(str.strip), corpus=TEXT.filter(str.strip), query=TEXT.filter(str.strip),
    doc_id=TEXT.filter(str.strip), grade=st.sampled_from([2, 1, 0, -1, None]), model=TEXT,
    rank=st.none() | st.integers(0, 10**9 - 1), note=TEXT), min_size=1, max_size=6))
def test_hostile_text_reads_back_exactly_and_exports_like_the_file_store(labels_db, tmp_path, labels):
    """NUL (which PostgreSQL text cannot hold), the marker, backslashes, CR/LF, `=1+1`, … all
    come back as typed, in a frame equal to the file store's, exported to the same bytes."""
    pg = PgLabelStore(labels_db, table=f"t_{uuid.uuid4().hex[:8]}")
    stored = pg.append_many(labels)
    file_store = LabelStore(tmp_path / f"{uuid.uuid4().hex}.csv")
    file_store.append_many(stored)                       # the same labels, ts included
    got, want = pg.read().frame, file_store.read().frame
    pd.testing.assert_frame_equal(got, want)
    assert export_csv(got) == export_csv(want)
    assert got["note"].tolist() == [lab_.note for lab_ in labels]
    pg.close()


def test_nul_and_marker_values_are_escaped_only_where_needed(labels_db):
    pg = PgLabelStore(labels_db)
    pg.append_many([lab("a\0b", note=MARK + "x"), lab(r"C:\путь\n", note="обычный текст")])
    with psycopg.connect(labels_db) as conn:
        raw = conn.execute("SELECT doc_id, note FROM vecscope_labels ORDER BY id").fetchall()
    assert raw[0][0].startswith(MARK) and "\0" not in raw[0][0]
    assert raw[1] == (r"C:\путь\n", "обычный текст")      # ordinary text is stored as typed
    assert pg.read().frame["doc_id"].tolist() == ["a\0b", r"C:\путь\n"]
    assert pg.undo("alice", "memes", "кот в сапогах", "a\0b").grade is None   # keys match escaped values
    pg.close()


# ------------------------------------------------------------------ several app servers

def _grader(url: str, who: str, n: int, start, out) -> None:
    """One app server: its own process, its own connection, grading as fast as it can."""
    store = PgLabelStore(url)
    start.wait()
    confirmed = []
    for i in range(n):
        saved = store.append(Label(who, "posts", f"запрос {i % 9}", f"{who}-{i}", i % 3, model="e5-small",
                                   rank=i % 10, note="ок;=1+1" if i % 5 == 0 else ""))
        confirmed.append(saved.doc_id)
        if i % 10 == 9:                                   # and an undo now and then
            store.undo(who, "posts", f"запрос {i % 9}", f"{who}-{i}")
            confirmed.append(f"undo:{who}-{i}")
    out.put(confirmed)


def test_two_app_processes_grading_at_once_store_every_label_exactly_once(labels_db, tmp_path):
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_grader, args=(labels_db, who, 120, start, out)) for who in ("anna", "boris")]
    for p in procs:
        p.start()
    start.set()
    confirmed = [doc for _ in procs for doc in out.get(timeout=120)]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0

    frame = PgLabelStore(labels_db).read().frame
    grades = [d for d in confirmed if not d.startswith("undo:")]
    undos = [d.removeprefix("undo:") for d in confirmed if d.startswith("undo:")]
    assert len(frame) == len(grades) + len(undos) == 2 * (120 + 12)
    counts = frame["doc_id"].value_counts()
    assert all(counts[d] == 1 + undos.count(d) for d in grades)     # each label once, each undo once
    undone = frame[frame["doc_id"].isin(undos)].drop_duplicates("doc_id", keep="last")["grade"]
    assert len(undone) == 24 and undone.isna().all()                                      # an undo of a single grade retracts it
    assert frame["ts"].is_monotonic_increasing                      # server clock, stamped under the lock

    file_store = LabelStore(tmp_path / "same.csv")
    file_store.append_many(Label(**{c: (None if pd.isna(v) else v) for c, v in row.items()})
                           for row in frame.to_dict("records"))
    assert export_csv(frame) == export_csv(file_store.read().frame)   # byte-identical download


def test_a_second_server_sees_new_labels_on_its_next_read(labels_db):
    one, two = PgLabelStore(labels_db), PgLabelStore(labels_db)
    one.append(lab("d1"))
    v1, first = two.version(), two.read().frame
    one.append_many([lab("d2"), lab("d3")])
    assert two.version() != v1
    again = two.read().frame                                        # only the new rows are fetched
    assert again["doc_id"].tolist() == ["d1", "d2", "d3"] and len(first) == 1
    pd.testing.assert_frame_equal(again, PgLabelStore(labels_db).read().frame)
    one.close()
    two.close()


def test_a_role_that_may_only_select_and_insert_grades_but_cannot_rewrite_history(labels_db, tmp_path):
    with psycopg.connect(labels_db, autocommit=True) as conn:
        conn.execute(create_sql())                                  # the owner runs the printed SQL once
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (WRITER_ROLE,)).fetchone():
            conn.execute(f"CREATE ROLE {WRITER_ROLE} LOGIN")
        conn.execute(f"GRANT SELECT, INSERT ON vecscope_labels TO {WRITER_ROLE}")
    url = as_user(labels_db, WRITER_ROLE)
    store = PgLabelStore(url)
    store.append(lab("d1"))
    assert store.undo("alice", "memes", "кот в сапогах", "d1").grade is None
    assert store.read().frame["doc_id"].tolist() == ["d1", "d1"]
    with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM vecscope_labels")
    assert "s3cr3t" not in store.location and WRITER_ROLE in store.location
    store.close()


def test_a_dropped_connection_costs_no_label_and_stores_nothing_twice(labels_db):
    store = PgLabelStore(labels_db)
    store.append(lab("d1"))
    with psycopg.connect(labels_db, autocommit=True) as conn:     # e.g. the server restarted
        killed = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE application_name = 'vecscope-labels' AND datname = current_database()").fetchall()
    assert killed == [(True,)]
    store.append(lab("d2"))                                         # reconnects, writes once
    assert store.read().frame["doc_id"].tolist() == ["d1", "d2"]
    store.close()


def test_vecscope_labels_url_switches_the_app_to_postgresql(monkeypatch, tmp_path, labels_db):
    monkeypatch.setenv("VECSCOPE_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("VECSCOPE_LABELS", labels_db)
    settings_ = Settings.from_env()
    assert settings_.labels_url == labels_db
    store = open_label_store(settings_)
    assert isinstance(store, PgLabelStore) and "s3cr3t" not in store.location
    store.append(lab("d1"))
    assert not (tmp_path / "labels.csv").exists()                   # nothing went to a local file
    monkeypatch.setenv("VECSCOPE_LABELS", str(tmp_path / "x.csv"))
    assert isinstance(open_label_store(Settings.from_env()), LabelStore)
    store.close()
