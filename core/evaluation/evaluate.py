"""Search configurations x held-out queries -> one comparable table.

A *search configuration* is a model (an Encoder under a display name) and a mode:
"dense" (cosine over the model's vectors) or "hybrid" (dense and BM25 fused by reciprocal
rank). Evaluation takes plain dicts - queries are the keys of `qrels {query: {doc_id: grade}}`
- and gives per-config summaries, per-query scores, a paired bootstrap CI of each config's
difference from the baseline (the first config), and the queries where they disagree most.
Unjudged documents count as irrelevant; a config whose mean judged@10 is under 0.5 is flagged,
because its scores are then a lower bound more than a measurement.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from core.corpora.records import Corpus
from core.evaluation.judging import Comparison
from core.evaluation.judging import compare as compare_robust
from core.evaluation.metrics import DEFAULT_METRICS, evaluate_run, excluded_queries, parse_metric, summarise
from core.evaluation.significance import paired_bootstrap
from core.models.encoders import Encoder, encode_batched
from core.retrieval.cache import EmbeddingCache, cache_id, embed_cached
from core.retrieval.index import FlatIndex
from core.retrieval.lexical import BM25Index, rrf_fuse

MODES = ("dense", "hybrid")
PRIMARY_METRIC = "ndcg@10"
LOW_COVERAGE = 0.5          # mean judged@10 under this: the metrics are unreliable
HYBRID_DEPTH = 100          # candidates taken from each ranking before fusion

Run = dict[str, list[str]]


@dataclass(frozen=True)
class SearchConfig:
    name: str                # the model's name in the registry / the table
    encoder: Encoder
    mode: str = "dense"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")

    @property
    def label(self) -> str:
        return self.name if self.mode == "dense" else f"{self.name} + bm25"


def run_config(config: SearchConfig, corpus: Corpus, corpus_vectors: np.ndarray, queries: Sequence[str],
               k: int = 10, *, query_vectors: np.ndarray | None = None, bm25: BM25Index | None = None,
               depth: int = HYBRID_DEPTH) -> Run:
    """{query: top-k doc ids, best first} for one configuration."""
    queries = list(queries)
    if not queries:
        return {}
    if query_vectors is None:
        query_vectors = encode_batched(config.encoder, queries, "query")
    ids = corpus.frame["id"].tolist()
    index = FlatIndex(corpus_vectors)
    if config.mode == "dense":
        _, positions = index.search(query_vectors, k)
        return {q: [ids[p] for p in row if p >= 0] for q, row in zip(queries, positions)}
    bm25 = bm25 or BM25Index(corpus.texts)
    _, dense = index.search(query_vectors, max(depth, k))
    return {q: [ids[p] for p in rrf_fuse([row, bm25.search(q, max(depth, k))[1]])[:k]]
            for q, row in zip(queries, dense)}


@dataclass
class EvalTable:
    labels: list[str]                              # config labels; labels[0] is the baseline
    summary: pd.DataFrame                          # index: label; metric columns, n_queries, low_coverage
    per_query: dict[str, pd.DataFrame]             # label -> (query x metric)
    runs: dict[str, Run]
    comparisons: dict[str, dict[str, dict]]        # label -> metric -> paired_bootstrap(baseline, label)
    disagreements: dict[str, pd.DataFrame]         # label -> queries where it differs most from baseline
    k: int = 10
    primary_metric: str = PRIMARY_METRIC
    notes: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)   # queries with no relevant judged doc: in no metric
    # label -> core.evaluation.judging.compare(baseline, label): judged@k side by side, condensed and fully
    # judged metrics, the verdict the labels support, the unjudged docs of each top k
    robust: dict[str, Comparison] = field(default_factory=dict)

    @property
    def unequal_coverage(self) -> dict[str, bool]:
        """label -> whether its mean judged@k and the baseline's differ by more than
        core.evaluation.judging.UNEQUAL (pool bias: the less judged one is under-scored)."""
        return {lab: c.coverage_unequal for lab, c in self.robust.items()}

    @property
    def n_excluded(self) -> int:
        """How many queries of the qrels no metric of the table counts (no relevant judged doc);
        summary's n_queries is the number every metric averages."""
        return len(self.excluded)

    @property
    def baseline(self) -> str:
        return self.labels[0]

    @property
    def low_coverage(self) -> dict[str, bool]:
        return {lab: bool(self.summary.loc[lab, "low_coverage"]) for lab in self.labels}

    def flat(self) -> dict[str, float | str]:
        """{"{label}_{metric}": value, ..., "primary_metric": name} (sentence-transformers style)."""
        out: dict[str, float | str] = {"primary_metric": self.primary_metric}
        for lab in self.labels:
            for col in self.summary.columns:
                if col != "low_coverage":
                    out[f"{lab}_{col}"] = float(self.summary.loc[lab, col])
        return out

    def to_text(self, n_disagreements: int = 5) -> str:
        metrics = [c for c in self.summary.columns if c not in ("n_queries", "low_coverage")]
        width = max(len(lab) for lab in self.labels) + 2
        lines = [f"{'config':<{width}}" + "".join(f"{m:>12}" for m in metrics) + f"{'queries':>9}"]
        for lab in self.labels:
            row = self.summary.loc[lab]
            flag = "  (low coverage)" if row["low_coverage"] else ""
            lines.append(f"{lab:<{width}}" + "".join(f"{_fmt(row[m]):>12}" for m in metrics)
                         + f"{int(row['n_queries']):>9}{flag}")
        for lab, by_metric in self.comparisons.items():
            lines.append("")
            lines.append(f"{lab} minus {self.baseline} (paired bootstrap, 95% CI):")
            for m, bs in by_metric.items():
                lines.append(f"  {m:<12} {_signed(bs['mean_diff'])}  [{_signed(bs['lo'])}, {_signed(bs['hi'])}]"
                             f"  p={_fmt(bs['p_value'])}  n={bs['n']}")
            dis = self.disagreements.get(lab)
            if dis is not None and len(dis):
                lines.append(f"  queries where they disagree most ({self.primary_metric}):")
                for _, r in dis.head(n_disagreements).iterrows():
                    lines.append(f"    {_signed(r['delta'])}  {r['query'][:70]}")
        lines += [""] + self.notes if self.notes else []
        return "\n".join(lines)


def _fmt(x) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def _signed(x) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:+.3f}"


def evaluate_configs(
    configs: Sequence[SearchConfig],
    corpus: Corpus,
    qrels: Mapping[str, Mapping[str, float]],
    *,
    k: int = 10,
    metrics: Sequence[str] = DEFAULT_METRICS,
    cache_root: str | Path | None = None,
    corpus_vectors: Mapping[str, np.ndarray] | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    n_disagreements: int = 20,
    progress: Callable[[str], None] | None = None,
) -> EvalTable:
    """Evaluate each configuration on the queries of `qrels` against `corpus`.

    Corpus vectors come from `corpus_vectors[passage id]` when given, else from the embedding
    cache under `cache_root` (embedding only what is missing), else are computed. An adapter
    shares its base model's passage id, so base and adapter use one set of corpus vectors.
    """
    configs = list(configs)
    if not configs:
        raise ValueError("evaluate_configs needs at least one configuration")
    labels = [c.label for c in configs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"configurations must have distinct labels, got {labels}")
    queries = list(qrels)
    depth = max([k] + [parse_metric(m)[1] for m in metrics])
    vectors: dict[str, np.ndarray] = dict(corpus_vectors or {})
    bm25 = BM25Index(corpus.texts) if any(c.mode == "hybrid" for c in configs) else None
    runs, per_query = {}, {}
    for cfg in configs:
        if progress:
            progress(cfg.label)
        pid = cache_id(cfg.encoder)
        if pid not in vectors:
            vectors[pid] = _embed(cfg.encoder, corpus.texts, "passage", cache_root, pid)
        if len(vectors[pid]) != len(corpus):
            raise ValueError(f"{len(vectors[pid])} corpus vectors for {pid!r}, "
                             f"but {corpus.name} has {len(corpus)} records")
        qv = _embed(cfg.encoder, queries, "query", cache_root, cfg.encoder.id)
        runs[cfg.label] = run_config(cfg, corpus, vectors[pid], queries, depth, query_vectors=qv, bm25=bm25)
        per_query[cfg.label] = evaluate_run(runs[cfg.label], qrels, metrics)

    rows = {}
    for lab in labels:
        s = summarise(per_query[lab])
        s.pop("n_excluded", None)   # the same for every config: EvalTable.excluded
        judged = [c for c in per_query[lab].columns if c.startswith("judged@")]
        s["low_coverage"] = bool(judged) and not (s[judged[0]] >= LOW_COVERAGE)
        rows[lab] = s
    summary = pd.DataFrame.from_dict(rows, orient="index")
    summary.index.name = "config"

    primary = PRIMARY_METRIC if PRIMARY_METRIC in metrics else list(metrics)[0]
    base = labels[0]
    excluded = excluded_queries(qrels)
    left_out = set(excluded)
    scored = [q for q in queries if q not in left_out]
    comparisons, disagreements, robust = {}, {}, {}
    for lab in labels[1:]:
        robust[lab] = compare_robust(runs[base], runs[lab], qrels, k, a=base, b=lab, n_resamples=n_resamples,
                                     seed=seed)
        comparisons[lab] = {m: paired_bootstrap(per_query[base][m], per_query[lab][m], n_resamples=n_resamples,
                                                seed=seed) for m in metrics if not m.startswith("judged@")}
        disagreements[lab] = _disagreements(scored, per_query[base][primary], per_query[lab][primary],
                                            runs[base], runs[lab], k, n_disagreements)
    notes = []
    low = [lab for lab in labels if rows[lab]["low_coverage"]]
    if low:
        notes.append(f"Low label coverage (mean judged@10 < {LOW_COVERAGE}) for {', '.join(low)}: unjudged "
                     "results count as irrelevant, so these scores are a lower bound. Label more results.")
    for lab, c in robust.items():
        if c.coverage_unequal and c.warning:
            notes.append(c.warning)
    if excluded:
        notes.append(f"Без релевантных оценок: {len(excluded)} из {len(queries)} запросов (нет ни одного документа "
                     "с оценкой 1 или 2) — они не входят ни в одну метрику; все метрики посчитаны по "
                     f"{len(scored)} запросам. Оцените для них хотя бы один подходящий документ.")
    return EvalTable(labels, summary, per_query, runs, comparisons, disagreements, k, primary, notes, excluded,
                     robust)


def _embed(encoder: Encoder, texts: Sequence[str], kind: str, cache_root, cache_id: str) -> np.ndarray:
    base = getattr(encoder, "base", None)
    if base is not None and hasattr(encoder, "from_base"):   # an adapter: base vectors (cached), then adapt
        return encoder.from_base(_embed(base, texts, kind, cache_root, base.id), kind)
    if cache_root is None:
        return encode_batched(encoder, texts, kind)
    return embed_cached(encoder, texts, EmbeddingCache(cache_root, cache_id), kind)


def _disagreements(queries: list[str], a: pd.Series, b: pd.Series, run_a: Run, run_b: Run, k: int,
                   n: int) -> pd.DataFrame:
    rows = []
    for q in queries:
        top_a, top_b = run_a.get(q, [])[:k], run_b.get(q, [])[:k]
        only_a = [d for d in top_a if d not in set(top_b)]
        only_b = [d for d in top_b if d not in set(top_a)]
        sa, sb = float(a.loc[q]), float(b.loc[q])
        delta = sb - sa if not (math.isnan(sa) or math.isnan(sb)) else math.nan
        rows.append({"query": q, "baseline": sa, "other": sb, "delta": delta,
                     "n_different": len(only_a) + len(only_b), "only_baseline": only_a, "only_other": only_b})
    frame = pd.DataFrame(rows, columns=["query", "baseline", "other", "delta", "n_different",
                                        "only_baseline", "only_other"])
    if frame.empty:
        return frame
    frame["_abs"] = frame["delta"].abs().fillna(0.0)
    frame = frame.sort_values(["_abs", "n_different"], ascending=False, kind="stable").drop(columns="_abs")
    return frame.head(n).reset_index(drop=True)
