"""Load and validate corpora, and build the text of each record that gets embedded.

A corpus is a validated DataFrame with a string `id` column plus the text each record is
embedded as. Loading is all-or-nothing: any problem raises CorpusError naming the file,
the column and the row, and nothing is half-loaded.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

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
MAX_FILE_BYTES = int(os.environ.get("VECSCOPE_MAX_FILE_MB", "1024")) * 1024 * 1024


class CorpusError(ValueError):
    """A corpus file cannot be used; the message says what, where and how to fix it."""


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

    @property
    def content_hash(self) -> str:
        """Changes whenever any embedded text or the order of records changes."""
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


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file as strings, with messages a user can act on."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"{path}: файл не найден.")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CorpusError(
            f"{path}: {size / 2**20:.0f} МБ — больше предела {MAX_FILE_BYTES / 2**20:.0f} МБ "
            "(его задаёт VECSCOPE_MAX_FILE_MB; или импортируйте файл по частям из командной строки)."
        )
    if size == 0:
        raise CorpusError(f"{path}: файл пустой.")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types; the user needs one message
            raise CorpusError(f"{path}: не читается как Parquet ({type(exc).__name__}). "
                              "Проверьте, что файл сохранён целиком и это действительно Parquet.") from exc
        return frame.astype("string").astype(object).where(frame.notna(), None)
    return _read_csv(path)


def _read_csv(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        hint = " Похоже на кодировку Windows-1251 (cp1251)." if _looks_cp1251(raw) else ""
        raise CorpusError(
            f"{path}: текст не в кодировке UTF-8 (недопустимый байт в строке {line}).{hint} "
            "Сохраните файл в UTF-8 (в Excel: «CSV UTF-8»)."
        ) from exc
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError as exc:
        raise CorpusError(f"{path}: нет ни строки заголовка, ни данных.") from exc
    except pd.errors.ParserError as exc:
        raise CorpusError(f"{path}: CSV не разбирается ({_parser_problem(exc)}). "
                          "Проверьте кавычки в этой строке.") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _parser_problem(exc: Exception) -> str:
    """pandas' tokenizer message, in Russian when it is the usual one."""
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
    if m:
        return f"в строке {m[2]} полей {m[3]}, а ожидалось {m[1]}"
    m = re.search(r"line (\d+)", str(exc))
    return f"ошибка около строки {m[1]}" if m else "неверная структура строк"


def _looks_cp1251(raw: bytes) -> bool:
    try:
        text = raw[:4096].decode("cp1251")
    except UnicodeDecodeError:
        return False
    cyr = sum("а" <= ch.lower() <= "я" for ch in text)
    return cyr > len(text) * 0.2


def apply_mapping(frame: pd.DataFrame, mapping: Mapping[str, str] | None, source: str) -> pd.DataFrame:
    """Rename the user's columns to ours: mapping is {our_name: their_name}."""
    if not mapping:
        return frame
    missing = [theirs for theirs in mapping.values() if theirs not in frame.columns]
    if missing:
        raise CorpusError(
            f"{source}: в файле нет {_columns_word(missing)} {quoted(missing)}; "
            f"в нём есть {quoted(frame.columns)}."
        )
    return frame.rename(columns={theirs: ours for ours, theirs in mapping.items()})


def validate(frame: pd.DataFrame, kind: str, source: str) -> pd.DataFrame:
    """Check required columns, ids and texts; return a clean copy with str ids."""
    if kind not in REQUIRED:
        raise CorpusError(f"{source}: неизвестный тип корпуса {kind!r}; возможные: {', '.join(REQUIRED)}.")
    missing = [c for c in REQUIRED[kind] if c not in frame.columns]
    if missing:
        raise CorpusError(
            f"{source}: нет {_columns_word(missing)} {quoted(missing)} — без {'него' if len(missing) == 1 else 'них'} "
            f"не собрать корпус типа «{KIND_NAMES.get(kind, kind)}»; в файле есть {quoted(frame.columns)}. "
            "Переименуйте столбцы или сопоставьте их на странице «Данные»."
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
        raise CorpusError(f"{source}: пустой 'id' в строке {_row(blank[0])}.")
    dupes = frame.index[frame["id"].duplicated()]
    if len(dupes):
        first = dupes[0]
        doc_id = frame.at[first, "id"]
        earlier = frame.index[frame["id"] == doc_id][0]
        raise CorpusError(
            f"{source}: 'id' {doc_id!r} повторяется в строках {_row(earlier)} и {_row(first)} "
            f"(всего повторов: {len(dupes)}). Идентификаторы должны быть уникальными."
        )
    return frame


def _columns_word(columns) -> str:
    return "столбца" if len(list(columns)) == 1 else "столбцов"


def _row(position: int) -> int:
    """File row number of a data row, counting the header as row 1."""
    return int(position) + 2


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
                channel_parts: Sequence[str] = CHANNEL_PARTS) -> Corpus:
    frame = validate(frame, kind, source)
    texts = tuple(record_text(row, kind, channel_parts) for row in frame.to_dict("records"))
    empty = [i for i, t in enumerate(texts) if not t]
    if empty:
        text_cols = quoted(channel_parts if kind == "channels" else TEXT_COLUMNS[kind])
        raise CorpusError(
            f"{source}: в строке {_row(empty[0])} (id {frame.at[empty[0], 'id']!r}) нет текста в "
            f"{text_cols} (всего таких строк: {len(empty)}). Заполните или удалите их."
        )
    return Corpus(name=name, kind=kind, frame=frame, texts=texts, source=source)


def load_corpus(path: str | Path, kind: str, name: str | None = None,
                mapping: Mapping[str, str] | None = None,
                channel_parts: Sequence[str] = CHANNEL_PARTS) -> Corpus:
    path = Path(path)
    frame = apply_mapping(read_table(path), mapping, str(path))
    return make_corpus(frame, kind, name or path.stem, str(path), channel_parts)


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


DEMO_FILES = {"memes": "memes.csv", "posts": "posts.csv", "channels": "channels.csv"}


def load_demo(data_dir: str | Path, name: str,
              channel_parts: Sequence[str] = CHANNEL_PARTS) -> Corpus:
    """One of the bundled corpora (memes, posts, channels) from data_dir."""
    data_dir = Path(data_dir)
    if name not in DEMO_FILES:
        raise CorpusError(f"неизвестный корпус {name!r}; есть: {', '.join(DEMO_FILES)}.")
    corpus = load_corpus(data_dir / DEMO_FILES[name], kind=name, name=name, channel_parts=channel_parts)
    if name == "posts" and (data_dir / DEMO_FILES["channels"]).exists():
        corpus = attach_channels(corpus, load_demo(data_dir, "channels"))
    return corpus
