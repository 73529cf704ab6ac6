"""Load and validate corpora, and build the text of each record that gets embedded.

A corpus is a validated DataFrame with a string `id` column plus the text each record is
embedded as. Loading is all-or-nothing: any problem raises CorpusError naming the file,
the column and the row, and nothing is half-loaded.
"""
from __future__ import annotations

import csv
import hashlib
import io
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
        return _read_parquet(path)
    return _read_csv(path)


# -- Parquet --------------------------------------------------------------------------------
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")
_FLOAT_EXACT = 2**53   # integers above this are not exact in a double


def _read_parquet(path: Path) -> pd.DataFrame:
    """Every column as text, converted explicitly by its Parquet type (never via numpy's str,
    which turned lists into "['x' 'y']" and ids stored as double into "1.0"):

      * strings as they are; integers exactly (-1001111111111); booleans True/False;
        dates and times as pandas prints them;
      * doubles whose values are all whole numbers (how pandas saves an integer column with
        gaps) as integers - 1.0 -> "1" - and other doubles in their shortest exact form;
      * lists, structs and maps as JSON (["x", "y"]); binary as UTF-8 text when it is text.

    Each conversion that changes the look of the values is listed in `frame.attrs["notes"]`
    (column named). A binary column that is not UTF-8 text, or a whole-number double over
    2**53 (already rounded when the file was written), is refused, naming the column and row."""
    import pyarrow.parquet as pq
    try:
        names = [n for n in pq.read_schema(path).names if not _PANDAS_INDEX.fullmatch(n)]
        _refuse_duplicate_names(path, [str(n).strip() for n in names])   # before read_table trips over them
        table = pq.read_table(path)
    except CorpusError:
        raise
    except Exception as exc:  # pyarrow raises many types; the user needs one message
        raise CorpusError(f"{path}: не читается как Parquet ({type(exc).__name__}). "
                          "Проверьте, что файл сохранён целиком и это действительно Parquet.") from exc
    columns, notes = {}, []
    for name in names:
        values, note = _arrow_text(table.column(name), str(name).strip(), path)
        columns[str(name).strip()] = values
        if note:
            notes.append(note)
    frame = pd.DataFrame(columns, columns=list(columns), dtype=object)
    frame.attrs["notes"] = notes
    return frame


def _arrow_text(col, name: str, path: Path) -> tuple[list, str]:
    """(values as str or None, a note when the conversion changes how values look)."""
    import json

    import numpy as np
    import pyarrow as pa
    import pyarrow.types as pat
    t = col.type
    if pat.is_dictionary(t):
        col = pa.chunked_array([c.dictionary_decode() for c in col.chunks], type=t.value_type)
        t = t.value_type
    nulls = col.is_null().to_numpy(zero_copy_only=False)
    if pat.is_null(t):
        return [None] * len(col), ""
    if pat.is_string(t) or pat.is_large_string(t) or str(t) == "string_view":
        return col.to_pylist(), ""
    if pat.is_integer(t) or pat.is_decimal(t):
        return [None if v is None else str(v) for v in col.to_pylist()], ""
    if pat.is_boolean(t):
        return [None if v is None else str(v) for v in col.to_pylist()], ""
    if pat.is_floating(t):
        arr = col.to_numpy(zero_copy_only=False)
        finite = arr[~nulls & np.isfinite(arr)]
        if finite.size and np.all(finite == np.round(finite)):
            big = np.flatnonzero(~nulls & np.isfinite(arr) & (np.abs(arr) > _FLOAT_EXACT))
            if big.size:
                raise CorpusError(
                    f"{path}: столбец {name!r} хранит целые числа как дробные ({t}), и в строке {_row(big[0])} "
                    f"значение {arr[big[0]]:.0f} больше 2^53 — его точное значение потеряно ещё при сохранении "
                    "файла. Сохраните этот столбец как целые числа (int64) или как текст.")
            values = [None if m or np.isnan(v) else (str(int(v)) if np.isfinite(v) else str(v))
                      for v, m in zip(arr, nulls)]
            return values, (f"столбец {name!r}: дробные числа без дробной части ({t}) записаны как целые "
                            "(1.0 → 1) — так pandas сохраняет целые столбцы с пропусками.")
        return [None if m or np.isnan(v) else str(v) for v, m in zip(arr, nulls)], ""
    if pat.is_temporal(t):
        series = col.to_pandas()
        return [None if m else str(v) for v, m in zip(series.astype("string").astype(object), nulls)], ""
    if pat.is_binary(t) or pat.is_large_binary(t) or pat.is_fixed_size_binary(t) or str(t) == "binary_view":
        out = []
        for i, v in enumerate(col.to_pylist()):
            try:
                out.append(None if v is None else bytes(v).decode("utf-8"))
            except UnicodeDecodeError:
                raise CorpusError(
                    f"{path}: столбец {name!r} хранит двоичные данные ({t}), и в строке {_row(i)} это не текст "
                    "UTF-8 — превратить их в текст корпуса нельзя. Удалите этот столбец из файла или сохраните "
                    "его как текст (string).") from None
        return out, f"столбец {name!r}: двоичные данные ({t}) прочитаны как текст UTF-8."
    if pat.is_nested(t):
        def as_json(v):
            if isinstance(v, list) and v and all(isinstance(p, tuple) and len(p) == 2 for p in v) and pat.is_map(t):
                v = {str(k): x for k, x in v}
            return json.dumps(v, ensure_ascii=False, default=str)
        return ([None if v is None else as_json(v) for v in col.to_pylist()],
                f"столбец {name!r}: {t} записан как JSON (например, [\"a\", \"b\"]); для примеров запросов "
                "мемов соедините элементы через «|».")
    raise CorpusError(f"{path}: столбец {name!r} хранит значения типа {t}, которые не превратить в текст; "
                      "удалите его из файла или сохраните как текст (string).")


def _refuse_duplicate_names(path: Path, names: Sequence[str]) -> None:
    seen: dict[str, list[int]] = {}
    for i, n in enumerate(names, start=1):
        seen.setdefault(n, []).append(i)
    dupes = {n: pos for n, pos in seen.items() if len(pos) > 1}
    if dupes:
        shown = "; ".join(f"{_name(n)} (столбцы {', '.join(map(str, pos))})" for n, pos in list(dupes.items())[:5])
        raise CorpusError(f"{path}: в заголовке повторяются имена столбцов: {shown}. Дайте каждому столбцу своё "
                          "имя — иначе непонятно, какой из них брать.")


def _name(name, width: int = 40) -> str:
    """One column name for a message: quoted, control characters visible, cut to `width`."""
    text = repr(str(name))
    return text if len(text) <= width else text[: width - 2] + "…'"


def column_list(names, limit: int = 15) -> str:
    """Column names for a message, at most `limit` of them, each cut: a broken header (a binary
    file read as text) must not produce a message of kilobytes."""
    names = list(names)
    shown = ", ".join(_name(n) for n in names[:limit])
    return shown + (f" и ещё {len(names) - limit}" if len(names) > limit else "") if names else "ни одного"


# What a file that is not CSV text starts with, and what to tell its owner.
_MAGIC = (
    (b"PK\x03\x04", "ZIP-архив — обычно это таблица Excel (.xlsx) или LibreOffice (.ods) с другим расширением",
     "Откройте её и сохраните как «CSV UTF-8», или загрузите .csv/.parquet."),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "таблица Excel старого формата (.xls)",
     "Откройте её в Excel и сохраните как «CSV UTF-8»."),
    (b"PAR1", "файл Parquet", "Переименуйте его в .parquet — тогда он прочитается."),
    (b"\x1f\x8b", "архив gzip", "Распакуйте его и загрузите сам CSV."),
    (b"%PDF", "документ PDF", "Нужна таблица: CSV в UTF-8 или Parquet."),
    (b"SQLite format 3\x00", "база SQLite", "Выгрузите нужную таблицу в CSV или Parquet."),
    (b"\x89PNG", "картинка PNG", "Нужна таблица: CSV в UTF-8 или Parquet."),
    (b"\xff\xd8\xff", "картинка JPEG", "Нужна таблица: CSV в UTF-8 или Parquet."),
    (b"7z\xbc\xaf\x27\x1c", "архив 7z", "Распакуйте его и загрузите сам CSV."),
    (b"Rar!", "архив RAR", "Распакуйте его и загрузите сам CSV."),
)
_UTF16_FIX = "Сохраните его как «CSV UTF-8» (в Excel: Файл → Сохранить как → «CSV UTF-8»)."
_SEPARATORS = (",", ";", "\t", "|")
_SEPARATOR_NAMES = {",": "запятая", ";": "точка с запятой «;»", "\t": "табуляция", "|": "вертикальная черта «|»"}
_HEAD = 64 * 1024


def _refuse_non_text(path: Path, raw: bytes) -> None:
    """A short message saying what the file looks like when it is not CSV text at all."""
    for magic, what, fix in _MAGIC:
        if raw.startswith(magic):
            raise CorpusError(f"{path}: это не CSV, а {what}. {fix}")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CorpusError(f"{path}: текст в кодировке UTF-16 (так Excel сохраняет «Текст в Юникоде»), а нужен "
                          f"UTF-8. {_UTF16_FIX}")
    head = raw[:_HEAD]
    nuls = head.count(b"\0")
    if not nuls:
        return
    if nuls == len(head):
        what = (f"файл из одних нулевых байтов ({_bytes(len(raw))} байт): скорее всего, он повреждён или не "
                "дописан до конца")
    elif nuls >= len(head) * 0.1 and nuls < len(head) * 0.6 and nuls in (head[1::2].count(0), head[0::2].count(0)):
        # NULs only in every other byte: the high bytes of Latin letters in UTF-16 without a BOM
        raise CorpusError(f"{path}: похоже на текст в кодировке UTF-16 без метки, а нужен UTF-8. {_UTF16_FIX}")
    else:
        what = f"двоичный файл, а не текст: среди первых {_bytes(len(head))} байт {_bytes(nuls)} нулевых (NUL)"
    raise CorpusError(f"{path}: это не CSV — {what}. Нужна таблица: CSV в UTF-8 или Parquet.")


def _bytes(n: int) -> str:
    return f"{n:,}".replace(",", "\u00a0")


def _detect_separator(text: str) -> str:
    """The column separator: a comma unless the head of the file says otherwise. A separator
    wins when it splits the header into two or more columns and nearly every following
    record into as many; the comma keeps priority whenever it does that itself (a Russian
    Excel writes `;`, a TSV export tabs)."""
    head = text[:_HEAD]
    if len(text) > _HEAD and "\n" in head:
        head = head[: head.rfind("\n") + 1]
    stats = {}
    for sep in _SEPARATORS:
        try:
            rows = [r for _, r in zip(range(200), csv.reader(io.StringIO(head), delimiter=sep)) if r]
        except csv.Error:
            continue
        if rows and len(rows[0]) >= 2:
            stats[sep] = (sum(len(r) == len(rows[0]) for r in rows) / len(rows), len(rows[0]))
    if stats.get(",", (0, 0))[0] >= 0.9:
        return ","
    best = max(stats, key=lambda k: stats[k], default=",")
    return best if stats.get(best, (0, 0))[0] >= 0.9 else ","


def separator_hint(columns) -> str:
    """A hint for a header read as one column that holds another separator: ' Похоже, …'."""
    columns = list(columns)
    if len(columns) == 1:
        for sep in _SEPARATORS[1:]:
            if sep in str(columns[0]):
                return (f" Похоже, столбцы в файле разделены знаком {_SEPARATOR_NAMES[sep]}, а не запятой: "
                        "сохраните его с запятыми или проверьте, что в каждой строке столько же полей, сколько "
                        "в заголовке.")
    return ""


def _read_csv(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    _refuse_non_text(path, raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        hint = " Похоже на кодировку Windows-1251 (cp1251)." if _looks_cp1251(raw) else ""
        raise CorpusError(
            f"{path}: текст не в кодировке UTF-8 (недопустимый байт в строке {line}).{hint} "
            "Сохраните файл в UTF-8 (в Excel: «CSV UTF-8»)."
        ) from exc
    text = text.removeprefix("\ufeff")
    sep = _detect_separator(text)
    try:
        header = next(csv.reader(io.StringIO(text[:_HEAD]), delimiter=sep), [])
    except csv.Error:
        header = []
    _refuse_duplicate_names(path, [h.strip() for h in header])
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError as exc:
        raise CorpusError(f"{path}: нет ни строки заголовка, ни данных.") from exc
    except pd.errors.ParserError as exc:
        raise CorpusError(f"{path}: CSV не разбирается ({_parser_problem(exc)}). "
                          "Проверьте кавычки в этой строке.") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if sep != ",":
        frame.attrs["notes"] = [f"столбцы разделены не запятой, а знаком: {_SEPARATOR_NAMES[sep]} — файл прочитан "
                                "с этим разделителем."]
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
                channel_parts: Sequence[str] = CHANNEL_PARTS, file_columns: Sequence[str] | None = None,
                mapping: Mapping[str, str] | None = None) -> Corpus:
    notes = tuple(frame.attrs.get("notes", ()))
    frame = validate(frame, kind, source, file_columns, mapping)
    texts = tuple(record_text(row, kind, channel_parts) for row in frame.to_dict("records"))
    empty = [i for i, t in enumerate(texts) if not t]
    if empty:
        text_cols = quoted(channel_parts if kind == "channels" else TEXT_COLUMNS[kind])
        raise CorpusError(
            f"{source}: в строке {_row(empty[0])} (id {frame.at[empty[0], 'id']!r}) нет текста в "
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
