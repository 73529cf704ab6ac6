"""Load and validate corpora, and build the text of each record that gets embedded.

A corpus is a validated DataFrame with a string `id` column plus the text each record is
embedded as. Loading is all-or-nothing: any problem raises CorpusError naming the file,
the column and the row, and nothing is half-loaded.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from core.corpora.errors import CorpusError
from core.corpora.files import column_list, read_table, row_number, separator_hint
from core.display import KIND_NAMES, count, quoted

# Columns each kind needs (after the user's column mapping) and the ones shown if present.
REQUIRED = {
    "memes": ("id", "header", "meaning"),
    "posts": ("id", "channel_id", "raw_text"),
    "channels": ("id", "title"),
    "generic": ("id", "text"),
}
CHANNEL_PARTS = ("title", "about", "pinned_text")
TEXT_COLUMNS = {"memes": ("header", "meaning"), "posts": ("raw_text",), "channels": CHANNEL_PARTS,
                "generic": ("text",)}   # what each kind's embedded text is built from




@dataclass(frozen=True)
class Corpus:
    name: str
    kind: str
    frame: pd.DataFrame            # validated; `id` is str and unique; row position = vector row
    texts: tuple[str, ...]         # what each row is embedded as
    source: str = ""
    notes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.texts)

    @cached_property
    def content_hash(self) -> str:
        """Changes whenever any embedded text or the order of records changes. Computed once per
        Corpus (ids and texts are fixed when it is made): at 1M posts one pass takes ~3.5 s, and
        the Map page asked for it four times a run."""
        h = hashlib.sha256()
        for doc_id, text in zip(self.frame["id"], self.texts):
            h.update(doc_id.encode("utf-8", "surrogatepass") + b"\0")
            h.update(text.encode("utf-8", "surrogatepass") + b"\1")
        return h.hexdigest()[:16]

    def position(self, doc_id: str) -> int:
        hits = self.frame.index[self.frame["id"] == doc_id]
        if len(hits) == 0:
            raise KeyError(f"{self.name}: нет записи с идентификатором {doc_id!r}")
        return int(hits[0])
































def apply_mapping(frame: pd.DataFrame, mapping: Mapping[str, str] | None, source: str) -> pd.DataFrame:
    """Rename the user's columns to ours: mapping is {our_name: their_name}."""
    if not mapping:
        return frame
    missing = [theirs for theirs in mapping.values() if theirs not in frame.columns]
    if missing:
        raise CorpusError(
            f"{source}: в файле нет {_columns_word(missing)} {quoted(missing)}; "
            f"в нём есть {column_list(frame.columns)}.{separator_hint(frame.columns)}"
        )
    return frame.rename(columns={theirs: ours for ours, theirs in mapping.items()})


def validate(frame: pd.DataFrame, kind: str, source: str, file_columns: Sequence[str] | None = None,
             mapping: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Check required columns, ids and texts; return a clean copy with str ids. `file_columns`
    and `mapping` ({ours: theirs}): the file's own columns before mapping, so a message lists
    what the file has, not our renamed or added columns."""
    if kind not in REQUIRED:
        raise CorpusError(f"{source}: неизвестный тип корпуса {kind!r}; возможные: {', '.join(REQUIRED)}.")
    missing = [c for c in REQUIRED[kind] if c not in frame.columns]
    if missing:
        has = list(frame.columns) if file_columns is None else list(file_columns)
        mapped = "".join(f" ({ours} сопоставлен со столбцом {theirs!r})" for ours, theirs in (mapping or {}).items()
                         if theirs and ours in REQUIRED[kind])
        raise CorpusError(
            f"{source}: нет {_columns_word(missing)} {quoted(missing)} — без {'него' if len(missing) == 1 else 'них'} "
            f"не собрать корпус типа «{KIND_NAMES.get(kind, kind)}»; в файле есть {column_list(has)}{mapped}. "
            f"Переименуйте столбцы или сопоставьте их на странице «Данные».{separator_hint(has)}"
        )
    if frame.empty:
        raise CorpusError(f"{source}: в файле есть заголовок, но нет ни одной строки данных.")
    frame = frame.reset_index(drop=True).copy()
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].map(lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v)) else v)
    frame["id"] = frame["id"].astype(str).str.strip()
    blank = frame.index[frame["id"] == ""]
    if len(blank):
        raise CorpusError(f"{source}: пустой 'id' в строке {row_number(blank[0])}.")
    dupes = frame.index[frame["id"].duplicated()]
    if len(dupes):
        first = dupes[0]
        doc_id = frame.at[first, "id"]
        earlier = frame.index[frame["id"] == doc_id][0]
        raise CorpusError(
            f"{source}: 'id' {doc_id!r} повторяется в строках {row_number(earlier)} и {row_number(first)} "
            f"(всего повторов: {len(dupes)}). Идентификаторы должны быть уникальными."
        )
    return frame


def _columns_word(columns) -> str:
    return "столбца" if len(list(columns)) == 1 else "столбцов"




def _clean(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value).strip()


def channel_text(row: Mapping, parts: Sequence[str] = CHANNEL_PARTS) -> str:
    """Title, about and pinned post joined by blank lines; missing parts are skipped, so a
    channel without an about text does not get an empty-line artefact in its embedding."""
    return "\n\n".join(t for t in (_clean(row.get(p)) for p in parts) if t)


def record_text(row: Mapping, kind: str, channel_parts: Sequence[str] = CHANNEL_PARTS) -> str:
    if kind == "memes":
        header, meaning = _clean(row.get("header")), _clean(row.get("meaning"))
        return f"{header}. {meaning}" if header and meaning else header or meaning
    if kind == "posts":
        return _clean(row.get("raw_text"))
    if kind == "channels":
        return channel_text(row, channel_parts)
    return _clean(row.get("text"))


def make_corpus(frame: pd.DataFrame, kind: str, name: str, source: str,
                channel_parts: Sequence[str] = CHANNEL_PARTS, file_columns: Sequence[str] | None = None,
                mapping: Mapping[str, str] | None = None) -> Corpus:
    notes = tuple(frame.attrs.get("notes", ()))
    frame = validate(frame, kind, source, file_columns, mapping)
    texts = tuple(record_text(row, kind, channel_parts) for row in frame.to_dict("records"))
    empty = [i for i, t in enumerate(texts) if not t]
    if empty:
        text_cols = quoted(channel_parts if kind == "channels" else TEXT_COLUMNS[kind])
        raise CorpusError(
            f"{source}: в строке {row_number(empty[0])} (id {frame.at[empty[0], 'id']!r}) нет текста в "
            f"{text_cols} (всего таких строк: {len(empty)}). Заполните или удалите их."
        )
    return Corpus(name=name, kind=kind, frame=frame, texts=texts, source=source, notes=notes)


def load_corpus(path: str | Path, kind: str, name: str | None = None,
                mapping: Mapping[str, str] | None = None,
                channel_parts: Sequence[str] = CHANNEL_PARTS) -> Corpus:
    path = Path(path)
    table = read_table(path)
    frame = apply_mapping(table, mapping, str(path))
    return make_corpus(frame, kind, name or path.stem, str(path), channel_parts, list(table.columns), mapping)


def attach_channels(posts: Corpus, channels: Corpus) -> Corpus:
    """Give each post its channel's title and category, for display and filters."""
    info = channels.frame[["id", "title", "category"]].rename(
        columns={"id": "channel_id", "title": "channel_title", "category": "category"}
    ) if "category" in channels.frame else channels.frame[["id", "title"]].rename(
        columns={"id": "channel_id", "title": "channel_title"})
    frame = posts.frame.drop(columns=[c for c in ("channel_title", "category") if c in posts.frame])
    frame = frame.merge(info, on="channel_id", how="left")
    unknown = frame.index[frame["channel_title"].isna()]
    notes = posts.notes
    if len(unknown):
        notes += (f"{count(len(unknown), 'пост ссылается', 'поста ссылаются', 'постов ссылаются')} на каналы, "
                  f"которых нет в файле каналов (первый: {frame.at[unknown[0], 'channel_id']!r}).",)
    frame[["channel_title"]] = frame[["channel_title"]].fillna("")
    if "category" in frame:
        frame["category"] = frame["category"].fillna("")
    return Corpus(posts.name, posts.kind, frame, posts.texts, posts.source, notes)


DEMO_FILES = {"memes": "memes.csv", "posts": "posts.csv", "channels": "channels.csv", "offers": "offers.csv"}
DEMO_KINDS = {"offers": "generic"}   # a demo corpus whose name is not its kind (shop offers: id, text)


def load_demo(data_dir: str | Path, name: str,
              channel_parts: Sequence[str] = CHANNEL_PARTS) -> Corpus:
    """One of the bundled corpora (memes, posts, channels, offers) from data_dir."""
    data_dir = Path(data_dir)
    if name not in DEMO_FILES:
        raise CorpusError(f"неизвестный корпус {name!r}; есть: {', '.join(DEMO_FILES)}.")
    corpus = load_corpus(data_dir / DEMO_FILES[name], kind=DEMO_KINDS.get(name, name), name=name,
                         channel_parts=channel_parts)
    if name == "posts" and (data_dir / DEMO_FILES["channels"]).exists():
        corpus = attach_channels(corpus, load_demo(data_dir, "channels"))
    return corpus
