"""Outcomes figures: R² and the binomial log-likelihood per view against the mean-only and the
text-length baselines, per model, on the demo posts (K-fold CV, 95 % t-intervals over folds).

    .venv/bin/python bench/outcomes.py [--k 5] [--metadata category,is_ad]

Every model of data/models.yaml that loads offline is scored; "случайные векторы" (random
vectors of the same size) is the control: it must score like the mean, or something leaks.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import Settings  # noqa: E402
from core.corpora.records import load_demo  # noqa: E402
from core.models.registry import load_encoder, load_registry, needs_download  # noqa: E402
from core.retrieval.cache import EmbeddingCache, cache_id, embed_cached  # noqa: E402
from core.tasks.outcomes.report import evaluate  # noqa: E402
from core.tasks.outcomes.target import Target  # noqa: E402

TARGETS = [Target("ratio", "likes", per="views"), Target("ratio", "comments", per="views"),
           Target("ratio", "forwards", per="views"),
           Target("weighted", per="views", weights=(("likes", 1.0), ("comments", 3.0), ("forwards", 5.0))),
           Target("column", "views", log=True)]


def model_vectors(settings: Settings, corpus) -> dict[str, np.ndarray]:
    default, specs = load_registry(*settings.registry_files)
    out = {}
    for spec in specs:
        if needs_download(spec, specs, [settings.models_dir]):
            print(f"  {spec.name}: skipped (needs a download)")
            continue
        enc = load_encoder(spec, specs, [settings.models_dir])
        t = time.perf_counter()
        out[spec.name] = embed_cached(enc, corpus.texts, EmbeddingCache(settings.cache_dir, cache_id(enc)))
        print(f"  {spec.name}: {len(corpus)} vectors in {time.perf_counter() - t:.1f} s")
    dim = next(iter(out.values())).shape[1] if out else 384
    out["случайные векторы"] = np.random.default_rng(0).normal(size=(len(corpus), dim)).astype(np.float32)
    return out


def fmt(row, m: str) -> str:
    return f"{row[m]:+.4f} [{row[m + '_lo']:+.4f}, {row[m + '_hi']:+.4f}]"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--metadata", default="", help="comma-separated columns added to every embedding")
    args = ap.parse_args()
    settings = Settings.from_env()
    corpus = load_demo(settings.data_dir, "posts")
    print(f"demo posts: {len(corpus)}; {args.k}-fold CV; metadata: {args.metadata or 'none'}")
    vectors = model_vectors(settings, corpus)
    meta = [c for c in args.metadata.split(",") if c]
    for target in TARGETS:
        t = time.perf_counter()
        rep = evaluate(corpus, target, vectors, meta, args.k)
        print(f"\n{target.label()}  ({time.perf_counter() - t:.1f} s for {len(rep.cv.table)} feature sets)")
        for _, row in rep.cv.table.iterrows():
            line = f"  {row['model']:<20} R² {fmt(row, 'r2')}"
            if "ll" in row and not np.isnan(row["ll"]):
                line += f"  LL/view {row['ll']:.5f}"
            if "r2_gain" in row and not np.isnan(row.get("r2_gain", np.nan)):
                line += f"  R² over length {fmt(row, 'r2_gain')}"
            print(line)


if __name__ == "__main__":
    main()
