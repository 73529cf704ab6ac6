"""The labels CSV file format: encoding rows and parsing the file (core.labels.store.LabelStore writes it).

File format decisions (the raw file is still a plain CSV any tool can open):
- UTF-8, no BOM, "\\n" line ends, header = COLUMNS, csv-module quoting.
- One record is exactly one physical line. Text fields are escaped so they never contain a raw
  line break or control character: backslash -> "\\\\", LF -> "\\n", CR -> "\\r", any other
  C0 control character except TAB (NUL included) -> "\\xHH". Why: a record that can span
  lines lets a row torn inside a quoted field swallow the rows after it; NUL and bare CR break
  many CSV readers (pandas, spreadsheets). The cost: a raw backslash shows up doubled when
  the file is opened without this module. read() undoes the escaping exactly.
- A writer killed mid-row leaves a last line without "\\n". The next writer ends that line
  with CAN (0x18, "cancel") + "\\n", so the torn row is its own line and is reported as
  damaged even when its prefix happens to parse (e.g. cut inside the note).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Iterable

import numpy as np
import pandas as pd

from core.labels.base import COLUMNS, GRADES, KEY, SPLITS, TEXT_COLUMNS, Label, LabelsRead, SkippedLine

_RANK_RE = re.compile(r"[0-9]{0,9}")  # ranks up to 10^9 fit Int64 with room
TORN_MARK = b"\x18"  # ASCII CAN: ends a row that an interrupted writer left unfinished
HEADER = (",".join(COLUMNS) + "\n").encode()
_GRADE_TEXT = {str(g): g for g in GRADES} | {"": None}


# ---------------------------------------------------------------------------- encoding

_ESCAPES = {ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r"}
_ESCAPES |= {c: f"\\x{c:02x}" for c in range(32) if c not in _ESCAPES and c != ord("\t")}
_UNESCAPE_RE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)", re.DOTALL)
_UNESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}


def escape(text: str) -> str:
    return text.translate(_ESCAPES)


def unescape(text: str) -> str:
    if "\\" not in text:  # fast path: almost every field
        return text

    def one(m: re.Match) -> str:
        code = m.group(1)
        if code[0] == "x" and len(code) == 3:
            return chr(int(code[1:], 16))
        return _UNESCAPES.get(code, m.group(0))  # unknown escape (hand edit): keep as typed

    return _UNESCAPE_RE.sub(one, text)


def encode_rows(labels: Iterable[Label]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for lab in labels:
        writer.writerow([
            escape(lab.ts), escape(lab.annotator), escape(lab.corpus), escape(lab.query),
            escape(lab.doc_id), "" if lab.grade is None else str(lab.grade), escape(lab.model),
            "" if lab.rank is None else str(lab.rank), lab.split, escape(lab.note),
        ])
    return buf.getvalue().encode("utf-8")


# ---------------------------------------------------------------------------- parsing


# A line that is exactly one well-formed 10-field CSV record with none of the characters our
# writer never leaves raw (CR, NUL, the torn-row mark, undecodable bytes as surrogates).
_PLAIN = "\"\n\r\x00\x18\udc80-\udcff"
_FIELD = rf'(?:[^,{_PLAIN}]*|"(?:[^{_PLAIN}]|"")*")'
_RECORD_LINE_RE = re.compile(rf"{_FIELD}(?:,{_FIELD}){{{len(COLUMNS) - 1}}}")


def parse(data: bytes) -> LabelsRead:
    """Parse the whole file; damaged lines are reported with their reason, never fatal.

    Lines that are provably one clean record go to pandas' C parser in one batch (fast);
    every other line is examined on its own with the csv module, so damage stays on its line.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # keep going: bad bytes become surrogates, caught per line
        text = data.decode("utf-8", "surrogateescape")
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")  # CRLF from an editor; we never write a raw CR
    lines = text.split("\n")
    torn_tail = lines.pop()  # text after the last "\n": a row whose writer was interrupted
    if lines and lines[0].removeprefix("\ufeff") == HEADER.decode().rstrip("\n"):
        lines[0] = ""  # the header (a BOM from a spreadsheet save tolerated)

    fast_nos, fast_lines, slow_nos, slow_records, skipped = [], [], [], [], []
    is_record = _RECORD_LINE_RE.fullmatch
    for no, line in enumerate(lines, start=1):
        if is_record(line):
            fast_nos.append(no)
            fast_lines.append(line)
        else:
            result = _parse_odd_line(no, line)
            if isinstance(result, SkippedLine):
                skipped.append(result)
            elif result is not None:
                slow_nos.append(no)
                slow_records.append(result)
    if torn_tail:
        skipped.append(SkippedLine(len(lines) + 1, _TORN, _excerpt(torn_tail)))

    raw, line_nos = _read_records(fast_lines), fast_nos
    if slow_records:  # rare: merge the odd-but-valid lines back in file order
        raw = pd.concat([raw, pd.DataFrame(slow_records, columns=COLUMNS, dtype=str)], ignore_index=True)
        all_nos = np.array(fast_nos + slow_nos)
        order = np.argsort(all_nos, kind="stable")
        raw, line_nos = raw.iloc[order].reset_index(drop=True), all_nos[order].tolist()

    ok = _valid_rows(raw).to_numpy(dtype=bool)
    for i in np.flatnonzero(~ok):
        skipped.append(SkippedLine(line_nos[i], _problem(raw.iloc[i]), _excerpt(lines[line_nos[i] - 1])))
    skipped.sort(key=lambda s: s.line_no)
    return LabelsRead(_typed(raw[ok].reset_index(drop=True)), skipped)


_TORN = "row was cut off by an interrupted write"
# Lines the fast check refuses are read with the csv module, whose default 128 KiB field limit
# would reject a valid 1 MB query. The limit is process-wide, so only ever raise it.
csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))


def _parse_odd_line(line_no: int, line: str) -> list[str] | SkippedLine | None:
    """A line the fast check refused: its fields, a SkippedLine saying why, or None if blank."""
    if not line:
        return None
    if line.endswith(TORN_MARK.decode()):
        return SkippedLine(line_no, _TORN, _excerpt(line))
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as e:
        return SkippedLine(line_no, f"not valid UTF-8 (bad bytes at character {e.start})", _excerpt(line))
    try:  # one reader per line: an unclosed quote cannot swallow the rows after it
        fields = next(csv.reader((line,), strict=True))
    except csv.Error as e:
        return SkippedLine(line_no, f"malformed CSV: {e}", _excerpt(line))
    if len(fields) != len(COLUMNS):
        return SkippedLine(line_no, f"expected {len(COLUMNS)} fields, found {len(fields)}", _excerpt(line))
    return fields


def _read_records(lines: list[str]) -> pd.DataFrame:
    """Clean record lines -> all-text frame, in one pass of pandas' C parser."""
    if not lines:
        return pd.DataFrame({name: [] for name in COLUMNS}, dtype=str)
    buf = io.BytesIO("\n".join(lines).encode("utf-8"))
    raw = pd.read_csv(buf, header=None, names=COLUMNS, dtype=str, keep_default_na=False, na_values=[], engine="c")
    if len(raw) != len(lines):  # cannot happen for lines that passed _RECORD_LINE_RE; be sure anyway
        raw = pd.DataFrame([next(csv.reader((line,))) for line in lines], columns=COLUMNS, dtype=str)
    return raw


def _excerpt(line: str, limit: int = 120) -> str:
    text = line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "…"


def _valid_rows(raw: pd.DataFrame) -> pd.Series:
    # Column-wise twin of _problem. Reading accepts everything _validate lets in (and a bit
    # more, e.g. a hand-typed blank-looking annotator), so a stored label is never rejected.
    ok = raw["grade"].isin(list(_GRADE_TEXT)) & raw["split"].isin(SPLITS)
    ok &= raw["rank"].str.fullmatch(_RANK_RE.pattern).fillna(False).astype(bool)
    for name in KEY:
        ok &= raw[name] != ""
    return ok


def _problem(row) -> str:
    """Why one raw record is invalid, in words."""
    if row["grade"] not in _GRADE_TEXT:
        return f"grade {row['grade']!r} is not one of 2, 1, 0, -1 or blank"
    if not _RANK_RE.fullmatch(row["rank"]):
        return f"rank {row['rank']!r} is not a whole number"
    if row["split"] not in SPLITS:
        return f"split {row['split']!r} is not train or eval"
    empty = [name for name in KEY if not row[name]]
    return f"{', '.join(empty) or 'a key field'} is empty"


def _typed(raw: pd.DataFrame) -> pd.DataFrame:
    """Valid raw rows -> the public frame: text unescaped, grade and rank as Int64."""
    frame = raw.astype(str)  # a copy; also gives the empty frame the same dtypes
    for name in TEXT_COLUMNS:
        col = frame[name]
        escaped = col.str.contains("\\", regex=False).to_numpy(dtype=bool)
        if escaped.any():
            frame.loc[escaped, name] = col[escaped].map(unescape)
    for name in ("grade", "rank"):
        frame[name] = frame[name].where(frame[name] != "", None).astype("Int64")
    return frame
