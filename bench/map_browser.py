"""Browser render time of the map at 22K points: a real Streamlit server and Debian's Chromium.

    .venv/bin/python bench/map_browser.py [--n 22099]

Times from page.goto to the plotly WebGL scatter being drawn, for a figure built by
core.maps.plots.map_figure on the tg-news posts frame (or synthetic rows) with random coordinates.
"""
import argparse
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from playwright.sync_api import sync_playwright  # noqa: E402

from tests.e2e.conftest import chromium_path, wait_for_app  # noqa: E402

APP = textwrap.dedent('''
    import sys; sys.path.insert(0, {root!r})
    import numpy as np, pandas as pd, streamlit as st
    from core.maps.plots import map_figure
    n = {n}
    tg = {tg!r}
    try:
        frame = pd.read_csv(tg, dtype=str, keep_default_na=False).head(n)
    except FileNotFoundError:
        frame = pd.DataFrame({{"id": [f"p{{i}}" for i in range(n)], "raw_text": ["пост"] * n,
                              "category": [f"c{{i % 12}}" for i in range(n)]}})
    coords = np.random.default_rng(0).normal(size=(len(frame), 2)).astype("float32")
    st.plotly_chart(map_figure(coords, frame, color_by="category"), on_select="rerun", key="m")
''')


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=22_099)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import socket
    import subprocess
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "map_app.py"
        app.write_text(APP.format(root=str(ROOT), n=args.n, tg=str(ROOT.parent / "shared/data/tg-news/posts.csv")))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
                                 "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(3)
            times = []
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium_path())
                for _ in range(args.repeats):
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    t = time.perf_counter()
                    page.goto(f"http://127.0.0.1:{port}")
                    wait_for_app(page, initial_wait_ms=0, timeout_ms=120_000)
                    page.locator("[data-testid='stPlotlyChart'] .gl-container canvas").first.wait_for(timeout=120_000)
                    page.locator("[data-testid='stPlotlyChart'] .legend").first.wait_for(timeout=120_000)
                    times.append(time.perf_counter() - t)
                    page.close()
                browser.close()
        finally:
            proc.terminate()
    print(f"map with {args.n:,} points: page load to drawn WebGL map, median of {args.repeats}: "
          f"{statistics.median(times):.2f} s (runs: {', '.join(f'{x:.2f}' for x in times)})")


if __name__ == "__main__":
    main()
