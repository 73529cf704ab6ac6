"""core.evaluation.judging: coverage side by side, condensed metrics, verdicts that do not lie, the queue."""
import math

import pytest

from core.evaluation import judging
from core.evaluation.judging import compare, condensed, condensed_mrr_at_k, condensed_ndcg_at_k
from core.evaluation.judging_queue import coverage_progress, judging_queue, needed_for_target, next_item

LOG3 = math.log2(3)


def test_condensed_list_drops_unjudged_and_scores_hand_cases():
    grades = {"r": 2, "n": 0}
    ranked = ["x", "n", "y", "r"]
    assert condensed(ranked, grades) == ["n", "r"]
    # usual nDCG@10: gain 2 at rank 4 -> (2/log2 5) / 2; condensed: rank 2 -> 1/log2 3
    assert condensed_ndcg_at_k(ranked, grades, 10) == pytest.approx(1 / LOG3)
    assert condensed_mrr_at_k(ranked, grades, 10) == pytest.approx(0.5)
    assert math.isnan(condensed_ndcg_at_k(ranked, {"n": 0}, 10))


def _pool_biased(n=20, unjudged_b=2):
    """A's top 10 fully judged (the relevant doc first); B puts unjudged docs above it."""
    run_a, run_b, qrels = {}, {}, {}
    for i in range(n):
        q = f"q{i}"
        zeros = [f"{q}_z{j}" for j in range(9)]
        run_a[q] = [f"{q}_r"] + zeros
        run_b[q] = [f"{q}_u{j}" for j in range(unjudged_b)] + [f"{q}_r"] + zeros[:9 - unjudged_b]
        qrels[q] = {f"{q}_r": 2, **{z: 0 for z in zeros}}
    return run_a, run_b, qrels


def test_pool_bias_unequal_coverage_warns_and_verdict_uses_condensed():
    run_a, run_b, qrels = _pool_biased()
    c = compare(run_a, run_b, qrels, 10, a="база", b="дообученная", n_resamples=500)
    assert c.summary.loc["A", "judged"] == pytest.approx(1.0)
    assert c.summary.loc["B", "judged"] == pytest.approx(0.8)
    # the usual metric says B is much worse: relevant doc at rank 3 -> 1/log2(4) = 0.5
    assert c.summary.loc["B", "ndcg"] == pytest.approx(0.5)
    assert c.tests["all"]["hi"] < 0
    # condensed: the unjudged docs vanish and both rank the relevant doc first
    assert c.summary.loc["B", "cndcg"] == pytest.approx(1.0)
    assert c.summary.loc["B", "cmrr"] == pytest.approx(1.0)
    assert c.coverage_unequal and not c.coverage_low
    assert "дообученная" in c.warning and "40 документов" in c.warning and "20 запросах" in c.warning
    assert len(c.holes_b) == 40 and not c.holes_a
    # B's two unjudged docs above its relevant one: worst case for B irrelevant (-0.5, the usual
    # score); best case both grade 2: IDCG = 2 + 2/log2 3 + 2/log2 4 = B's DCG, A's DCG 2
    idcg = 2 + 2 / LOG3 + 1
    assert c.per_query["diff_lo"].iloc[0] == pytest.approx(-0.5)
    assert c.per_query["diff_hi"].iloc[0] == pytest.approx(1 - 2 / idcg)
    assert c.verdict.sign == 0
    assert c.verdict.needed == 40 and "40 документов" in c.verdict.text


def test_full_coverage_verdict_uses_usual_metric_and_says_worse():
    run_a, run_b, qrels = _pool_biased()
    for q in qrels:                               # judge B's holes: they are irrelevant after all
        qrels[q].update({d: 0 for d in run_b[q] if d not in qrels[q]})
    c = compare(run_a, run_b, qrels, 10, n_resamples=500)
    assert c.warning is None
    assert c.verdict.sign == -1
    assert c.verdict.text.startswith("B хуже A по nDCG@10: −0,500")
    assert c.summary.loc["A", "n_full"] == 20


def test_full_basis_when_coverage_equal_but_low_and_too_few_queries_give_no_verdict():
    run_a = {f"q{i}": ["r", "u1", "u2"] for i in range(3)}
    run_b = {f"q{i}": ["u1", "r", "u2"] for i in range(3)}
    qrels = {f"q{i}": {"r": 2} for i in range(3)}
    c = compare(run_a, run_b, qrels, 3, n_resamples=200)
    assert c.coverage_low and not c.coverage_unequal
    assert c.verdict.sign == 0 and "мало: 3" in c.verdict.text


def test_bounds_hand_case_and_b_better_only_when_its_worst_case_wins():
    # A = [z, r], B = [r, u]; r relevant, z judged 0, u unjudged (only in B, rank 2)
    # usual: A 1/log2 3 = 0.631, B 1 -> +0.369. Worst case for B: u irrelevant -> +0.369;
    # best case: u relevant (grade 2): IDCG = 2 + 2/log2 3, B = IDCG -> 1, A = 2/log2 3 / IDCG
    a, b = judging._bounds(["z", "r"], ["r", "u"], {"z": 0, "r": 2}, 10)
    idcg = 2 + 2 / LOG3
    assert a == pytest.approx(1 - 1 / LOG3)
    assert b == pytest.approx(1 - (2 / LOG3) / idcg)
    run_a = {f"q{i}": ["z", "r"] for i in range(12)}
    run_b = {f"q{i}": ["r", "u"] for i in range(12)}
    qrels = {f"q{i}": {"z": 0, "r": 2} for i in range(12)}
    c = compare(run_a, run_b, qrels, 10, n_resamples=300)
    assert c.verdict.sign == 1 and c.verdict.text.startswith("B лучше A по nDCG@10: +0,369")


def test_one_denominator_query_without_relevant_is_not_scored():
    run_a = {"q1": ["r"], "q2": ["x"]}
    run_b = {"q1": ["r"], "q2": ["x"]}
    qrels = {"q1": {"r": 2}, "q2": {"x": 0}}
    pq = judging.per_query(run_a, run_b, qrels, 10)
    assert list(pq["scored"]) == [True, False]
    assert math.isnan(pq.loc["q2", "cndcg_a"]) and math.isnan(pq.loc["q2", "ndcg_b"])
    assert compare(run_a, run_b, qrels, 10, n_resamples=100).summary.loc["A", "n_queries"] == 1


def test_needed_for_target_hand_cases():
    # k=10, target 0.9: one hole allowed per list
    assert needed_for_target(0, 0, 0, 10, 10, 10) == 0
    assert needed_for_target(1, 1, 0, 10, 10, 10) == 0
    assert needed_for_target(4, 0, 0, 10, 10, 10) == 3
    assert needed_for_target(3, 3, 3, 10, 10, 10) == 2      # shared holes fill both
    assert needed_for_target(3, 3, 0, 10, 10, 10) == 4
    assert needed_for_target(2, 2, 2, 10, 10, 10, target=1.0) == 2


def test_queue_orders_by_impact_and_is_blind_and_stable():
    run_a = {"q": ["s", "a2", "a3"], "p": ["t1", "t2"]}
    run_b = {"q": ["b1", "a2", "a3"], "p": ["t1", "t2"]}
    qrels = {"q": {"a3": 0}, "p": {}}
    queue = judging_queue(run_a, run_b, qrels, k=3, seed=1)
    # no model names or ranks
    assert list(queue.columns) == ["query", "doc_id", "stage", "priority", "for_target"]
    # q: s (rank 1 in A only) and b1 (rank 1 in B only) move the difference by 1; a2 at rank 2 in both by 0
    assert set(map(tuple, queue[["query", "doc_id"]].head(2).to_numpy())) == {("q", "s"), ("q", "b1")}
    assert queue.loc[queue["doc_id"] == "a2", "priority"].item() == 0
    assert queue["priority"].iloc[0] == pytest.approx(1.0)
    assert len(queue) == 5                                        # s, b1, a2 + t1, t2
    again = judging_queue(run_a, run_b, qrels, k=3, seed=1)
    assert queue.equals(again)
    orders = {tuple(judging_queue(run_a, run_b, qrels, k=3, seed=s)["doc_id"]) for s in range(8)}
    assert len(orders) > 1                                        # ties are shuffled by the seed
    seen = judging_queue(run_a, run_b, qrels, k=3, seed=1, blind=False)
    assert seen.set_index("doc_id").loc["b1", "rank_b"] == 1
    assert next_item(queue) in {("q", "s"), ("q", "b1")}
    assert next_item(queue.iloc[0:0]) is None


def _lists(prefix_a: str, prefix_b: str, n: int = 10) -> tuple[list[str], list[str]]:
    return [f"{prefix_a}{i}" for i in range(1, n + 1)], [f"{prefix_b}{i}" for i in range(1, n + 1)]


def test_queue_completes_a_counted_query_before_taking_up_a_new_one_whole():
    # "done": a relevant grade already, so its worst case counts every hole; "new": nothing judged
    a_done, b_done = _lists("x", "y")
    a_new, b_new = _lists("u", "v")
    run_a, run_b = {"done": a_done, "new": a_new}, {"done": b_done, "new": b_new}
    qrels = {"done": {"y1": 2}, "new": {}}
    queue = judging_queue(run_a, run_b, qrels, k=10, seed=3)
    done = queue[queue["query"] == "done"]
    assert set(done["stage"]) == {"complete"} and len(done) == 19            # every moving hole of the query
    first = queue.head(19)
    assert set(first["query"]) == {"done"}                                  # completed before a new query
    assert list(first["priority"]) == sorted(first["priority"], reverse=True)   # the biggest impact first
    # a new query is taken up whole (all 20 documents move), its biggest impact first: not only
    # its top 2, which would let the place of its relevant document decide whether it counts
    new = queue[queue["query"] == "new"]
    assert set(new["stage"]) == {"next"} and len(new) == 20
    assert list(new["priority"]) == sorted(new["priority"], reverse=True)
    # one grade takes it up: from then on the verdict counts it and the queue completes it
    touched = judging_queue(run_a, run_b, {**qrels, "new": {"u7": 0}}, k=10, seed=3)
    assert set(touched.loc[touched["query"] == "new", "stage"]) == {"complete"}


def test_queue_takes_new_queries_one_at_a_time_and_never_asks_for_same_rank_documents_first():
    run_a = {q: [f"{q}-s", f"{q}-a2", f"{q}-a3"] for q in ("p", "q", "r")}
    run_b = {q: [f"{q}-s", f"{q}-b2", f"{q}-b3"] for q in ("p", "q", "r")}
    queue = judging_queue(run_a, run_b, {}, k=3, seed=0)
    fresh = queue[queue["stage"] == "next"]
    # each new query is contiguous (one query at a time), and the shared top document waits
    runs = [q for i, q in enumerate(fresh["query"]) if i == 0 or q != fresh["query"].iloc[i - 1]]
    assert sorted(runs) == ["p", "q", "r"]
    assert set(queue[queue["doc_id"].str.endswith("-s")]["stage"]) == {"rest"}
    assert queue.tail(3)["doc_id"].str.endswith("-s").all()


def test_a_partly_judged_query_counts_in_the_verdict_even_without_a_relevant_grade():
    # B finds the relevant document at rank 3 where A has it at 8, and nobody has judged that deep:
    # the query's top 2 are judged irrelevant. Counting only scored queries would drop it (its
    # judged part has no relevant grade) and keep only queries where the relevant sits on top.
    run_a = {"deep": ["a1", "a2", "a3", "a4", "a5", "a6", "a7", "r", "a9", "a10"]}
    run_b = {"deep": ["a1", "a2", "r", "b4", "b5", "b6", "b7", "b8", "b9", "b10"]}
    qrels = {"deep": {"a1": 0, "a2": 0}}
    pq = compare(run_a, run_b, qrels, 10, n_resamples=50).per_query
    row = pq.loc["deep"]
    assert not row["scored"] and row["counted"]
    # worst case for B: every hole A ranks higher is relevant; best case: every hole B ranks higher
    assert row["diff_lo"] < 0 < row["diff_hi"]
    # judged whole, the query is exact: r relevant, everything else not
    full = {"deep": {d: int(d == "r") * 2 for d in dict.fromkeys(run_a["deep"] + run_b["deep"])}}
    row = compare(run_a, run_b, full, 10, n_resamples=50).per_query.loc["deep"]
    exact = (1 / math.log2(4)) - (1 / math.log2(9))        # DCG with the ideal DCG of one grade-2 = 2
    assert row["diff_lo"] == pytest.approx(exact) and row["diff_hi"] == pytest.approx(exact)
    # a query with nothing of its top 10 judged is not taken up and does not count
    assert not compare(run_a, run_b, {"deep": {}}, 10, n_resamples=50).per_query.loc["deep", "counted"]


def test_coverage_progress_counts_target_and_holes():
    run_a = {"q": [f"d{i}" for i in range(10)], "p": [f"d{i}" for i in range(10)]}
    run_b = {"q": [f"d{i}" for i in range(10)], "p": [f"e{i}" for i in range(10)]}
    qrels = {"q": {f"d{i}": 0 for i in range(9)}, "p": {f"d{i}": 0 for i in range(10)}}
    prog = coverage_progress(run_a, run_b, qrels, 10)
    # q: one shared hole (d9): at target; p: B's ten holes, 9 must be judged
    assert prog == {"queries": 2, "at_target": 1, "needed": 9, "holes": 11}


def test_eval_table_carries_the_robust_comparison_and_warns_on_unequal_coverage():
    import pandas as pd

    from core.corpora.records import make_corpus
    from core.evaluation.evaluate import SearchConfig, evaluate_configs
    from tests.conftest import KeywordEncoder

    frame = pd.DataFrame({"id": ["d1", "d2", "d3"], "text": ["кот спит", "собака бежит", "кот и собака"]})
    c = make_corpus(frame, "generic", "t", "t.csv")
    qrels = {"кот": {"d1": 2}}
    same = evaluate_configs([SearchConfig("a", KeywordEncoder()), SearchConfig("b", KeywordEncoder())], c, qrels,
                            n_resamples=100)
    rob = same.robust["b"]
    assert rob.summary.loc["A", "judged"] == rob.summary.loc["B", "judged"]
    assert same.unequal_coverage == {"b": False}
    assert rob.verdict.sign == 0 and "мало: 1" in rob.verdict.text


def test_the_summary_table_says_missing_in_text_where_no_query_is_fully_judged():
    from core.evaluation.judging import summary_frame
    c = compare({"q": ["a", "b"]}, {"q": ["b", "c"]}, {"q": {"a": 2}}, 2)
    column = summary_frame(c)["nDCG@2 (полностью оценённые)"]
    assert list(column) == ["—", "—"]       # st.dataframe would draw a NaN as "None"
