"""The LLM judge on the Compare page's blind view (AppTest through app.py, a fake OpenAI-compatible
server on 127.0.0.1): offered only when [llm_judge] is in the secrets, its hints never become labels,
and an endpoint that fails is a warning on a page that goes on."""
import socket

import pytest
from streamlit.testing.v1 import AppTest

from core.labels.llm import judge
from core.labels.store import LabelStore
from tests.app.test_compare_page import _seed_labels, compare
from tests.app.test_hostile_pages import assert_inert
from tests.app.test_pages import literal, start
from tests.app.test_russian import LATIN, assert_russian
from tests.conftest import ROOT
from tests.fake_llm import FakeJudge

QUERY = "когда всё пошло не по плану"
MODEL = "fake-judge <b>![x](javascript:alert(1))</b> :red[судья]"     # secrets are text too


@pytest.fixture
def judge_cache(monkeypatch, tmp_path):
    """The judge's answers under the test's own folder, not the shared warm embedding cache."""
    monkeypatch.setattr(judge, "cache_file", lambda cache_dir: tmp_path / "llm_answers.jsonl")
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "llm_answers.jsonl"


@pytest.fixture
def server():
    fake = FakeJudge(default='{"grade": 2}')
    yield fake
    fake.close()


def with_judge(section: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.secrets["llm_judge"] = section
    at.run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    return at


def blind_with_hints(at: AppTest) -> AppTest:
    compare(at, QUERY, view="blind")
    at.toggle(key="compare_hints").set_value(True).run()
    assert not at.exception, at.exception
    return at


def test_the_blind_view_shows_llm_hints_and_never_writes_them(app_env, judge_cache, server):
    n = _seed_labels(app_env / "labels.csv")
    before = (app_env / "labels.csv").read_bytes()
    at = blind_with_hints(with_judge({"base_url": server.base_url, "model": MODEL, "max_items": 200}))
    source = at.radio(key="compare_hint_source")
    assert source.value == "model" and "fake-judge" in literal(source.options[1])     # the team's model stays the default
    assert not server.requests
    source.set_value("llm").run()
    assert not at.exception, at.exception
    hints = [c.value for c in at.caption if c.value.startswith("Подсказка LLM:")]
    pool = [m.value for m in at.markdown if m.value[:2] == "**" and m.value[2:3].isdigit()]
    assert hints and len(hints) == len(pool) and all(h == "Подсказка LLM: 2 · релевантно" for h in hints)
    assert not any(c.value.startswith("Подсказка модели:") for c in at.caption)
    line = literal(next(c.value for c in at.caption if c.value.startswith("LLM")))
    assert "fake-judge" in line and "κ = " in line and f"{n} парах" in line   # calibrated on every seeded label
    assert len(server.requests) == len(pool) + n
    assert all(r["body"]["model"] == MODEL for r in server.requests)
    assert_inert(at, f"LLM-судья ({MODEL})", f"LLM-судья {MODEL}:")          # the name on screen is text
    assert_russian(at, "Сравнение вслепую, подсказки LLM", data=tuple(LATIN.findall(MODEL)))
    sent = [r["body"]["messages"][1]["content"] for r in server.requests]
    assert any(QUERY in body for body in sent)
    assert (app_env / "labels.csv").read_bytes() == before                   # a hint is never a label
    assert len(LabelStore(app_env / "labels.csv").read().frame) == n
    at.run()
    assert len(server.requests) == len(pool) + n                             # answers come from the disk cache
    assert len([c for c in at.caption if c.value.startswith("Подсказка LLM:")]) == len(hints)


def test_without_the_section_there_is_no_llm_choice(app_env, judge_cache):
    _seed_labels(app_env / "labels.csv")
    at = blind_with_hints(start("pages/compare.py"))
    assert not [r for r in at.radio if r.key == "compare_hint_source"]
    assert_russian(at, "Сравнение вслепую без раздела [llm_judge]")
    assert not any("LLM" in c.value for c in at.caption) and not any("LLM" in w.value for w in at.warning)
    assert any(c.value.startswith("Подсказка модели:") for c in at.caption)
    assert not judge_cache.exists()


def test_an_endpoint_that_is_down_is_a_warning_and_the_page_goes_on(app_env, judge_cache):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    at = blind_with_hints(with_judge({"base_url": f"http://127.0.0.1:{port}/v1", "model": "fake-judge"}))
    at.radio(key="compare_hint_source").set_value("llm").run()
    assert not at.exception, at.exception
    warning = " ".join(w.value for w in at.warning)
    assert "соединение отклонено" in warning and f"127.0.0.1:{port}" in literal(warning)
    assert [m.value for m in at.markdown if m.value.startswith("**1.**")]      # the results are still there
    assert any(b.label == "Спросить LLM-судью снова" for b in at.button)
    assert_russian(at, "Сравнение вслепую, LLM-судья недоступен", data=("fake-judge",))


def test_a_bad_section_names_the_key_and_offers_no_llm(app_env, judge_cache):
    at = blind_with_hints(with_judge({"base_url": "localhost:8000", "model": "m"}))
    assert not at.exception, at.exception
    assert any("base_url" in literal(w.value) and ".streamlit/secrets.toml" in literal(w.value) for w in at.warning)
    assert not [r for r in at.radio if r.key == "compare_hint_source"]
    assert_russian(at, "Сравнение вслепую, раздел [llm_judge] с ошибкой")
