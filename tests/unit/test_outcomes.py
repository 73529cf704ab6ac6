"""Outcomes: target parsing and bad input, the scores on paper, CV against its baselines."""
import math

import numpy as np
import pandas as pd
import pytest

from core.corpora.records import load_demo, make_corpus
from core.tasks.outcomes.fit import LENGTH, MEAN, binomial_ll, cross_validate, folds, mse, r2, t_interval
from core.tasks.outcomes.report import cluster_means, data_version, evaluate, extremes, predictions_csv
from core.tasks.outcomes.target import OutcomeError, Target, numeric_candidates, target_values
from tests.conftest import DEMO


def test_mse_and_r2_on_five_rows_by_hand():
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    pred = np.array([1.0, 2.0, 4.0, 4.0, 3.0])
    # errors 0, 0, -1, 0, 2 -> squared 0 0 1 0 4 -> MSE = 5 / 5 = 1
    assert mse(y, pred) == pytest.approx(1.0)
    # mean 3, total sum of squares 4 + 1 + 0 + 1 + 4 = 10; R² = 1 - 5 / 10 = 0.5
    assert r2(y, pred) == pytest.approx(0.5)
    assert r2(y, np.full(5, 3.0)) == pytest.approx(0.0)
    assert math.isnan(r2(np.ones(3), np.ones(3)))   # no variance: undefined, not 1


def test_binomial_log_likelihood_by_hand():
    # post 1: 1 like of 10 views at p = 0.1; post 2: 0 of 10 at p = 0.5
    # sum = 1·ln 0.1 + 9·ln 0.9 + 0 + 10·ln 0.5; per view: / 20
    expected = (math.log(0.1) + 9 * math.log(0.9) + 10 * math.log(0.5)) / 20
    assert binomial_ll([1, 0], [10, 10], [0.1, 0.5]) == pytest.approx(expected)
    # a negative predicted rate is clipped, not a nan
    assert math.isfinite(binomial_ll([0], [5], [-0.2]))


def test_t_interval_over_folds():
    mean, lo, hi = t_interval([1.0, 2.0, 3.0])
    # sd = 1, t(0.975, 2) = 4.3027: half width 4.3027 / sqrt(3) = 2.4842
    assert mean == 2.0 and lo == pytest.approx(2 - 2.4842, abs=1e-3) and hi == pytest.approx(2 + 2.4842, abs=1e-3)


def test_folds_are_a_partition_of_near_equal_size():
    f = folds(11, 3, seed=1)
    assert sorted(np.bincount(f).tolist()) == [3, 4, 4]
    assert (folds(11, 3, seed=1) == f).all()


def _frame(**cols):
    n = len(next(iter(cols.values())))
    return pd.DataFrame({"id": [f"p{i}" for i in range(n)], **{k: [str(v) for v in vals] for k, vals in cols.items()}})


def test_targets_from_typed_numbers():
    frame = _frame(views=["1 000", "200", "", "0"], likes=["10", "4", "1", "0"])
    assert numeric_candidates(frame) == ["views", "likes"]
    rate = target_values(frame, Target("ratio", "likes", per="views"), "posts.csv")
    assert rate.rows.tolist() == [0, 1] and rate.y.tolist() == pytest.approx([0.01, 0.02])
    assert "2 строки не участвуют" in rate.notes[0] and "строка 4" in rate.notes[0]   # blank, then 0 views
    logged = target_values(frame, Target("column", "likes", log=True), "posts.csv")
    assert logged.y.tolist() == pytest.approx(np.log1p([10, 4, 1, 0]).tolist())
    w = target_values(frame, Target("weighted", per="views", weights=(("likes", 2.0),)), "posts.csv")
    assert w.y.tolist() == pytest.approx([0.02, 0.04]) and w.successes is None   # not a rate: no likelihood


def test_a_target_that_is_not_a_number_names_file_column_and_row():
    frame = _frame(views=["100", "много", "50"], likes=["1", "2", "3"])
    with pytest.raises(OutcomeError) as err:
        target_values(frame, Target("ratio", "likes", per="views"), "posts.csv")
    msg = str(err.value)
    assert "posts.csv" in msg and "'views'" in msg and "строке 3" in msg and "'p1'" in msg and "не число" in msg


def test_negative_views_and_more_likes_than_views_are_refused():
    with pytest.raises(OutcomeError, match=r"posts\.csv.*'views'.*строке 2.*отрицательное"):
        target_values(_frame(views=["-5", "10"], likes=["0", "1"]), Target("ratio", "likes", per="views"), "posts.csv")
    with pytest.raises(OutcomeError, match=r"строке 3.*больше"):
        target_values(_frame(views=["10", "10"], likes=["1", "11"]), Target("ratio", "likes", per="views"), "posts.csv")


def test_cv_finds_a_signal_the_baselines_cannot():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8))
    y = x[:, 0] * 2 + rng.normal(scale=0.5, size=200)
    res = cross_validate({MEAN: None, "model": x}, y, k=5)
    t = res.table.set_index("model")
    assert t.at["model", "r2"] > 0.8 and t.at[MEAN, "r2"] < 0.01
    assert t.at["model", "r2_lo"] <= t.at["model", "r2"] <= t.at["model", "r2_hi"]
    assert len(res.predictions) == 200 and set(res.per_fold["fold"]) == set(range(5))


def _posts(n=60, seed=0):
    """Ads get half the likes: the keyword vectors see "реклама", length does not."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        ad = i % 2 == 0
        views = int(rng.integers(500, 2000))
        likes = int(rng.binomial(views, 0.02 if ad else 0.06))
        text = ("реклама скидка промокод" if ad else "котики смешные видео") + " слово" * int(rng.integers(1, 6))
        rows.append({"id": f"p{i}", "channel_id": "c1", "raw_text": text, "views": str(views), "likes": str(likes),
                     "is_ad": str(int(ad))})
    return make_corpus(pd.DataFrame(rows), "posts", "t", "t.csv")


def test_evaluate_beats_both_baselines_on_text_signal(keyword_encoder):
    corpus = _posts()
    vecs = keyword_encoder.encode(list(corpus.texts), "passage")
    rep = evaluate(corpus, Target("ratio", "likes", per="views"), {"kw": vecs}, k=5)
    t = rep.cv.table.set_index("model")
    assert rep.best == "kw" and t.at["kw", "r2"] > 0.7
    assert t.at["kw", "ll"] > t.at[MEAN, "ll"] and t.at["kw", "ll"] > t.at[LENGTH, "ll"]
    assert t.at["kw", "r2_gain_lo"] > 0   # paired over folds against the length baseline
    best, worst = extremes(rep, 3)
    assert all(corpus.frame.at[p, "is_ad"] == "0" for p in best)
    assert all(corpus.frame.at[p, "is_ad"] == "1" for p in worst)
    csv = predictions_csv(rep, corpus.frame["id"]).decode("utf-8-sig").splitlines()
    assert csv[0] == "id,actual,fold,predicted: среднее,predicted: длина текста,predicted: kw" and len(csv) == 61


def test_metadata_may_not_contain_the_target():
    corpus = _posts()
    with pytest.raises(OutcomeError, match="'likes'"):
        evaluate(corpus, Target("ratio", "likes", per="views"), {}, metadata=["likes"])


def test_cluster_means_and_data_version():
    means = cluster_means(np.array([0, 0, 1, 1]), np.array([0, 1, 3]), np.array([1.0, 3.0, 10.0]))
    assert means.to_dict("list") == {"cluster": [1, 0], "n": [1, 2], "mean": [10.0, 2.0]}
    frame = _frame(views=["1", "2"])
    assert data_version(frame, ["views"]) != data_version(frame.assign(views=["1", "3"]), ["views"])


def test_demo_posts_carry_engagement_and_the_text_did_not_change():
    corpus = load_demo(DEMO, "posts")
    for col in ("views", "likes", "comments", "forwards"):
        assert col in numeric_candidates(corpus.frame)
    values = target_values(corpus.frame, Target("ratio", "likes", per="views"), corpus.source)
    assert len(values.y) == len(corpus) and 0.005 < values.y.mean() < 0.1


def test_metadata_beside_a_wide_embedding_is_not_drowned_by_the_penalty():
    rng = np.random.default_rng(3)
    meta = rng.integers(0, 2, size=(150, 1)).astype(float)          # an ad flag: all the signal
    noise = rng.normal(size=(150, 300))                               # an embedding that knows nothing
    y = meta[:, 0] * 2 + rng.normal(scale=0.3, size=150)
    both = np.hstack([noise, meta])
    t = cross_validate({"meta": meta, "both": both, "unweighted": both}, y, 5, n_meta={"both": 1}).table
    r2_of = dict(zip(t["model"], t["r2"]))
    assert r2_of["meta"] > 0.9 and r2_of["both"] > r2_of["meta"] - 0.05   # the flag still counts in full
    assert r2_of["unweighted"] < r2_of["both"] - 0.1                      # without the weighting it would not
