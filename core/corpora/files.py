"""Reading a corpus file: CSV (separator and encoding detected, cp1251 named as such), Parquet
(text columns kept exact, numbers that a double cannot hold refused), with Russian errors that
name the file, the column and the row; anything that is not a table is refused before parsing."""
from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Sequence

import pandas as pd

from core.corpora.errors import CorpusError

MAX_FILE_BYTES = int(os.environ.get("VECSCOPE_MAX_FILE_MB", "1024")) * 1024 * 1024
_UTF16_FIX = "Сохраните его как «CSV UTF-8» (в Excel: Файл → Сохранить как → «CSV UTF-8»)."


def row_number(position: int) -> int:
    """File row number of a data row, counting the header as row 1."""
    return int(position) + 2


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
                    f"{path}: столбец {name!r} хранит целые числа как дробные ({t}), и в строке {row_number(big[0])} "
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
                    f"{path}: столбец {name!r} хранит двоичные данные ({t}), и в строке {row_number(i)} это не текст "
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
