"""Apple's Embedding Atlas Streamlit component against vecscope's density view: does it render a
big map in headless Chromium on a machine without internet (as vecscope must run)?

    python3 -m venv /tmp/atlas-venv && /tmp/atlas-venv/bin/pip install embedding-atlas streamlit==1.67.0
    .venv/bin/python bench/embedding_atlas.py --python /tmp/atlas-venv/bin/python [--rows 10000 100000]

Embedding Atlas is not a vecscope dependency, so it runs from its own environment (--python). The
page is one `embedding_atlas(df, text=, x=, y=)` call on synthetic 2-D points with Russian text;
the bench waits for a canvas in the component's frame and prints the time or the browser's errors.
Measured here (0.26.0): the component loads DuckDB-WASM from cdn.jsdelivr.net, so offline its frame
stays blank even at 10,000 rows; its environment took 6.9 GB.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

APP = '''
import os
import numpy as np
import pandas as pd
import streamlit as st
from embedding_atlas.streamlit import embedding_atlas

n = int(os.environ["ATLAS_N"])
rng = np.random.default_rng(0)
centres = rng.normal(size=(40, 2)) * 10
c = rng.integers(0, 40, n)
xy = centres[c] + rng.normal(size=(n, 2))
words = np.array(["канал", "новости", "скидка", "розыгрыш", "матч", "курс", "погода", "рецепт"])
df = pd.DataFrame({"id": np.arange(n), "x": xy[:, 0], "y": xy[:, 1], "category": c.astype(str),
                   "text": [" ".join(words[(i * 7 + j) % 8] for j in range(12)) for i in range(n)]})
embedding_atlas(df, text="text", x="x", y="y", row_id="id")
'''


def measure(python: str, rows: int, chromium: str, wait_s: float) -> str:
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as tmp, socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        app = Path(tmp) / "atlas_app.py"
        app.write_text(APP)
        proc = subprocess.Popen([python, "-m", "streamlit", "run", str(app), "--server.headless", "true",
                                 "--server.port", str(port), "--server.maxMessageSize", "2000"],
                                env={**os.environ, "ATLAS_N": str(rows)}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                        break
                except OSError:
                    time.sleep(0.2)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=["--disable-gpu", "--enable-unsafe-swiftshader"])
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                t0 = time.perf_counter()
                page.goto(url)
                while time.perf_counter() - t0 < wait_s:
                    page.screenshot()   # headless Chromium paints (and starts the component's workers) on demand
                    for frame in page.frames[1:]:
                        try:
                            if frame.locator("canvas").count():
                                return f"{rows:>9,} rows: a canvas after {time.perf_counter() - t0:.1f} s"
                        except Exception:   # noqa: BLE001 - a frame may detach while loading
                            pass
                    time.sleep(1.0)
                worst = [e for e in errors if "duckdb" in e.lower()] or errors or ["none reported"]
                return f"{rows:>9,} rows: nothing drawn after {wait_s:.0f} s; browser error: {worst[0][:200]}"
        finally:
            os.killpg(proc.pid, 9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", required=True, help="a Python with embedding-atlas and streamlit installed")
    ap.add_argument("--rows", nargs="+", type=int, default=[10_000, 100_000])
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM_PATH", "/usr/lib/chromium/chromium"))
    ap.add_argument("--wait", type=float, default=90)
    args = ap.parse_args()
    for n in args.rows:
        print(measure(args.python, n, args.chromium, args.wait), flush=True)


if __name__ == "__main__":
    sys.exit(main())
