"""2-D maps of embeddings (UMAP, PCA), cached on disk, and neighbour structure.

    project(vectors) -> Projection(coords (n, 2) float32, method, params)
    cached_projection(cache_dir, model_id, corpus_hash, vectors, params) -> Projection
    place(projection, corpus_vectors, new_vectors) -> (coords (m, 2), neighbour positions (m, k))
    map_params(params, n, sample) -> params: + {"sample": sample} when n > sample (UMAP fitted on a sample)
    neighbour_change(vectors_a, vectors_b, k) -> DataFrame, least-overlapping rows first

Row i of `coords` is corpus row position i. Plotting lives in `core.maps.plots`; the Projection
record in `core.maps.layout`, running UMAP in `core.maps.umap_run`, placing rows and comparing
neighbourhoods in `core.maps.placing` (their names are importable from here as well).

Placing new vectors. A new text is put at the similarity-weighted mean of the 2-D positions of
its k nearest corpus vectors (softmax of cosine similarity at temperature PLACE_TEMPERATURE), and
those neighbours are returned so the map can draw lines to them. We do not keep the fitted UMAP
reducer: it cannot be saved without pickle (the cache loads with allow_pickle=False), it holds the
whole training set and an NNDescent index in memory, and `UMAP.transform` costs a numba compile plus
an optimisation run per call. Its own transform starts from the same weighted mean of neighbour
positions; the few epochs it adds mostly pull a point further into that neighbourhood. Our rule
needs only the coordinates (already cached) and the corpus vectors the caller holds anyway, costs
one matrix product, and the neighbours it reports are exactly the ones the lines are drawn to.
A PCA map places new vectors exactly with its stored mean and axes.

Maps past the sample size (`VECSCOPE_MAP_SAMPLE`, 50K). UMAP is fitted on a seeded random sample
of that many rows and every other row is placed on it by the same rule as a new text, in chunks
against a faiss index of the sample (exact up to PLACE_EXACT_MAX comparisons, else IVF), so
nothing larger than (chunk, k) is ever held. Rows of the sample keep exactly their UMAP position.
Measured against umap's own `transform` (10K sample + 10K placed, real e5 vectors resampled): the
2-D neighbourhood of a placed row shares 0.22 of its 10 nearest sample rows with the high-D one,
0.25 with `transform`, 0.32 for the fitted rows themselves; but `transform` needs a reducer
fitted with NNDescent (48 s vs 19 s with exact kNN at 10K), cannot be cached without pickle, and
pays a numba compile (about 60 s) in every new process. Placement needs only cached coordinates.
The sample size is part of the cache key; below it, maps and keys are exactly as before.

Caching. The key is (model id, corpus content hash, full parameter set); coordinates are written
with np.save (allow_pickle=False) next to a small JSON of parameters, each to a temp file renamed
into place, JSON last, so a reader never sees a half-written entry and a killed job leaves none.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from core.atomic import atomic_bytes, atomic_npy

# the pieces live in their own modules; their names stay reachable here, where callers look for them
from core.maps.layout import Projection  # noqa: F401
from core.maps.placing import (  # noqa: F401
    PLACE_NPROBE,
    PLACE_TEMPERATURE,
    _as_matrix,
    _normalised,
    _SampleIndex,
    neighbour_change,
    neighbour_sets,
    place,
)
from core.maps.umap_run import (  # noqa: F401
    EXACT_KNN_MAX,
    PROGRESS_TOTAL,
    Progress,
    ProjectionCancelled,
    StopCheck,
    _check,
    _umap,
)

METHODS = ("umap", "pca")
DEFAULT_PARAMS = {"method": "umap", "n_neighbors": 15, "min_dist": 0.1, "metric": "cosine", "seed": 42}
MIN_UMAP_POINTS = 10       # fewer points: UMAP's spectral layout is meaningless, PCA is used
FORMAT_VERSION = 1         # part of the cache key: bump when the stored layout changes
FIT_SHARE = 60             # sampled maps: percent of progress for the UMAP fit, the rest for placing
PLACE_CHUNK = 32_768       # rows placed per faiss search (results (chunk, k) are all that is held)
PLACE_EXACT_MAX = 5e9      # rows x sample comparisons up to which placing rows is exact; beyond, IVF




# ---------------------------------------------------------------- computing


def pca_preview(vectors: np.ndarray) -> Projection:
    """First two principal components: exact, milliseconds for 22K x 384, so the page can show
    a map at once while UMAP runs. Axis signs are fixed (largest loading positive) so the same
    vectors always give the same picture."""
    t0 = time.perf_counter()
    x = _as_matrix(vectors)
    n, d = x.shape
    mean = x.mean(axis=0) if n else np.zeros(d, np.float32)
    if n < 2 or d < 1:
        return Projection(np.zeros((n, 2), np.float32), "pca", {"method": "pca"},
                          np.zeros((3, max(d, 0)), np.float32))
    centred = x - mean
    # eigen-decomposition of the d x d covariance: one (d, n) @ (n, d) product, cheaper than
    # an SVD of the (n, d) matrix when n >> d, and exact
    cov = (centred.T @ centred).astype(np.float64) / max(n - 1, 1)
    _, vecs = np.linalg.eigh(cov)
    axes = vecs[:, ::-1][:, :2].T                                   # (<=2, d), largest first
    if axes.shape[0] < 2:
        axes = np.vstack([axes, np.zeros((2 - axes.shape[0], d))])
    signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])
    axes = (axes * np.where(signs == 0, 1, signs)[:, None]).astype(np.float32)
    coords = (centred @ axes.T).astype(np.float32)
    basis = np.vstack([mean[None, :], axes]).astype(np.float32)
    return Projection(coords, "pca", {"method": "pca"}, basis, time.perf_counter() - t0)


def normalise_params(params: dict | None = None) -> dict:
    """The full parameter set a projection is computed (and cached) under: defaults filled in,
    unknown keys refused (a typo must not silently create a new cache entry)."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULT_PARAMS) - {"sample"})
    if unknown:
        raise ValueError(f"unknown projection parameter(s) {', '.join(unknown)}; "
                         f"known: {', '.join(DEFAULT_PARAMS)}")
    sample = params.pop("sample", None)
    full = {**DEFAULT_PARAMS, **params}
    if full["method"] not in METHODS:
        raise ValueError(f"unknown projection method {full['method']!r}; use one of {', '.join(METHODS)}")
    if full["method"] == "pca":
        return {"method": "pca"}     # PCA has no parameters: every PCA request is one entry
    full["n_neighbors"] = int(full["n_neighbors"])
    full["min_dist"] = float(full["min_dist"])
    full["metric"] = str(full["metric"])
    full["seed"] = None if full["seed"] is None else int(full["seed"])
    if full["n_neighbors"] < 2:
        raise ValueError("n_neighbors must be at least 2")
    if sample is not None:   # only maps fitted on a sample carry it: keys below the sample size stay as they were
        if int(sample) < MIN_UMAP_POINTS:
            raise ValueError(f"sample must be at least {MIN_UMAP_POINTS} rows")
        full["sample"] = int(sample)
    return full


def map_params(params: dict | None, n: int, sample: int | None) -> dict:
    """The parameters a map of n rows is computed and cached under: a UMAP map of more rows than
    `sample` is fitted on a sample of that size (and says so in its key); otherwise unchanged."""
    full = normalise_params({k: v for k, v in (params or {}).items() if k != "sample"})
    if full["method"] == "umap" and sample and n > int(sample):
        full["sample"] = int(sample)
    return full


def sample_rows(n: int, size: int, seed: int | None) -> np.ndarray:
    """The rows a sampled map is fitted on: `size` distinct rows, sorted, fixed by the seed."""
    rng = np.random.default_rng(0 if seed is None else seed)
    return np.sort(rng.choice(n, size=min(size, n), replace=False)).astype(np.int64)


def project(vectors: np.ndarray, method: str = "umap", n_neighbors: int = 15, min_dist: float = 0.1,
            metric: str = "cosine", seed: int | None = 42, progress: Progress | None = None,
            should_stop: StopCheck | None = None, sample: int | None = None) -> Projection:
    """A 2-D map of the rows of `vectors`.

    UMAP with `seed` set is reproducible and single-threaded (UMAP's rule); seed=None lets it
    use every core, with a layout that changes from run to run. `progress(done, 100)` moves
    through the neighbour search (first 30) and the layout epochs (the rest); `should_stop()`
    is checked between steps and epochs and raises ProjectionCancelled.
    Fewer than MIN_UMAP_POINTS rows get a PCA map (method "pca"). With `sample` and more rows
    than that, UMAP is fitted on `sample_rows(n, sample, seed)` and the other rows are placed
    (module doc); `vectors` may then be a float16 memory map, read chunk by chunk."""
    params = normalise_params({"method": method, "n_neighbors": n_neighbors, "min_dist": min_dist,
                               "metric": metric, "seed": seed, "sample": sample})
    if params.get("sample") and len(vectors) > params["sample"]:
        t0 = time.perf_counter()
        timings: dict = {}
        coords = _sampled(vectors, params, progress, should_stop, timings)
        return Projection(coords, "umap", params, None, time.perf_counter() - t0, timings)
    params.pop("sample", None)
    x = _as_matrix(vectors)
    if params["method"] == "pca" or len(x) < MIN_UMAP_POINTS:
        result = pca_preview(x)
        if progress:
            progress(PROGRESS_TOTAL, PROGRESS_TOTAL)
        return result
    t0 = time.perf_counter()
    coords = _umap(x, params, progress, should_stop)
    return Projection(coords, "umap", params, None, time.perf_counter() - t0)


def _sampled(vectors, params: dict, progress: Progress | None, should_stop: StopCheck | None,
             timings: dict) -> np.ndarray:
    """UMAP on a sample, every other row placed on it in chunks (see module doc); fills `timings`."""
    n = len(vectors)
    report = progress or (lambda _d, _t: None)
    rows = sample_rows(n, params["sample"], params["seed"])
    fit_params = {k: v for k, v in params.items() if k != "sample"}
    sample_x = _as_matrix(np.asarray(vectors[rows]))
    fitted = project(sample_x, progress=lambda d, t: report(int(FIT_SHARE * d / max(t, 1)), PROGRESS_TOTAL),
                     should_stop=should_stop, **fit_params)
    timings["fit_s"] = round(fitted.seconds, 3)
    t_place = time.perf_counter()
    coords = np.empty((n, 2), np.float32)
    coords[rows] = fitted.coords
    rest = np.ones(n, bool)
    rest[rows] = False
    rest = np.flatnonzero(rest)
    index = _SampleIndex(_normalised(sample_x), exact=len(rest) * len(rows) <= PLACE_EXACT_MAX)
    base = Projection(fitted.coords, "umap", fit_params)
    for start in range(0, len(rest), PLACE_CHUNK):
        _check(should_stop)
        chunk = rest[start:start + PLACE_CHUNK]
        coords[chunk], _ = place(base, index, np.asarray(vectors[chunk], np.float32),
                                 k=min(10, len(rows)))
        report(FIT_SHARE + int((PROGRESS_TOTAL - FIT_SHARE) * (start + len(chunk)) / len(rest)), PROGRESS_TOTAL)
    timings.update(place_s=round(time.perf_counter() - t_place, 3), placed=int(len(rest)),
                   place_index="exact" if index.exact else f"ivf nprobe={PLACE_NPROBE}")
    report(PROGRESS_TOTAL, PROGRESS_TOTAL)
    return coords


def warm_up() -> None:
    """Run a tiny UMAP once so the numba compile (or cache load) is paid before a user waits;
    meant for a background thread at server start."""
    rng = np.random.default_rng(0)
    project(rng.normal(size=(64, 8)).astype(np.float32), n_neighbors=5, seed=0)


# ---------------------------------------------------------------- disk cache


def projection_key(model_id: str, corpus_hash: str, params: dict | None) -> str:
    blob = json.dumps({"model": model_id, "corpus": corpus_hash, "params": normalise_params(params),
                       "format": FORMAT_VERSION}, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _paths(cache_dir: str | Path, key: str) -> tuple[Path, Path, Path]:
    folder = Path(cache_dir) / "projections"
    return folder / f"{key}.coords.npy", folder / f"{key}.basis.npy", folder / f"{key}.json"


def load_cached_projection(cache_dir: str | Path, model_id: str, corpus_hash: str,
                           params: dict | None = None, n: int | None = None) -> Projection | None:
    """The cached map for this (model, corpus, params), or None. A damaged or mismatching
    entry (wrong row count, unreadable file) counts as a miss and is recomputed."""
    key = projection_key(model_id, corpus_hash, params)
    coords_path, basis_path, meta_path = _paths(cache_dir, key)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        coords = np.load(coords_path, allow_pickle=False)
        basis = np.load(basis_path, allow_pickle=False) if meta.get("method") == "pca" else None
    except (OSError, ValueError):
        return None
    if (coords.ndim != 2 or coords.shape[1] != 2 or coords.shape[0] != meta.get("n")
            or (n is not None and coords.shape[0] != n) or meta.get("key") != key):
        return None
    coords = np.ascontiguousarray(coords, dtype=np.float32)
    coords.setflags(write=False)   # shared between sessions: nobody may mutate it
    return Projection(coords, meta["method"], meta["params"], basis, float(meta.get("seconds", 0.0)),
                      dict(meta.get("timings") or {}))


def save_projection(cache_dir: str | Path, model_id: str, corpus_hash: str, params: dict | None,
                    projection: Projection) -> Path:
    key = projection_key(model_id, corpus_hash, params)
    coords_path, basis_path, meta_path = _paths(cache_dir, key)
    coords_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_npy(coords_path, np.asarray(projection.coords, np.float32))
    if projection.basis is not None:
        atomic_npy(basis_path, np.asarray(projection.basis, np.float32))
    meta = {"key": key, "model": model_id, "corpus": corpus_hash, "params": normalise_params(params),
            "method": projection.method, "n": int(len(projection.coords)),
            "seconds": round(projection.seconds, 3), "timings": projection.timings, "format": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_bytes(meta_path, json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8"))
    return meta_path


def cached_projection(cache_dir: str | Path, model_id: str, corpus_hash: str, vectors: np.ndarray,
                      params: dict | None = None, progress: Progress | None = None,
                      should_stop: StopCheck | None = None) -> Projection:
    """The map from the disk cache, or computed (with progress) and stored there."""
    found = load_cached_projection(cache_dir, model_id, corpus_hash, params, n=len(vectors))
    if found is not None:
        if progress:
            progress(PROGRESS_TOTAL, PROGRESS_TOTAL)
        return found
    full = normalise_params(params)
    result = project(vectors, progress=progress, should_stop=should_stop, **full)
    save_projection(cache_dir, model_id, corpus_hash, full, result)
    result.coords.setflags(write=False)   # as on a cache hit: shared, never mutated
    return result


# ---------------------------------------------------------------- neighbours


