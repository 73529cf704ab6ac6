"""core.retrieval.index / core.retrieval.ann: one index contract, one contract test run against every backend.

An exact numpy search (core.retrieval.index.exact_search) checks every backend's answers: the exact
FlatIndex must match it, the ANN kinds must reach the recall they claim; filters return only
allowed rows, small ones exactly, large ones through faiss with the search widened when a filter
leaves too few rows. Then the corpus side: from AnnConfig.min_vectors up build_corpus_index
builds an ANN index once, saves it beside the embeddings, loads it memory-mapped, and the search
results say they are approximate, with the recall measured at build time."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.config import AnnConfig
from core.corpora.records import load_corpus
from core.retrieval import ann as ann_mod
from core.retrieval.ann import AnnIndex, build_ann, index_folder, load_ann, recall_at
from core.retrieval.cache import EmbeddingCache
from core.retrieval.index import FlatIndex, exact_search, exact_topk
from core.retrieval.search import ann_ready, build_corpus_index, search_note, search_vector

N, DIM, K = 4000, 32, 10


def clustered(n: int = N, dim: int = DIM, centres: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, queries): normalised points around `centres` directions, queries near them."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + 0.35 * rng.normal(size=(n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[rng.integers(0, n, 30)] + 0.2 * rng.normal(size=(30, dim)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return x, q


VECTORS, QUERIES = clustered()
BACKENDS = ["exact", "ivf-sq8", "ivf-pq", "hnsw"]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request):
    if request.param == "exact":
        return FlatIndex(VECTORS)
    return build_ann(VECTORS, AnnConfig(kind=request.param, target_recall=0.95), queries=QUERIES[:20])


def test_contract_answers_like_exact_numpy_search(backend):
    scores, positions = backend.search(QUERIES, K)
    ref_scores, ref_pos = exact_search(VECTORS, QUERIES, K)
    assert scores.shape == positions.shape == (len(QUERIES), K)
    assert (positions >= 0).all() and all(len(set(row)) == K for row in positions)
    assert (np.diff(scores, axis=1) <= 1e-6).all()                       # best first
    true = np.einsum("qd,qkd->qk", QUERIES, VECTORS[positions])
    assert np.allclose(scores, true, atol=2e-3)                         # scores are real inner products
    if backend.approximate:                                             # float16 store: 3 decimals
        assert recall_at(ref_pos, positions) >= 0.9
        assert backend.meta["recall@10"] >= 0.95 and backend.meta["recall_query_source"] == "queries"
    else:
        assert np.array_equal(positions, ref_pos) and np.allclose(scores, ref_scores, atol=1e-5)


def test_contract_small_filter_is_exact_and_only_allowed_rows(backend):
    allowed = np.arange(7, N, 61)                                       # 66 rows
    scores, positions = backend.search(QUERIES[:5], K, subset=allowed)
    assert set(positions.ravel()) <= set(allowed)
    ref_scores, ref_pos = exact_search(VECTORS[allowed], QUERIES[:5], K)
    assert np.array_equal(positions, allowed[ref_pos])


def test_contract_large_filter_goes_through_faiss_and_pads_when_rows_run_out(backend, monkeypatch):
    monkeypatch.setattr(ann_mod, "EXACT_FILTER_MAX", 50)                 # make these filters "large"
    half = np.arange(0, N, 2)
    _, positions = backend.search(QUERIES[:5], K, subset=half)
    assert (positions >= 0).all() and set(positions.ravel()) <= set(half)
    _, ref = exact_search(VECTORS[half], QUERIES[:5], K)
    assert recall_at(half[ref], positions) >= 0.8
    monkeypatch.setattr(ann_mod, "EXACT_FILTER_MAX", 2)
    few = np.array([3, 1500, 3999])                                     # fewer rows than k
    _, positions = backend.search(QUERIES[:2], K, subset=few)
    assert set(positions[positions >= 0]) <= set(few) and (positions[:, 3:] == -1).all()


def test_contract_a_single_vector_query_finds_itself(backend):
    scores, positions = backend.search(VECTORS[5], K)
    assert positions.shape == (1, K) and positions[0, 0] == 5 and scores[0, 0] == pytest.approx(1, abs=2e-3)


# ------------------------------------------------------------------ ANN specifics

def test_recall_in_the_metadata_is_what_the_index_does():
    index = build_ann(VECTORS, AnnConfig(kind="ivf-sq8", target_recall=0.9), queries=QUERIES)
    _, ref = exact_search(VECTORS, QUERIES, K)
    assert index.meta["recall@10"] == pytest.approx(recall_at(ref, index.search(QUERIES, K)[1]), abs=1e-4)
    assert index.meta["recall@10"] >= 0.9 and index.meta["recall_queries"] == len(QUERIES)
    # the narrowest width that reaches the target was kept, and the wider ones were not tried
    widths = {int(w): r for w, r in index.meta["recall_by_width"].items()}
    chosen = index.meta["nprobe"]
    assert widths[chosen] >= 0.9 and all(r < 0.9 for w, r in widths.items() if w < chosen)


def test_without_queries_documents_stand_in_and_leave_their_own_row_out():
    index = build_ann(VECTORS, AnnConfig(kind="ivf-sq8"))
    assert index.meta["recall_query_source"] == "documents" and index.meta["recall_queries"] == 200
    ref = np.array([[1, 2, 3], [4, 5, 6]])
    assert recall_at(ref, np.array([[1, 9, 2], [4, 5, 6]]), k=2, leave_out=np.array([1, 9])) == pytest.approx(0.75)


def test_a_filter_widens_the_search_and_falls_back_to_exact_when_still_short(monkeypatch):
    monkeypatch.setattr(ann_mod, "EXACT_FILTER_MAX", 10)
    index = build_ann(VECTORS, AnnConfig(kind="ivf-sq8", target_recall=0.5), queries=QUERIES[:5])
    index = AnnIndex(index._index, index.vectors, {**index.meta, "nprobe": 1})   # one list of 64 first
    scattered = np.sort(np.random.default_rng(3).choice(N, 120, replace=False))
    hits = index.query(QUERIES[0], K, subset=scattered)
    assert 1 < hits.overfetch < 16 and not hits.exact                   # widened until 10 rows were found
    assert (hits.positions >= 0).sum() == K and set(hits.positions[0]) <= set(scattered)

    far = np.argsort(VECTORS @ QUERIES[0])[:300]                        # rows in lists far from the query
    hits = index.query(QUERIES[0], K, subset=far)
    assert hits.overfetch == 16 and hits.exact                          # never found there: searched exactly
    assert np.array_equal(hits.positions[0], far[exact_search(VECTORS[far], QUERIES[:1], K)[1][0]])
    monkeypatch.setattr(ann_mod, "EXACT_FALLBACK_MAX", 100)
    hits = index.query(QUERIES[0], K, subset=far)                       # too big for that: what was found
    assert hits.overfetch == 16 and not hits.exact and (hits.positions >= 0).sum() < K


def test_saved_index_loads_memory_mapped_with_a_float16_store(tmp_path):
    folder = tmp_path / "idx"
    built = build_ann(VECTORS, AnnConfig(kind="ivf-sq8"), folder, queries=QUERIES)
    again = load_ann(folder)
    assert isinstance(again.vectors, np.memmap) and again.vectors.dtype == np.float16
    assert again.vectors.nbytes * 2 == VECTORS.nbytes                    # half of float32
    assert np.array_equal(built.search(QUERIES, K)[1], again.search(QUERIES, K)[1])
    assert again.meta == built.meta and not list(tmp_path.glob(".tmp-*"))
    (folder / "index.faiss").write_bytes(b"broken")
    assert load_ann(folder) is None                                     # a damaged index is rebuilt, not served


def test_exact_topk_in_chunks_over_float16_matches_numpy():
    _, ref = exact_search(VECTORS, QUERIES, K)
    _, got = exact_topk(VECTORS.astype(np.float16), QUERIES, K, chunk=333)
    assert recall_at(ref, got) >= 0.99
    rows = np.arange(10, 400, 3)
    _, sub = exact_topk(VECTORS, QUERIES, K, rows=rows, chunk=50)
    assert np.array_equal(sub, rows[exact_search(VECTORS[rows], QUERIES, K)[1]])
    _, short = exact_topk(VECTORS, QUERIES[:1], K, rows=np.array([4, 8]))
    assert short[0].tolist()[2:] == [-1] * (K - 2) and set(short[0][:2]) == {4, 8}


# ------------------------------------------------------------------ the corpus side

@pytest.fixture
def big_posts(tmp_path):
    """3,000 posts of random words in 3 channels (big enough for ANN with a low threshold)."""
    rng = np.random.default_rng(1)
    words = [f"слово{i}" for i in range(400)]
    rows = [(f"p{i}", f"c{i % 3}", " ".join(rng.choice(words, 6))) for i in range(3000)]
    path = tmp_path / "posts.csv"
    pd.DataFrame(rows, columns=["id", "channel_id", "raw_text"]).to_csv(path, index=False)
    return load_corpus(path, "posts")


def test_past_the_threshold_search_is_approximate_built_once_and_says_so(tmp_path, big_posts, keyword_encoder):
    cfg = AnnConfig(min_vectors=2000, target_recall=0.9)
    cache = EmbeddingCache(tmp_path / "cache", keyword_encoder.id)
    assert not ann_ready(big_posts, cache, cfg)
    ci = build_corpus_index(big_posts, keyword_encoder, cache, ann=cfg, queries=["слово1 слово2", "слово3"])
    assert ci.index.approximate and ci.vectors.dtype == np.float16
    assert ci.index.meta["recall_query_source"] == "queries" and ci.index.meta["recall_queries"] == 2
    folder = index_folder(tmp_path / "cache", keyword_encoder.id, big_posts.content_hash, cfg)
    assert (folder / "index.faiss").exists() and ann_ready(big_posts, cache, cfg)

    calls = keyword_encoder.calls
    again = build_corpus_index(big_posts, keyword_encoder, EmbeddingCache(tmp_path / "cache", keyword_encoder.id),
                               ann=cfg)
    assert keyword_encoder.calls == calls                                # loaded, nothing embedded
    qvec = keyword_encoder.encode([big_posts.texts[42]], "query")[0]
    res = search_vector(again, qvec, 10)
    assert res.iloc[0]["id"] == "p42" and res.attrs["search"]["approximate"]
    recall = again.index.meta["recall@10"]
    assert search_note(res) == f"приближённый поиск, recall@10 {recall:.2f}".replace(".", ",")
    only_c1 = search_vector(again, qvec, 10, filters={"channel_id": ["c1"]})   # 1,000 rows: exact
    assert set(only_c1["channel_id"]) == {"c1"} and len(only_c1) == 10 and search_note(only_c1) == ""


def test_a_filter_that_runs_short_shows_how_far_the_search_widened(tmp_path, big_posts, keyword_encoder,
                                                                    monkeypatch):
    monkeypatch.setattr(ann_mod, "EXACT_FILTER_MAX", 5)
    monkeypatch.setattr(ann_mod, "EXACT_FALLBACK_MAX", 5)
    cfg = AnnConfig(min_vectors=2000, target_recall=0.5)
    ci = build_corpus_index(big_posts, keyword_encoder, EmbeddingCache(tmp_path, keyword_encoder.id), ann=cfg)
    ci = type(ci)(ci.corpus, ci.model_id, ci.vectors, AnnIndex(ci.index._index, ci.vectors,
                                                                  {**ci.index.meta, "nprobe": 1}))
    rare = {5, 400, 777, 1234, 1777, 2100, 2500, 2900}                   # 8 rows: more than EXACT_FILTER_MAX
    frame = ci.corpus.frame.assign(channel_id=["rare" if i in rare else c
                                               for i, c in enumerate(ci.corpus.frame["channel_id"])])
    ci = type(ci)(type(ci.corpus)(ci.corpus.name, ci.corpus.kind, frame, ci.corpus.texts), ci.model_id,
                  ci.vectors, ci.index)
    res = search_vector(ci, ci.vectors[100], 10, filters={"channel_id": ["rare"]})
    assert set(res["id"]) <= {f"p{i}" for i in rare} and len(res) <= 8
    factor, note = res.attrs["search"]["overfetch"], search_note(res)
    assert factor > 1 and note.startswith("приближённый поиск, recall@10")
    assert f"фильтр: поиск расширен в {factor} раз" in note and note.endswith(f"найдено {len(res)} из 10")


def test_below_the_threshold_search_stays_exact(tmp_path, big_posts, keyword_encoder):
    ci = build_corpus_index(big_posts, keyword_encoder, EmbeddingCache(tmp_path, keyword_encoder.id),
                            ann=AnnConfig(min_vectors=3001))
    assert isinstance(ci.index, FlatIndex) and ci.vectors.dtype == np.float32
    assert search_note(search_vector(ci, ci.vectors[0], 5)) == ""


def test_the_batch_job_builds_the_index_and_measures_it_on_the_labelled_queries(tmp_path, big_posts, keyword_encoder,
                                                                                  monkeypatch, capsys):
    from core.cli.imports import main
    from core.config import Settings
    from core.corpora.catalog import Catalog
    from core.labels.store import Label, LabelStore
    from core.models import registry
    for var, value in {"VECSCOPE_DATA_DIR": tmp_path / "none", "VECSCOPE_CACHE_DIR": tmp_path / "cache",
                       "VECSCOPE_LABELS": tmp_path / "labels.csv", "VECSCOPE_IMPORTS_DIR": tmp_path / "imports",
                       "VECSCOPE_ANN_MIN": 2000}.items():
        monkeypatch.setenv(var, str(value))
    monkeypatch.setattr(registry, "load_encoder", lambda *a, **k: keyword_encoder)
    big_posts.frame.to_csv(tmp_path / "big.csv", index=False)
    assert main(["file", str(tmp_path / "big.csv"), "--name", "big", "--kind", "posts"]) == 0
    LabelStore(tmp_path / "labels.csv").append_many(
        [Label("anna", "big", f"слово{i} слово{i + 1}", "p1", 2) for i in range(7)]
        + [Label("anna", "other", "не отсюда", "x", 1)])
    assert main(["embed", "big"]) == 0
    out = capsys.readouterr().out
    assert "big: приближённый индекс IVF64,SQ8 (nprobe" in out and "recall@10" in out
    settings = Settings.from_env()
    corpus = Catalog(settings).load("big")
    meta = load_ann(index_folder(settings.cache_dir, keyword_encoder.id, corpus.content_hash, settings.ann)).meta
    assert (meta["recall_query_source"], meta["recall_queries"]) == ("queries", 7)   # this corpus's queries only
