"""Streamlit caching around core loaders. Keys are cheap strings (paths, mtimes, hashes);
big objects pass as `_`-prefixed arguments so Streamlit never hashes or copies them
(STYLE.md M2/M3). Everything cached here is read-only and shared by all sessions."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import streamlit as st

from core import display
from core.config import Settings
from core.corpora import records as corpora
from core.corpora.catalog import Catalog
from core.labels.store import LabelStore, open_label_store
from core.models import registry as reg
from core.models.encoders import Encoder, l2_normalise
from core.retrieval.cache import EmbeddingCache, cache_id, count_missing, embed_cached
from core.retrieval.search import CorpusIndex, ann_ready, build_corpus_index


def mtime(path: str | Path) -> str:
    """Cache key for a file's version: changes when the file is edited or replaced."""
    try:
        st_ = os.stat(path)
    except FileNotFoundError:
        return "missing"
    return f"{st_.st_mtime_ns}:{st_.st_size}"


@st.cache_resource(show_spinner=False, max_entries=4)
def _registry(files: tuple[str, ...], version: str):
    return reg.load_registry(*files)


def _registry_key(s: Settings) -> tuple[tuple[str, ...], str]:
    files = tuple(str(p) for p in s.registry_files)
    return files, "|".join(mtime(p) for p in files)


def models(s: Settings):
    """(default name, specs): the bundled registry merged with the users' one (what they trained)."""
    return _registry(*_registry_key(s))


@st.cache_resource(show_spinner=False, max_entries=4)
def _needs_download(files: tuple[str, ...], version: str, models_dir: str) -> dict[str, str]:
    _, specs = reg.load_registry(*files)
    return {sp.name: reg.needs_download(sp, specs, [Path(models_dir)]) for sp in specs}


def needs_download(s: Settings) -> dict[str, str]:
    """{model name: why it cannot load offline ("" if it can)}; checked once per registry version."""
    return _needs_download(*_registry_key(s), str(s.models_dir))


@st.cache_resource(show_spinner="Загружаем модель…", max_entries=4)
def encoder(name: str, files: tuple[str, ...], models_dirs: tuple[str, ...], version: str) -> Encoder:
    _, specs = reg.load_registry(*files)
    spec = next(s for s in specs if s.name == name)
    return reg.load_encoder(spec, specs, [Path(d) for d in models_dirs])


def current_encoder(s: Settings, name: str) -> Encoder:
    files, version = _registry_key(s)
    return encoder(name, files, (str(s.models_dir),), version)


@st.cache_resource(show_spinner="Читаем корпус…", max_entries=16)
def _catalog_corpus(where: str, name: str, version: str, channel_parts: tuple[str, ...], _catalog) -> corpora.Corpus:
    return _catalog.load(name, channel_parts)


def corpus(s: Settings, name: str, channel_parts: tuple[str, ...] = corpora.CHANNEL_PARTS) -> corpora.Corpus:
    """A bundled or imported corpus, re-read only when its files change."""
    cat = Catalog(s)
    return _catalog_corpus(f"{s.data_dir}|{cat.root}", name, cat.version(name), tuple(channel_parts), _catalog=cat)


def corpora_of_kind(s: Settings, *kinds: str) -> dict[str, str]:
    """{name: label} of the corpora a page can show, bundled first, then imported."""
    return {info.name: info.name if info.builtin else f"{info.name} (импорт)"
            for info in Catalog(s).list() if info.kind in kinds}


@st.cache_resource(show_spinner=False)
def _embedded() -> set:
    """(cache dir, model, corpus hash) triples known to be fully on disk."""
    return set()


@st.cache_resource(show_spinner="Готовим поисковый индекс…", max_entries=16)
def _corpus_index(cache_dir: str, model_id: str, corpus_hash: str, ann: str, _corpus, _encoder, _ann) -> CorpusIndex:
    return build_corpus_index(_corpus, _encoder, EmbeddingCache(cache_dir, model_id), ann=_ann)


def corpus_index(s: Settings, corpus_: corpora.Corpus, enc: Encoder) -> CorpusIndex:
    """The index for a corpus under a model. Texts not yet embedded are embedded here with
    a progress bar (first start); afterwards everything comes from the disk cache."""
    # an adapter shares its base model's passage vectors: one cache, nothing re-embedded
    key = (str(s.cache_dir), cache_id(enc), corpus_.content_hash)
    cache = EmbeddingCache(s.cache_dir, key[1])
    # precomputed vectors, or a saved ANN index (its float16 vectors): nothing to embed or check
    if key not in _embedded() and not hasattr(enc, "vectors_for") and not ann_ready(corpus_, cache, s.ann):
        missing = count_missing(cache, corpus_.texts)
        if missing:
            bar = st.progress(0.0, text=f"Считаем эмбеддинги «{corpus_.name}»: 0 из {missing} (один раз, потом "
                                        "из кэша)…")
            started = time.perf_counter()

            def show(done: int, total: int) -> None:
                left = (time.perf_counter() - started) / done * (total - done) if done else None
                eta = f", осталось ~{left:.0f} с" if left is not None else ""
                bar.progress(done / max(total, 1), text=f"Считаем эмбеддинги «{corpus_.name}»: {done} из {total}"
                                                        f"{eta} (один раз, потом из кэша)")
            embed_cached(enc, corpus_.texts, cache, batch_size=16, progress=show)
            bar.empty()
    _embedded().add(key)
    return _corpus_index(*key, repr(s.ann), _corpus=corpus_, _encoder=enc, _ann=s.ann)


@st.cache_data(show_spinner=False, max_entries=512)
def query_vector(model_id: str, query: str, _encoder: Encoder) -> np.ndarray:
    return l2_normalise(_encoder.encode([query], "query"))[0]


def store(s: Settings):
    """The configured label store: the CSV file, or PostgreSQL shared by several app servers
    (VECSCOPE_LABELS=postgresql://…). One per process, so the database connection is reused."""
    return _store(str(s.labels_path), s.labels_url, _s=s)


@st.cache_resource(show_spinner=False, max_entries=4)
def _store(path: str, url: str, _s: Settings):
    return open_label_store(_s)


def labels_version(s: Settings) -> str:
    """Changes whenever a label is added, in whichever store: a cache key for pages."""
    return store(s).version()


def labels(s: Settings, version: str | None = None):
    """Every label row (core.labels.base.LabelsRead), re-read only when the store changed."""
    st_ = store(s)
    return _labels_read(st_.location, version or st_.version(), _store=st_)


@st.cache_resource(show_spinner=False, max_entries=4)
def _labels_read(where: str, version: str, _store):
    return _store.read()


def eval_qrels(s: Settings, corpus) -> dict:
    """The corpus' held-out grades (core.finetune.eval_queries: its eval-split examples and
    labels), computed once per labels version instead of at every rerun. Shared: read only."""
    version = labels_version(s)
    return _eval_qrels(corpus.name, corpus.content_hash, version, _s=s, _corpus=corpus)


@st.cache_resource(show_spinner=False, max_entries=8)
def _eval_qrels(name: str, content_hash: str, version: str, _s: Settings, _corpus):
    from core.finetune import eval_queries
    return eval_queries(_corpus, store(_s).latest(labels(_s, version).frame), name)


@st.cache_resource(show_spinner=False, max_entries=4)
def labels_read(path: str, version: str):
    """Parsed labels file, re-read only when the file changed. A resource, not data: a
    100K-row frame is shared read-only instead of unpickled on every rerun (STYLE M3)."""
    return LabelStore(path).read()


@st.cache_data(show_spinner=False, max_entries=256)
def passage_vector(model_id: str, text: str, _encoder: Encoder) -> np.ndarray:
    return l2_normalise(_encoder.encode([text], "passage"))[0]


@st.cache_resource(show_spinner="Строим BM25-индекс…", max_entries=8)
def bm25(corpus_name: str, corpus_hash: str, _corpus):
    from core.retrieval.lexical import BM25Index
    return BM25Index(_corpus.texts)


@st.cache_resource(show_spinner=False, max_entries=16)
def _titles(where: str, name: str, version: str, _catalog) -> dict[str, str]:
    corpus_ = _catalog.load(name)
    return dict(zip(corpus_.frame["id"], display.record_titles(corpus_.kind, corpus_.frame, corpus_.texts)))


def titles(s: Settings, name: str) -> dict[str, str]:
    """{doc id: readable name} of a corpus; empty when the corpus is gone (labels outlive it)."""
    cat = Catalog(s)
    try:
        return _titles(f"{s.data_dir}|{cat.root}", name, cat.version(name), _catalog=cat)
    except (corpora.CorpusError, OSError, KeyError):
        return {}


def title(s: Settings, corpus_name: str, doc_id: str) -> str:
    return titles(s, corpus_name).get(doc_id) or doc_id
