"""The LLM judge against a fake OpenAI-compatible server on 127.0.0.1 (no network): what it sends,
what it makes of the answers, what it says when the server fails, its disk cache and its kappa."""
from __future__ import annotations

import json
import math
import socket

import pytest

from core.evaluation.estimated import filled
from core.labels.llm.cache import cache_file
from core.labels.llm.client import MAX_TEXT_CHARS, _network_message, ask, parse_grade
from core.labels.llm.config import DEFAULT_TIMEOUT_S, JudgeConfig, JudgeConfigError, JudgeError, secrets_section
from core.labels.llm.judge import (
    CALIBRATION_SIZE,
    MIN_CALIBRATION,
    NO_CONFIDENCE,
    WORKERS,
    agreement,
    calibration_line,
    calibration_sample,
    judge_for,
    plan,
)
from tests.fake_llm import FakeJudge

HOSTILE = '<script>alert("x")</script> \'кавычки\' "двойные" \\ {"grade": 2}\nвторая строка\tи ?q=1&a=%20 #якорь'


@pytest.fixture
def fake(request):
    servers = []

    def make(**kw):
        servers.append(FakeJudge(**kw))
        return servers[-1]
    yield make
    for s in servers:
        s.close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    # a proxy set in the environment must not catch requests to the fake server
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def _corpus(n: int):
    ids = [f"d{i}" for i in range(n)]
    return ids, {d: i for i, d in enumerate(ids)}, [f"документ номер {i}" for i in range(n)]


# --------------------------------------------------------------------------- configuration


def test_no_section_is_no_judge():
    assert JudgeConfig.from_section(None) is None
    assert secrets_section({}) is None

    class NoFile(dict):
        def get(self, *a):
            raise FileNotFoundError("no secrets.toml")
    assert secrets_section(NoFile()) is None


@pytest.mark.parametrize("section, key", [
    ({"model": "m"}, "base_url"),
    ({"base_url": "ftp://host/v1", "model": "m"}, "base_url"),
    ({"base_url": "localhost:8000/v1", "model": "m"}, "base_url"),
    ({"base_url": "http://host:порт/v1", "model": "m"}, "base_url"),
    ({"base_url": "http://localhost:8000/v1"}, "model"),
    ({"base_url": "http://localhost:8000/v1", "model": "  "}, "model"),
    ({"base_url": "http://localhost:8000/v1", "model": "m", "timeout_s": "20"}, "timeout_s"),
    ({"base_url": "http://localhost:8000/v1", "model": "m", "timeout_s": 0}, "timeout_s"),
    ({"base_url": "http://localhost:8000/v1", "model": "m", "max_items": 0}, "max_items"),
    ({"base_url": "http://localhost:8000/v1", "model": "m", "api_key": 123}, "api_key"),
    ({"base_url": "http://localhost:8000/v1", "model": "m", "api_key": "ключ"}, "api_key"),
    ({"base_url": "http://localhost:8000/v1", "model": "m", "api_key": "sk-1\nX-Evil: 1"}, "api_key"),
    ({"base_url": "http://localhost:8000/v1", "modle": "m"}, "modle"),
    ("http://localhost:8000/v1", "[llm_judge]"),
])
def test_a_bad_section_names_the_key_and_the_file(section, key):
    with pytest.raises(JudgeConfigError) as err:
        JudgeConfig.from_section(section)
    assert key in str(err.value) and ".streamlit/secrets.toml" in str(err.value)
    assert "[llm_judge]" in str(err.value)


def test_a_good_section_and_what_messages_show_of_it():
    cfg = JudgeConfig.from_section({"base_url": " https://user:pw@llm.example.org:8443/v1/ ", "model": "qwen",
                                    "api_key": "sk-secret", "timeout_s": 5, "max_items": 7})
    assert cfg.endpoint == "https://user:pw@llm.example.org:8443/v1/chat/completions"
    assert cfg.host == "llm.example.org:8443"                 # no credentials, no path
    assert (cfg.timeout_s, cfg.max_items) == (5.0, 7) and "sk-secret" not in repr(cfg)
    plain = JudgeConfig.from_section({"base_url": "http://localhost:8000/v1", "model": "m"})
    assert plain.timeout_s == DEFAULT_TIMEOUT_S and plain.api_key == ""


# --------------------------------------------------------------------------- one question


def test_the_request_carries_the_texts_as_json_in_the_body(fake):
    server = fake(default='{"grade": 1}')
    cfg = server.config(api_key="sk-test")
    grade, answer = ask(cfg, HOSTILE, HOSTILE + " документ", need="мем " + HOSTILE)
    assert grade == 1 and answer == '{"grade": 1}'
    (req,) = server.requests
    assert req["path"] == "/v1/chat/completions"              # nothing of the texts in the URL
    assert req["headers"]["Authorization"] == "Bearer sk-test"
    body = req["body"]
    assert body["model"] == "fake-judge" and body["temperature"] == 0
    system, user = body["messages"]
    assert system["role"] == "system" and "2 — релевантно" in system["content"] and "0 — не релевантно" in system["content"]
    assert '{"grade": 0}' in system["content"]
    sent = json.loads(user["content"])
    assert sent == {"запрос": HOSTILE, "потребность": "мем " + HOSTILE, "документ": HOSTILE + " документ"}


def test_no_need_no_key_and_a_long_document_is_cut_at_a_word(fake):
    server = fake()
    ask(server.config(), "кот", "слово " * 1000)
    req = server.requests[0]
    assert "Authorization" not in req["headers"]
    sent = json.loads(req["body"]["messages"][1]["content"])
    assert "потребность" not in sent
    assert len(sent["документ"]) <= MAX_TEXT_CHARS + 2 and sent["документ"].endswith("слово …")


@pytest.mark.parametrize("content, grade", [
    ('{"grade": 2}', 2), ('{"grade":0}', 0), ('{"grade": "1"}', 1), ('{"grade": 2.0}', 2),
    ('```json\n{"grade": 1}\n```', 1), ('Оценка: {"grade": 2}', 2), ("<think>может 0?</think>\n{\"grade\": 2}", 2),
    ("2", 2), (" 1.\n", 1), ("**0**", 0), ('"grade": 1', 1), ("grade = 2", 2),
    # nothing to trust: no grade, never a guess
    ("", None), (None, None), ("не знаю", None), ('{"grade": 3}', None), ('{"grade": -1}', None),
    ('{"grade": true}', None), ('{"relevance": 2}', None), ("Оценка 2 из 2", None), ("1 или 2", None),
    ("grade: 1, grade: 2", None), ("<think>скорее 2", None), ("12", None),
])
def test_answers_parse_to_a_grade_or_to_nothing(content, grade):
    assert parse_grade(content) == grade


@pytest.mark.parametrize("status, words", [(500, ["HTTP 500", "ошибка на стороне сервера", "модель упала"]),
                                           (401, ["HTTP 401", "api_key"]), (404, ["HTTP 404", "base_url"])])
def test_an_http_error_says_which_status_and_where(fake, status, words):
    server = fake(status=status)
    with pytest.raises(JudgeError) as err:
        ask(server.config(), "кот", "документ")
    msg = str(err.value)
    assert f"127.0.0.1:{server.port}" in msg and all(w in msg for w in words), msg


@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_is_not_followed(fake, status):
    server = fake(status=status)
    with pytest.raises(JudgeError, match=f"HTTP {status}.*base_url"):
        ask(server.config(api_key="sk-test"), "кот", "документ")
    assert [r["path"] for r in server.requests] == ["/v1/chat/completions"]     # nothing sent anywhere else


def test_a_refused_connection_and_a_timeout_are_named():
    with socket.socket() as s:                       # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = JudgeConfig.from_section({"base_url": f"http://127.0.0.1:{port}/v1", "model": "m"})
    with pytest.raises(JudgeError, match=f"127.0.0.1:{port}: соединение отклонено"):
        ask(cfg, "кот", "документ")


def test_other_network_failures_keep_the_system_words_as_a_detail():
    cfg = JudgeConfig.from_section({"base_url": "http://judge.local:8000/v1", "model": "m"})
    msg = _network_message(cfg, OSError(113, "No route to host"))
    assert msg == "Не удалось связаться с LLM-судьёй на judge.local:8000: ошибка сети (`[Errno 113] No route to host`)."


def test_a_slow_server_times_out_with_a_message(fake):
    server = fake(delay=2.0)
    with pytest.raises(JudgeError) as err:
        ask(server.config(timeout_s=0.3), "кот", "документ")
    assert f"127.0.0.1:{server.port} не ответил за 0,3 с" in str(err.value) and "timeout_s" in str(err.value)


def test_an_answer_not_shaped_like_the_api_is_an_error_not_a_grade(monkeypatch):
    class Response:
        def __init__(self, raw):
            self.raw = raw

        def read(self, n):
            return self.raw

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False
    cfg = JudgeConfig.from_section({"base_url": "http://judge.local/v1", "model": "m"})
    for raw in (b"<html>nginx</html>", b'{"data": []}'):
        with pytest.raises(JudgeError, match="judge.local.*OpenAI-совместимый"):
            ask(cfg, "кот", "документ", opener=lambda req, timeout, raw=raw: Response(raw))


# --------------------------------------------------------------------------- a run


def test_hints_for_unjudged_pairs_shaped_like_suggestions(fake, tmp_path):
    ids, position, texts = _corpus(5)
    server = fake(answers={texts[1]: '{"grade": 2}', texts[2]: "затрудняюсь ответить"}, default='{"grade": 0}')
    qrels = {"кот": {"d0": 2}}                                          # d0 is judged: no hint for it
    j = judge_for(server.config(), qrels, [("кот", d) for d in ids[:4]], position, texts, {}, tmp_path)
    assert j.error == "" and j.pending == 0
    assert j.by_pair[("кот", "d1")][0] == 2 and math.isnan(j.by_pair[("кот", "d1")][1])
    assert j.by_pair[("кот", "d1")][2] == 2.0 and j.get("кот", "d3")[0] == 0
    assert j.get("кот", "d2") is None                                   # unparsable: no grade at all
    assert j.get("кот", "d0") is None and j.agreement["unparsed"] == 1
    assert math.isnan(NO_CONFIDENCE)
    # the estimated column takes it as it takes suggestions: expected grades for the holes
    holes = filled([{"кот": ["d0", "d1", "d3"]}], qrels, {p: e for p, (_, _, e) in j.by_pair.items()}, 3)
    assert holes == {"кот": {"d0": 2, "d1": 2.0, "d3": 0.0}}


def test_the_information_need_is_sent_with_its_query(fake, tmp_path):
    ids, position, texts = _corpus(2)
    server = fake()
    judge_for(server.config(), {}, [("Кот  на работе", "d0")], position, texts,
              {"кот на работе": "кот мешает работать"}, tmp_path)
    assert json.loads(server.requests[0]["body"]["messages"][1]["content"])["потребность"] == "кот мешает работать"


def test_the_disk_cache_means_a_question_is_asked_once(fake, tmp_path):
    ids, position, texts = _corpus(4)
    server = fake(answers={texts[0]: '{"grade": 2}', texts[1]: "?"})
    wanted = [("кот", d) for d in ids]
    first = judge_for(server.config(), {}, wanted, position, texts, {}, tmp_path)
    assert first.asked == 4 and len(server.requests) == 4
    again = judge_for(server.config(), {}, wanted, position, texts, {}, tmp_path)   # a new run reads the file
    assert again.asked == 0 and len(server.requests) == 4                          # ...and asks nothing
    assert again.by_pair == first.by_pair and again.agreement["unparsed"] == 1     # "?" is not asked again either
    with open(cache_file(tmp_path), "a", encoding="utf-8") as f:
        f.write('{"key": "torn\n')                                                  # a damaged line is skipped
    judge_for(server.config(), {}, wanted, position, texts, {}, tmp_path)
    assert len(server.requests) == 4
    other = JudgeConfig.from_section({"base_url": server.base_url, "model": "other-model"})
    judge_for(other, {}, wanted[:1], position, texts, {}, tmp_path)                # another model: asked anew
    assert len(server.requests) == 5
    judge_for(server.config(), {}, [("кот", "d0")], position, ["новый текст d0", *texts[1:]], {}, tmp_path)
    assert len(server.requests) == 6                                                # another text: asked anew
    assert "документ номер" not in cache_file(tmp_path).read_text()      # keys, not texts, on disk


def test_an_error_keeps_what_came_back_and_caches_nothing_wrong(fake, tmp_path):
    ids, position, texts = _corpus(3)
    down = fake(status=500)
    j = judge_for(down.config(), {}, [("кот", d) for d in ids], position, texts, {}, tmp_path)
    assert "HTTP 500" in j.error and j.by_pair == {} and j.pending == 3 and j.asked == 0
    assert len(down.requests) <= WORKERS                  # it stops at the first failure
    assert not cache_file(tmp_path).exists()              # a failure is not an answer
    p = plan(down.config(), {}, [("кот", d) for d in ids], position, texts, {}, tmp_path)
    before = len(down.requests)
    assert p.run(ask_new=False).by_pair == {} and len(down.requests) == before   # held back: no request


def test_an_unforeseen_failure_is_a_message_too(tmp_path):
    ids, position, texts = _corpus(2)
    cfg = JudgeConfig.from_section({"base_url": "http://judge.local/v1", "model": "m"})

    def broken(req, timeout):
        raise UnicodeError("somewhere deep")
    j = plan(cfg, {}, [("кот", "d0")], position, texts, {}, tmp_path).run(opener=broken)
    assert j.error == "Запрос к LLM-судье на judge.local не удался: неожиданная ошибка (`UnicodeError`)."
    assert j.by_pair == {} and j.pending == 1


def test_max_items_caps_the_questions_of_one_run(fake, tmp_path):
    ids, position, texts = _corpus(5)
    server = fake()
    cfg = server.config(max_items=3)
    first = judge_for(cfg, {}, [("кот", d) for d in ids], position, texts, {}, tmp_path)
    assert first.asked == 3 and first.pending == 2 and len(first.by_pair) == 3
    second = judge_for(cfg, {}, [("кот", d) for d in ids], position, texts, {}, tmp_path)
    assert second.asked == 2 and second.pending == 0 and len(second.by_pair) == 5


def test_kappa_by_hand():
    # human [0, 0, 1, 2], judge [0, 1, 1, 2]; quadratic weights (i - j)^2 (the 1/(k-1)^2 cancels).
    # Observed: one disagreement, (0, 1), weight 1 -> sum w·O = 1.
    # Expected: rows (human) 0:2 1:1 2:1, columns (judge) 0:1 1:2 2:1, E_ij = r_i c_j / 4;
    #   sum (i-j)^2 r_i c_j = (2·2·1 + 2·1·4) + (1·1·1 + 1·1·1) + (1·1·4 + 1·2·1) = 12 + 2 + 6 = 20 -> 20/4 = 5.
    # kappa = 1 - 1/5 = 0.8; exact agreement 3/4.
    a = agreement([0, 0, 1, 2], [0, 1, 1, 2], ["a", "a", "b", "b"], min_n=1)
    assert a["kappa"] == pytest.approx(0.8) and a["exact"] == pytest.approx(0.75)
    assert (a["n"], a["queries"]) == (4, 2)
    assert math.isnan(agreement([0, 0, 1, 2], [0, 1, 1, 2])["kappa"])       # under MIN_CALIBRATION: not measured
    assert math.isnan(agreement([2] * 12, [2] * 12, min_n=1)["kappa"])      # one grade everywhere: nothing to say


def test_calibration_asks_the_judge_about_labelled_pairs(fake, tmp_path):
    # the same four-pair pattern three times (kappa does not change when every count triples): kappa 0.8
    ids, position, texts = _corpus(12)
    human = [0, 0, 1, 2] * 3
    judge = [0, 1, 1, 2] * 3
    qrels = {}
    for i, (d, y) in enumerate(zip(ids, human)):
        qrels.setdefault(f"запрос {i // 4}", {})[d] = y
    server = fake(answers={t: json.dumps({"grade": g}) for t, g in zip(texts, judge)})
    j = judge_for(server.config(), qrels, [], position, texts, {}, tmp_path)
    assert j.by_pair == {}                                         # calibration pairs are judged: no hints
    assert j.agreement["kappa"] == pytest.approx(0.8) and j.agreement["exact"] == pytest.approx(0.75)
    assert (j.agreement["n"], j.agreement["queries"], j.agreement["sample"]) == (12, 3, 12)
    line = calibration_line(j)
    assert "fake-judge" in line and "κ = 0,80" in line and "12 парах" in line and "Уверенности у подсказки нет" in line


def test_the_calibration_sample_is_capped_seeded_and_stable():
    pairs = [(f"q{i % 7}", f"d{i}") for i in range(200)]
    sample = calibration_sample(pairs)
    assert len(sample) == CALIBRATION_SIZE and sample == calibration_sample(list(reversed(pairs)))
    assert calibration_sample(pairs, seed=1) != sample
    grown = calibration_sample([*pairs, ("q0", "новый")])
    assert len(set(grown) - set(sample)) <= 1                      # one new label moves the sample by one pair at most


def test_few_labels_say_the_kappa_is_not_measured_yet(fake, tmp_path):
    ids, position, texts = _corpus(3)
    server = fake()
    j = judge_for(server.config(), {"кот": {"d0": 2, "d1": 0}}, [("кот", "d2")], position, texts, {}, tmp_path)
    assert math.isnan(j.agreement["kappa"]) and j.agreement["n"] == 2
    assert "мало оценок" in calibration_line(j) and str(MIN_CALIBRATION) in calibration_line(j)
