"""A query adapter on a frozen encoder, trained on its cached corpus vectors (core.models.adapter)."""
from __future__ import annotations

from pathlib import Path

from core.corpora.records import Corpus
from core.evaluation.evaluate import SearchConfig
from core.finetune.data import PairSet, positions, require_pairs
from core.finetune.result import (
    FinetuneCancelled,
    FinetuneResult,
    Progress,
    Qrels,
    ShouldStop,
    heldout,
    now,
    register_if_learned,
    relative,
)
from core.models.adapter import AdapterEncoder, train_adapter
from core.models.encoders import Encoder
from core.models.registry import ModelSpec
from core.retrieval.cache import EmbeddingCache, cache_id, embed_cached


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
    force: bool = False,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> FinetuneResult:
    """Train a query adapter on the cached corpus vectors of `base_encoder`, save
    `out_dir/<name>.npz`, evaluate base vs adapter on `qrels` (held-out) and, with
    `registry_path`, register it (its path relative to `models_dir`, default `out_dir`).

    `cache` must be the base encoder's EmbeddingCache: corpus and training queries are read
    from it (and only what is missing is embedded)."""
    if cache.model_id != cache_id(base_encoder):
        raise ValueError(f"в кэше векторы {cache.model_id!r}, а не {cache_id(base_encoder)!r}")
    require_pairs(pairs, corpus.name)
    if registry_path is not None and not base_name:
        raise ValueError("чтобы зарегистрировать адаптер, нужно base_name — имя базовой модели в реестре")
    doc_vecs = embed_cached(base_encoder, corpus.texts, cache, "passage")
    q_vecs = embed_cached(base_encoder, pairs.queries, cache, "query")
    pos = positions(corpus, pairs.doc_ids)
    weights, history = train_adapter(q_vecs, doc_vecs[pos], doc_vecs=doc_vecs, pos_index=pos,
                                     val_fraction=val_fraction,
                                     epochs=epochs, lr=lr, rank=rank, temperature=temperature, l2=l2,
                                     seed=seed, progress=progress, should_stop=should_stop)
    if should_stop and should_stop():
        raise FinetuneCancelled("обучение адаптера отменено; ничего не сохранено")
    created = now()
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
    heldout(result, SearchConfig(base_name or "base", base_encoder), SearchConfig(name, tuned), corpus, qrels,
             cache_root=cache_root, corpus_vectors={cache_id(base_encoder): doc_vecs})
    rel = relative(path, Path(models_dir) if models_dir else Path(out_dir)) if registry_path is not None else ""
    spec = ModelSpec(name, "adapter", path=rel, base=base_name,
                     description=f"адаптер запросов поверх {base_name or base_encoder.id}, "
                                 f"{len(pairs)} пар корпуса «{corpus.name}»", meta=result.registry_meta())
    register_if_learned(result, spec, registry_path, learned=params["best_epoch"] > 0, force=force,
                        what="Адаптер")
    return result


