"""Building a map as a batch job, outside the app: the same cache entries the Map page reads
(core.maps.projection: coordinates; core.maps.clusters: cluster labels and names), so the page
opens a million-point map at once instead of computing it in a background thread.

    python -m core map --corpus posts [--model e5-small] [--sample 50000]
    python -m core map --corpus channels --posts posts    # channels in the Map page's default space

Vectors come from the embedding cache (texts not in it are embedded first, as the app would;
`python -m core embed` does that faster with several workers) or from precomputed vectors.
Past `ann.min_vectors` rows the corpus's ANN index is loaded or built too (the page needs it).
"""
from __future__ import annotations

import time
from typing import Callable

Progress = Callable[..., None]          # progress(done, total, eta_s=...)


def _index(settings, corpus_name: str, model: str | None, posts_name: str | None):
    from core.corpora.catalog import Catalog
    from core.models.registry import load_encoder, load_registry
    from core.retrieval.cache import EmbeddingCache, cache_id
    from core.retrieval.search import build_corpus_index

    default, specs = load_registry(*settings.registry_files)
    model = model or default
    spec = next((s for s in specs if s.name == model), None)
    if spec is None:
        raise ValueError(f"модели «{model}» нет в реестре; есть: {', '.join(s.name for s in specs)}")
    encoder = load_encoder(spec, specs, [settings.models_dir])
    catalog = Catalog(settings)
    corpus = catalog.load(corpus_name)
    cache = EmbeddingCache(settings.cache_dir, cache_id(encoder))
    ci = build_corpus_index(corpus, encoder, cache, ann=settings.ann)
    if corpus.kind != "channels":
        return ci, model
    # channels: the Map page shows them in the Channels page's space (default representation and
    # post-processing, fitted with the corpus's posts), so the map is keyed by that space
    from core.retrieval.channels import SpaceSpec, build_space
    posts_name = posts_name or ("posts" if corpus_name == "channels" else None)
    posts = catalog.load(posts_name) if posts_name else None
    post_ci = build_corpus_index(posts, encoder, cache, ann=settings.ann) if posts is not None else None
    space = build_space(SpaceSpec(), cache_id(encoder), corpus, ci.vectors, posts,
                        post_ci.vectors if post_ci is not None else None, settings.cache_dir)
    return space.index, model


def build_map(settings, corpus_name: str, model: str | None = None, params: dict | None = None,
              sample: int | None = None, posts_name: str | None = None, progress: Progress | None = None) -> dict:
    """Compute (or find) the map and clusters of a catalog corpus; returns what was done.
    `sample` defaults to settings.map.sample; `params` are UMAP parameters (defaults otherwise)."""
    from core.maps.clusters import cached_clusters
    from core.maps.projection import cached_projection, load_cached_projection, map_params

    t0 = time.perf_counter()
    ci, model = _index(settings, corpus_name, model, posts_name)
    sample = settings.map.sample if sample is None else sample
    n = len(ci.vectors)
    full = map_params(params, n, sample)
    found = load_cached_projection(settings.cache_dir, ci.model_id, ci.corpus.content_hash, full, n=n) is not None
    started = time.perf_counter()

    def report(done: int, total: int) -> None:
        if progress:
            elapsed = time.perf_counter() - started
            eta = elapsed * (total - done) / done if done else None
            progress(done, total, **({"eta_s": eta} if eta is not None else {}))

    proj = cached_projection(settings.cache_dir, ci.model_id, ci.corpus.content_hash, ci.vectors, full,
                             progress=report)
    t_map = time.perf_counter() - started
    c0 = time.perf_counter()
    labels, names = cached_clusters(settings.cache_dir, ci.model_id, ci.corpus.content_hash, ci.vectors,
                                    ci.corpus.texts, sample)
    return {"corpus": ci.corpus.name, "model": model, "points": n, "sample": full.get("sample"),
            "cached": found, "map_s": t_map, "clusters_s": time.perf_counter() - c0, "clusters": len(names),
            "seconds": time.perf_counter() - t0, "method": proj.method, "timings": proj.timings}
