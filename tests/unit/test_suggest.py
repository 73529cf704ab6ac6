"""Suggested grades: learned from the team's labels, scored out of fold, never written as labels;
the estimated column fills holes only in its own numbers."""
import math

import numpy as np
import pytest

from core.evaluation.estimated import estimated, filled
from core.labels.suggest import MIN_LABELS, Space, agreement, features, fit, kappa_words, labelled, suggest_for


def _space(n_queries=12, per_query=6, seed=0):
    """Each query has one relevant document: the one closest to it; the rest are far."""
    rng = np.random.default_rng(seed)
    docs, queries, qrels, position = [], {}, {}, {}
    for qi in range(n_queries):
        q = f"запрос {qi}"
        centre = rng.normal(size=16)
        centre /= np.linalg.norm(centre)
        queries[q] = centre
        for j in range(per_query):
            v = centre + (0.05 if j == 0 else 1.5) * rng.normal(size=16)
            position[f"d{qi}_{j}"] = len(docs)
            docs.append(v / np.linalg.norm(v))
            qrels.setdefault(q, {})[f"d{qi}_{j}"] = 2 if j == 0 else 0
    return Space(queries, np.array(docs, dtype=np.float32)), qrels, position


def test_features_rank_a_document_among_the_whole_corpus():
    docs = np.array([[1, 0], [0.8, 0.6], [0, 1]], dtype=np.float32)
    s = Space({"q": np.array([1.0, 0.0])}, docs)
    X = features([("q", "a"), ("q", "c")], {"a": 0, "b": 1, "c": 2}, [s])
    # cosine, log2(rank), gap to the best, log1p(len(query))
    assert X[0, :3].tolist() == pytest.approx([1.0, 0.0, 0.0])
    assert X[1, :3].tolist() == pytest.approx([0.0, math.log2(3), 1.0])
    assert X[0, 3] == pytest.approx(math.log1p(1))


def test_no_model_from_too_few_labels_or_a_single_grade():
    X = np.zeros((MIN_LABELS - 1, 2))
    assert fit(X, ([0, 2] * MIN_LABELS)[:MIN_LABELS - 1]) is None
    assert fit(np.zeros((MIN_LABELS + 5, 2)), [0] * (MIN_LABELS + 5)) is None


def test_a_model_learns_that_the_nearest_document_is_relevant():
    space, qrels, position = _space()
    train = {q: g for q, g in list(qrels.items())[:8]}
    test = [(q, d) for q, g in list(qrels.items())[8:] for d in g]
    sug = suggest_for(train, test, position, [space])
    assert sug.model is not None and sug.model.n_labels == 48
    got = {p: sug.get(*p)[0] for p in test}
    assert all(got[(q, d)] == qrels[q][d] for q, d in test)
    assert sug.get(*test[0])[1] > 0.5            # a confidence, not just a grade
    # judged pairs get no suggestion: a hint is only for what nobody graded
    assert sug.get(*next(iter((q, d) for q in train for d in train[q]))) is None


def test_agreement_holds_whole_queries_out_and_is_perfect_on_a_clean_signal():
    space, qrels, position = _space()
    pairs, y = labelled(qrels, position)
    X = features(pairs, position, [space])
    a = agreement(X, y, [q for q, _ in pairs])
    assert a["kappa"] == pytest.approx(1.0) and a["exact"] == 1.0 and a["queries"] == 12
    # shuffled grades: nothing to learn, kappa near or below 0
    rng = np.random.default_rng(1)
    noisy = agreement(X, rng.permutation(y), [q for q, _ in pairs])
    assert noisy["kappa"] < 0.5
    assert math.isnan(agreement(X[:10], y[:10], [q for q, _ in pairs][:10])["kappa"])
    assert "второго аннотатора" in kappa_words(0.85) and "мало" in kappa_words(math.nan)


def test_labelled_drops_cant_judge_and_documents_gone_from_the_corpus():
    pairs, y = labelled({"q": {"a": 2, "b": -1, "gone": 0}}, {"a": 0, "b": 1})
    assert pairs == [("q", "a")] and y.tolist() == [2]


def test_estimated_fills_only_holes_and_leaves_human_grades_alone():
    qrels = {"q1": {"a": 2, "b": 0}, "q2": {"c": 0, "d": 2}}
    run_a = {"q1": ["a", "b"], "q2": ["c", "d"]}
    run_b = {"q1": ["x", "a"], "q2": ["d", "y"]}
    exp = {("q1", "x"): 2.0, ("q1", "a"): 0.0, ("q2", "y"): 1.0}
    f = filled([run_a, run_b], qrels, exp, 2)
    assert f["q1"] == {"a": 2, "b": 0, "x": 2.0}        # "a" is judged: its suggestion is ignored
    assert f["q2"] == {"c": 0, "d": 2, "y": 1.0}
    est = estimated(run_a, run_b, qrels, exp, k=2, n_resamples=200)
    # q1 ideal: 2, 2 -> 2 + 2/log2(3); A: 2 -> 2/idcg; B: 2 + 2/log2(3) -> 1
    idcg1 = 2 + 2 / math.log2(3)
    idcg2 = 2 + 1 / math.log2(3)
    want_a = (2 / idcg1 + (2 / math.log2(3)) / idcg2) / 2
    want_b = (1.0 + (2 + 1 / math.log2(3)) / idcg2) / 2
    assert est["ndcg_a"] == pytest.approx(want_a) and est["ndcg_b"] == pytest.approx(want_b)
    assert est["filled"] == 2 and qrels["q1"] == {"a": 2, "b": 0}      # the input is untouched
