"""A user's table -> a corpus of a kind: guess the kind from the columns, map columns, join
several text columns into one, keep optional columns every page relies on, and refuse empty
texts with the row that has none."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from core.corpora.errors import CorpusError
from core.corpora.files import column_list, row_number, separator_hint
from core.corpora.records import (
    REQUIRED,
    TEXT_COLUMNS,
    Corpus,
    make_corpus,
    record_text,
    validate,
)
from core.display import KIND_NAMES, quoted

KINDS = tuple(REQUIRED)   # memes, posts, channels, generic
NAME_RE = re.compile(r"[^\W_][\w-]{0,63}")   # letters (Cyrillic too), digits, _ and -; no dots, no slashes


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_RE.fullmatch(name):
        raise CorpusError(f"название корпуса {name!r}: нужно 1–64 букв, цифр, «_» или «-», первой — буква или "
                          "цифра (название становится именем папки и значением столбца «корпус» в разметке).")
    return name


# Columns a kind shows or filters on when present; missing ones are stored empty, so every page
# can rely on them (a posts corpus always has `category`, a channel always has `about`).
OPTIONAL = {
    "memes": ("link", "examples"),
    "posts": ("published_at", "category", "channel_title", "is_ad"),
    "channels": ("about", "pinned_text", "category", "subscribers"),
    "generic": (),
}


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
        raise CorpusError(f"{source}: в строке {row_number(empty[0])} (id {frame.at[empty[0], 'id']!r}) нет текста в "
                          f"{cols} (всего таких строк: {len(empty)}). Заполните или удалите их.")


def _join(frame: pd.DataFrame, columns: Sequence[str], joiner: str, source: str) -> pd.Series:
    parts = frame[list(columns)].to_numpy(dtype=object)
    texts = [joiner.join(s for s in (str(v).strip() for v in row if v is not None) if s) for row in parts]
    empty = [i for i, t in enumerate(texts) if not t]
    if empty:
        raise CorpusError(
            f"{source}: в строке {row_number(empty[0])} нет текста в {quoted(columns)} (всего таких строк: "
            f"{len(empty)}). Заполните или удалите их либо выберите другие текстовые столбцы.")
    return pd.Series(texts, index=frame.index, dtype=object)
