"""Unit tests for core.evaluation.metrics: hand-computed cases, edge cases and independent references."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import ndcg_score

from core.evaluation.metrics import (
    DEFAULT_METRICS,
    METRICS,
    evaluate_run,
    excluded_queries,
    hit_rate_at_k,
    judged_at_k,
    mrr_at_k,
    ndcg_at_k,
    parse_metric,
    precision_at_k,
    recall_at_k,
    summarise,
)
from core.evaluation.significance import paired_bootstrap

LOG2_3 = math.log2(3)  # 1.5849625007

# Running example: d1 unjudged, d2 relevant (2), d3 partly (1); d9 relevant but not retrieved.
RANKED = ["d1", "d2", "d3"]
GRADES = {"d2": 2, "d3": 1, "d9": 2}


# --------------------------------------------------------------------------- hand-computed


def test_ndcg_hand_computed():
    # DCG@3  = 0/log2(2) + 2/log2(3) + 1/log2(4) = 0 + 1.2618595 + 0.5         = 1.7618595
    # IDCG@3 from all judged grades sorted [2, 2, 1]:
    #        = 2/log2(2) + 2/log2(3) + 1/log2(4) = 2 + 1.2618595 + 0.5         = 3.7618595
    # nDCG@3 = 1.7618595 / 3.7618595                                           = 0.4683480
    expected = (2 / LOG2_3 + 1 / 2) / (2 + 2 / LOG2_3 + 1 / 2)
    assert ndcg_at_k(RANKED, GRADES, 3) == pytest.approx(expected, abs=1e-12)
    assert ndcg_at_k(RANKED, GRADES, 3) == pytest.approx(0.4683480347, abs=1e-9)


def test_ndcg_cutoff_limits_ideal_too():
    # @1: DCG = 0 (d1 unjudged); IDCG@1 = 2                                    -> 0
    assert ndcg_at_k(RANKED, GRADES, 1) == 0.0
    # @2: DCG = 2/log2(3) = 1.2618595; IDCG@2 = 2 + 2/log2(3) = 3.2618595      -> 0.3868528
    assert ndcg_at_k(RANKED, GRADES, 2) == pytest.approx(0.3868528072, abs=1e-9)


def test_ndcg_perfect_ranking_is_one():
    assert ndcg_at_k(["d2", "d9", "d3"], GRADES, 3) == pytest.approx(1.0, abs=1e-12)
    assert ndcg_at_k(["d9", "d2", "d3", "x"], GRADES, 10) == pytest.approx(1.0, abs=1e-12)


def test_mrr_hand_computed():
    # first relevant (grade >= 1) is d2 at rank 2 -> 1/2
    assert mrr_at_k(RANKED, GRADES, 3) == 0.5
    # with min_grade=2 still d2 at rank 2 -> 1/2; cut at k=1 -> nothing found -> 0
    assert mrr_at_k(RANKED, GRADES, 3, min_grade=2) == 0.5
    assert mrr_at_k(RANKED, GRADES, 1) == 0.0
    # ["d3", "d2"]: min_grade=1 -> d3 at rank 1 -> 1; min_grade=2 -> d2 at rank 2 -> 1/2
    assert mrr_at_k(["d3", "d2"], GRADES, 10) == 1.0
    assert mrr_at_k(["d3", "d2"], GRADES, 10, min_grade=2) == 0.5


def test_recall_hand_computed():
    # relevant (>=1) = {d2, d3, d9}; found in top 3: {d2, d3} -> 2/3
    assert recall_at_k(RANKED, GRADES, 3) == pytest.approx(2 / 3)
    # relevant (>=2) = {d2, d9}; found: {d2} -> 1/2
    assert recall_at_k(RANKED, GRADES, 3, min_grade=2) == 0.5
    # top 2 = {d1, d2}: found {d2} -> 1/3
    assert recall_at_k(RANKED, GRADES, 2) == pytest.approx(1 / 3)


def test_precision_hand_computed():
    # 2 relevant among 3 positions -> 2/3; min_grade=2 -> 1/3
    assert precision_at_k(RANKED, GRADES, 3) == pytest.approx(2 / 3)
    assert precision_at_k(RANKED, GRADES, 3, min_grade=2) == pytest.approx(1 / 3)
    # divided by k, not by len(ranked): 2 relevant / 5 -> 0.4
    assert precision_at_k(RANKED, GRADES, 5) == pytest.approx(0.4)


def test_hit_rate_hand_computed():
    assert hit_rate_at_k(RANKED, GRADES, 1) == 0.0  # d1 unjudged
    assert hit_rate_at_k(RANKED, GRADES, 2) == 1.0  # d2
    assert hit_rate_at_k(["d1", "d3"], GRADES, 2, min_grade=2) == 0.0  # d3 only partly


def test_judged_hand_computed():
    # d2, d3 judged, d1 not: 2/3
    assert judged_at_k(RANKED, GRADES, 3) == pytest.approx(2 / 3)
    # k larger than the list: denominator min(k, len) = 3 -> still 2/3
    assert judged_at_k(RANKED, GRADES, 10) == pytest.approx(2 / 3)
    assert judged_at_k(RANKED, GRADES, 1) == 0.0


# --------------------------------------------------------------------------- edge cases


def test_empty_ranking():
    grades = {"a": 2}
    assert ndcg_at_k([], grades, 10) == 0.0
    assert mrr_at_k([], grades, 10) == 0.0
    assert recall_at_k([], grades, 10) == 0.0
    assert precision_at_k([], grades, 10) == 0.0
    assert hit_rate_at_k([], grades, 10) == 0.0
    assert judged_at_k([], grades, 10) == 0.0


def test_k_larger_than_list():
    # ranked [a], grades {a: 2, b: 1}, k=10
    # DCG = 2/log2(2) = 2; IDCG = 2 + 1/log2(3) = 2.6309298 -> 0.7601875
    grades = {"a": 2, "b": 1}
    assert ndcg_at_k(["a"], grades, 10) == pytest.approx(0.7601875334, abs=1e-9)
    assert mrr_at_k(["a"], grades, 10) == 1.0
    assert recall_at_k(["a"], grades, 10) == 0.5
    assert precision_at_k(["a"], grades, 10) == pytest.approx(0.1)
    assert hit_rate_at_k(["a"], grades, 10) == 1.0
    assert judged_at_k(["a"], grades, 10) == 1.0


@pytest.mark.parametrize("grades", [{}, {"a": 0}, {"a": 0, "b": -1}, {"b": -1}])
def test_no_relevant_docs(grades):
    ranked = ["a", "b", "c"]
    assert math.isnan(ndcg_at_k(ranked, grades, 10))
    assert math.isnan(recall_at_k(ranked, grades, 10))
    # well-defined ones are 0
    assert mrr_at_k(ranked, grades, 10) == 0.0
    assert precision_at_k(ranked, grades, 10) == 0.0
    assert hit_rate_at_k(ranked, grades, 10) == 0.0


def test_no_relevant_at_min_grade_is_nan_for_recall():
    # only partly-relevant docs; with min_grade=2 there is nothing relevant -> nan
    assert math.isnan(recall_at_k(["a"], {"a": 1}, 5, min_grade=2))
    assert recall_at_k(["a"], {"a": 1}, 5, min_grade=1) == 1.0


def test_cant_judge_minus_one():
    # ranked [x, y], grades {x: -1, y: 1}
    # -1 has gain 0 and is not relevant, but it is judged.
    # DCG = 0 + 1/log2(3) = 0.6309298; IDCG = 1/log2(2) = 1 -> 0.6309298
    grades = {"x": -1, "y": 1}
    assert ndcg_at_k(["x", "y"], grades, 2) == pytest.approx(1 / LOG2_3, abs=1e-12)
    assert mrr_at_k(["x", "y"], grades, 2) == 0.5
    assert recall_at_k(["x", "y"], grades, 2) == 1.0  # denominator {y} only
    assert precision_at_k(["x", "y"], grades, 2) == 0.5
    assert hit_rate_at_k(["x"], grades, 1) == 0.0
    assert judged_at_k(["x", "y"], grades, 2) == 1.0
    assert judged_at_k(["x", "z"], grades, 2) == 0.5
    # a -1 never enters the ideal DCG: {y:1, x:-1, w:-1} has the same IDCG as {y:1}
    assert ndcg_at_k(["y"], {"y": 1, "x": -1, "w": -1}, 3) == 1.0


def test_unjudged_equals_irrelevant():
    with_zero = {"u": 0, "a": 2, "b": 1}
    unjudged = {"a": 2, "b": 1}
    ranked = ["u", "b", "a", "v"]
    for k in (1, 2, 3, 4, 10):
        for name in ("ndcg", "mrr", "recall", "precision", "hit_rate"):
            fn = METRICS[name]
            assert fn(ranked, with_zero, k, 1) == fn(ranked, unjudged, k, 1), (name, k)
    # ...but coverage differs: 'u' is judged in one and not in the other
    assert judged_at_k(ranked, with_zero, 4) == 0.75
    assert judged_at_k(ranked, unjudged, 4) == 0.5


def test_duplicates_in_ranking_cannot_inflate():
    # [a, a, a] with {a: 2}: only the first copy earns gain / counts as relevant
    grades = {"a": 2}
    assert ndcg_at_k(["a", "a", "a"], grades, 3) == 1.0
    assert recall_at_k(["a", "a", "a"], grades, 3) == 1.0
    assert precision_at_k(["a", "a", "a"], grades, 3) == pytest.approx(1 / 3)
    # [x, a, a] with {a: 2, b: 2}: DCG = 2/log2(3), IDCG = 2 + 2/log2(3) -> 0.3868528 (not more)
    assert ndcg_at_k(["x", "a", "a"], {"a": 2, "b": 2}, 3) == pytest.approx(
        0.3868528072, abs=1e-9
    )


def test_invalid_arguments():
    with pytest.raises(ValueError):
        ndcg_at_k(RANKED, GRADES, 0)
    with pytest.raises(ValueError):
        mrr_at_k(RANKED, GRADES, -3)
    with pytest.raises(ValueError):
        recall_at_k(RANKED, GRADES, 10, min_grade=0)  # would make irrelevant docs relevant
    with pytest.raises(TypeError):
        precision_at_k("d1", GRADES, 10)  # a bare string is not a ranking
    with pytest.raises(TypeError):
        judged_at_k(RANKED, [("d1", 1)], 10)


# --------------------------------------------------------------------------- references


def _random_case(rng, with_unretrieved: bool):
    """A random ranking of distinct docs with grades in {-1, 0, 1, 2}, some docs unjudged."""
    n = int(rng.integers(2, 20))
    ranked = [f"d{i}" for i in rng.permutation(n)]
    grades = {}
    for doc in ranked:
        if rng.random() < 0.8:  # ~20% unjudged
            grades[doc] = int(rng.choice([-1, 0, 1, 2]))
    if with_unretrieved:
        for j in range(int(rng.integers(0, 5))):
            grades[f"u{j}"] = int(rng.choice([-1, 0, 1, 2]))
    return ranked, grades


def test_ndcg_matches_sklearn_when_all_judged_docs_are_ranked():
    rng = np.random.default_rng(12345)
    checked = 0
    while checked < 200:
        ranked, grades = _random_case(rng, with_unretrieved=False)
        if not any(g > 0 for g in grades.values()):
            assert math.isnan(ndcg_at_k(ranked, grades, 5))
            continue
        n = len(ranked)
        # sklearn: relevance per doc (unjudged and -1 -> 0), scores strictly decreasing
        y_true = np.array([[max(grades.get(d, 0), 0) for d in ranked]], dtype=float)
        y_score = np.arange(n, 0, -1, dtype=float)[None, :]
        for k in (1, 3, 5, 10, 25):
            ref = ndcg_score(y_true, y_score, k=k)
            assert ndcg_at_k(ranked, grades, k) == pytest.approx(ref, abs=1e-9), (ranked, grades, k)
        checked += 1


def test_ndcg_ideal_uses_unretrieved_judged_docs_sklearn():
    # Append the judged-but-unretrieved docs after the ranking (lowest scores). For k <=
    # len(ranked) sklearn's top-k is our top-k, while its ideal sees every judged doc.
    rng = np.random.default_rng(777)
    checked = 0
    while checked < 150:
        ranked, grades = _random_case(rng, with_unretrieved=True)
        if not any(g > 0 for g in grades.values()):
            continue
        extended = ranked + [d for d in grades if d not in ranked]
        y_true = np.array([[max(grades.get(d, 0), 0) for d in extended]], dtype=float)
        y_score = np.arange(len(extended), 0, -1, dtype=float)[None, :]
        for k in range(1, len(ranked) + 1):
            ref = ndcg_score(y_true, y_score, k=k)
            assert ndcg_at_k(ranked, grades, k) == pytest.approx(ref, abs=1e-9)
        checked += 1


def _brute_rr(ranked, grades, k, min_grade):
    rel = {d for d, g in grades.items() if g >= min_grade}
    rr = 0.0
    for i in reversed(range(min(k, len(ranked)))):  # scan backwards; keep the earliest hit
        if ranked[i] in rel:
            rr = 1.0 / (i + 1)
    return rr


def _brute_set_metrics(ranked, grades, k, min_grade):
    rel = {d for d, g in grades.items() if g >= min_grade}
    found = set(ranked[:k]) & rel
    recall = len(found) / len(rel) if rel else float("nan")
    return recall, len(found) / k, float(bool(found))


def test_binary_metrics_match_brute_force():
    rng = np.random.default_rng(2024)
    for _ in range(1000):
        ranked, grades = _random_case(rng, with_unretrieved=True)
        if rng.random() < 0.2 and ranked:  # sprinkle duplicates in
            ranked = ranked + [ranked[int(rng.integers(0, len(ranked)))]]
            ranked = [ranked[i] for i in rng.permutation(len(ranked))]
        for k in (1, 2, 5, 10, 30):
            for min_grade in (1, 2):
                assert mrr_at_k(ranked, grades, k, min_grade) == _brute_rr(
                    ranked, grades, k, min_grade
                )
                recall, precision, hit = _brute_set_metrics(ranked, grades, k, min_grade)
                got = recall_at_k(ranked, grades, k, min_grade)
                if math.isnan(recall):
                    assert math.isnan(got)
                else:
                    assert got == pytest.approx(recall, abs=1e-12)
                assert precision_at_k(ranked, grades, k, min_grade) == pytest.approx(
                    precision, abs=1e-12
                )
                assert hit_rate_at_k(ranked, grades, k, min_grade) == hit


# --------------------------------------------------------------------------- evaluate_run

METRIC_SPECS = ("ndcg@3", "mrr@3", "recall@3", "precision@3", "hit_rate@1", "judged@3")


def _three_queries():
    run = {
        "q1": ["d1", "d2", "d3"],
        "q2": ["a", "b"],
        # q3 missing from the run -> empty ranking
        "q4": ["z"],  # not in qrels -> not scored
    }
    qrels = {
        "q1": {"d2": 2, "d3": 1, "d9": 2},
        "q2": {"b": 0, "c": 0},  # judged, none relevant
        "q3": {"x": 1},
    }
    return run, qrels


def test_evaluate_run_three_queries():
    run, qrels = _three_queries()
    df = evaluate_run(run, qrels, metrics=METRIC_SPECS)
    assert list(df.index) == ["q1", "q2", "q3"]
    assert df.index.name == "qid"
    assert list(df.columns) == list(METRIC_SPECS)
    nan = float("nan")
    expected = pd.DataFrame(
        {
            #            q1 (see test_*_hand_computed)   q2: nothing relevant -> left out   q3: empty ranking
            "ndcg@3": [0.4683480347412084, nan, 0.0],
            "mrr@3": [0.5, nan, 0.0],
            "recall@3": [2 / 3, nan, 0.0],
            "precision@3": [2 / 3, nan, 0.0],
            "hit_rate@1": [0.0, nan, 0.0],
            "judged@3": [2 / 3, nan, 0.0],
        },
        index=pd.Index(["q1", "q2", "q3"], name="qid"),
    )
    pd.testing.assert_frame_equal(df, expected, check_exact=False, atol=1e-12, rtol=0)
    assert df.attrs["excluded"] == ["q2"]

    s = summarise(df)
    # one denominator: q2 has no relevant judged doc, so every metric averages q1 and q3
    # ndcg   = (0.4683480 + 0) / 2 = 0.2341740
    # mrr    = (0.5 + 0) / 2       = 1/4      (it was 1/6 over three queries while nDCG used two)
    # recall = (2/3 + 0) / 2       = 1/3
    # prec   = (2/3 + 0) / 2       = 1/3
    # judged = (2/3 + 0) / 2       = 1/3
    assert s["ndcg@3"] == pytest.approx(0.2341740173706042, abs=1e-12)
    assert s["mrr@3"] == pytest.approx(1 / 4)
    assert s["recall@3"] == pytest.approx(1 / 3)
    assert s["precision@3"] == pytest.approx(1 / 3)
    assert s["hit_rate@1"] == 0.0
    assert s["judged@3"] == pytest.approx(1 / 3)
    assert (s["n_queries"], s["n_excluded"]) == (2, 1)


def test_every_metric_of_a_table_averages_the_same_queries():
    # 200 queries, 13 of them judged but with nothing relevant: every mean is over the other 187
    rng = np.random.default_rng(3)
    run, qrels = {}, {}
    for q in range(200):
        docs = [f"d{i}" for i in range(12)]
        rng.shuffle(docs)
        run[q] = docs[:10]
        if q % 15 == 14:
            qrels[q] = {d: int(rng.choice([0, -1])) for d in docs[:4]}
        else:
            qrels[q] = {d: int(g) for d, g in zip(docs[:6], rng.integers(0, 3, size=6))} | {docs[11]: 2}
    specs = ["ndcg@10", "mrr@10", "recall@10", "precision@10", "hit_rate@5", "judged@10"]
    df = evaluate_run(run, qrels, specs)
    s = summarise(df)
    kept = [q for q in qrels if q % 15 != 14]
    assert (s["n_queries"], s["n_excluded"]) == (187, 13) == (len(kept), len(excluded_queries(qrels)))
    assert df.loc[kept].notna().all().all() and df.drop(index=kept).isna().all().all()
    by_hand = {
        "ndcg@10": [ndcg_at_k(run[q], qrels[q], 10) for q in kept],
        "mrr@10": [mrr_at_k(run[q], qrels[q], 10) for q in kept],
        "recall@10": [recall_at_k(run[q], qrels[q], 10) for q in kept],
        "precision@10": [precision_at_k(run[q], qrels[q], 10) for q in kept],
        "hit_rate@5": [hit_rate_at_k(run[q], qrels[q], 5) for q in kept],
        "judged@10": [judged_at_k(run[q], qrels[q], 10) for q in kept],
    }
    for spec, values in by_hand.items():
        assert s[spec] == pytest.approx(float(np.mean(values)), abs=1e-12), spec


def test_evaluate_run_defaults_and_min_grade():
    run, qrels = _three_queries()
    df = evaluate_run(run, qrels)
    assert list(df.columns) == list(DEFAULT_METRICS)
    df2 = evaluate_run(run, qrels, metrics=["recall@3", "ndcg@3"], min_grade=2)
    # q1 relevant at >=2: {d2, d9}; found d2 -> 1/2. q3 has only a grade-1 doc -> nan.
    assert df2.loc["q1", "recall@3"] == 0.5
    assert math.isnan(df2.loc["q3", "recall@3"])
    # nDCG is graded and ignores min_grade
    assert df2.loc["q1", "ndcg@3"] == pytest.approx(0.4683480347412084, abs=1e-12)


def test_evaluate_run_rejects_bad_metric_names():
    run, qrels = _three_queries()
    for bad in (["foo@10"], ["ndcg"], ["ndcg@0"], ["ndcg@x"], ["ndcg@10", "ndcg@10"]):
        with pytest.raises(ValueError):
            evaluate_run(run, qrels, metrics=bad)
    assert parse_metric("hit_rate@5") == ("hit_rate", 5)


def test_summarise_all_nan_column_and_empty():
    df = pd.DataFrame({"ndcg@10": [float("nan"), float("nan")]}, index=["a", "b"])
    s = summarise(df)
    assert math.isnan(s["ndcg@10"]) and (s["n_queries"], s["n_excluded"]) == (0, 2)
    assert summarise(evaluate_run({}, {}))["n_queries"] == 0
    # a stray nan inside a scored row is skipped for that column only
    mixed = pd.DataFrame({"a": [1.0, float("nan")], "b": [0.0, 0.5]}, index=["x", "y"])
    assert summarise(mixed) == {"a": 1.0, "b": 0.25, "n_queries": 2, "n_excluded": 0}


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_identical_systems():
    a = np.random.default_rng(0).random(50)
    r = paired_bootstrap(a, a.copy())
    assert r["mean_diff"] == 0.0
    assert r["lo"] <= 0.0 <= r["hi"]
    assert r["p_value"] == 1.0
    assert r["n"] == 50


def test_bootstrap_constant_shift():
    a = np.random.default_rng(1).random(80)
    r = paired_bootstrap(a, a + 0.1)
    assert r["mean_diff"] == pytest.approx(0.1, abs=1e-12)
    assert r["lo"] == pytest.approx(0.1, abs=1e-9)
    assert r["hi"] == pytest.approx(0.1, abs=1e-9)
    assert r["p_value"] == pytest.approx(1 / 10001)  # smallest reportable p


def test_bootstrap_noisy_difference_width():
    rng = np.random.default_rng(2)
    n = 400
    a = rng.random(n)
    d = 0.05 + rng.normal(0, 0.2, n)
    r = paired_bootstrap(a, a + d, n_resamples=20000)
    assert r["lo"] < 0.05 < r["hi"]
    assert r["lo"] > 0.0 and r["p_value"] < 0.01
    # percentile CI ~ mean +- 1.96 * sd / sqrt(n)
    normal_half_width = 1.96 * d.std(ddof=1) / math.sqrt(n)
    assert (r["hi"] - r["lo"]) / 2 == pytest.approx(normal_half_width, rel=0.1)
    assert r["lo"] < r["mean_diff"] < r["hi"]


def test_bootstrap_deterministic_with_seed():
    rng = np.random.default_rng(3)
    a, b = rng.random(30), rng.random(30)
    assert paired_bootstrap(a, b, seed=7) == paired_bootstrap(a, b, seed=7)
    assert paired_bootstrap(a, b, seed=7)["lo"] != paired_bootstrap(a, b, seed=8)["lo"]


def test_bootstrap_drops_nan_pairs_and_aligns_series():
    rng = np.random.default_rng(4)
    a, b = rng.random(20), rng.random(20)
    a_nan, b_nan = a.copy(), b.copy()
    a_nan[3] = np.nan
    b_nan[7] = np.nan
    keep = np.ones(20, bool)
    keep[[3, 7]] = False
    r = paired_bootstrap(a_nan, b_nan, seed=5)
    assert r["n"] == 18
    assert r == paired_bootstrap(a[keep], b[keep], seed=5)

    sa = pd.Series(a, index=[f"q{i}" for i in range(20)])
    sb = pd.Series(b, index=[f"q{i}" for i in range(20)])
    assert paired_bootstrap(sa, sb[::-1], seed=5) == paired_bootstrap(a, b, seed=5)
    with pytest.raises(ValueError):
        paired_bootstrap(sa, sb.rename(index={"q0": "other"}))


def test_bootstrap_bad_input():
    with pytest.raises(ValueError):
        paired_bootstrap([0.1, 0.2], [0.1])
    with pytest.raises(ValueError):
        paired_bootstrap([0.1], [0.2], ci=1.5)
    r = paired_bootstrap([float("nan")], [0.3])
    assert r["n"] == 0 and math.isnan(r["mean_diff"]) and math.isnan(r["lo"])
