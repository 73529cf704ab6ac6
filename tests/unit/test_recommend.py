"""Recommendations: interactions checked against the corpus, the time split, the methods, the
metrics on paper."""
import numpy as np
import pandas as pd
import pytest

from core.config import Settings
from core.corpora.records import load_demo, make_corpus
from core.tasks.recommend.evaluate import coverage_interval, evaluate, time_split
from core.tasks.recommend.interactions import (
    InteractionsError,
    check,
    interactions_for,
    load_interactions,
    save_interactions,
    stored_path,
)
from core.tasks.recommend.methods import Recommender, histories, popularity_order
from tests.conftest import DEMO


def _corpus(n=6):
    return make_corpus(pd.DataFrame({"id": [f"i{j}" for j in range(n)], "text": [f"текст {j}" for j in range(n)]}),
                       "generic", "items", "items.csv")


def _frame(rows, corpus=None):
    return check(pd.DataFrame(rows, columns=["user_id", "item_id", "action", "ts"]), corpus or _corpus(), "x.csv").frame


# four items on two axes: i0, i1 point one way (football), i2, i3 the other (recipes), i4, i5 in between
VECS = np.array([[1, 0], [0.95, 0.05], [0, 1], [0.05, 0.95], [0.7, 0.7], [0.6, 0.8]], np.float32)


def test_hit_rate_and_ndcg_at_5_by_hand_for_two_users():
    rows = [("a", "i0", "like", "2025-01-01"), ("b", "i2", "like", "2025-01-01"), ("c", "i4", "like", "2025-01-01"),
            ("c", "i5", "like", "2025-01-01"), ("c", "i0", "view", "2025-01-01"),
            # after the cut: a likes i1 (next to i0: found), b likes i1 (far from i2: missed at k=1)
            ("a", "i1", "like", "2025-02-01"), ("b", "i1", "like", "2025-02-02")]
    report = evaluate(_frame(rows), VECS, k=1, test_share=0.25, methods=("profile",), centre=False)
    per = report.per_user.set_index("user")
    # a: profile = i0 -> nearest unseen is i1 = the answer: hit 1, nDCG 1/log2(2) / 1 = 1
    # b: profile = i2 -> nearest unseen is i3, not i1: hit 0, nDCG 0
    assert per["hit_rate"].to_dict() == {"a": 1.0, "b": 0.0} and per["ndcg"].to_dict() == {"a": 1.0, "b": 0.0}
    assert report.table.set_index("method").at["profile", "hit_rate"] == 0.5


def test_the_time_split_never_puts_the_future_in_a_history():
    corpus = load_demo(DEMO, "posts")
    frame = load_interactions(DEMO / "interactions.csv", corpus).frame
    split = time_split(frame)
    assert (split.history["ts"] < split.cutoff).all()
    touched = split.history.groupby("user_id")["item"].agg(set)
    after = frame[frame["ts"] >= split.cutoff]
    for user, answers in split.answers.items():
        assert answers and not answers & touched[user]          # never an item the user already had
        assert answers <= set(after.loc[(after["user_id"] == user) & (after["positive"] > 0), "item"])
    hist = histories(split.history, split.cutoff)
    assert all(len(hist[u].items) for u in split.answers)   # scored users all have something liked


def test_popularity_counts_users_once_and_skips_what_a_user_saw():
    frame = _frame([("a", "i3", "like", "2025-01-01"), ("a", "i3", "forward", "2025-01-02"),
                    ("b", "i1", "like", "2025-01-01"), ("c", "i1", "like", "2025-01-01"),
                    ("c", "i2", "view", "2025-01-01")])
    order = popularity_order(frame)
    assert order.tolist() == [1, 3]               # i1: 2 users; i3: 1 user twice; views do not count
    rec = Recommender(VECS, order)
    top, _ = rec.recommend(histories(frame, pd.Timestamp("2025-01-03", tz="UTC"))["b"], "popularity", 5)
    assert top.tolist() == [3]


def test_recency_weights_and_the_neighbours_method_keeps_two_tastes():
    frame = _frame([("u", "i0", "like", "2025-01-01"), ("u", "i2", "like", "2025-03-01")])
    hist = histories(frame, pd.Timestamp("2025-03-01", tz="UTC"), half_life_days=14)["u"]
    assert hist.items.tolist() == [2, 0]                       # the recent like first
    assert hist.weights.tolist() == pytest.approx([1.0, 0.5 ** (59 / 14)])
    rec = Recommender(VECS, np.arange(6), centre=False)
    profile, _ = rec.recommend(hist, "profile", 1)
    assert profile.tolist() == [3]                             # the mean leans to the recent taste
    both, _ = rec.recommend(hist, "neighbours", 4)
    assert {1, 3} <= set(both.tolist())                        # each liked item brings its own neighbour
    assert rec.why(hist, 1)[0][0] == 0                         # i1 is there because of i0


def test_vectors_are_centred_before_the_cosine():
    shifted = VECS + 5.0          # one shared direction swamps every cosine (all near 1) ...
    rec = Recommender(shifted, np.arange(6))
    assert abs(rec.vectors.mean(axis=0)).max() < 0.5           # ... and is taken away
    assert rec.vectors[0] @ rec.vectors[2] < 0                 # football and recipes point apart again
    assert Recommender(shifted, np.arange(6), centre=False).vectors[0] @ Recommender(
        shifted, np.arange(6), centre=False).vectors[2] > 0.95


def test_a_user_with_no_history_gets_nothing_but_popularity():
    frame = _frame([("u", "i0", "view", "2025-01-01")])
    hist = histories(frame, pd.Timestamp("2025-01-02", tz="UTC"))["u"]
    rec = Recommender(VECS, np.array([0, 1]))
    assert len(rec.recommend(hist, "profile", 5)[0]) == 0 and rec.recommend(hist, "popularity", 5)[0].tolist() == [1]


def test_coverage_counts_distinct_items_over_the_catalogue():
    cov, lo, hi = coverage_interval([np.array([0, 1]), np.array([1, 2])], 10)
    assert cov == pytest.approx(0.3) and lo <= cov <= hi


@pytest.mark.parametrize("rows, words", [
    ([("a", "i9", "like", "2025-01-01")], ["'item_id'", "строке 2", "'i9'", "нет в корпусе"]),
    ([("a", "i1", "like", "2025-01-01"), ("a", "i1", "clap", "2025-01-01")], ["'action'", "строке 3", "'clap'"]),
    ([("a", "i1", "like", "вчера")], ["'ts'", "строке 2", "'вчера'"]),
    ([("", "i1", "like", "2025-01-01")], ["'user_id'", "строке 2", "пустое"]),
])
def test_bad_interactions_name_file_column_and_row(rows, words):
    with pytest.raises(InteractionsError) as err:
        check(pd.DataFrame(rows, columns=["user_id", "item_id", "action", "ts"]), _corpus(), "clicks.csv")
    assert "clicks.csv" in str(err.value) and all(w in str(err.value) for w in words), str(err.value)


def test_a_missing_column_is_named():
    with pytest.raises(InteractionsError, match=r"clicks\.csv.*'ts'"):
        check(pd.DataFrame({"user_id": ["a"], "item_id": ["i1"], "action": ["like"]}), _corpus(), "clicks.csv")


def test_a_bad_upload_keeps_what_was_saved(tmp_path):
    settings = Settings(tmp_path / "data", tmp_path / "labels.csv", tmp_path / "cache", tmp_path / "m.yaml",
                        tmp_path / "models", tmp_path / "imports")
    corpus = _corpus()
    good = b"user_id,item_id,action,ts\na,i1,like,2025-01-01\n"
    save_interactions(settings, corpus, good, "good.csv")
    assert interactions_for(settings, "items") == stored_path(settings, "items")
    with pytest.raises(InteractionsError, match=r"bad\.csv.*'item_id'.*строке 3"):
        save_interactions(settings, corpus, good + b"b,nope,like,2025-01-02\n", "bad.csv")
    assert stored_path(settings, "items").read_bytes() == good


def test_demo_interactions_cover_the_demo_posts():
    corpus = load_demo(DEMO, "posts")
    frame = load_interactions(DEMO / "interactions.csv", corpus).frame
    assert frame["user_id"].nunique() >= 100 and set(frame["action"]) == {"view", "like", "forward"}
