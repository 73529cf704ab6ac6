"""Label store throughput: `python bench/labels.py`.

Every append is durable (flock + one write + fsync), so write figures mostly measure fsync on
the disk that holds the temporary directory; run it on the disk the app will use.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.labels.store import Label, LabelStore  # noqa: E402

WRITER = """
import sys
from core.labels.store import Label, LabelStore
path, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = LabelStore(path)
print("ready", flush=True)
sys.stdin.readline()
for i in range(n):
    store.append(Label(who, "memes", f"query {i % 50}", f"{who}-{i}", i % 3, model="e5-small", rank=i % 10))
"""


def label(i: int, who: str = "alice") -> Label:
    return Label(who, "memes", f"мем про котиков {i % 3000}", f"doc-{i}", (2, 1, 0, -1)[i % 4],
                 model="multilingual-e5-small", rank=i % 10, note="смешно, но старый" if i % 7 == 0 else "")


def one_writer(tmp: Path, n: int = 2000) -> float:
    store = LabelStore(tmp / "one.csv")
    start = time.perf_counter()
    for i in range(n):
        store.append(label(i))
    return n / (time.perf_counter() - start)


def race(commands: list[list[str]], env: dict) -> float:
    """Start the writer processes, wait until each has imported and says it is ready, release
    them together and return the seconds until the last one is done."""
    children = [subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                for cmd in commands]
    for c in children:
        c.stdout.readline()
    start = time.perf_counter()
    for c in children:
        c.stdin.write("go\n")
        c.stdin.flush()
    for c in children:
        c.communicate()
    return time.perf_counter() - start


def eight_writers(tmp: Path, procs: int = 8, n: int = 500) -> float:
    path = tmp / "eight.csv"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    elapsed = race([[sys.executable, "-c", WRITER, str(path), f"w{k}", str(n)] for k in range(procs)], env)
    got = LabelStore(path).read()
    assert len(got.frame) == procs * n and not got.skipped
    return procs * n / elapsed


def read_100k(tmp: Path, n: int = 100_000) -> dict[str, float]:
    path = tmp / "big.csv"
    LabelStore(path).append_many([label(i, who=f"ann{i % 5}") for i in range(n)])
    times = []
    for _ in range(5):
        store = LabelStore(path)  # fresh: no cached parse
        start = time.perf_counter()
        got = store.read()
        times.append(time.perf_counter() - start)
    assert len(got.frame) == n and not got.skipped
    start = time.perf_counter()
    store.read()
    cached = time.perf_counter() - start
    start = time.perf_counter()
    store.grades_for("memes", "мем про котиков 5", "ann0")
    grades_for = time.perf_counter() - start
    return {"read": statistics.median(times), "cached": cached, "grades_for": grades_for,
            "size_mb": path.stat().st_size / 1e6}


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        one = one_writer(tmp)
        eight = eight_writers(tmp)
        r = read_100k(tmp)
    print(f"{'measure':<44}{'value':>14}")
    print(f"{'append, 1 writer x 2000 (fsync each)':<44}{one:>10,.0f} /s")
    print(f"{'append, 8 processes x 500 at once (total)':<44}{eight:>10,.0f} /s")
    what = f"read() 100k rows, {r['size_mb']:.1f} MB, median of 5"
    print(f"{what:<44}{r['read'] * 1000:>10,.0f} ms")
    print(f"{'read() again, file unchanged (cached)':<44}{r['cached'] * 1000:>10,.1f} ms")
    print(f"{'grades_for() on 100k rows (cached read)':<44}{r['grades_for'] * 1000:>10,.1f} ms")


if __name__ == "__main__":
    main()
