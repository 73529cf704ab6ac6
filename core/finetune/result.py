"""What a fine-tuning run returns and records: scores on the held-out queries (base vs tuned,
paired bootstrap), the registry entry with base, method, params, data hash and date."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from core.corpora.records import Corpus
from core.evaluation.evaluate import EvalTable, SearchConfig, evaluate_configs
from core.models.registry import ModelSpec

Qrels = dict[str, dict[str, float]]
Progress = Callable[..., None]      # progress(step, total, **info): loss, epoch, eta_s …
ShouldStop = Callable[[], bool]


class FinetuneCancelled(RuntimeError):
    """should_stop() said stop: nothing was saved or registered."""


@dataclass
class FinetuneResult:
    name: str
    method: str                       # "adapter" | "full" | "light"
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
    registered: bool = False
    notes: list[str] = field(default_factory=list)    # what the user should know (Russian)
    extra: dict[str, Any] = field(default_factory=dict)

    def registry_meta(self) -> dict[str, Any]:
        meta = {"method": self.method, "params": plain(self.params), "pairs": dict(self.pair_counts),
                "pairs_hash": self.pairs_hash, "trained": self.created, **plain(self.extra)}
        if self.scores:
            meta["heldout"] = plain({
                "n_queries": int(self.scores["tuned"].get("n_queries", 0)),
                "base": {k: v for k, v in self.scores["base"].items() if k != "n_queries"},
                "tuned": {k: v for k, v in self.scores["tuned"].items() if k != "n_queries"},
                "delta_ci95": {m: [bs["mean_diff"], bs["lo"], bs["hi"]] for m, bs in self.delta.items()},
            })
        return meta


def plain(x):
    """numpy / nan -> YAML-safe python values, floats rounded to 4 places."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if math.isnan(x) else round(float(x), 4)
    return x if isinstance(x, (str, type(None))) else str(x)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def heldout(result: FinetuneResult, base_cfg: SearchConfig, tuned_cfg: SearchConfig, corpus: Corpus,
             qrels: Qrels | None, **kwargs) -> None:
    if not qrels:
        return
    table = evaluate_configs([base_cfg, tuned_cfg], corpus, qrels, **kwargs)
    result.table = table
    result.scores = {"base": table.summary.loc[base_cfg.label].drop("low_coverage").to_dict(),
                     "tuned": table.summary.loc[tuned_cfg.label].drop("low_coverage").to_dict()}
    result.delta = table.comparisons[tuned_cfg.label]


def relative(path: Path, models_dir: Path) -> str:
    path, models_dir = Path(path).resolve(), Path(models_dir).resolve()
    if models_dir not in path.parents:
        raise ValueError(f"{path} лежит вне папки моделей {models_dir}; реестр загружает модели только оттуда "
                         "(сохраните туда или задайте VECSCOPE_MODELS_DIR).")
    return str(path.relative_to(models_dir))




def register_if_learned(result: FinetuneResult, spec: ModelSpec, registry_path, *, learned: bool, force: bool,
                        what: str = "Модель") -> None:
    """Register `spec` unless the run learned nothing on its validation slice (then say so and
    register only when the user insists). The note is Russian and names the way out."""
    from core.models.registry import register_model

    if not learned:
        result.notes.append(f"{what}: ни одна эпоха не улучшила MRR@10 на валидационной выборке из обучающих запросов — "
                            "обучение ничего не дало; " + ("зарегистрировано по вашему требованию." if force else
                            "не зарегистрировано (галочка «Зарегистрировать…» или `--force`, чтобы всё равно добавить)."))
    if registry_path is not None and (learned or force):
        result.spec = spec
        register_model(registry_path, spec)
        result.registered = True
