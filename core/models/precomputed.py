"""Precomputed embeddings: vectors someone else computed, keyed by record id.

Sources: a Parquet file (an id column + a list/array column), a .npy matrix + an ids file
(.txt one id per line, .csv/.parquet with an `id` column, or a .npy of strings), or a
PostgreSQL query (core.corpora.database.fetch_embeddings). They are stored inside the models folder

    <models_dir>/precomputed/<name>  -> .versions/<name>-…/ {vectors.npy, ids.npy, meta.json}

(published atomically, like imports) and registered in models.yaml as

    - name: channel-emb
      backend: precomputed
      path: precomputed/channel-emb
      base: e5-large-instruct      # optional: the encoder that made them, used for queries

Such a model has vectors for the records it was given, not an encoder: `vectors_for(corpus)`
aligns them to a corpus by id (naming missing ids). Queries and pasted texts are encoded by
the `base` model when one is set (it must be the same model, or the scores are meaningless);
without one, `encode` raises and the UI says to choose a configured encoder.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from core.corpora.errors import CorpusError
from core.corpora.files import read_table
from core.corpora.prepare import check_name
from core.corpora.publish import publish_dir
from core.corpora.records import Corpus
from core.models.encoders import Encoder, EncoderLoadError, Kind, l2_normalise
from core.models.spec import ModelSpec, refuse_links_out

SUBDIR = "precomputed"
NO_QUERY_ENCODER = "this model has no query encoder: choose a configured encoder of the same family"


class PrecomputedError(ValueError):
    """Precomputed vectors cannot be read or do not cover a corpus; the message says which ids."""


def _ids_and_matrix(ids: Sequence, matrix: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array([str(i).strip() for i in ids], dtype=str)
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise PrecomputedError(f"{source}: vectors must be a 2-D matrix, got shape {matrix.shape}.")
    if len(ids) != len(matrix):
        raise PrecomputedError(f"{source}: {len(ids):,} ids but {len(matrix):,} vectors; they must match row by row.")
    blank = np.flatnonzero(ids == "")
    if len(blank):
        raise PrecomputedError(f"{source}: row {blank[0] + 1} has an empty id.")
    uniq, first, counts = np.unique(ids, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = str(uniq[counts > 1][0])
        rows = np.flatnonzero(ids == dup)[:2] + 1
        raise PrecomputedError(f"{source}: id {dup!r} appears in rows {rows[0]} and {rows[1]}; ids must be unique.")
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if len(bad):
        raise PrecomputedError(f"{source}: row {bad[0] + 1} (id {str(ids[bad[0]])!r}) contains NaN or infinity.")
    zero = np.flatnonzero(np.linalg.norm(matrix, axis=1) == 0)
    if len(zero):
        raise PrecomputedError(f"{source}: row {zero[0] + 1} (id {str(ids[zero[0]])!r}) is an all-zero vector.")
    return ids, matrix


def read_parquet_vectors(path: str | Path, id_column: str = "id",
                         vector_column: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, matrix) from a Parquet file with an id column and a list/array column."""
    path = Path(path)
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:   # pyarrow raises many types; the user needs one message
        raise PrecomputedError(f"{path}: not a readable Parquet file ({exc}).") from exc
    if vector_column is None:
        listy = [c for c in frame.columns if c != id_column and len(frame) and
                 isinstance(frame[c].iloc[0], (list, tuple, np.ndarray))]
        if not listy:
            raise PrecomputedError(f"{path}: no list/array column with vectors; columns are "
                                   f"{', '.join(map(repr, frame.columns))}.")
        vector_column = listy[0]
    for col in (id_column, vector_column):
        if col not in frame.columns:
            raise PrecomputedError(f"{path}: no column {col!r}; it has {', '.join(map(repr, frame.columns))}.")
    values = frame[vector_column].tolist()
    dim = len(values[0]) if len(values) and values[0] is not None else 0
    for row, v in enumerate(values):
        if v is None or len(v) != dim or dim == 0:
            doc_id = str(frame[id_column].iloc[row])
            raise PrecomputedError(f"{path}: column {vector_column!r} row {row + 1} (id {doc_id!r}) has "
                                   f"{0 if v is None else len(v)} values, row 1 has {dim}; every row needs the "
                                   "same dimension.")
    return _ids_and_matrix(frame[id_column].tolist(), np.stack([np.asarray(v, np.float32) for v in values]), str(path))


def read_npy_vectors(npy_path: str | Path, ids_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(ids, matrix) from a .npy matrix and an ids file in the same row order."""
    npy_path, ids_path = Path(npy_path), Path(ids_path)
    try:
        matrix = np.load(npy_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise PrecomputedError(f"{npy_path}: not a readable .npy matrix ({exc}).") from exc
    suffix = ids_path.suffix.lower()
    if suffix == ".npy":
        ids = np.load(ids_path, allow_pickle=False).tolist()
    elif suffix in (".csv", ".parquet", ".pq"):
        try:
            frame = read_table(ids_path)
        except CorpusError as exc:
            raise PrecomputedError(str(exc)) from exc
        if "id" not in frame.columns:
            raise PrecomputedError(f"{ids_path}: needs an 'id' column; it has {', '.join(map(repr, frame.columns))}.")
        ids = frame["id"].tolist()
    else:
        ids = ids_path.read_text(encoding="utf-8").splitlines()
        while ids and not ids[-1].strip():
            ids.pop()
    return _ids_and_matrix(ids, matrix, f"{npy_path} + {ids_path.name}")


def save_vectors(models_dir: str | Path, name: str, ids: Sequence, matrix: np.ndarray, source: str,
                 base: str = "", description: str = ""):
    """Store normalised vectors under models_dir/precomputed/<name> and return the ModelSpec
    to register (core.models.registry.register_model)."""
    name = check_name(name)
    ids, matrix = _ids_and_matrix(ids, matrix, source)
    matrix = l2_normalise(matrix)
    digest = hashlib.sha256(ids.astype("U").tobytes() + matrix.tobytes()).hexdigest()[:16]
    meta = {"name": name, "source": source, "rows": int(len(ids)), "dim": int(matrix.shape[1]),
            "content_hash": digest, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    def write(folder: Path) -> None:
        np.save(folder / "vectors.npy", matrix, allow_pickle=False)
        np.save(folder / "ids.npy", ids, allow_pickle=False)
        (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")

    publish_dir(Path(models_dir) / SUBDIR, name, write)
    return ModelSpec(name=name, backend="precomputed", path=f"{SUBDIR}/{name}", base=base,
                     description=description or f"precomputed vectors from {source}",
                     meta={"rows": meta["rows"], "dim": meta["dim"], "content_hash": digest})


class PrecomputedVectors:
    """A 'model' that is a table of vectors by id. Its `id` changes with the stored content,
    so anything cached under it is never stale."""

    notice = ""

    def __init__(self, name: str, ids: np.ndarray, vectors: np.ndarray, content_hash: str,
                 query_encoder: Encoder | None = None) -> None:
        self.name = name
        self.ids = ids
        self.vectors = vectors
        self.vectors.setflags(write=False)
        self.dim = int(vectors.shape[1])
        self.id = f"precomputed:{name}@{content_hash}"
        self._row = {doc_id: i for i, doc_id in enumerate(ids.tolist())}
        self.query_encoder = query_encoder
        if query_encoder is not None and query_encoder.dim != self.dim:
            raise EncoderLoadError(f"precomputed model {name!r} has {self.dim}-dimensional vectors but its base "
                                   f"encoder {query_encoder.id!r} makes {query_encoder.dim}: set `base` to the model "
                                   "that computed them.")

    @classmethod
    def load(cls, folder: str | Path, name: str | None = None,
             query_encoder: Encoder | None = None) -> "PrecomputedVectors":
        folder = Path(folder).resolve()
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            vectors = np.load(folder / "vectors.npy", allow_pickle=False, mmap_mode="r")
            ids = np.load(folder / "ids.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise EncoderLoadError(f"precomputed vectors in {folder} cannot be read ({exc}); import them again.") from exc
        return cls(name or meta.get("name", folder.name), ids, np.asarray(vectors), meta.get("content_hash", ""),
                   query_encoder)

    def __len__(self) -> int:
        return len(self.ids)

    def rows_for(self, ids: Iterable[str]) -> tuple[np.ndarray, list[str]]:
        rows = [self._row.get(i, -1) for i in ids]
        missing = [i for i, r in zip(ids, rows) if r < 0] if -1 in rows else []
        return np.array(rows, dtype=np.int64), missing

    def coverage(self, corpus: Corpus) -> float:
        _, missing = self.rows_for(list(corpus.frame["id"]))
        return 1.0 - len(missing) / max(len(corpus), 1)

    def vectors_for(self, corpus: Corpus) -> np.ndarray:
        """float32 (len(corpus), dim), row i = the vector of corpus record i."""
        rows, missing = self.rows_for(list(corpus.frame["id"]))
        if missing:
            shown = ", ".join(repr(m) for m in missing[:5]) + (" …" if len(missing) > 5 else "")
            raise PrecomputedError(
                f"precomputed model {self.name!r} has no vectors for {len(missing):,} of {len(corpus):,} records of "
                f"corpus {corpus.name!r} (ids {shown}). Export vectors for them, or choose a corpus with the same ids.")
        out = self.vectors[rows]
        out.setflags(write=False)
        return out

    def encode(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        if self.query_encoder is None:
            raise EncoderLoadError(NO_QUERY_ENCODER)
        return self.query_encoder.encode(texts, kind)


def resolve_folder(raw: str, model_dirs: Iterable[Path]) -> Path:
    """The vectors folder inside a configured models folder (no escape via .., a linked
    folder, or a linked file inside it pointing outside)."""
    model_dirs = list(model_dirs)
    for d in model_dirs:
        d = Path(d).resolve()
        real = (d / raw).resolve()
        if (d in real.parents) and real.is_dir():
            refuse_links_out(real, [Path(m).resolve() for m in model_dirs], raw)
            return real
    raise EncoderLoadError(f"precomputed vectors {raw!r} not found inside the models folder(s) "
                           f"{', '.join(str(d) for d in model_dirs)}.")


def load_precomputed(spec: ModelSpec, specs: list[ModelSpec], model_dirs: Iterable[Path], *,
                     load_base: Callable[[ModelSpec], Encoder]) -> PrecomputedVectors:
    """The registry's loader for `backend: precomputed`; `load_base` loads the query encoder."""
    model_dirs = list(model_dirs)
    query_encoder = None
    if spec.base:
        base = next((s for s in specs if s.name == spec.base), None)
        if base is None or base.backend == "precomputed":
            raise EncoderLoadError(f"precomputed model {spec.name!r}: base model {spec.base!r} is not an encoder "
                                   "in the registry.")
        query_encoder = load_base(base)
    return PrecomputedVectors.load(resolve_folder(spec.path or f"{SUBDIR}/{spec.name}", model_dirs),
                                   spec.name, query_encoder)

