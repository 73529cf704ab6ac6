"""What a newcomer waits for after `bash scripts/start.sh`: the warm-up on an empty cache (cold:
embeddings of the demo corpora, UMAP compile, default maps) and on a filled one (warm), each in a
fresh process, as start.sh runs it. Prints the steps of the cold run.

    .venv/bin/python bench/startup.py

numba's compiled UMAP code is cached per installation (inside .venv): the very first run on a
machine also pays its compile; `--fresh-numba` points NUMBA_CACHE_DIR at an empty folder to
measure that case too.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cache: Path, env_extra: dict) -> tuple[float, str]:
    env = {**os.environ, "VECSCOPE_CACHE_DIR": str(cache), "VECSCOPE_OFFLINE": "1", **env_extra}
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "core", "warmup"], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True)
    return time.perf_counter() - t, out.stderr


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fresh-numba", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vecscope-startup-") as tmp:
        extra = {"NUMBA_CACHE_DIR": str(Path(tmp) / "numba")} if args.fresh_numba else {}
        cold, log = run(Path(tmp) / "cache", extra)
        warm, _ = run(Path(tmp) / "cache", extra)
    print("steps of the cold run (the last line of each step's bar):")
    last: dict[str, str] = {}
    for line in log.replace("\r", "\n").splitlines():
        if line.strip() and not line.startswith("Готов"):
            last[line[:44].strip()] = line.rstrip()
    for line in last.values():
        print("  " + line)
    print(f"\nwarm-up before the server opens: cold {cold:.0f} s, warm {warm:.1f} s"
          f"{' (numba compiled from scratch)' if args.fresh_numba else ''}")


if __name__ == "__main__":
    main()
