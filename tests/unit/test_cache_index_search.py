import numpy as np
import pytest

from core.corpora.records import load_corpus
from core.retrieval.cache import EmbeddingCache, count_missing, embed_cached, text_key
from core.retrieval.index import FlatIndex, exact_search
from core.retrieval.search import MAX_QUERY_CHARS, QueryError, build_corpus_index, prepare_query, search


def test_cache_embeds_only_new_texts(tmp_path, keyword_encoder):
    cache = EmbeddingCache(tmp_path, keyword_encoder.id)
    texts = ["кот смотрит в окно", "экзамен перенесли", "кот спит"]
    first = embed_cached(keyword_encoder, texts, cache)
    assert keyword_encoder.calls == 3
    # a fresh cache object (a restart) finds everything on disk
    again = embed_cached(keyword_encoder, texts, EmbeddingCache(tmp_path, keyword_encoder.id))
    assert keyword_encoder.calls == 3 and np.array_equal(first, again)
    # editing one record re-embeds exactly one text
    edited = texts[:2] + ["кот спит на диване"]
    embed_cached(keyword_encoder, edited, EmbeddingCache(tmp_path, keyword_encoder.id))
    assert keyword_encoder.calls == 4


def test_cache_is_per_model_and_kind(tmp_path, keyword_encoder):
    cache = EmbeddingCache(tmp_path, keyword_encoder.id)
    embed_cached(keyword_encoder, ["кот"], cache, "passage")
    assert count_missing(cache, ["кот"], "query") == 1
    assert count_missing(EmbeddingCache(tmp_path, "other-model"), ["кот"]) == 1


def test_cache_survives_compaction(tmp_path, keyword_encoder, monkeypatch):
    monkeypatch.setattr("core.retrieval.cache.COMPACT_AFTER", 3)
    cache = EmbeddingCache(tmp_path, keyword_encoder.id)
    for i in range(6):
        embed_cached(keyword_encoder, [f"текст номер {i}"], cache)
    assert len(list(cache.folder.glob("*.keys.npy"))) <= 3
    assert count_missing(EmbeddingCache(tmp_path, keyword_encoder.id), [f"текст номер {i}" for i in range(6)]) == 0


def test_flat_index_matches_exact_numpy_search():
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(500, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    queries = vecs[:5] + 0.1 * rng.normal(size=(5, 32)).astype(np.float32)
    scores, pos = FlatIndex(vecs).search(queries, 10)
    ref_scores, ref_pos = exact_search(vecs, queries, 10)
    assert np.array_equal(pos, ref_pos)
    assert np.allclose(scores, ref_scores, atol=1e-5)


def test_subset_search_returns_only_allowed_rows():
    vecs = np.eye(4, dtype=np.float32)
    scores, pos = FlatIndex(vecs).search(vecs[0], 3, subset=np.array([1, 2]))
    assert set(pos[0][pos[0] >= 0]) == {1, 2}


def test_search_ranks_the_matching_record_first(tmp_path, keyword_encoder):
    path = tmp_path / "posts.csv"
    path.write_text("id,channel_id,raw_text\np1,c1,рецепт борща со сметаной\np2,c2,биткоин упал ниже\n"
                    "p3,c2,борщ без свёклы это не борщ\n", encoding="utf-8")
    corpus = load_corpus(path, "posts")
    ci = build_corpus_index(corpus, keyword_encoder, EmbeddingCache(tmp_path, keyword_encoder.id))
    res = search(ci, keyword_encoder, "рецепт борща", k=3)
    assert list(res["rank"]) == [1, 2, 3] and res.iloc[0]["id"] == "p1"
    assert res["score"].is_monotonic_decreasing
    only_c2 = search(ci, keyword_encoder, "борщ", k=5, filters={"channel_id": ["c2"]})
    assert set(only_c2["id"]) <= {"p2", "p3"} and only_c2.iloc[0]["id"] == "p3"


def test_empty_query_is_refused_and_long_query_is_cut_with_a_note():
    with pytest.raises(QueryError):
        prepare_query("   ")
    text, note = prepare_query("слово " * 2000)
    assert len(text) <= MAX_QUERY_CHARS and "11 999" in note
    assert prepare_query(" кот ") == ("кот", "")


def test_neighbours_exclude_self_and_respect_numeric_ranges(tmp_path, keyword_encoder):
    path = tmp_path / "channels.csv"
    path.write_text("id,title,about,pinned_text,category,subscribers\n"
                    "c1,Крипта сегодня,курс биткоина,,Финансы,5000\n"
                    "c2,Крипта завтра,биткоин и эфир,,Финансы,900000\n"
                    "c3,Биткоин для всех,курс биткоина каждый день,,Финансы,20000\n", encoding="utf-8")
    from core.corpora.records import load_corpus
    from core.retrieval.search import list_changes, search_vector
    corpus = load_corpus(path, "channels")
    ci = build_corpus_index(corpus, keyword_encoder, EmbeddingCache(tmp_path, keyword_encoder.id))
    res = search_vector(ci, ci.vectors[0], 5, exclude=0)
    assert "c1" not in set(res["id"]) and len(res) == 2
    small = search_vector(ci, ci.vectors[0], 5, filters={"subscribers": (0, 100_000)}, exclude=0)
    assert list(small["id"]) == ["c3"]
    assert list_changes(["a", "b", "c"], ["b", "d", "a"]) == (["d"], ["c"])


def test_keys_ending_in_nul_bytes_are_found(tmp_path, keyword_encoder, monkeypatch):
    """numpy's S16 strips trailing NULs; such digests must still hit the cache."""
    monkeypatch.setattr("core.retrieval.cache.text_key", lambda kind, text: text.encode().ljust(15, b"x")[:15] + b"\0")
    cache = EmbeddingCache(tmp_path, keyword_encoder.id)
    embed_cached(keyword_encoder, ["a", "b"], cache)
    assert count_missing(EmbeddingCache(tmp_path, keyword_encoder.id), ["a", "b"]) == 0


def test_compaction_with_duplicate_texts_keeps_every_vector(tmp_path, keyword_encoder, monkeypatch):
    monkeypatch.setattr("core.retrieval.cache.COMPACT_AFTER", 2)
    cache = EmbeddingCache(tmp_path, keyword_encoder.id)
    first = embed_cached(keyword_encoder, ["кот", "пёс"], cache)
    EmbeddingCache(tmp_path, keyword_encoder.id).add([text_key("passage", "кот")],
                                                     first[:1])   # the same text written twice
    for i in range(3):
        embed_cached(keyword_encoder, [f"слово{i}"], EmbeddingCache(tmp_path, keyword_encoder.id))
    fresh = EmbeddingCache(tmp_path, keyword_encoder.id)
    assert count_missing(fresh, ["кот", "пёс", "слово0", "слово2"]) == 0
    assert np.allclose(embed_cached(keyword_encoder, ["кот", "пёс"], fresh), first)
