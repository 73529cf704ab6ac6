import csv
import io
from urllib.parse import unquote

import pandas as pd
import pytest

from core.labels.quality import (
    disagreement_queue,
    holes,
    judgements_per_hour,
    krippendorff_alpha,
    pairwise_agreement,
    quepid_csv,
    query_id,
    trec_doc_id,
    trec_qrels,
)


def labels(rows):
    return pd.DataFrame(rows, columns=["annotator", "corpus", "query", "doc_id", "grade", "ts"])


def test_alpha_is_one_when_annotators_agree_and_drops_when_they_do_not():
    same = labels([("a", "m", "q", "d1", 2, ""), ("b", "m", "q", "d1", 2, ""),
                   ("a", "m", "q", "d2", 0, ""), ("b", "m", "q", "d2", 0, "")])
    assert krippendorff_alpha(same) == (1.0, 2)
    # hand computation: units {2,0} and {0,2}: D_o = 1/4 * (8/1 + 8/1) = 4;
    # values [2,0,0,2]: sum of squared diffs over ordered pairs = 8 pairs * 4 = 32, D_e = 32 / (4*3) = 8/3
    # alpha = 1 - 4 / (8/3) = -0.5
    opposite = labels([("a", "m", "q", "d1", 2, ""), ("b", "m", "q", "d1", 0, ""),
                       ("a", "m", "q", "d2", 0, ""), ("b", "m", "q", "d2", 2, "")])
    assert krippendorff_alpha(opposite)[0] == pytest.approx(-0.5)


def test_cant_judge_and_single_judgements_are_left_out():
    frame = labels([("a", "m", "q", "d1", 2, ""), ("b", "m", "q", "d1", -1, ""), ("a", "m", "q", "d2", 1, "")])
    alpha, n = krippendorff_alpha(frame)
    assert n == 0 and alpha != alpha   # nan: nothing doubly judged


def test_disagreement_queue_puts_the_widest_spread_first():
    frame = labels([("a", "m", "q1", "d1", 2, ""), ("b", "m", "q1", "d1", 1, ""),
                    ("a", "m", "q2", "d9", 0, ""), ("b", "m", "q2", "d9", 2, "")])
    queue = disagreement_queue(frame)
    assert list(queue["doc_id"]) == ["d9", "d1"] and list(queue["spread"]) == [2, 1]
    pair = pairwise_agreement(frame)
    assert pair.iloc[0]["shared"] == 2 and pair.iloc[0]["exact"] == 0.0


def test_holes_are_the_unjudged_documents_of_each_top_k():
    runs = {"A": {"q": ["d1", "d2", "d3"]}, "B": {"q": ["d3", "d4", "d1"]}}
    out = holes(runs, {"q": {"d1"}}, k=3)
    assert out.iloc[0].to_dict() == {"query": "q", "holes": 3, "A": 2, "B": 2}


def test_exports_in_trec_and_quepid_formats():
    frame = labels([("a", "m", "кот, спит", "d1", 2, ""), ("b", "m", "кот, спит", "d1", 1, "")])
    qid = query_id("m", "кот, спит")
    assert trec_qrels(frame) == f"{qid} 0 d1 2\n"     # mean 1.5 rounds to 2
    assert quepid_csv(frame).decode() == '"query","docid","rating"\r\n"кот, спит","d1",2\r\n'


def test_trec_qrels_keep_four_columns_for_ids_with_spaces():
    ids = ["пост 1", "a\tb", "50%", "-1001111111111_18", "x\u00a0y"]
    frame = labels([("a", "m", "кот", d, 2, "") for d in ids])
    lines = trec_qrels(frame).splitlines()
    assert all(len(line.split()) == 4 for line in lines)           # what trec_eval splits on
    assert sorted(unquote(line.split()[2]) for line in lines) == sorted(ids)
    assert trec_doc_id("пост 1") == "пост%201" and trec_doc_id("-1001111111111_18") == "-1001111111111_18"


def test_quepid_csv_defuses_formulas_but_keeps_numbers():
    frame = labels([("a", "m", "=HYPERLINK(\"http://x\")", "-1001111111111", 2, ""),
                    ("a", "m", "ok;=1+1", "@d", 1, "")])
    rows = list(csv.reader(io.StringIO(quepid_csv(frame).decode("utf-8"), newline="")))
    assert rows[1:] == [["'=HYPERLINK(\"http://x\")", "-1001111111111", "2"], ["ok;'=1+1", "'@d", "1"]]


def test_judgements_per_hour():
    frame = labels([("a", "m", "q", "d1", 2, "2026-11-23T10:05:00+00:00"),
                    ("a", "m", "q", "d2", 2, "2026-11-23T10:50:00+00:00"),
                    ("a", "m", "q", "d3", 2, "2026-11-23T12:10:00+00:00")])
    row = judgements_per_hour(frame).iloc[0]
    assert (row["labels"], row["active_hours"], row["per_hour"]) == (3, 2, 1.5)
