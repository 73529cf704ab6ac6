"""Approximate search for large corpora: faiss IVF or HNSW behind the core.retrieval.index contract.

From AnnConfig.min_vectors vectors up (VECSCOPE_ANN_MIN, default 200K) a corpus is searched
through an AnnIndex instead of the exact FlatIndex. Kinds (VECSCOPE_ANN):

- `ivf-sq8` (default): IVF{nlist},SQ8 - k-means lists, 1 byte per dimension; quick to build.
- `ivf-pq`: IVF{nlist},PQ{d/2}x4fs - d/4 bytes per vector (1/16 of float32): when memory matters;
  its codes are coarser, so it re-ranks more candidates (RERANK_PQ).
- `hnsw`: HNSW32,SQ8 - a graph; fast queries, but the slowest to build on a small machine.

Every kind keeps the vectors as float16 (`vectors.f16.npy`, half of float32) and uses them to
re-rank the k x RERANK candidates the faiss index proposes with exact inner products (the
quantised codes only choose candidates), to answer small filters exactly, and as
CorpusIndex.vectors. Filters: up to EXACT_FILTER_MAX rows are searched exactly; a larger subset
goes to faiss as an IDSelectorBitmap, and when it leaves fewer than k rows the search is widened
(nprobe / efSearch doubled, up to MAX_OVERFETCH times; Hits.overfetch says how far); still
short, a subset up to EXACT_FALLBACK_MAX rows is searched exactly, a larger one returns what
was found (the Search page then shows the factor and the count).

Build (the batch job `python -m core import embed`, or on demand in build_corpus_index): train
on a sample, add in chunks, then measure recall@10 against exact search on up to
RECALL_QUERIES queries - real ones when there are (labelled queries, a corpus's example
queries), else sampled documents as queries, their own row left out - doubling the search
width until recall@10 reaches AnnConfig.target_recall. Width, recall and what it was measured
on are saved in meta.json. Folder: <cache root>/indexes/<model>/<content hash>-<kind>-r<target>/,
beside the embeddings, published by one rename. Loading memory-maps both the faiss index
(faiss.read_index with IO_FLAG_MMAP_IFC) and the float16 store, so serving costs the pages
queries touch, not the file size.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Callable

import faiss
import numpy as np

from core.config import AnnConfig
from core.retrieval.cache import model_slug
from core.retrieval.index import Hits, VectorIndex, as_queries, exact_topk

KINDS = ("ivf-sq8", "ivf-pq", "hnsw")
RERANK = 4                 # candidates per wanted result, re-scored exactly from the float16 store
RERANK_PQ = 10             # ... for ivf-pq, whose 4-bit codes rank candidates more roughly
EXACT_FILTER_MAX = 20_000  # a filter this narrow is answered exactly from the store
MAX_OVERFETCH = 16         # a filter may widen the search up to this many times
EXACT_FALLBACK_MAX = 200_000   # still too few rows after that: a subset up to this size is searched exactly
RECALL_QUERIES = 200
RECALL_K = 10
ADD_CHUNK = 65_536
META, INDEX, STORE = "meta.json", "index.faiss", "vectors.f16.npy"


class AnnError(ValueError):
    pass


def recipe(kind: str, n: int, dim: int) -> tuple[str, str, list[int]]:
    """(faiss factory string, search-width knob, widths to try in order) for a kind."""
    if kind == "hnsw":
        return "HNSW32,SQ8", "efSearch", [16, 32, 64, 128, 256, 512, 1024, 2048]
    nlist = nlist_for(n)
    widths = [w for w in (2 ** i for i in range(20)) if w <= nlist]
    if kind == "ivf-sq8":
        return f"IVF{nlist},SQ8", "nprobe", widths
    if kind == "ivf-pq":
        m = max(d for d in range(2, dim // 2 + 1, 2) if dim % d == 0) if dim >= 4 else dim
        return f"IVF{nlist},PQ{m}x4fs", "nprobe", widths
    raise AnnError(f"неизвестный вид индекса {kind!r} (VECSCOPE_ANN): есть {', '.join(KINDS)}")


def nlist_for(n: int) -> int:
    """IVF lists: a power of two near 2·sqrt(n), with at least 40 training points per list."""
    target = 2 ** round(math.log2(max(2.0, 2 * math.sqrt(n))))
    while target > 1 and target * 40 > n:
        target //= 2
    return max(1, target)


def index_folder(cache_root: str | os.PathLike, model_id: str, content_hash: str, config: AnnConfig) -> Path:
    """Where the index of one corpus version under one model lives (beside its embeddings)."""
    return (Path(cache_root) / "indexes" / model_slug(model_id)
            / f"{content_hash}-{config.kind}-r{round(config.target_recall * 1000)}")


class AnnIndex(VectorIndex):
    approximate = True

    def __init__(self, index: faiss.Index, store: np.ndarray, meta: dict) -> None:
        self._index, self.vectors, self.meta = index, store, meta
        self.size, self.dim = store.shape
        self._knob = meta["knob"]
        self._width = int(meta[self._knob])
        self._cap = int(meta.get("nlist") or 4096) if self._knob == "nprobe" else 4096
        self._rerank_k = int(meta.get("rerank") or RERANK)

    def query(self, queries: np.ndarray, k: int, subset: np.ndarray | None = None) -> Hits:
        q = as_queries(queries)
        k = max(1, min(int(k), self.size))
        selector, want, bits = None, k, None
        if subset is not None:
            subset = np.asarray(subset, dtype=np.int64)
            if len(subset) <= EXACT_FILTER_MAX:
                scores, positions = exact_topk(self.vectors, q, k, rows=np.sort(subset))
                return Hits(scores, positions, exact=True)
            mask = np.zeros(self.size, bool)
            mask[subset] = True
            bits = np.packbits(mask, bitorder="little")   # faiss reads bit i of byte i >> 3
            selector = faiss.IDSelectorBitmap(self.size, faiss.swig_ptr(bits))
            want = min(k, len(subset))
        factor = 1
        while True:
            candidates = self._candidates(q, k, self._width * factor, selector)
            found = int((candidates >= 0).sum(axis=1).min())
            if selector is None or found >= want or factor >= MAX_OVERFETCH or self._width * factor >= self._cap:
                break
            factor *= 2
        del bits   # faiss held a raw pointer into it until here
        if selector is not None and found < want and len(subset) <= EXACT_FALLBACK_MAX:
            scores, positions = exact_topk(self.vectors, q, k, rows=np.sort(subset))
            return Hits(scores, positions, exact=True, overfetch=factor)
        scores, positions = self._rerank(q, candidates, k)
        return Hits(scores, positions, exact=False, overfetch=factor)

    def query_width(self, queries: np.ndarray, k: int, width: int) -> Hits:
        """Search at a given width, no filter (what build-time tuning measures)."""
        q = as_queries(queries)
        return Hits(*self._rerank(q, self._candidates(q, k, width, None), k), exact=False)

    def _candidates(self, q: np.ndarray, k: int, width: int, selector) -> np.ndarray:
        width = min(int(width), self._cap)
        if self._knob == "nprobe":
            params = faiss.SearchParametersIVF(nprobe=width, sel=selector)
        else:
            params = faiss.SearchParametersHNSW(efSearch=width, sel=selector)
        # a fresh params object per call: the shared index itself is never changed
        _, positions = self._index.search(q, min(self.size, k * self._rerank_k), params=params)
        return positions

    def _rerank(self, q: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = np.full((len(q), k), -np.inf, np.float32)
        positions = np.full((len(q), k), -1, np.int64)
        for i, row in enumerate(candidates):
            rows = np.sort(row[row >= 0])   # ascending: the memory map is read in file order
            if not len(rows):
                continue
            sims = np.asarray(self.vectors[rows], dtype=np.float32) @ q[i]
            top = np.argsort(-sims, kind="stable")[:k]
            scores[i, :len(top)], positions[i, :len(top)] = sims[top], rows[top]
        return scores, positions


def build_ann(vectors: np.ndarray, config: AnnConfig, folder: str | os.PathLike | None = None,
              queries: np.ndarray | None = None, query_source: str = "", seed: int = 0,
              progress: Callable[[int, int], None] | None = None) -> AnnIndex:
    """Build, tune and (with `folder`) save an ANN index over (n, d) normalised vectors
    (float32 or float16, a memory map included; read in chunks). `queries`: (m, d) query
    vectors to measure recall@10 on; None: sampled rows stand in (their own row left out).
    With a folder the returned index is the one loaded back from disk, memory-mapped."""
    started = time.perf_counter()
    n, dim = vectors.shape
    spec, knob, widths = recipe(config.kind, n, dim)
    rng = np.random.default_rng(seed)
    index = faiss.index_factory(dim, spec, faiss.METRIC_INNER_PRODUCT)
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.cp.niter = 12   # k-means rounds; the search width is tuned on measured recall anyway
    if not index.is_trained:
        size = min(n, max(40 * (ivf.nlist if ivf is not None else 256), 10_000))
        index.train(_f32(vectors[np.sort(rng.choice(n, size=size, replace=False))]))
    if knob == "efSearch":
        faiss.downcast_index(index).hnsw.efConstruction = 40
    tmp = None
    if folder is not None:
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.parent / f".tmp-{folder.name}-{os.getpid()}-{os.urandom(3).hex()}"
        tmp.mkdir()
        store = np.lib.format.open_memmap(tmp / STORE, mode="w+", dtype=np.float16, shape=(n, dim))
    else:
        store = np.empty((n, dim), np.float16)
    try:
        for start in range(0, n, ADD_CHUNK):
            block = _f32(vectors[start:start + ADD_CHUNK])
            index.add(block)
            store[start:start + len(block)] = block
            if progress:
                progress(min(n, start + ADD_CHUNK), n)
        meta = {"kind": config.kind, "recipe": spec, "n": n, "dim": dim, "knob": knob, knob: widths[0],
                "nlist": ivf.nlist if ivf is not None else None,
                "rerank": RERANK_PQ if config.kind == "ivf-pq" else RERANK,
                "target_recall": config.target_recall, "faiss": faiss.__version__}
        built = AnnIndex(index, store, meta)
        meta.update(_tune(built, vectors, queries, query_source, widths, config.target_recall, rng))
        meta["build_s"] = round(time.perf_counter() - started, 1)
        meta["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        if tmp is None:
            return AnnIndex(index, store, meta)
        store.flush()
        del store, built
        faiss.write_index(index, str(tmp / INDEX))
        (tmp / META).write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        try:
            os.rename(tmp, folder)   # the one step that publishes it
        except OSError:              # another process published the same index first: use theirs
            shutil.rmtree(tmp, ignore_errors=True)
        tmp = None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    del index
    loaded = load_ann(folder)
    if loaded is None:
        raise AnnError(f"индекс в {folder} не читается после записи")
    return loaded


def load_ann(folder: str | os.PathLike) -> AnnIndex | None:
    """The index saved in `folder`, memory-mapped; None when there is none (or it is damaged)."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        store = np.load(folder / STORE, mmap_mode="r", allow_pickle=False)
        index = faiss.read_index(str(folder / INDEX), faiss.IO_FLAG_MMAP_IFC)
    except (OSError, ValueError, RuntimeError):
        return None
    if index.ntotal != store.shape[0] or store.shape != (meta.get("n"), meta.get("dim")):
        return None
    return AnnIndex(index, store, meta)


def recall_at(reference: np.ndarray, found: np.ndarray, k: int = RECALL_K, leave_out: np.ndarray | None = None) -> float:
    """Mean share of the exact top-k found in the ANN top-k; `leave_out[i]` (a query's own row,
    when documents stand in for queries) is dropped from both lists first."""
    shares = []
    for i, (ref, got) in enumerate(zip(reference, found)):
        if leave_out is not None:
            ref, got = ref[ref != leave_out[i]], got[got != leave_out[i]]
        ref, got = ref[ref >= 0][:k], got[got >= 0][:k]
        if len(ref):
            shares.append(len(np.intersect1d(ref, got)) / len(ref))
    return float(np.mean(shares)) if shares else 1.0


def _tune(index: AnnIndex, vectors: np.ndarray, queries: np.ndarray | None, source: str, widths: list[int],
          target: float, rng: np.random.Generator) -> dict:
    """The narrowest width whose recall@10 reaches the target, and that recall."""
    leave_out = None
    if queries is None or len(queries) == 0:
        leave_out = np.sort(rng.choice(len(vectors), size=min(RECALL_QUERIES, len(vectors)), replace=False))
        queries, source = _f32(vectors[leave_out]), "documents"
    queries = as_queries(queries[:RECALL_QUERIES])
    k = RECALL_K + (1 if leave_out is not None else 0)
    _, reference = exact_topk(vectors, queries, k)
    tried = {}
    for width in widths:
        tried[width] = recall_at(reference, index.query_width(queries, k, width).positions, leave_out=leave_out)
        if tried[width] >= target:
            break
    width = next((w for w, r in tried.items() if r >= target), max(tried, key=tried.get))
    return {index.meta["knob"]: int(width), "recall@10": round(tried[width], 4),
            "recall_queries": int(len(queries)), "recall_query_source": source or "queries",
            "recall_by_width": {str(w): round(r, 4) for w, r in tried.items()}}


def _f32(block: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(block, dtype=np.float32)
