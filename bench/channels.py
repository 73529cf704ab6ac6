"""Channel neighbours, measured: look-alikes (channel → channels) and ad placement (post →
channels) for every channel representation × post-processing × model, with bootstrap 95 %
intervals, on the demo channels and on tg-news (../shared/data/tg-news, read in place).

    .venv/bin/python bench/channels.py [--models e5-small] [--tg-posts 200] [--skip-tg]

Columns (core.evaluation.channel_quality): look-alike precision@5 and nDCG@10 against the team's channel
labels (VECSCOPE_LABELS, corpus "channels") where there are any, else against category
agreement (a proxy, said so); placement HitRate@5 of each post's own channel from the post's
text, the post held out of its channel's vector, for all posts and for ad posts. Baselines:
a random order (look-alikes) and always the channels with the most posts (placement).

tg-news has only channel titles (no about, no pinned post), so a channel's "text" is its title.
Its look-alikes are judged twice: by the LLM-assigned top category, and by channel families
(Топор, Москва, Библиотека ... by title) written by this bench as channel labels into a temporary
labels file and read back through the labels path. `is_ad` is the LLM category "advertisement".
With --tg-posts N only the N most recent posts of each channel are used (embedding all 22K
takes hours on two shared cores); the output says how many.
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

from core.config import Settings  # noqa: E402
from core.corpora.records import Corpus, load_demo, make_corpus  # noqa: E402
from core.evaluation import channel_quality as cq  # noqa: E402
from core.finetune.data import label_grades  # noqa: E402
from core.labels.channel_labels import channel_query  # noqa: E402
from core.labels.store import Label, LabelStore  # noqa: E402
from core.models.registry import load_encoder, load_registry, needs_download  # noqa: E402
from core.retrieval import postprocess  # noqa: E402
from core.retrieval.cache import (  # noqa: E402
    EmbeddingCache,
    cache_id,
    count_missing,
    embed_cached,
)
from core.retrieval.channels import REPRESENTATIONS, SpaceSpec, build_space  # noqa: E402

CACHE = ROOT / ".cache" / "bench-embeddings"
TG = ROOT.parent / "shared" / "data" / "tg-news"
DEFAULT = SpaceSpec()
FAMILIES = {"Топор": "топор", "Москва": "москв", "Библиотека": "библиотека"}   # family: title substring
VARIANTS = [SpaceSpec("mix", DEFAULT.postprocess, text_weight=w) for w in (0.2, 0.5)] + \
           [SpaceSpec("posts", DEFAULT.postprocess, half_life_days=h) for h in (30, 180)] + \
           [SpaceSpec("mix", DEFAULT.postprocess, half_life_days=h) for h in (30, 180)] + \
           [SpaceSpec("mix", DEFAULT.postprocess, skip_ads=False)]


def embed(encoder, corpus: Corpus) -> np.ndarray:
    cache = EmbeddingCache(CACHE, cache_id(encoder))
    missing = count_missing(cache, corpus.texts)
    if missing:
        print(f"  embedding {missing} new texts of {corpus.name} (cached for next time)...", file=sys.stderr)
    return embed_cached(encoder, corpus.texts, cache)


def demo_data():
    channels, posts = load_demo(ROOT / "data" / "demo", "channels"), load_demo(ROOT / "data" / "demo", "posts")
    labels_path = Settings.from_env().labels_path
    grades = label_grades(LabelStore(labels_path).read().frame, "channels") if labels_path.exists() else {}
    return "демо", channels, posts, {"": cq.lookalike_truth(channels.frame, grades)}, grades


def tg_data(per_channel: int | None):
    ch = pd.read_csv(TG / "channels.csv", dtype=str, keep_default_na=False)
    po = pd.read_csv(TG / "posts.csv", dtype=str, keep_default_na=False)
    po = po[po["raw_text"].str.strip() != ""]
    if per_channel:
        po = po.sort_values("published_at", ascending=False, kind="stable").groupby("channel_id").head(per_channel)
    po = po.sort_values(["channel_id", "published_at"], kind="stable").reset_index(drop=True)
    po["is_ad"] = (po["category"] == "advertisement").map({True: "1", False: "0"})
    channels = make_corpus(ch[["id", "title"]].assign(category=ch["top_category"]), "channels", "tg-news", str(TG))
    posts = make_corpus(po[["id", "channel_id", "raw_text", "published_at", "is_ad"]], "posts",
                        f"tg-news ({len(po)} posts)", str(TG))
    with tempfile.TemporaryDirectory() as tmp:
        store = LabelStore(Path(tmp) / "labels.csv")
        store.append_many(family_labels(channels.frame))
        grades = label_grades(store.read().frame, "channels")
    truths = {"тематика (LLM)": cq.lookalike_truth(channels.frame),
              "семьи каналов (оценки)": cq.lookalike_truth(channels.frame, grades)}
    return f"tg-news, {len(posts)} постов", channels, posts, truths, {}


def family_labels(frame: pd.DataFrame) -> list[Label]:
    """Grade 2 between channels of one family (by title), written as the Channels page would."""
    family = {cid: next((f for f, sub in FAMILIES.items() if sub in title.lower()), None)
              for cid, title in zip(frame["id"], frame["title"])}
    titles = dict(zip(frame["id"], frame["title"]))
    return [Label("bench-families", "channels", channel_query(a, titles[a]), b, grade=2)
            for a, fa in family.items() for b, fb in family.items() if fa and fa == fb and a != b]


def run(name, channels, posts, truths, grades, encoders, specs):
    rows_by_truth = {t: [] for t in truths}
    for model, enc in encoders.items():
        text, post = embed(enc, channels), embed(enc, posts)
        t0 = time.perf_counter()
        spaces = {sp: build_space(sp, cache_id(enc), channels, text, posts, post) for sp in specs}
        placement = cq.placement_queries(next(iter(spaces.values())), posts, grades)
        for t, truth in truths.items():
            rows_by_truth[t] += [cq.measure(space, truth, placement, model) for space in spaces.values()]
        print(f"  {name}, {model}: {len(specs)} spaces measured in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        first = next(iter(spaces.values()))
        for t, truth in truths.items():
            if model == next(iter(encoders)):
                rows_by_truth[t] += cq.baseline_rows(first, truth, placement)
    return {t: cq.table(rows) for t, rows in rows_by_truth.items()}


def print_table(title: str, frame: pd.DataFrame, truth: cq.Truth) -> None:
    print(f"\n## {title}\nпохожие каналы {truth.note}. {cq.counts_note(frame)} "
          f"{cq.DEFAULT_MARK}по умолчанию.")
    shown = cq.shown(frame, DEFAULT.label)
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 70):
        print(shown.to_string(index=False))


def encoders_for(names: list[str]) -> dict:
    s = Settings.from_env()
    _, specs = load_registry(*s.registry_files)
    out = {}
    for name in names:
        spec = next((sp for sp in specs if sp.name == name), None)
        why = "нет в реестре" if spec is None else needs_download(spec, specs, [s.models_dir])
        if why:
            print(f"(модель {name} пропущена: {why})")
            continue
        out[name] = load_encoder(spec, specs, [s.models_dir])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["e5-small"], help="registry names")
    ap.add_argument("--tg-posts", type=int, default=200, help="most recent posts per tg-news channel (0 = all)")
    ap.add_argument("--skip-tg", action="store_true")
    args = ap.parse_args()
    encoders = encoders_for(args.models)
    grid = [SpaceSpec(r, p) for r in REPRESENTATIONS for p in postprocess.SPECS]
    datasets = [demo_data()]
    if not args.skip_tg:
        if (TG / "posts.csv").exists():
            datasets.append(tg_data(args.tg_posts or None))
        else:
            print(f"(нет {TG}: строки tg-news пропущены)")
    results = {}
    for name, channels, posts, truths, grades in datasets:
        tables = run(name, channels, posts, truths, grades, encoders, grid + VARIANTS)
        for t, frame in tables.items():
            label = f"{name}" + (f" · похожие по: {t}" if t else "")
            main_rows = frame[frame["space"].isin({sp.label for sp in grid}) | (frame["model"] == "—")]
            print_table(label, main_rows, truths[t])
            results[label] = frame
        variants = tables[next(iter(tables))]
        variants = variants[variants["space"].isin({sp.label for sp in VARIANTS + [DEFAULT]})]
        print_table(f"{name}: варианты умолчания", variants, truths[next(iter(truths))])
    print(f"\nПо умолчанию: {DEFAULT.label} (core/retrieval/channels.py SpaceSpec, pages/_spaces.py).")
    for label, frame in results.items():
        d = frame[frame["space"] == DEFAULT.label].iloc[0]
        raw = frame[frame["space"] == SpaceSpec("text", "none").label].iloc[0]
        pop = frame[frame["space"].str.startswith("популярность")].iloc[0]
        print(f"  {label}: точность@5 {raw['p5']:.2f} → {d['p5']:.2f} [{d['p5_lo']:.2f}–{d['p5_hi']:.2f}]; "
              f"размещение HitRate@5 {d['hit_all']:.2f} [{d['hit_all_lo']:.2f}–{d['hit_all_hi']:.2f}] "
              f"при популярности {pop['hit_all']:.2f}")
    print(f"Машина: {__import__('os').cpu_count()} ядра CPU; bootstrap {cq.N_RESAMPLES} выборок, seed 0.")


if __name__ == "__main__":
    main()
