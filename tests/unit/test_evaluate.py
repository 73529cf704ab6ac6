"""BM25 and rank fusion on hand cases, and evaluate_configs with numbers checked on paper
(a keyword encoder and a fixed-vector encoder over a three-document corpus)."""
import math

import numpy as np
import pandas as pd
import pytest

from core.corpora.records import make_corpus
from core.evaluation.evaluate import SearchConfig, evaluate_configs, run_config
from core.retrieval.lexical import BM25Index, rrf_fuse, tokenize
from tests.conftest import KeywordEncoder

# ---------------------------------------------------------------------------- BM25


def test_tokens_are_lowercased_stemmed_and_yo_folded():
    assert tokenize("Борща, БОРЩ и борщом!") == ["борщ", "борщ", "и", "борщ"]
    assert tokenize("Ёлка") == tokenize("елки")[:1] == ["елк"]


def test_bm25_ranks_the_exact_word_match_first():
    ix = BM25Index(["рецепт борща с пампушками", "кот спит на диване", "погода в москве завтра"])
    scores, positions = ix.search("кот", k=3)
    assert positions.tolist() == [1]               # only documents sharing a term come back
    assert scores[0] > 0


def test_bm25_matches_russian_inflections():
    ix = BM25Index(["котлеты с пюре", "борщ со сметаной", "ёлка в парке"])
    assert ix.search("хочу борща", 3)[1].tolist() == [1]
    assert ix.search("тарелка борщей", 3)[1].tolist() == [1]
    assert ix.search("елки", 3)[1].tolist() == [2]
    assert len(ix.search("самолёт", 3)[1]) == 0


def test_bm25_scores_match_the_formula():
    docs = ["кот кот собака", "собака", "рыба рыба рыба рыба"]
    ix = BM25Index(docs)
    k1, b, n = 1.2, 0.75, 3
    lens = [3, 1, 4]
    avg = sum(lens) / n

    def idf(df):
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def part(tf, dl):
        return tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avg))

    # query "кот собака": doc 0 has кот x2 (df 1) and собака x1 (df 2); doc 1 has собака x1
    expected = [idf(1) * part(2, 3) + idf(2) * part(1, 3), idf(2) * part(1, 1), 0.0]
    np.testing.assert_allclose(ix.scores("кот собака"), expected, rtol=1e-5)
    scores, positions = ix.search("кот собака", 10)
    assert positions.tolist() == [0, 1]


# ---------------------------------------------------------------------------- RRF


def test_rrf_fuse_hand_cases():
    # 1: 1/61 + 1/63 = 0.032266, 3: the same, 2: 2/62 = 0.032258 -> 1 and 3 tie above 2;
    # the tie goes to the better best rank (both 1), then to the one seen first (1)
    assert rrf_fuse([[1, 2, 3], [3, 2, 1]]) == [1, 3, 2]
    # a document in both lists beats ones found once: 7: 1/62 + 1/61 > 5: 1/61
    assert rrf_fuse([[5, 7], [7]]) == [7, 5]
    assert rrf_fuse([[4, -1, -1], [], [4, 4]]) == [4]     # faiss padding and repeats ignored
    assert rrf_fuse([]) == []
    assert rrf_fuse([[1, 2], [2, 1]], k=0) == [1, 2]      # 1 + 1/2 each: tie, 1 seen first


# ---------------------------------------------------------------------------- evaluate_configs


class FixedEncoder:
    """Hand-set 2-d vectors: the numbers below can be followed on paper."""

    def __init__(self, vectors, id="test/fixed"):
        self.vectors, self.id, self.dim, self.notice = vectors, id, 2, ""

    def encode(self, texts, kind):
        return np.array([self.vectors[t] for t in texts], np.float32).reshape(len(texts), 2)


DOCS = {"d1": "кот спит", "d2": "собака бежит", "d3": "кот и собака"}
FIXED = FixedEncoder({"кот спит": (1, 0), "собака бежит": (0, 1), "кот и собака": (0.6, 0.8),
                      "кот": (0.6, 0.8), "собака": (1, 0)})
QRELS = {"кот": {"d3": 2}, "собака": {"d2": 2, "d3": 1}}


def corpus():
    frame = pd.DataFrame({"id": list(DOCS), "text": list(DOCS.values())})
    return make_corpus(frame, "generic", "tiny", "test")


def test_run_config_dense_and_hybrid():
    c = corpus()
    vecs = FIXED.encode(c.texts, "passage")
    # dense "собака" = (1, 0): d1 1.0, d3 0.6, d2 0.0
    assert run_config(SearchConfig("fixed", FIXED), c, vecs, ["собака"], k=3) == {"собака": ["d1", "d3", "d2"]}
    # hybrid: BM25 finds d2 ("собака бежит", shorter) then d3; fused with dense ranks:
    # d2 = 1/63 + 1/61 = 0.032266, d3 = 1/62 + 1/62 = 0.032258, d1 = 1/61 = 0.016393
    assert run_config(SearchConfig("fixed", FIXED, "hybrid"), c, vecs, ["собака"], k=3) == {
        "собака": ["d2", "d3", "d1"]}


def test_evaluate_configs_hand_checked_numbers():
    keyword = SearchConfig("keyword", KeywordEncoder())
    fixed = SearchConfig("fixed", FIXED)
    table = evaluate_configs([keyword, fixed], corpus(), QRELS, n_resamples=2000)
    s = table.summary
    log3 = math.log2(3)
    # keyword: "кот" ranks d1 (cos 1/sqrt2) > d3 (1/sqrt3) > d2 (0): d3 at rank 2
    #   nDCG = (2/log2 3) / 2 = 0.631, RR = 1/2, judged = 1/3
    # "собака" ranks d2 > d3 > d1: ideal order, nDCG 1, RR 1, judged = 2/3
    assert s.loc["keyword", "ndcg@10"] == pytest.approx((1 / log3 + 1) / 2)
    assert s.loc["keyword", "mrr@10"] == pytest.approx(0.75)
    assert s.loc["keyword", "recall@10"] == pytest.approx(1.0)
    assert s.loc["keyword", "hit_rate@5"] == pytest.approx(1.0)
    assert s.loc["keyword", "judged@10"] == pytest.approx(0.5)
    assert s.loc["keyword", "n_queries"] == 2
    # fixed: "кот" = (0.6, 0.8) ranks d3 first: nDCG 1, RR 1
    # "собака" = (1, 0) ranks d1, d3, d2: DCG = 1/log2 3 + 2/log2 4, IDCG = 2 + 1/log2 3
    ndcg_dog = (1 / log3 + 1) / (2 + 1 / log3)          # 0.620
    assert s.loc["fixed", "ndcg@10"] == pytest.approx((1 + ndcg_dog) / 2)
    assert s.loc["fixed", "mrr@10"] == pytest.approx(0.75)   # (1 + 1/2) / 2
    assert not s.loc["keyword", "low_coverage"] and not s.loc["fixed", "low_coverage"]   # 0.5 is enough

    per_q = table.per_query["fixed"]
    assert per_q.loc["собака", "ndcg@10"] == pytest.approx(ndcg_dog)
    # fixed - keyword per query: кот +(1 - 1/log2 3) = +0.369, собака (ndcg_dog - 1) = -0.380
    d_cat, d_dog = 1 - 1 / log3, ndcg_dog - 1
    ci = table.comparisons["fixed"]["ndcg@10"]
    assert ci["mean_diff"] == pytest.approx((d_cat + d_dog) / 2)
    assert ci["lo"] == pytest.approx(d_dog) and ci["hi"] == pytest.approx(d_cat)   # two queries: the extremes
    assert ci["n"] == 2 and "judged@10" not in table.comparisons["fixed"]
    dis = table.disagreements["fixed"]
    assert dis["query"].tolist() == ["собака", "кот"]       # |-0.380| before |+0.369|
    assert dis.loc[0, "delta"] == pytest.approx(d_dog)
    flat = table.flat()
    assert flat["primary_metric"] == "ndcg@10" and flat["fixed_mrr@10"] == pytest.approx(0.75)
    text = table.to_text()
    assert "fixed minus keyword" in text and "собака" in text


def test_queries_without_a_relevant_document_are_in_no_metric_and_counted():
    # "рыба" was judged, but nothing is relevant: with it, MRR/precision/hit rate used to
    # average three queries while nDCG and recall averaged two
    qrels = {**QRELS, "рыба": {"d1": 0, "d2": -1}}
    fixed = FixedEncoder({**FIXED.vectors, "рыба": (1, 0)})
    table = evaluate_configs([SearchConfig("keyword", KeywordEncoder()), SearchConfig("fixed", fixed)], corpus(),
                             qrels, n_resamples=200)
    reference = evaluate_configs([SearchConfig("keyword", KeywordEncoder()), SearchConfig("fixed", FIXED)], corpus(),
                                 QRELS, n_resamples=200)
    assert table.excluded == ["рыба"] and table.n_excluded == 1
    pd.testing.assert_frame_equal(table.summary, reference.summary)   # hand-checked numbers above, n_queries 2
    assert table.per_query["keyword"].loc["рыба"].isna().all()
    assert all(c["n"] == 2 for c in table.comparisons["fixed"].values())
    assert "рыба" not in table.disagreements["fixed"]["query"].tolist()
    assert any("Без релевантных оценок: 1 из 3 запросов" in n for n in table.notes)
    assert reference.n_excluded == 0 and not any("Без релевантных" in n for n in reference.notes)


def test_low_coverage_is_flagged():
    # one judged document per query out of three returned: judged@10 = 1/3 < 0.5
    table = evaluate_configs([SearchConfig("keyword", KeywordEncoder())], corpus(), {"кот": {"d3": 2}})
    assert table.low_coverage == {"keyword": True}
    assert table.summary.loc["keyword", "judged@10"] == pytest.approx(1 / 3)
    assert "Low label coverage" in table.notes[0] and "(low coverage)" in table.to_text()


def test_cached_corpus_vectors_are_reused(tmp_path):
    enc = KeywordEncoder()
    c = corpus()
    evaluate_configs([SearchConfig("kw", enc)], c, QRELS, cache_root=tmp_path)
    assert enc.calls == len(c) + len(QRELS)
    enc.calls = 0
    evaluate_configs([SearchConfig("kw", enc), SearchConfig("kw", enc, "hybrid")], c, QRELS, cache_root=tmp_path)
    assert enc.calls == 0


def test_configs_need_distinct_labels_and_known_modes():
    with pytest.raises(ValueError, match="distinct"):
        evaluate_configs([SearchConfig("a", FIXED), SearchConfig("a", FIXED)], corpus(), QRELS)
    with pytest.raises(ValueError, match="mode"):
        SearchConfig("a", FIXED, "sparse")
