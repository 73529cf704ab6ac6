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
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

from core.atomic import fsync_path
from core.config import Settings
from core.corpora.records import (
    CHANNEL_PARTS,
    DEMO_FILES,
    REQUIRED,
    TEXT_COLUMNS,
    Corpus,
    CorpusError,
    _row,
    column_list,
    load_demo,
    make_corpus,
    read_table,
    record_text,
    separator_hint,
    validate,
)
from core.display import KIND_NAMES, quoted

KINDS = tuple(REQUIRED)   # memes, posts, channels, generic
# Columns a kind shows or filters on when present; missing ones are stored empty, so every page
# can rely on them (a posts corpus always has `category`, a channel always has `about`).
OPTIONAL = {
    "memes": ("link", "examples"),
    "posts": ("published_at", "category", "channel_title", "is_ad"),
    "channels": ("about", "pinned_text", "category", "subscribers"),
    "generic": (),
}
NAME_RE = re.compile(r"[^\W_][\w-]{0,63}")   # letters (Cyrillic too), digits, _ and -; no dots, no slashes
FORMAT = 1
_VERSIONS = ".versions"
_STALE_S = 3600   # unpublished folders older than this are leftovers of killed imports


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


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_RE.fullmatch(name):
        raise CorpusError(f"название корпуса {name!r}: нужно 1–64 букв, цифр, «_» или «-», первой — буква или "
                          "цифра (название становится именем папки и значением столбца «корпус» в разметке).")
    return name


def suggest_name(filename: str) -> str:
    """A valid corpus name from an uploaded file's name."""
    stem = re.sub(r"[^\w-]+", "-", Path(filename).stem).strip("-_")[:64]
    return stem if stem and NAME_RE.fullmatch(stem) else "corpus"


def as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as str, missing ones as None, the way read_table returns files."""
    out = frame.astype("string").astype(object)
    return out.where(frame.notna(), None)


def text_columns_of(kind: str) -> tuple[str, ...]:
    """Our column names each kind builds its embedded text from."""
    return TEXT_COLUMNS[kind]


def guess_kind(columns: Sequence[str]) -> str:
    """The kind the file most looks like: the one with most of its own columns (required or
    optional, `id` aside) in the file, ties in the order memes, posts, channels; generic only
    when nothing points to a kind. A posts file that lacks `raw_text` is still posts, so its
    error names the missing `raw_text` instead of the generic kind's `text`."""
    have = set(columns)
    scores = {kind: len(have & (set(REQUIRED[kind]) | set(OPTIONAL[kind])) - {"id"})
              for kind in ("memes", "posts", "channels")}
    best = max(scores, key=lambda k: (scores[k], -list(scores).index(k)))
    return best if scores[best] else "generic"


def remaining_columns(columns: Sequence[str], kind: str, mapping: Mapping[str, str] | None = None,
                      text_columns: Sequence[str] | None = None) -> list[str]:
    """File columns not used by the mapping or as text: candidates for metadata."""
    mapping = {k: v for k, v in (mapping or {}).items() if v}
    used = set(mapping.values()) | set(text_columns or ())
    ours = set(REQUIRED[kind]) | set(OPTIONAL[kind])
    used |= {c for c in ours if c in columns and c not in mapping}   # identity-mapped
    return [c for c in columns if c not in used]


def prepare_import(frame: pd.DataFrame, kind: str, name: str, source: str,
                   mapping: Mapping[str, str] | None = None, text_columns: Sequence[str] | None = None,
                   joiner: str = "\n\n", meta_columns: Sequence[str] = ()) -> Corpus:
    """Map, join and validate a table without writing anything. `mapping` is {ours: theirs};
    unmapped columns of ours are taken from a same-named column when the file has one.
    `text_columns` (generic only) are the file's columns joined by `joiner` into the text.
    Raises CorpusError naming the file, the column and the row."""
    name = check_name(name)
    if kind not in KINDS:
        raise CorpusError(f"{source}: неизвестный тип корпуса {kind!r}; возможные: {', '.join(KINDS)}.")
    notes = tuple(frame.attrs.get("notes", ()))   # conversions read_table made (separator, types)
    frame = frame.copy()
    frame.columns = [str(c).strip() for c in frame.columns]
    dup = frame.columns[frame.columns.duplicated()]
    if len(dup):
        raise CorpusError(f"{source}: столбец {column_list(dup[:1])} встречается дважды; переименуйте один из них.")
    mapping = {ours: theirs for ours, theirs in (mapping or {}).items() if theirs}
    known = REQUIRED[kind] + OPTIONAL[kind]
    stray = [o for o in mapping if o not in known]
    if stray:
        raise CorpusError(f"{source}: у корпуса типа «{KIND_NAMES.get(kind, kind)}» нет столбца {stray[0]!r}; "
                          f"сопоставлять можно с {quoted(known)}.")
    text_columns = list(text_columns or ())
    if text_columns and kind != "generic":
        raise CorpusError(f"{source}: текстовые столбцы выбирают только для произвольного корпуса; корпус типа "
                          f"«{KIND_NAMES.get(kind, kind)}» берёт текст из {quoted(text_columns_of(kind))} "
                          "(сопоставьте свои столбцы с ними).")
    wanted = list(mapping.values()) + text_columns + list(meta_columns)
    missing = [c for c in dict.fromkeys(wanted) if c not in frame.columns]
    if missing:
        raise CorpusError(f"{source}: в файле нет {'столбца' if len(missing) == 1 else 'столбцов'} "
                          f"{column_list(missing)}; в нём есть {column_list(frame.columns)}."
                          f"{separator_hint(frame.columns)}")
    unmapped = [ours for ours in REQUIRED[kind] if not (ours == "text" and text_columns)
                and mapping.get(ours, ours) not in frame.columns]
    if unmapped:
        raise CorpusError(
            f"{source}: нет {'столбца' if len(unmapped) == 1 else 'столбцов'} {quoted(unmapped)} — "
            f"без {'него' if len(unmapped) == 1 else 'них'} не собрать корпус типа «{KIND_NAMES.get(kind, kind)}»; "
            f"в файле есть {column_list(frame.columns)}. Выберите, какой столбец файла им соответствует."
            f"{separator_hint(frame.columns)}")
    frame = as_strings(frame)

    out, origin = pd.DataFrame(index=frame.index), {}
    for ours in known:
        if ours == "text" and text_columns:
            continue
        theirs = mapping.get(ours, ours if ours in frame.columns else None)
        if theirs is not None:
            out[ours], origin[ours] = frame[theirs], theirs
    if text_columns:
        out["text"] = _join(frame, text_columns, joiner, source)
    for col in meta_columns:
        if col in out.columns:
            if origin.get(col) == col:
                continue   # already there, from the same column
            raise CorpusError(f"{source}: столбец метаданных {col!r} совпадает по имени со столбцом {col!r} "
                              f"корпуса типа «{KIND_NAMES.get(kind, kind)}»; уберите его из метаданных "
                              "или переименуйте.")
        out[col] = frame[col]
    for col in OPTIONAL[kind]:
        if col not in out.columns:
            out[col] = ""
    out = validate(out, kind, source)   # required columns and ids first
    if not text_columns:
        _check_texts(out, kind, source, origin)
    corpus = make_corpus(out, kind, name, source)
    return replace(corpus, notes=corpus.notes + notes) if notes else corpus


def _check_texts(frame: pd.DataFrame, kind: str, source: str, origin: Mapping[str, str]) -> None:
    """Every record needs some text; the message names the user's own columns."""
    texts = [record_text(row, kind) for row in frame.to_dict("records")]
    empty = [i for i, t in enumerate(texts) if not t]
    if empty:
        cols = ", ".join(f"{c} (ваш столбец {origin[c]!r})" for c in text_columns_of(kind) if c in origin)
        raise CorpusError(f"{source}: в строке {_row(empty[0])} (id {frame.at[empty[0], 'id']!r}) нет текста в "
                          f"{cols} (всего таких строк: {len(empty)}). Заполните или удалите их.")


def _join(frame: pd.DataFrame, columns: Sequence[str], joiner: str, source: str) -> pd.Series:
    parts = frame[list(columns)].to_numpy(dtype=object)
    texts = [joiner.join(s for s in (str(v).strip() for v in row if v is not None) if s) for row in parts]
    empty = [i for i, t in enumerate(texts) if not t]
    if empty:
        raise CorpusError(
            f"{source}: в строке {_row(empty[0])} нет текста в {quoted(columns)} (всего таких строк: "
            f"{len(empty)}). Заполните или удалите их либо выберите другие текстовые столбцы.")
    return pd.Series(texts, index=frame.index, dtype=object)


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
            out.append(CorpusInfo(name, name, str(path), rows, True, version=version, problem=problem))
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


def publish_dir(root: Path, name: str, write: Callable[[Path], None]) -> Path:
    """Publish a folder as `root/name` atomically: `write` fills a temp folder, which is
    renamed into root/.versions/ and then made current by replacing the `root/name` symlink
    (rename(2) of a link is atomic). If `write` fails, the current version stays untouched."""
    versions = root / _VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    _sweep(root, versions)
    link = root / name
    if link.exists() and not link.is_symlink():
        raise CorpusError(f"{link} уже существует и создан не vecscope; сначала переместите его.")
    tmp = Path(tempfile.mkdtemp(dir=versions, prefix=f".tmp-{name}-"))
    try:
        write(tmp)
        for f in tmp.iterdir():
            fsync_path(f)
        final = versions / f"{name}-{time.strftime('%Y%m%d%H%M%S')}-{os.urandom(3).hex()}"
        os.replace(tmp, final)
        old = link.resolve() if link.is_symlink() else None
        new_link = root / f".link-{name}-{os.urandom(3).hex()}"
        os.symlink(Path(_VERSIONS) / final.name, new_link)
        os.replace(new_link, link)   # the one step that publishes the new version
        fsync_path(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None and old != final:
        shutil.rmtree(old, ignore_errors=True)
    return final


def unpublish_dir(root: Path, name: str) -> None:
    link = root / name
    folder = link.resolve()
    link.unlink()   # atomic: from here on it is gone for every reader
    shutil.rmtree(folder, ignore_errors=True)


def _sweep(root: Path, versions: Path) -> None:
    """Remove leftovers of killed writers: folders no link points to, older than an hour."""
    live = {p.resolve() for p in root.iterdir() if p.is_symlink()}
    for p in versions.iterdir():
        try:
            if p.resolve() not in live and time.time() - p.stat().st_mtime > _STALE_S:
                shutil.rmtree(p, ignore_errors=True)
        except FileNotFoundError:
            pass


