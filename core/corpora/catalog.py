"""The corpora the app offers: the bundled demo ones plus the ones users import.

An import lives under the imports folder as

    <imports>/<name>                       -> a symlink to .versions/<name>-<stamp>-<rand>/
    <imports>/.versions/<name>-…/corpus.parquet   the validated, mapped frame (all strings)
    <imports>/.versions/<name>-…/meta.json        kind, source, mapping, rows, content hash…

Everything is validated before anything is written; the new version is written to a temp
folder, renamed, and only then published by atomically replacing the symlink. A failed or
interrupted import therefore never touches the current data, and readers see either the old
corpus or the new one, never a mix.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from core.config import Settings
from core.corpora.errors import CorpusError
from core.corpora.files import read_table
from core.corpora.prepare import check_name, prepare_import
from core.corpora.publish import publish_dir, unpublish_dir
from core.corpora.records import (
    CHANNEL_PARTS,
    DEMO_FILES,
    DEMO_KINDS,
    Corpus,
    load_demo,
    make_corpus,
)

FORMAT = 1


@dataclass(frozen=True)
class CorpusInfo:
    name: str
    kind: str
    source: str
    rows: int
    builtin: bool
    created: str = ""
    content_hash: str = ""
    version: str = ""                   # changes whenever the data changes: a cache key
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    problem: str = ""                   # set when a stored import cannot be read


def imports_root(settings: Settings) -> Path:
    """Settings.imports_dir when the settings have it, else $VECSCOPE_IMPORTS_DIR, else an
    `imports` folder beside the labels file (var/imports by default)."""
    explicit = getattr(settings, "imports_dir", None)
    if explicit:
        return Path(explicit)
    env = os.environ.get("VECSCOPE_IMPORTS_DIR")
    return Path(env).expanduser() if env else settings.labels_path.parent / "imports"


def can_manage(admins: str | Iterable[str] | None, annotator: str | None) -> bool:
    """Who may replace or remove imported corpora: anyone when no admins are configured,
    else only the names listed (a list, or one comma-separated string)."""
    if not admins:
        return True
    names = admins.split(",") if isinstance(admins, str) else list(admins)
    allowed = {str(n).strip().casefold() for n in names if str(n).strip()}
    return not allowed or (annotator or "").strip().casefold() in allowed




















@lru_cache(maxsize=64)
def _file_rows(path: str, version: str) -> int:
    return len(read_table(path))


def _version_of(path: Path) -> str:
    st = path.stat()
    return f"{st.st_mtime_ns}:{st.st_size}"


class Catalog:
    """Demo corpora from Settings.data_dir plus imports under the imports folder."""

    def __init__(self, settings: Settings, root: str | Path | None = None) -> None:
        self.settings = settings
        self.root = Path(root) if root else imports_root(settings)

    # -- reading ------------------------------------------------------------------------
    def _demo_files(self, name: str) -> list[Path]:
        files = [self.settings.data_dir / DEMO_FILES[name]]
        if name == "posts":
            files.append(self.settings.data_dir / DEMO_FILES["channels"])
        return files

    def builtin(self) -> list[str]:
        return [n for n in DEMO_FILES if (self.settings.data_dir / DEMO_FILES[n]).exists()]

    def imported(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if not p.name.startswith(".") and p.is_symlink())

    def names(self) -> list[str]:
        return self.builtin() + [n for n in self.imported() if n not in DEMO_FILES]

    def list(self) -> list[CorpusInfo]:
        out = []
        for name in self.builtin():
            path = self.settings.data_dir / DEMO_FILES[name]
            version = "|".join(_version_of(f) for f in self._demo_files(name) if f.exists())
            try:
                rows, problem = _file_rows(str(path), version), ""
            except CorpusError as exc:
                rows, problem = 0, str(exc)
            out.append(CorpusInfo(name, DEMO_KINDS.get(name, name), str(path), rows, True, version=version,
                                  problem=problem))
        for name in self.imported():
            if name in DEMO_FILES:
                continue
            try:
                out.append(self.info(name))
            except CorpusError as exc:
                out.append(CorpusInfo(name, "?", "", 0, False, problem=str(exc)))
        return out

    def info(self, name: str) -> CorpusInfo:
        if name in DEMO_FILES:
            return next(i for i in self.list() if i.name == name)
        folder = self._folder(name)
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CorpusError(f"импортированный корпус {name!r}: не читается meta.json в {folder} "
                              f"({type(exc).__name__}); импортируйте его заново.") from exc
        return CorpusInfo(name, meta["kind"], meta.get("source", ""), int(meta.get("rows", 0)), False,
                          meta.get("created", ""), meta.get("content_hash", ""), folder.name, meta)

    def _folder(self, name: str) -> Path:
        link = self.root / name
        if name.startswith(".") or not link.is_symlink() or not link.resolve().is_dir():
            known = ", ".join(self.names()) or "ничего"
            raise CorpusError(f"неизвестный корпус {name!r}; в каталоге есть: {known}.")
        return link.resolve()

    def version(self, name: str) -> str:
        """A cheap string that changes whenever the corpus data changes (for UI caches)."""
        if name in DEMO_FILES:
            return "|".join(_version_of(f) if f.exists() else "missing" for f in self._demo_files(name))
        return self._folder(name).name

    def load(self, name: str, channel_parts: Sequence[str] = CHANNEL_PARTS) -> Corpus:
        if name in DEMO_FILES:
            return load_demo(self.settings.data_dir, name, channel_parts)
        for attempt in range(3):   # a concurrent re-import may swap the folder between resolve and read
            folder = self._folder(name)
            try:
                meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
                frame = read_table(folder / "corpus.parquet")
                break
            except (FileNotFoundError, CorpusError):
                if attempt == 2:
                    raise
        parts = channel_parts if meta["kind"] == "channels" else CHANNEL_PARTS
        corpus = make_corpus(frame, meta["kind"], name, meta.get("source", str(folder)), parts)
        return corpus

    # -- writing ------------------------------------------------------------------------
    def read(self, path: str | Path, source: str | None = None) -> pd.DataFrame:
        """read_table, with messages naming `source` (an upload's own file name) not a temp path."""
        try:
            return read_table(path)
        except CorpusError as exc:
            if source:
                raise CorpusError(str(exc).replace(str(path), source)) from exc
            raise

    def import_table(self, path_or_frame: str | Path | pd.DataFrame, name: str, kind: str,
                     mapping: Mapping[str, str] | None = None, text_columns: Sequence[str] | None = None,
                     joiner: str = "\n\n", meta_columns: Sequence[str] = (), source: str | None = None,
                     extra: Mapping[str, Any] | None = None) -> CorpusInfo:
        """Validate, then publish atomically. `extra` goes into meta.json (e.g. the SQL of a
        database import, so it can be refreshed)."""
        name = check_name(name)
        if name in DEMO_FILES:
            raise CorpusError(f"{name!r} — встроенный демо-корпус; выберите другое название.")
        if isinstance(path_or_frame, pd.DataFrame):
            frame, source = path_or_frame, source or "table"
        else:
            frame = self.read(path_or_frame, source)
            source = source or str(path_or_frame)
        corpus = prepare_import(frame, kind, name, source, mapping, text_columns, joiner, meta_columns)
        meta = {
            "format": FORMAT, "name": name, "kind": kind, "source": source,
            "mapping": {k: v for k, v in (mapping or {}).items() if v},
            "text_columns": list(text_columns or ()), "joiner": joiner, "meta_columns": list(meta_columns),
            "rows": len(corpus), "columns": list(corpus.frame.columns),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "content_hash": corpus.content_hash,
            **dict(extra or {}),
        }
        self._publish(name, corpus.frame, meta)
        return self.info(name)

    def _publish(self, name: str, frame: pd.DataFrame, meta: dict) -> None:
        def write(folder: Path) -> None:
            frame.to_parquet(folder / "corpus.parquet", index=False)
            (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        publish_dir(self.root, name, write)

    def remove(self, name: str) -> None:
        if name in DEMO_FILES:
            raise CorpusError(f"{name!r} — встроенный демо-корпус, его нельзя удалить.")
        self._folder(name)   # raises for unknown names
        unpublish_dir(self.root, name)








