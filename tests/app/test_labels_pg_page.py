"""The app on a PostgreSQL label store (VECSCOPE_LABELS=postgresql://…): a grade on the Search
page is in the database when the page shows it, and a label written by another app server shows
up on the next run (the page's cache follows the table, not a local file)."""
import uuid

import psycopg
import pytest
from streamlit.testing.v1 import AppTest

from core.labels.pg_store import PgLabelStore
from core.labels.store import Label
from tests.conftest import ROOT
from tests.unit.test_database import postgres_server  # noqa: F401  (the session's throwaway server)


@pytest.fixture
def pg_labels(app_env, monkeypatch, postgres_server):  # noqa: F811
    db = f"a_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    url = f"{postgres_server}/{db}"
    monkeypatch.setenv("VECSCOPE_LABELS", url)
    yield url
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {db} WITH (FORCE)")


def test_grades_go_to_postgresql_and_other_servers_labels_show_up(pg_labels, app_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.sidebar.text_input(key="_w_annotator").input("anna").run()
    at.text_input(key="search_query").input("кот разбил вазу")
    next(b for b in at.button if b.label == "Искать").click().run()
    at.button(key="g1_0").click().run()
    assert not at.exception, at.exception
    other_server = PgLabelStore(pg_labels)
    rows = other_server.read().frame
    assert rows[["annotator", "grade", "rank"]].values.tolist() == [["anna", 1, 1]]
    assert at.button(key="g1_0").proto.type == "primary"
    assert not (app_env / "labels.csv").exists()
    assert any("postgresql://" in c.value and "s3cr3t" not in c.value for c in at.sidebar.caption)

    other_server.append(Label("boris", "memes", "кот разбил вазу", rows.iloc[0]["doc_id"], 0))
    at.run()                                   # the next rerun on this server sees boris's label
    assert any("оценили ещё 1" in c.value for c in at.caption)
    other_server.close()
