"""Fine-tuning data and jobs: (query, document) pairs from the corpus and the labels, an adapter
on a frozen encoder (seconds on CPU) or a full sentence-transformers fine-tune (the users' MNRL
recipe), held-out evaluation, and registration in models.yaml.

The leakage rule: a query trains only if its split (core.labels.split_of, a stable hash of the
query text) is "train" and no label row of it was stored with split "eval"; every other query
is held out. The held-out qrels come from exactly the complement, so no query both trains and
evaluates.
"""
from __future__ import annotations

import hashlib
import math
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from core.adapter import AdapterEncoder, train_adapter
from core.cache import EmbeddingCache, embed_cached
from core.corpora import Corpus
from core.encoders import DEFAULT_TASK, FAMILY_PROMPTS, Encoder, SentenceTransformerEncoder
from core.evaluate import EvalTable, SearchConfig, evaluate_configs, passage_id
from core.labels import KEY, split_of
from core.registry import ModelSpec, register_model

SOURCES = ("examples", "labels")
Qrels = dict[str, dict[str, float]]
Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]


class FinetuneCancelled(RuntimeError):
    """should_stop() said stop: nothing was saved or registered."""


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class PairSet:
    """Training pairs (query, doc_id, source), unique per (query, doc_id), sorted."""
    pairs: tuple[tuple[str, str, str], ...]
    excluded: Mapping[str, int] = field(default_factory=dict)   # why rows were left out, counted

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def queries(self) -> list[str]:
        return [p[0] for p in self.pairs]

    @property
    def doc_ids(self) -> list[str]:
        return [p[1] for p in self.pairs]

    @property
    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in SOURCES}
        for _, _, source in self.pairs:
            out[source] = out.get(source, 0) + 1
        return out

    @property
    def hash(self) -> str:
        """Stable across runs and machines: sha256 of the sorted (query, doc_id) pairs."""
        h = hashlib.sha256()
        for q, d, _ in self.pairs:
            h.update(q.encode("utf-8", "surrogatepass") + b"\0" + d.encode("utf-8", "surrogatepass") + b"\n")
        return h.hexdigest()[:16]

    @classmethod
    def from_pairs(cls, pairs, source: str = "examples", excluded: Mapping[str, int] | None = None) -> "PairSet":
        """From (query, doc_id) or (query, doc_id, source) tuples; first occurrence wins."""
        seen: dict[tuple[str, str], str] = {}
        for p in pairs:
            q, d = str(p[0]).strip(), str(p[1])
            if q and (q, d) not in seen:
                seen[(q, d)] = p[2] if len(p) > 2 else source
        return cls(tuple(sorted((q, d, s) for (q, d), s in seen.items())), dict(excluded or {}))

    def summary(self) -> str:
        parts = ", ".join(f"{n} from {s}" for s, n in self.counts.items())
        out = f"{len(self)} training pairs ({parts}); hash {self.hash}"
        if self.excluded:
            out += "; left out: " + ", ".join(f"{n} {why}" for why, n in self.excluded.items() if n)
        return out


def example_queries(corpus: Corpus) -> list[tuple[str, str]]:
    """(query, doc_id) from the `examples` column ("|"-separated user-style queries)."""
    if "examples" not in corpus.frame.columns:
        return []
    out = []
    for doc_id, examples in zip(corpus.frame["id"], corpus.frame["examples"]):
        for q in str(examples or "").split("|"):
            if q.strip():
                out.append((q.strip(), doc_id))
    return out


def label_grades(labels_frame: pd.DataFrame | None, corpus_name: str) -> dict[tuple[str, str], float]:
    """{(query, doc_id): grade} from the labels of one corpus.

    The latest row per (annotator, corpus, query, doc_id) wins (retractions drop the key).
    Several annotators on one pair: the mean of their 0..2 grades; a pair only graded
    "can't judge" (-1) keeps -1, which counts as judged but never as relevant.
    """
    if labels_frame is None or len(labels_frame) == 0:
        return {}
    frame = labels_frame[labels_frame["corpus"] == corpus_name]
    latest = frame.drop_duplicates(subset=KEY, keep="last")
    latest = latest[latest["grade"].notna()]
    out: dict[tuple[str, str], float] = {}
    for (q, d), grades in latest.groupby(["query", "doc_id"], sort=False)["grade"]:
        known = [int(g) for g in grades if int(g) >= 0]
        g = float(np.mean(known)) if known else -1.0
        out[(q, d)] = int(g) if g == int(g) else g
    return out


def _eval_queries_of_labels(labels_frame: pd.DataFrame | None, corpus_name: str) -> set[str]:
    """Queries a label row stored as eval (e.g. written with another eval share): held out too."""
    if labels_frame is None or len(labels_frame) == 0 or "split" not in labels_frame:
        return set()
    rows = labels_frame[(labels_frame["corpus"] == corpus_name) & (labels_frame["split"] == "eval")]
    return set(rows["query"])


def _judgements(corpus: Corpus, labels_frame, corpus_name: str) -> tuple[dict, dict[str, int]]:
    """{(query, doc_id): (grade, source)}: examples are grade 2; a label on the same pair
    overrides the example (a person's latest judgement wins). Plus counts of what was dropped."""
    known_ids = set(corpus.frame["id"])
    out = {(q, d): (2, "examples") for q, d in example_queries(corpus)}
    unknown = 0
    for (q, d), g in label_grades(labels_frame, corpus_name).items():
        if d not in known_ids:
            unknown += 1
            continue
        out[(q, d)] = (g, "labels")
    return out, {"labels on documents not in the corpus": unknown}


def is_eval_query(query: str, stored_eval: set[str], eval_share: float = 0.3) -> bool:
    return split_of(query, eval_share) == "eval" or query in stored_eval


def training_pairs(corpus: Corpus, labels_frame: pd.DataFrame | None = None, corpus_name: str | None = None,
                   eval_share: float = 0.3) -> PairSet:
    """(query, doc_id) pairs to train on: example queries and labels with grade >= 1, train split only."""
    name = corpus_name or corpus.name
    judged, excluded = _judgements(corpus, labels_frame, name)
    stored_eval = _eval_queries_of_labels(labels_frame, name)
    pairs, held_out, low = [], 0, 0
    for (q, d), (g, source) in judged.items():
        if is_eval_query(q, stored_eval, eval_share):
            held_out += 1
        elif g >= 1:
            pairs.append((q, d, source))
        else:
            low += 1
    excluded = {**excluded, "pairs of eval-split queries (held out)": held_out,
                "pairs graded below 1": low}
    return PairSet.from_pairs(pairs, excluded=excluded)


def eval_queries(corpus: Corpus, labels_frame: pd.DataFrame | None = None, corpus_name: str | None = None,
                 eval_share: float = 0.3) -> Qrels:
    """Held-out qrels {query: {doc_id: grade}}: the eval-split example queries (grade 2 for
    their document) and the eval-split labels (all grades, -1 included as judged)."""
    name = corpus_name or corpus.name
    judged, _ = _judgements(corpus, labels_frame, name)
    stored_eval = _eval_queries_of_labels(labels_frame, name)
    qrels: Qrels = {}
    for (q, d), (g, _) in judged.items():
        if is_eval_query(q, stored_eval, eval_share):
            qrels.setdefault(q, {})[d] = g
    return dict(sorted(qrels.items()))


# --------------------------------------------------------------------------- results


@dataclass
class FinetuneResult:
    name: str
    method: str                       # "adapter" | "full"
    path: Path                        # the .npz or the model folder
    base: str
    params: dict[str, Any]
    pair_counts: dict[str, int]
    pairs_hash: str
    created: str                      # ISO date-time, UTC
    scores: dict[str, dict[str, float]] = field(default_factory=dict)   # {"base": {...}, "tuned": {...}}
    delta: dict[str, dict[str, float]] = field(default_factory=dict)    # metric -> bootstrap of tuned - base
    history: list[dict[str, float]] = field(default_factory=list)
    table: EvalTable | None = None
    spec: ModelSpec | None = None

    def registry_meta(self) -> dict[str, Any]:
        meta = {"method": self.method, "params": _plain(self.params), "pairs": dict(self.pair_counts),
                "pairs_hash": self.pairs_hash, "trained": self.created}
        if self.scores:
            meta["heldout"] = _plain({
                "n_queries": int(self.scores["tuned"].get("n_queries", 0)),
                "base": {k: v for k, v in self.scores["base"].items() if k != "n_queries"},
                "tuned": {k: v for k, v in self.scores["tuned"].items() if k != "n_queries"},
                "delta_ci95": {m: [bs["mean_diff"], bs["lo"], bs["hi"]] for m, bs in self.delta.items()},
            })
        return meta


def _plain(x):
    """numpy / nan -> YAML-safe python values, floats rounded to 4 places."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if math.isnan(x) else round(float(x), 4)
    return x if isinstance(x, (str, type(None))) else str(x)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _heldout(result: FinetuneResult, base_cfg: SearchConfig, tuned_cfg: SearchConfig, corpus: Corpus,
             qrels: Qrels | None, **kwargs) -> None:
    if not qrels:
        return
    table = evaluate_configs([base_cfg, tuned_cfg], corpus, qrels, **kwargs)
    result.table = table
    result.scores = {"base": table.summary.loc[base_cfg.label].drop("low_coverage").to_dict(),
                     "tuned": table.summary.loc[tuned_cfg.label].drop("low_coverage").to_dict()}
    result.delta = table.comparisons[tuned_cfg.label]


def _relative(path: Path, models_dir: Path) -> str:
    path, models_dir = Path(path).resolve(), Path(models_dir).resolve()
    if models_dir not in path.parents:
        raise ValueError(f"{path} is not inside the models folder {models_dir}; the registry can only "
                         "load models from there (save into it, or set VECSCOPE_MODELS_DIR).")
    return str(path.relative_to(models_dir))


def _positions(corpus: Corpus, doc_ids: Sequence[str]) -> np.ndarray:
    where = {d: i for i, d in enumerate(corpus.frame["id"])}
    missing = [d for d in doc_ids if d not in where]
    if missing:
        raise ValueError(f"{len(missing)} training pair(s) point to documents not in corpus "
                         f"{corpus.name!r} (first: {missing[0]!r}).")
    return np.array([where[d] for d in doc_ids], dtype=np.int64)


# --------------------------------------------------------------------------- adapter


def finetune_adapter(
    base_encoder: Encoder,
    corpus: Corpus,
    pairs: PairSet,
    cache: EmbeddingCache,
    out_dir: str | Path,
    *,
    name: str = "adapter",
    base_name: str = "",
    qrels: Qrels | None = None,
    registry_path: str | Path | None = None,
    models_dir: str | Path | None = None,
    epochs: int = 100,
    lr: float = 3e-3,
    rank: int = 16,
    l2: float = 0.1,
    temperature: float = 0.05,
    val_fraction: float = 0.2,
    seed: int = 0,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> FinetuneResult:
    """Train a query adapter on the cached corpus vectors of `base_encoder`, save
    `out_dir/<name>.npz`, evaluate base vs adapter on `qrels` (held-out) and, with
    `registry_path`, register it (its path relative to `models_dir`, default `out_dir`).

    `cache` must be the base encoder's EmbeddingCache: corpus and training queries are read
    from it (and only what is missing is embedded)."""
    if cache.model_id != passage_id(base_encoder):
        raise ValueError(f"the cache holds {cache.model_id!r} vectors, not {passage_id(base_encoder)!r}")
    if len(pairs) < 2:
        raise ValueError(f"need at least 2 training pairs, got {len(pairs)}: label more or add example queries")
    if registry_path is not None and not base_name:
        raise ValueError("registering an adapter needs base_name: the registry name of its base model")
    doc_vecs = embed_cached(base_encoder, corpus.texts, cache, "passage")
    q_vecs = embed_cached(base_encoder, pairs.queries, cache, "query")
    pos = _positions(corpus, pairs.doc_ids)
    weights, history = train_adapter(q_vecs, doc_vecs[pos], doc_vecs=doc_vecs, pos_index=pos,
                                     val_fraction=val_fraction,
                                     epochs=epochs, lr=lr, rank=rank, temperature=temperature, l2=l2,
                                     seed=seed, progress=progress, should_stop=should_stop)
    if should_stop and should_stop():
        raise FinetuneCancelled("adapter training was cancelled; nothing was saved")
    created = _now()
    weights.meta.update({"base_id": base_encoder.id, "base_name": base_name, "corpus": corpus.name,
                         "corpus_hash": corpus.content_hash, "pairs_hash": pairs.hash,
                         "pairs": pairs.counts, "created": created})
    path = weights.save(Path(out_dir) / f"{name}.npz")
    params = {k: weights.meta[k] for k in ("rank", "lr", "l2", "temperature", "negatives", "val_fraction",
                                           "best_epoch", "epochs_run", "n_train", "n_val", "seed")}
    result = FinetuneResult(name, "adapter", path, base_name or base_encoder.id, params, pairs.counts,
                            pairs.hash, created, history=history)
    tuned = AdapterEncoder(base_encoder, path)
    cache_root = cache.folder.parent.parent     # <root>/embeddings/<model-slug>
    _heldout(result, SearchConfig(base_name or "base", base_encoder), SearchConfig(name, tuned), corpus, qrels,
             cache_root=cache_root, corpus_vectors={passage_id(base_encoder): doc_vecs})
    if registry_path is not None:
        rel = _relative(path, Path(models_dir) if models_dir else Path(out_dir))
        result.spec = ModelSpec(name, "adapter", path=rel, base=base_name,
                                description=f"query adapter on {base_name or base_encoder.id}, "
                                            f"trained on {len(pairs)} pairs of {corpus.name}",
                                meta=result.registry_meta())
        register_model(registry_path, result.spec)
    return result


# --------------------------------------------------------------------------- full fine-tune


def _no_duplicate_batches(q: Sequence[str], d: Sequence[str], batch_size: int, rng) -> list[list[int]]:
    """Shuffled batches in which no query and no document appears twice, so every in-batch
    negative is a true negative (sentence-transformers' NO_DUPLICATES sampler, in short)."""
    pending = list(rng.permutation(len(q)))
    batches = []
    while pending:
        batch, qs, ds, rest = [], set(), set(), []
        for i in pending:
            if len(batch) < batch_size and q[i] not in qs and d[i] not in ds:
                batch.append(int(i))
                qs.add(q[i])
                ds.add(d[i])
            else:
                rest.append(i)
        batches.append(batch)
        pending = rest
    # A lone pair has no in-batch negative to learn from; it is left out of this epoch only.
    # Rare: it takes the last leftovers all sharing one document (or query).
    return [b for b in batches if len(b) >= 2]


def finetune_sentence_transformer(
    model_path: str | Path,
    corpus: Corpus,
    pairs: PairSet,
    out_dir: str | Path,
    epochs: int = 1,
    batch_size: int = 16,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    *,
    name: str = "finetuned",
    family: str = "e5",
    base_name: str = "",
    qrels: Qrels | None = None,
    registry_path: str | Path | None = None,
    models_dir: str | Path | None = None,
    cache_root: str | Path | None = None,
    lr: float = 2e-5,
    warmup_ratio: float = 0.1,
    seed: int = 0,
    device: str | None = None,
) -> FinetuneResult:
    """Full fine-tune with MultipleNegativesRankingLoss on (query, document text) pairs, with the
    model's own prompts (e5: "query: " / "passage: "); saves safetensors to `out_dir/<name>`.

    progress(step, total) is called after every optimiser step; should_stop() is checked
    before each step and, when true, raises FinetuneCancelled with nothing saved."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from core.encoders import _load_st

    if len(pairs) < 2:
        raise ValueError(f"need at least 2 training pairs, got {len(pairs)}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = _load_st(SentenceTransformer, str(model_path), Path(model_path).expanduser(), device)
    q_prompt, d_prompt = _prompts_of(model, family)

    texts = np.array(corpus.texts, dtype=object)[_positions(corpus, pairs.doc_ids)]
    queries = pairs.queries
    plan = [_no_duplicate_batches(queries, pairs.doc_ids, batch_size, rng) for _ in range(epochs)]
    total = sum(len(p) for p in plan)
    loss_fn = MultipleNegativesRankingLoss(model, scale=20.0)      # temperature 0.05
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    warmup = max(1, int(total * warmup_ratio))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))

    def to_device(features):
        return {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}

    history, step = [], 0
    model.train()
    for epoch, batches in enumerate(plan, start=1):
        for batch in batches:
            if should_stop and should_stop():
                raise FinetuneCancelled("fine-tuning was cancelled; nothing was saved")
            qf = to_device(model.preprocess([queries[i] for i in batch], prompt=q_prompt or None))
            df = to_device(model.preprocess([texts[i] for i in batch], prompt=d_prompt or None))
            loss = loss_fn([qf, df], None)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            history.append({"epoch": epoch, "step": step, "loss": loss.item()})
            if progress:
                progress(step, total)
    model.eval()

    # The saved model carries its prompts, so it encodes the same way wherever it is loaded.
    model.prompts = {**{k: v for k, v in (model.prompts or {}).items() if v}, "query": q_prompt, "document": d_prompt}
    out = Path(out_dir) / name
    tmp = Path(out_dir) / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(tmp), safe_serialization=True, create_model_card=False)
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    del model, opt, loss_fn     # free the training copy before two encoders load for evaluation

    created = _now()
    params = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "warmup_ratio": warmup_ratio, "seed": seed,
              "loss": "MultipleNegativesRankingLoss(scale=20)", "steps": total, "device": device,
              "prompts": {"query": q_prompt, "passage": d_prompt}}
    result = FinetuneResult(name, "full", out, base_name or str(model_path), params, pairs.counts, pairs.hash,
                            created, history=history)
    base = SentenceTransformerEncoder(str(model_path), family=family, device=device)
    tuned = SentenceTransformerEncoder(str(out), family=family, device=device)
    _heldout(result, SearchConfig(base_name or "base", base), SearchConfig(name, tuned), corpus, qrels,
             cache_root=cache_root)
    if registry_path is not None:
        rel = _relative(out, Path(models_dir) if models_dir else Path(out_dir))
        result.spec = ModelSpec(name, "sentence-transformers", path=rel, family=family, base=base_name,
                                description=f"{base_name or model_path} fine-tuned (MNRL) on {len(pairs)} "
                                            f"pairs of {corpus.name}",
                                meta=result.registry_meta())
        register_model(registry_path, result.spec)
    return result


def _prompts_of(model, family: str) -> tuple[str, str]:
    """(query prompt, passage prompt) exactly as SentenceTransformerEncoder will use them: the
    model's saved prompts win, else the family's (e5: "query: " / "passage: ")."""
    own = dict(getattr(model, "prompts", {}) or {})
    if own.get("query"):
        return own["query"], own.get("document", own.get("passage", "")) or ""
    if family not in FAMILY_PROMPTS:
        raise ValueError(f"unknown model family {family!r}; use one of {', '.join(FAMILY_PROMPTS)}")
    fam = FAMILY_PROMPTS[family]
    return fam["query"].format(task=DEFAULT_TASK), fam["passage"]


# --------------------------------------------------------------------------- one call for the UI and CLI


def run_finetune(settings, corpus: Corpus, labels_frame: pd.DataFrame | None, base: str, method: str = "adapter",
                 *, name: str | None = None, epochs: int | None = None, lr: float | None = None, rank: int = 16,
                 batch_size: int = 16, seed: int = 0, progress: Progress | None = None,
                 should_stop: ShouldStop | None = None) -> FinetuneResult | None:
    """Train on the corpus' train-split pairs, evaluate base vs tuned on its held-out queries,
    save under settings.models_dir and register in settings.models_yaml (core.config.Settings).

    `base` is a registry name; method "adapter" (any non-adapter base, seconds) or "full"
    (sentence-transformers bases only). Returns None when should_stop() cancelled the run
    (nothing saved), so a background job can tell a cancel from a failure."""
    from core.registry import RegistryError, load_encoder, load_registry, resolve_model_path

    if method not in ("adapter", "full"):
        raise ValueError(f"method must be 'adapter' or 'full', got {method!r}")
    _, specs = load_registry(settings.models_yaml)
    spec = next((sp for sp in specs if sp.name == base), None)
    if spec is None:
        raise RegistryError(f"model {base!r} is not in the registry; known: {', '.join(sp.name for sp in specs)}")
    name = name or f"{base}-{corpus.name}-{'adapter' if method == 'adapter' else 'ft'}"
    if name == base:
        raise RegistryError(f"the new model needs a name other than its base {base!r}.")
    pairs = training_pairs(corpus, labels_frame, corpus.name)
    qrels = eval_queries(corpus, labels_frame, corpus.name)
    try:
        if method == "adapter":
            if spec.backend == "adapter":
                raise RegistryError(f"{base!r} is itself an adapter; train on its base model instead.")
            enc = load_encoder(spec, specs, [settings.models_dir])
            return finetune_adapter(
                enc, corpus, pairs, EmbeddingCache(settings.cache_dir, passage_id(enc)),
                settings.models_dir / "adapters", name=name, base_name=base, qrels=qrels,
                registry_path=settings.models_yaml, models_dir=settings.models_dir, epochs=epochs or 100,
                lr=lr or 3e-3, rank=rank, seed=seed, progress=progress, should_stop=should_stop)
        if spec.backend != "sentence-transformers":
            raise RegistryError(f"{base!r} ({spec.backend}) cannot be fully fine-tuned here: choose a "
                                "sentence-transformers model (e.g. e5-small-st) or use --method adapter.")
        path = resolve_model_path(spec.path or spec.name, [settings.models_dir])
        return finetune_sentence_transformer(
            path, corpus, pairs, settings.models_dir, epochs=epochs or 1, batch_size=batch_size,
            progress=progress, should_stop=should_stop, name=name, family=spec.family or "e5", base_name=base,
            qrels=qrels, registry_path=settings.models_yaml, models_dir=settings.models_dir,
            cache_root=settings.cache_dir, lr=lr or 2e-5, seed=seed)
    except FinetuneCancelled:
        return None
