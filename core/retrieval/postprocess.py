"""A corpus-level post-processing of embedding vectors, fitted once and applied the same way
to every vector placed in the space (channels, posts, pasted texts).

e5 vectors of short texts crowd into a narrow cone (anisotropy): unrelated demo channels sit
at cosine 0.86-0.87, so raw cosine barely separates them. The remedies, by spec name:

    none       the vectors as the model gives them
    centre     subtract the corpus mean, renormalise
    abttN      centre, then remove the top N principal directions ("all-but-the-top",
               Mu & Viswanath 2018), renormalise
    whitenN    centre, project on the top N principal directions scaled to unit variance
               (BERT-whitening, Su et al. 2021), renormalise

Fitted on `parts`, a list of vector sets weighted equally (e.g. channel texts and posts, so a
corpus of 22K posts and 24 channels does not make the channels invisible). The fit depends only
on those vectors, never on which post belongs to which channel, so measuring ad placement with
the post held out of its channel stays honest.

A fitted transform is stored on disk under its key (model, corpus content, spec): the same key
gives the same transform without refitting, and anything derived from the transformed vectors
(maps, score scales) is keyed by it, so changing the spec never serves stale results.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from core.atomic import atomic_write

FORMAT_VERSION = 1
SPECS = ("none", "centre", "abtt1", "abtt2", "whiten32")
SPEC_NAMES = {
    "none": "без обработки",
    "centre": "центрирование",
    "abtt1": "центрирование − 1 главное направление",
    "abtt2": "центрирование − 2 главных направления",
    "whiten32": "отбеливание (32 измерения)",
}


def spec_name(spec: str) -> str:
    method, n = parse_spec(spec)
    if spec in SPEC_NAMES:
        return SPEC_NAMES[spec]
    return {"abtt": f"центрирование − {n} главных направлений", "whiten": f"отбеливание ({n} измерений)"}[method]


def parse_spec(spec: str) -> tuple[str, int]:
    """"abtt2" -> ("abtt", 2); "centre" -> ("centre", 0). Raises ValueError for anything else."""
    m = re.fullmatch(r"(none|centre|abtt|whiten)(\d*)", str(spec))
    if not m or (m.group(1) in ("none", "centre")) != (m.group(2) == ""):
        raise ValueError(f"неизвестная постобработка {spec!r}; есть: {', '.join(SPECS)}")
    n = int(m.group(2) or 0)
    if m.group(1) in ("abtt", "whiten") and n < 1:
        raise ValueError(f"в {spec!r} нужно хотя бы одно направление")
    return m.group(1), n


def _normalised(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class PostProcess:
    """A fitted transform: x -> normalise(((x - mean) - removed) @ projection)."""
    spec: str
    mean: np.ndarray          # (d,) zeros for "none"
    basis: np.ndarray         # (k, d): directions removed (abtt) or kept and scaled (whiten)
    scale: np.ndarray         # (k,): 1 / std along each kept direction (whiten only)
    key: str = ""

    @property
    def method(self) -> str:
        return parse_spec(self.spec)[0]

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """(n, d) or (d,) vectors -> the same shape, transformed and L2-normalised, float32."""
        x = np.asarray(vectors, np.float32)
        single = x.ndim == 1
        x = np.atleast_2d(x)
        method = self.method
        if method != "none":
            x = x - self.mean
        if method == "abtt":
            x = x - (x @ self.basis.T) @ self.basis
        elif method == "whiten":
            x = (x @ self.basis.T) * self.scale
        out = _normalised(x)
        return out[0] if single else out


def fit(parts: Sequence[np.ndarray], spec: str, key: str = "") -> PostProcess:
    """Fit a transform on the vector sets in `parts`, each weighted equally (empty sets skipped)."""
    method, n = parse_spec(spec)
    parts = [np.asarray(p, np.float64) for p in parts if len(p)]
    if not parts:
        raise ValueError("нечем обучить постобработку: нет ни одного вектора")
    d = parts[0].shape[1]
    mean = np.mean([p.mean(axis=0) for p in parts], axis=0)
    empty = np.zeros((0, d), np.float32)
    if method in ("none", "centre"):
        return PostProcess(spec, (mean if method == "centre" else np.zeros(d)).astype(np.float32), empty,
                           np.zeros(0, np.float32), key)
    cov = sum((p - mean).T @ (p - mean) / len(p) for p in parts) / len(parts)
    values, vectors = np.linalg.eigh(cov)                 # ascending
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order].T   # rows: principal directions, largest first
    k = min(n, d)
    if method == "abtt":
        return PostProcess(spec, mean.astype(np.float32), vectors[:k].astype(np.float32),
                           np.zeros(0, np.float32), key)
    # whitening: directions with (numerically) no variance would blow up; keep the rest
    k = min(k, int((values > values[0] * 1e-6).sum()))
    return PostProcess(spec, mean.astype(np.float32), vectors[:k].astype(np.float32),
                       (1.0 / np.sqrt(values[:k])).astype(np.float32), key)


def transform_key(model_id: str, content: str, spec: str) -> str:
    """Key of a fitted transform: the vectors' model, what was fitted on (a content hash), the spec."""
    parse_spec(spec)
    blob = f"{FORMAT_VERSION}\0{model_id}\0{content}\0{spec}".encode("utf-8", "surrogatepass")
    return f"{spec}-{hashlib.sha256(blob).hexdigest()[:16]}"


def _path(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / "postprocess" / f"{key}.npz"


def cached_fit(cache_dir: str | Path | None, parts: Sequence[np.ndarray], spec: str, key: str) -> PostProcess:
    """The transform stored under `key`, or fitted on `parts` and stored there. A damaged or
    mismatching file is refitted; no cache_dir means fit in memory only."""
    if cache_dir is not None:
        path = _path(cache_dir, key)
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["spec"]) == spec and str(z["key"]) == key:
                    return PostProcess(spec, z["mean"], z["basis"], z["scale"], key)
        except (OSError, KeyError, ValueError):
            pass
    pp = fit(parts, spec, key)
    if cache_dir is not None:
        atomic_write(_path(cache_dir, key), lambda fh: np.savez(fh, spec=np.array(spec), key=np.array(key),
                                                              mean=pp.mean, basis=pp.basis, scale=pp.scale))
    return pp
