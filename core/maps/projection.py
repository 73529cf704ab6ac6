"""2-D maps of embeddings (UMAP, PCA), cached on disk, and neighbour structure.

    project(vectors) -> Projection(coords (n, 2) float32, method, params)
    cached_projection(cache_dir, model_id, corpus_hash, vectors, params) -> Projection
    place(projection, corpus_vectors, new_vectors) -> (coords (m, 2), neighbour positions (m, k))
    map_params(params, n, sample) -> params: + {"sample": sample} when n > sample (UMAP fitted on a sample)
    neighbour_change(vectors_a, vectors_b, k) -> DataFrame, least-overlapping rows first

Row i of `coords` is corpus row position i. Plotting lives in `core.maps.plots`.

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
import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from core.atomic import atomic_bytes, atomic_npy

Progress = Callable[[int, int], None]
StopCheck = Callable[[], bool]

METHODS = ("umap", "pca")
DEFAULT_PARAMS = {"method": "umap", "n_neighbors": 15, "min_dist": 0.1, "metric": "cosine", "seed": 42}
PLACE_TEMPERATURE = 0.05   # cosine units: a neighbour 0.05 less similar weighs e^-1 as much
EXACT_KNN_MAX = 50_000     # up to here the UMAP graph uses exact faiss neighbours; beyond, UMAP's
                           # own NNDescent (exact search is O(n^2)). 22K x 384 on 2 cores: UMAP takes
                           # 9.5 s in all with exact kNN (2 s of it), 19 s with NNDescent (once compiled)
MIN_UMAP_POINTS = 10       # fewer points: UMAP's spectral layout is meaningless, PCA is used
FORMAT_VERSION = 1         # part of the cache key: bump when the stored layout changes
PROGRESS_TOTAL = 100       # progress is reported as (percent done, 100)
FIT_SHARE = 60             # sampled maps: percent of progress for the UMAP fit, the rest for placing
PLACE_CHUNK = 32_768       # rows placed per faiss search (results (chunk, k) are all that is held)
PLACE_EXACT_MAX = 5e9      # rows x sample comparisons up to which placing rows is exact; beyond, IVF
PLACE_NPROBE = 16


class ProjectionCancelled(RuntimeError):
    """`should_stop()` returned True while a projection was computed."""


@dataclass(frozen=True, eq=False)
class Projection:
    """A 2-D map of n vectors. For PCA, `basis` (3, d) = [mean; axis 1; axis 2] places new
    vectors exactly; UMAP maps place them by their nearest corpus vectors (see module doc)."""
    coords: np.ndarray                      # (n, 2) float32; row i = corpus row position i
    method: str                             # "umap" | "pca"
    params: dict = field(default_factory=dict)
    basis: np.ndarray | None = None         # PCA only
    seconds: float = 0.0                    # time it took to compute (not to load)
    timings: dict = field(default_factory=dict)   # sampled maps: fit_s, place_s, placed, place_index

    def __len__(self) -> int:
        return len(self.coords)


# ---------------------------------------------------------------- computing


def _as_matrix(vectors: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"vectors must be a 2-D array (n, d); got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("vectors contain NaN or infinite values")
    return x


def _normalised(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


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


class _SampleIndex:
    """The fitted sample as `place` searches it: exact faiss inner product, or IVF (nlist ~ 4 sqrt(n),
    PLACE_NPROBE lists per query) when exact search over all rows to place would take too long."""

    def __init__(self, sample: np.ndarray, exact: bool = True) -> None:
        import faiss
        self.size = len(sample)
        d = sample.shape[1]
        nlist = int(4 * np.sqrt(self.size))
        if exact or self.size < 40 * nlist:
            self._index = faiss.IndexFlatIP(d)
        else:
            self._index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            self._index.train(sample)
            self._index.nprobe = PLACE_NPROBE
        self._index.add(sample)
        self.exact = isinstance(self._index, faiss.IndexFlatIP)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sims, pos = self._index.search(np.ascontiguousarray(queries, np.float32), k)
        missing = pos < 0                       # IVF may find fewer than k: repeat the best one
        if missing.any():
            pos = np.where(missing, pos[:, :1], pos)
            sims = np.where(missing, sims[:, :1], sims)
        return sims, pos


def _check(should_stop: StopCheck | None) -> None:
    if should_stop is not None and should_stop():
        raise ProjectionCancelled("projection cancelled")


def _umap(x: np.ndarray, params: dict, progress: Progress | None, should_stop: StopCheck | None) -> np.ndarray:
    umap = _import_umap()
    n = len(x)
    k = min(params["n_neighbors"], n - 1)
    report = progress or (lambda _d, _t: None)
    report(0, PROGRESS_TOTAL)
    precomputed = (None, None, None)
    if params["metric"] in ("cosine", "euclidean") and n <= EXACT_KNN_MAX:
        precomputed = _exact_knn(x, k, params["metric"], report, should_stop)
    _check(should_stop)
    report(30, PROGRESS_TOTAL)
    writer = _EpochProgress(lambda done, total: report(30 + int(70 * done / max(total, 1)), PROGRESS_TOTAL),
                            should_stop)
    reducer = umap.UMAP(
        n_neighbors=k, min_dist=params["min_dist"], metric=params["metric"], n_components=2,
        random_state=params["seed"], n_jobs=1 if params["seed"] is not None else -1,
        precomputed_knn=precomputed,
        # UMAP reports epochs only through tqdm: a tiny text stream turns them into progress
        tqdm_kwds={"file": writer, "bar_format": "{n}/{total}\n", "disable": False,
                   "mininterval": 0.25, "ascii": True},
    )
    with _UMAP_RUN_LOCK, warnings.catch_warnings():
        # "n_jobs overridden by setting random_state" and "no NNDescent index: transform
        # unavailable" (we never call transform) are expected here
        warnings.simplefilter("ignore", UserWarning)
        coords = reducer.fit_transform(x)
    writer.raise_if_cancelled()
    report(PROGRESS_TOTAL, PROGRESS_TOTAL)
    return np.ascontiguousarray(coords, dtype=np.float32)


def _exact_knn(x: np.ndarray, k: int, metric: str, report: Progress,
               should_stop: StopCheck | None) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours (self included, as UMAP expects) with faiss, in blocks so
    progress moves and a cancel is honoured. Exact search at 22K x 384 takes seconds and
    skips NNDescent's own compile and run."""
    import faiss
    cosine = metric == "cosine"
    data = _normalised(x) if cosine else x
    index = faiss.IndexFlatIP(x.shape[1]) if cosine else faiss.IndexFlatL2(x.shape[1])
    index.add(data)
    n, kk = len(x), k
    indices = np.empty((n, kk), np.int64)
    dists = np.empty((n, kk), np.float32)
    block = 2048
    for start in range(0, n, block):
        _check(should_stop)
        scores, pos = index.search(data[start:start + block], kk)
        indices[start:start + block] = pos
        dists[start:start + block] = (np.maximum(1.0 - scores, 0.0) if cosine
                                      else np.sqrt(np.maximum(scores, 0.0)))
        report(int(30 * min(start + block, n) / n), PROGRESS_TOTAL)
    # faiss may rank an exact duplicate ahead of the point itself; UMAP wants self first
    rows = np.arange(n)
    not_first = indices[:, 0] != rows
    if not_first.any():
        for i in np.flatnonzero(not_first):
            where = np.flatnonzero(indices[i] == i)
            j = where[0] if len(where) else kk - 1
            indices[i, 1:j + 1] = indices[i, :j].copy()
            dists[i, 1:j + 1] = dists[i, :j].copy()
            indices[i, 0], dists[i, 0] = i, 0.0
    return indices, dists


class _EpochProgress:
    """A file-like sink for UMAP's tqdm bar formatted as "{n}/{total}": each write becomes a
    progress call. Raising from inside tqdm would leave its bar half-closed, so a cancel is
    recorded here and the epoch loop is stopped by raising on the next write only."""

    _pattern = re.compile(r"(\d+)/(\d+)")

    def __init__(self, report: Progress, should_stop: StopCheck | None) -> None:
        self.report, self.should_stop, self.cancelled = report, should_stop, False

    def write(self, text: str) -> int:
        for done, total in self._pattern.findall(text):
            self.report(int(done), int(total))
        if self.should_stop is not None and not self.cancelled and self.should_stop():
            self.cancelled = True
            raise ProjectionCancelled("projection cancelled")
        return len(text)

    def flush(self) -> None:
        pass

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise ProjectionCancelled("projection cancelled")


_UMAP_LOCK = threading.Lock()
_UMAP_READY = False
# One UMAP layout at a time per process: two would only share the same cores, and numba's
# fallback "workqueue" threading layer (where OpenMP/TBB are missing) aborts the whole process
# on concurrent parallel launches - a server must not die because two users opened maps.
_UMAP_RUN_LOCK = threading.Lock()


def _import_umap():
    """Import umap lazily (it takes seconds: numba, pynndescent) and let numba keep its compiled
    code on disk. umap 0.5 compiles several functions (the fuzzy graph ones are parallel) with
    no on-disk cache: ~18 s of compiling (2 idle cores) in every new process before the first map. Turning
    numba's own cache on for them makes that a one-off per installation (later processes load the
    machine code in about a second). Best effort: if numba refuses, UMAP just compiles as usual."""
    global _UMAP_READY
    import umap
    if _UMAP_READY:
        return umap
    with _UMAP_LOCK:
        if not _UMAP_READY:
            try:
                import importlib

                from numba.core.models.registry import CPUDispatcher
                for name in ("umap.umap_", "umap.layouts", "umap.spectral", "umap.distances",
                             "umap.sparse", "umap.utils", "pynndescent.pynndescent_",
                             "pynndescent.distances", "pynndescent.utils", "pynndescent.rp_trees",
                             "pynndescent.sparse"):
                    try:
                        module = importlib.import_module(name)
                    except ImportError:
                        continue
                    for obj in list(vars(module).values()):
                        if isinstance(obj, CPUDispatcher) and type(obj._cache).__name__ == "NullCache":
                            obj.enable_caching()
            except Exception:   # noqa: BLE001 - an optimisation only; never block a map on it
                pass
            _UMAP_READY = True
    return umap


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


def _top_k(corpus: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, positions) of the k most similar corpus rows per query, best first."""
    if hasattr(corpus, "search"):               # a core.retrieval.index.FlatIndex
        return corpus.search(queries, k)
    sims = queries @ np.asarray(corpus, np.float32).T
    k = min(k, sims.shape[1])
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    part_sims = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-part_sims, axis=1, kind="stable")
    return np.take_along_axis(part_sims, order, axis=1), np.take_along_axis(part, order, axis=1)


def place(projection: Projection, corpus_vectors, new_vectors: np.ndarray,
          k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Where new vectors land on an existing map, without recomputing it.

    Returns (coords (m, 2) float32, neighbour positions (m, k) int64, most similar first).
    `corpus_vectors` are the vectors the map was made from (an array, or a FlatIndex over
    them); new vectors must come from the same model. UMAP maps: softmax-weighted mean of the
    neighbours' positions (see module doc); PCA maps: the exact linear projection."""
    q = _as_matrix(np.atleast_2d(new_vectors))
    size = corpus_vectors.size if hasattr(corpus_vectors, "search") else len(corpus_vectors)
    if size != len(projection.coords):
        raise ValueError(f"the map has {len(projection.coords)} points but {size} corpus vectors were "
                         "given: the map belongs to another corpus or model")
    if size == 0:
        raise ValueError("cannot place vectors on an empty map")
    k = max(1, min(int(k), size))
    sims, positions = _top_k(corpus_vectors, _normalised(q), k)
    positions = positions.astype(np.int64)
    if projection.method == "pca" and projection.basis is not None and projection.basis.shape[1] == q.shape[1]:
        mean, axes = projection.basis[0], projection.basis[1:3]
        return ((q - mean) @ axes.T).astype(np.float32), positions
    weights = np.exp((sims - sims[:, :1]) / PLACE_TEMPERATURE)            # best neighbour = 1
    weights /= weights.sum(axis=1, keepdims=True)
    coords = np.einsum("mk,mkc->mc", weights, projection.coords[positions])
    return coords.astype(np.float32), positions


def neighbour_sets(vectors: np.ndarray, k: int = 10) -> np.ndarray:
    """(n, k) positions of each row's k nearest other rows (cosine, self excluded), exact."""
    from core.retrieval.index import FlatIndex
    x = _normalised(_as_matrix(vectors))
    n = len(x)
    k = max(0, min(int(k), n - 1))
    if k == 0:
        return np.zeros((n, 0), np.int64)
    _, pos = FlatIndex(x).search(x, k + 1)
    # drop the row itself wherever it ranks (an exact duplicate may rank first); if it is not
    # among the k + 1 at all (several duplicates), drop the last one instead
    keep = pos != np.arange(n)[:, None]
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(pos, order, axis=1).astype(np.int64)


def neighbour_change(vectors_a: np.ndarray, vectors_b: np.ndarray, k: int = 10) -> pd.DataFrame:
    """How each row's k nearest neighbours differ between two models (same rows, any dims).

    Columns: position (row position), overlap (|A ∩ B| / k, 1.0 = same neighbours), shared
    (count), only_a / only_b (positions that left / joined the neighbour list, in rank order).
    Sorted by overlap ascending (rows whose neighbourhood changed most first), then position."""
    a = np.asarray(vectors_a)
    b = np.asarray(vectors_b)
    if len(a) != len(b):
        raise ValueError(f"both models must embed the same rows: {len(a)} vs {len(b)} vectors")
    na, nb = neighbour_sets(a, k), neighbour_sets(b, k)
    kk = na.shape[1]
    if kk == 0:
        shared = np.zeros(len(a), np.int64)
        overlap = np.ones(len(a))
    else:
        in_b = (na[:, :, None] == nb[:, None, :]).any(axis=2)      # (n, k): A's neighbour also in B
        in_a = (nb[:, :, None] == na[:, None, :]).any(axis=2)
        shared = in_b.sum(axis=1)
        overlap = shared / kk
    frame = pd.DataFrame({
        "position": np.arange(len(a), dtype=np.int64),
        "overlap": overlap.astype(float),
        "shared": shared.astype(np.int64),
        "only_a": [row[~mask].tolist() for row, mask in zip(na, in_b)] if kk else [[] for _ in a],
        "only_b": [row[~mask].tolist() for row, mask in zip(nb, in_a)] if kk else [[] for _ in a],
    })
    return frame.sort_values(["overlap", "position"], kind="stable").reset_index(drop=True)
