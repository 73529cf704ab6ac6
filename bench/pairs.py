"""Same / different on the demo offers: `python bench/pairs.py [--resamples 2000]`.

The ground-truth pairs (data/demo/offer_pairs.csv) split as the page splits them (pair labels'
hashed split, then validation / test); per model the threshold is chosen on validation at a
target FPR and TPR, FPR, AUC are reported on test with 95 % bootstrap intervals. Models: the
bundled e5-small, and two lexical baselines (TF-IDF of character 2-5-grams and of words).
Figures are printed; nothing here is asserted.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.corpora.records import load_demo  # noqa: E402
from core.labels.store import LabelStore  # noqa: E402
from core.models.encoders import default_encoder  # noqa: E402
from core.retrieval.cache import EmbeddingCache, cache_id, embed_cached  # noqa: E402
from core.tasks.pairs.evaluate import TARGET_FPRS, evaluate_pairs, pair_scores  # noqa: E402
from core.tasks.pairs.files import file_labels, read_pair_file  # noqa: E402
from core.tasks.pairs.labels import PAIR_EVAL_SHARE, current_pairs  # noqa: E402

DEMO = ROOT / "data" / "demo"


def tfidf(texts, analyzer: str, ngrams: tuple[int, int]) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer
    vec = TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, lowercase=True, sublinear_tf=True)
    return vec.fit_transform(texts).toarray().astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--cache", default=str(ROOT / "var" / "cache"))
    args = ap.parse_args()
    corpus = load_demo(DEMO, "offers")
    pf = read_pair_file(DEMO / "offer_pairs.csv", corpus)
    with tempfile.TemporaryDirectory() as tmp:
        store = LabelStore(Path(tmp) / "pairs.csv", eval_share=PAIR_EVAL_SHARE)
        store.append_many(file_labels(pf, corpus.name, "bench"))
        pairs = current_pairs(store.read().frame, corpus.name)
    counts = pairs.groupby("role")["label"].agg(["count", "sum"])
    print(f"offers: {len(corpus)} offers, {len(pairs)} judged pairs; " + ", ".join(
        f"{role} {int(r['count'])} ({int(r['sum'])} same)" for role, r in counts.iterrows()))
    t = time.perf_counter()
    enc = default_encoder()
    models = {"e5-small": embed_cached(enc, corpus.texts, EmbeddingCache(args.cache, cache_id(enc)))}
    print(f"e5-small embedded (or read from cache) in {time.perf_counter() - t:.1f} s")
    models["tfidf-char-2-5"] = tfidf(corpus.texts, "char_wb", (2, 5))
    models["tfidf-words"] = tfidf(corpus.texts, "word", (1, 1))
    print(f"{'model':<16} {'target FPR':>10} {'threshold':>9} {'TPR [95% CI]':>22} {'FPR [95% CI]':>22} "
          f"{'AUC [95% CI]':>22} {'AP':>6}")
    for name, vectors in models.items():
        scores = pair_scores(vectors, corpus.frame["id"], pairs["a_id"], pairs["b_id"])
        for fpr in TARGET_FPRS:
            r = evaluate_pairs(pairs, scores, name, fpr, n_resamples=args.resamples)
            ci = r.intervals
            print(f"{name:<16} {fpr:>10.0%} {r.threshold:>9.3f} {_ci(r.test['tpr'], ci['tpr']):>22} "
                  f"{_ci(r.test['fpr'], ci['fpr']):>22} {_ci(r.test['auc'], ci['auc']):>22} {r.test['ap']:>6.3f}")


def _ci(value: float, interval: tuple[float, float]) -> str:
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


if __name__ == "__main__":
    main()
