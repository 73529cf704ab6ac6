"""Running UMAP for core.maps.projection: the neighbour graph from exact faiss search (small
maps), epoch progress and cancel through UMAP's tqdm bar, one layout at a time per process, and
numba's compiled code kept on disk so a new process does not compile UMAP again."""
from __future__ import annotations

import re
import threading
import warnings
from typing import Callable

import numpy as np

from core.maps.placing import _normalised

Progress = Callable[[int, int], None]
StopCheck = Callable[[], bool]

PROGRESS_TOTAL = 100       # progress is reported as (percent done, 100)
EXACT_KNN_MAX = 50_000     # up to here the UMAP graph uses exact faiss neighbours; beyond, UMAP's
                           # own NNDescent (exact search is O(n^2)). 22K x 384 on 2 cores: UMAP takes
                           # 9.5 s in all with exact kNN (2 s of it), 19 s with NNDescent (once compiled)


class ProjectionCancelled(RuntimeError):
    """`should_stop()` returned True while a projection was computed."""


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
