"""Ordinal agreement with intervals, per pair and per query, and the items that need another opinion."""
import math

import pandas as pd
import pytest

from core.labels.agreement import EXPLAIN, by_pair, by_query, ordinal_alpha, second_opinion
from core.labels.quality import graded, krippendorff_alpha


def labels(rows):
    return pd.DataFrame(rows, columns=["annotator", "corpus", "query", "doc_id", "grade", "note"])


FOUR = labels([("a", "m", "q1", "d1", 2, ""), ("b", "m", "q1", "d1", 1, ""),
               ("a", "m", "q1", "d2", 0, ""), ("b", "m", "q1", "d2", 0, ""),
               ("a", "m", "q2", "d3", 2, ""), ("b", "m", "q2", "d3", 2, ""),
               ("a", "m", "q2", "d4", 1, ""), ("b", "m", "q2", "d4", 1, "")])


def test_ordinal_alpha_matches_the_hand_computation_and_differs_from_interval():
    # coincidences: (1,2) twice, (0,0) (1,1) (2,2) twice each; n0=2, n1=3, n2=3, n=8
    # ordinal d(1,2) = (n1+n2 - (n1+n2)/2)^2 = 9, d(0,1) = 2.5^2, d(0,2) = 5.5^2
    # D_o = 2*9/8 = 2.25; D_e = 2*(2*3*6.25 + 2*3*30.25 + 3*3*9)/(8*7) = 600/56; alpha = 1 - 2.25*56/600
    got = ordinal_alpha(graded(FOUR), n_boot=200)
    assert got["alpha"] == pytest.approx(1 - 2.25 * 56 / 600) and got["items"] == 4
    assert got["lo"] <= got["alpha"] <= got["hi"]
    # the interval metric (squared grade difference) on the same grades: 1 - (2/8) / (2*39/56)
    assert krippendorff_alpha(FOUR)[0] == pytest.approx(1 - 0.25 * 56 / 78)
    assert "0,8" in EXPLAIN and "0,667" in EXPLAIN


def test_alpha_per_pair_and_per_query_least_agreement_first():
    three = pd.concat([FOUR, labels([("c", "m", "q1", "d1", 0, ""), ("c", "m", "q1", "d2", 2, "")])])
    pairs = by_pair(three, n_boot=50).set_index("annotators")
    assert pairs.loc["a · b", "shared"] == 4 and pairs.loc["a · c", "shared"] == 2
    assert pairs.loc["a · c", "alpha"] < pairs.loc["a · b", "alpha"]
    queries = by_query(three, n_boot=50)
    assert list(queries["query"]) == ["q1", "q2"] and queries.iloc[1]["alpha"] == 1.0
    assert math.isnan(ordinal_alpha(graded(labels([("a", "m", "q", "d", 2, "")])))["alpha"])


def test_second_opinion_wants_wide_spreads_and_noted_one_vs_two_from_someone_new():
    frame = labels([("a", "m", "q", "wide", 0, ""), ("b", "m", "q", "wide", 2, ""),
                    ("a", "m", "q", "noted", 1, "спорно: мем про другое"), ("b", "m", "q", "noted", 2, ""),
                    ("a", "m", "q", "mild", 1, ""), ("b", "m", "q", "mild", 2, ""),
                    ("a", "m", "q", "cant", -1, ""), ("b", "m", "q", "cant", 2, "")])
    assert list(second_opinion(frame, "c")["doc_id"]) == ["wide", "noted"]
    assert second_opinion(frame, "a").empty          # never asked of someone who already graded it
