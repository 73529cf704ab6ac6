"""Embeddings on disk, keyed by model id + kind + text hash.

Layout: <root>/embeddings/<model-slug>/shard-<n>.keys.npy (S16 digests) + shard-<n>.vecs.npy
(float32). Only new texts are embedded and written as a new shard, so editing one record
re-embeds one record. Shards are written to temp files and renamed, keys last, so a killed
job leaves no half shard that would be read. The same format can be written by a batch job
elsewhere (one shard per worker) and read by the app.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from core.atomic import atomic_npy
from core.models.encoders import Encoder, Kind, encode_batched

if TYPE_CHECKING:
    from core.corpora.catalog import Catalog

COMPACT_AFTER = 32   # shards; merging keeps load time flat as a corpus is edited over time


def text_key(kind: str, text: str) -> bytes:
    return hashlib.blake2b(f"{kind}\0{text}".encode("utf-8", "surrogatepass"), digest_size=16).digest()


def model_slug(model_id: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)[:60]
    return f"{readable}-{hashlib.sha256(model_id.encode()).hexdigest()[:8]}"


class EmbeddingCache:
    def __init__(self, root: str | Path, model_id: str) -> None:
        self.root = Path(root)   # other per-model files (ANN indexes) live beside the embeddings
        self.folder = self.root / "embeddings" / model_slug(model_id)
        self.model_id = model_id
        self._index: dict[bytes, int] | None = None
        self._vectors: np.ndarray | None = None
        self._seen_shards: tuple[str, ...] = ()

    def _shards(self) -> list[Path]:
        if not self.folder.exists():
            return []
        return sorted(self.folder.glob("shard-*.keys.npy"))

    def _load(self) -> None:
        shards = self._shards()
        names = tuple(p.name for p in shards)
        if self._index is not None and names == self._seen_shards:
            return
        keys, vecs = [], []
        for kpath in shards:
            vpath = kpath.with_name(kpath.name.replace(".keys.", ".vecs."))
            k = np.load(kpath, allow_pickle=False)
            v = np.load(vpath, allow_pickle=False, mmap_mode="r")
            if len(k) != len(v):
                continue   # a foreign writer's half shard: ignore, it will be recomputed
            keys.append(k)
            vecs.append(np.asarray(v))
        self._vectors = np.concatenate(vecs) if vecs else np.zeros((0, 0), np.float32)
        all_keys = np.concatenate(keys) if keys else np.zeros(0, "S16")
        # numpy's S16 drops trailing NUL bytes on access; digests are exactly 16 bytes, so pad back
        self._index = {bytes(k).ljust(16, b"\0"): i for i, k in enumerate(all_keys)}
        self._seen_shards = names

    def __len__(self) -> int:
        self._load()
        return len(self._index)

    def lookup(self, keys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray | None]:
        """(found mask, vectors for the found keys in order)."""
        self._load()
        rows = np.array([self._index.get(k, -1) for k in keys], dtype=np.int64)
        found = rows >= 0
        vecs = self._vectors[rows[found]] if found.any() else None
        return found, vecs

    def add(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        if len(keys) == 0:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = f"shard-{len(self._shards()):05d}-{os.getpid()}-{os.urandom(3).hex()}"
        atomic_npy(self.folder / f"{stem}.vecs.npy", np.asarray(vectors, np.float32))
        atomic_npy(self.folder / f"{stem}.keys.npy", np.array(list(keys), dtype="S16"))
        if len(self._shards()) > COMPACT_AFTER:
            self.compact()

    def compact(self) -> None:
        """Merge all shards into one (new file first, then old ones removed)."""
        self._index = None
        self._load()
        old = self._shards()
        keys = np.array(list(self._index.keys()), dtype="S16")
        rows = np.fromiter(self._index.values(), dtype=np.int64, count=len(self._index))
        stem = f"shard-00000-c{os.getpid()}-{os.urandom(3).hex()}"
        atomic_npy(self.folder / f"{stem}.vecs.npy", self._vectors[rows])   # duplicates dropped, aligned
        atomic_npy(self.folder / f"{stem}.keys.npy", keys)
        for kpath in old:
            kpath.unlink(missing_ok=True)
            kpath.with_name(kpath.name.replace(".keys.", ".vecs.")).unlink(missing_ok=True)
        self._index = None


def count_missing(cache: EmbeddingCache, texts: Sequence[str], kind: Kind = "passage") -> int:
    found, _ = cache.lookup([text_key(kind, t) for t in texts])
    return int((~found).sum())


def embed_cached(encoder: Encoder, texts: Sequence[str], cache: EmbeddingCache,
                 kind: Kind = "passage", batch_size: int = 32, save_every: int = 2048,
                 progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Vectors for texts, embedding only those not in the cache. Work is saved every
    `save_every` texts, so an interrupted first start resumes where it stopped."""
    keys = [text_key(kind, t) for t in texts]
    found, cached = cache.lookup(keys)
    out = np.empty((len(texts), encoder.dim), np.float32)
    if cached is not None:
        out[found] = cached
    todo = np.flatnonzero(~found)
    # identical texts are embedded once
    unique: dict[bytes, list[int]] = {}
    for i in todo:
        unique.setdefault(keys[i], []).append(int(i))
    order = list(unique)
    done = 0
    for start in range(0, len(order), save_every):
        part = order[start:start + save_every]
        vecs = encode_batched(encoder, [texts[unique[k][0]] for k in part], kind, batch_size,
                              progress=(lambda d, _t, s=done: progress(s + d, len(order))) if progress else None)
        cache.add(part, vecs)
        for k, v in zip(part, vecs):
            out[unique[k]] = v
        done += len(part)
    if progress and not order:
        progress(0, 0)
    return out


def cache_id(encoder) -> str:
    """The id its passage vectors are cached under (an adapter shares its base model's)."""
    return getattr(encoder, "passage_id", None) or encoder.id


def corpus_coverage(catalog: "Catalog", name: str, model: Any, channel_parts: Sequence[str] | None = None) -> float:
    """Share of a catalog corpus's records whose vectors exist for `model` (a model id, an
    encoder, or precomputed vectors)."""
    corpus = catalog.load(name, *([channel_parts] if channel_parts else []))
    if hasattr(model, "coverage"):
        return float(model.coverage(corpus))
    model_id = model if isinstance(model, str) else cache_id(model)
    missing = count_missing(EmbeddingCache(catalog.settings.cache_dir, model_id), corpus.texts)
    return 1.0 - missing / max(len(corpus), 1)


def embed_catalog_corpus(catalog: "Catalog", name: str, encoder: Encoder,
                         progress: Callable[[int, int], None] | None = None,
                         channel_parts: Sequence[str] | None = None) -> np.ndarray:
    """Vectors of a catalog corpus, embedding only texts not yet in the cache."""
    corpus = catalog.load(name, *([channel_parts] if channel_parts else []))
    return embed_cached(encoder, corpus.texts, EmbeddingCache(catalog.settings.cache_dir, cache_id(encoder)),
                        progress=progress)
