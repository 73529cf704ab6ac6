"""Recommendation figures.

    .venv/bin/python bench/recommend.py [--items 100000] [--users 10000] [--requests 500]

1. Demo posts and data/demo/interactions.csv, time-based split: HitRate@5, nDCG@5, coverage per
   method with 95 % bootstrap intervals, against popularity; the same without centring the
   vectors; HitRate@5 over the half-life (a sensitivity read on the test period itself: not how
   a default should be picked).
2. Scale: synthetic item vectors (384-d, 300 topics) and users with two or three topics each,
   ~50 interactions per user. Per request = one user's rows -> their history -> top 10 unseen;
   p50 / p95 over random users, one request at a time; peak memory of this process (RSS).
   The service this stands in for had to meet p95 < 0.5 s and < 4 GB at 100K items x 10K users.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import Settings  # noqa: E402
from core.corpora.records import load_demo  # noqa: E402
from core.models.registry import load_encoder, load_registry  # noqa: E402
from core.retrieval.cache import EmbeddingCache, cache_id, embed_cached  # noqa: E402
from core.tasks.recommend.evaluate import evaluate  # noqa: E402
from core.tasks.recommend.interactions import load_interactions  # noqa: E402
from core.tasks.recommend.methods import Recommender, histories, popularity_order  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ci(row, m: str) -> str:
    return f"{row[m]:.3f} [{row[m + '_lo']:.3f}, {row[m + '_hi']:.3f}]"


def demo() -> None:
    settings = Settings.from_env()
    corpus = load_demo(settings.data_dir, "posts")
    default, specs = load_registry(*settings.registry_files)
    enc = load_encoder(next(s for s in specs if s.name == default), specs, [settings.models_dir])
    vectors = embed_cached(enc, corpus.texts, EmbeddingCache(settings.cache_dir, cache_id(enc)))
    frame = load_interactions(settings.data_dir / "interactions.csv", corpus).frame
    print(f"demo: {len(corpus)} posts, {frame['user_id'].nunique()} users, {len(frame)} interactions, model {default}")
    for centre in (True, False):
        t = time.perf_counter()
        rep = evaluate(frame, vectors, centre=centre)
        print(f"\n  vectors {'centred' if centre else 'as the model gives them'}: {len(rep.split.answers)} users scored, "
              f"{len(rep.split.cold)} cold, cut at {rep.split.cutoff:%Y-%m-%d %H:%M}, {time.perf_counter() - t:.1f} s")
        for _, row in rep.table.iterrows():
            gain = "" if row["method"] == "popularity" else f"  vs popularity {ci(row, 'hit_rate_gain')}"
            print(f"    {row['method']:<11} HitRate@5 {ci(row, 'hit_rate')}  nDCG@5 {ci(row, 'ndcg')}  "
                  f"coverage {ci(row, 'coverage')}{gain}")
    sweep = []
    for half_life in (3, 7, 14, 30, 60):
        t = evaluate(frame, vectors, half_life_days=half_life).table.set_index("method")
        sweep.append(f"{half_life} d: {t.at['profile', 'hit_rate']:.3f} / {t.at['neighbours', 'hit_rate']:.3f}")
    print("\n  half-life sensitivity, HitRate@5 profile / neighbours (on the test period):  " + ";  ".join(sweep))


def synthetic(n_items: int, n_users: int, dim: int = 384, topics: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(topics, dim)).astype(np.float32)
    topic = rng.integers(0, topics, n_items)
    vectors = centres[topic] + rng.normal(scale=1.2, size=(n_items, dim)).astype(np.float32)
    by_topic = [np.flatnonzero(topic == t) for t in range(topics)]
    rows = []
    start = pd.Timestamp("2025-09-01", tz="UTC").value // 10**9
    for u in range(n_users):
        likes = rng.choice(topics, size=int(rng.integers(2, 4)), replace=False)
        n = int(rng.integers(30, 70))
        pools = [by_topic[likes[i]] for i in rng.integers(0, len(likes), n)]
        items = np.array([p[rng.integers(0, len(p))] for p in pools])
        ts = start + rng.integers(0, 56 * 86400, n)
        positive = (rng.random(n) < 0.4).astype(float)
        rows.append(pd.DataFrame({"user_id": u, "item": items, "ts": ts, "positive": positive}))
    frame = pd.concat(rows, ignore_index=True)
    frame["ts"] = pd.to_datetime(frame["ts"], unit="s", utc=True)
    return vectors, frame


def scale(n_items: int, n_users: int, requests: int) -> None:
    t = time.perf_counter()
    vectors, frame = synthetic(n_items, n_users)
    print(f"\nscale: {n_items:,} items x {n_users:,} users, {len(frame):,} interactions (made in "
          f"{time.perf_counter() - t:.1f} s); RSS peak so far {rss_mb():.0f} MB")
    t = time.perf_counter()
    rec = Recommender(vectors, popularity_order(frame))
    del vectors
    print(f"  recommender built (centred vectors + exact faiss index) in {time.perf_counter() - t:.1f} s")
    by_user = dict(tuple(frame.groupby("user_id", sort=False)))
    now = frame["ts"].max()
    rng = np.random.default_rng(1)
    picked = rng.choice(n_users, size=min(requests, n_users), replace=False)
    for method in ("popularity", "profile", "neighbours"):
        times = []
        for u in picked:
            t = time.perf_counter()
            hist = histories(by_user[u], now)[u]
            rec.recommend(hist, method, 10)
            times.append(time.perf_counter() - t)
        ms = np.array(times) * 1000
        print(f"  {method:<11} per request: p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms, "
              f"max {ms.max():.1f} ms over {len(ms)} users")
    t = time.perf_counter()
    histories(frame, now)
    print(f"  every user's history at once: {time.perf_counter() - t:.1f} s")
    print(f"  peak RSS of this process: {rss_mb():.0f} MB (limit 4096 MB)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--skip-demo", action="store_true")
    args = ap.parse_args()
    if not args.skip_demo:
        demo()
    scale(args.items, args.users, args.requests)


if __name__ == "__main__":
    main()
