"""The label store: one append-only CSV that is the team's eval set.

One row per judgement (see DESIGN.md, "Labels = the eval set"). The latest row per
(annotator, corpus, query, doc_id) wins; earlier rows stay as history. The file is never
rewritten: corrections and undo are new rows.

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

import contextlib
import csv
import fcntl
import hashlib
import io
import numbers
import os
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from core.atomic import fsync_path

COLUMNS = ["ts", "annotator", "corpus", "query", "doc_id", "grade", "model", "rank", "split", "note"]
GRADES = {2: "relevant", 1: "partly", 0: "irrelevant", -1: "can't judge"}
KEY = ["annotator", "corpus", "query", "doc_id"]
SPLITS = ("train", "eval")

_TEXT_COLUMNS = ["ts", "annotator", "corpus", "query", "doc_id", "model", "split", "note"]
_RANK_RE = re.compile(r"[0-9]{0,9}")  # ranks up to 10^9 fit Int64 with room
_TORN_MARK = b"\x18"  # ASCII CAN: ends a row that an interrupted writer left unfinished
_HEADER = (",".join(COLUMNS) + "\n").encode()
_GRADE_TEXT = {str(g): g for g in GRADES} | {"": None}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV-injection triggers


# ---------------------------------------------------------------------------- split


def split_of(query: str, eval_share: float = 0.3) -> str:
    """'train' or 'eval' for a query, the same on every machine and in every process.

    Uses sha256 (not hash(), which is salted per process) of the normalised query, so
    "Cat  meme" and "cat meme" land together and one query never both trains and evaluates.
    """
    if not 0.0 <= eval_share <= 1.0:
        raise ValueError(f"eval_share must be between 0 and 1, got {eval_share}")
    digest = hashlib.sha256(_normalise_query(query).encode("utf-8", "surrogatepass")).digest()
    bucket = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    return "eval" if bucket < eval_share else "train"


def _normalise_query(query: str) -> str:
    # NFKC so composed/decomposed "й" (and full-width forms) count as the same query.
    return " ".join(unicodedata.normalize("NFKC", query).casefold().split())


# ---------------------------------------------------------------------------- records


class LabelError(ValueError):
    """A label that cannot be stored; the message is meant for the person labelling."""


@dataclass(frozen=True)
class Label:
    annotator: str
    corpus: str
    query: str
    doc_id: str
    grade: int | None  # a key of GRADES, or None = retraction (written by undo)
    model: str = ""
    rank: int | None = None
    note: str = ""
    ts: str = ""  # UTC ISO time, filled at append
    split: str = ""  # filled by split_of at append


@dataclass(frozen=True)
class SkippedLine:
    line_no: int  # physical line (1 = header) where the damaged record starts
    reason: str
    text_excerpt: str


@dataclass
class LabelsRead:
    frame: pd.DataFrame  # COLUMNS, every history row in file order
    skipped: list[SkippedLine] = field(default_factory=list)


def _validate(label: Label, eval_share: float) -> Label:
    """Check a label before it touches the file; returns it with split filled."""
    if not isinstance(label, Label):
        raise LabelError(f"expected a Label, got {type(label).__name__}")
    for name in ("annotator", "corpus", "query", "doc_id", "model", "note", "ts", "split"):
        value = getattr(label, name)
        if not isinstance(value, str):
            raise LabelError(f"{name} must be text, got {type(value).__name__}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise LabelError(f"{name} contains characters that cannot be saved as UTF-8") from None
    for name in KEY:
        if not getattr(label, name).strip():
            raise LabelError(f"{name} is empty: enter a {name.replace('_', ' ')} before saving a grade")
    grade = label.grade
    if grade is not None:
        if isinstance(grade, bool) or not isinstance(grade, numbers.Integral) or int(grade) not in GRADES:
            choices = ", ".join(f"{g} ({name})" for g, name in GRADES.items())
            raise LabelError(f"grade must be one of {choices}; got {grade!r}")
        grade = int(grade)
    rank = label.rank
    if rank is not None:
        if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or not 0 <= rank < 10**9:
            raise LabelError(f"rank must be a whole number from 0 to 999999999, or empty; got {rank!r}")
        rank = int(rank)
    split = split_of(label.query, eval_share)
    if label.split and label.split != split:
        # A caller-chosen split would break "a query never trains and evaluates at once".
        raise LabelError(f"split {label.split!r} contradicts the query's hashed split {split!r}")
    return replace(label, grade=grade, rank=rank, split=split)


# ---------------------------------------------------------------------------- encoding

_ESCAPES = {ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r"}
_ESCAPES |= {c: f"\\x{c:02x}" for c in range(32) if c not in _ESCAPES and c != ord("\t")}
_UNESCAPE_RE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)", re.DOTALL)
_UNESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}


def _escape(text: str) -> str:
    return text.translate(_ESCAPES)


def _unescape(text: str) -> str:
    if "\\" not in text:  # fast path: almost every field
        return text

    def one(m: re.Match) -> str:
        code = m.group(1)
        if code[0] == "x" and len(code) == 3:
            return chr(int(code[1:], 16))
        return _UNESCAPES.get(code, m.group(0))  # unknown escape (hand edit): keep as typed

    return _UNESCAPE_RE.sub(one, text)


def _encode_rows(labels: Iterable[Label]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for lab in labels:
        writer.writerow([
            _escape(lab.ts), _escape(lab.annotator), _escape(lab.corpus), _escape(lab.query),
            _escape(lab.doc_id), "" if lab.grade is None else str(lab.grade), _escape(lab.model),
            "" if lab.rank is None else str(lab.rank), lab.split, _escape(lab.note),
        ])
    return buf.getvalue().encode("utf-8")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# ---------------------------------------------------------------------------- parsing


# A line that is exactly one well-formed 10-field CSV record with none of the characters our
# writer never leaves raw (CR, NUL, the torn-row mark, undecodable bytes as surrogates).
_PLAIN = "\"\n\r\x00\x18\udc80-\udcff"
_FIELD = rf'(?:[^,{_PLAIN}]*|"(?:[^{_PLAIN}]|"")*")'
_RECORD_LINE_RE = re.compile(rf"{_FIELD}(?:,{_FIELD}){{{len(COLUMNS) - 1}}}")


def _parse(data: bytes) -> LabelsRead:
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
    if lines and lines[0].removeprefix("\ufeff") == _HEADER.decode().rstrip("\n"):
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
    if line.endswith(_TORN_MARK.decode()):
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
    for name in _TEXT_COLUMNS:
        col = frame[name]
        escaped = col.str.contains("\\", regex=False).to_numpy(dtype=bool)
        if escaped.any():
            frame.loc[escaped, name] = col[escaped].map(_unescape)
    for name in ("grade", "rank"):
        frame[name] = frame[name].where(frame[name] != "", None).astype("Int64")
    return frame


def _label_from_row(row) -> Label:
    def opt_int(v):
        return None if pd.isna(v) else int(v)

    return Label(
        annotator=row["annotator"], corpus=row["corpus"], query=row["query"], doc_id=row["doc_id"],
        grade=opt_int(row["grade"]), model=row["model"], rank=opt_int(row["rank"]), note=row["note"],
    )


# ---------------------------------------------------------------------------- store


class LabelStore:
    """Append-only CSV of labels, safe for several processes on one machine.

    Writers take an exclusive flock for one os.write + fsync; readers take a shared flock so
    they never see half a row. flock is advisory and local: keep the file on a local disk.
    """

    def __init__(self, path: str | os.PathLike, eval_share: float = 0.3):
        self.path = Path(path)
        self.eval_share = eval_share
        self._cache: tuple[tuple, LabelsRead] | None = None

    # -- writing

    def append(self, label: Label) -> Label:
        """Store one label durably; returns it with ts and split filled."""
        return self.append_many([label])[0]

    def append_many(self, labels: Iterable[Label]) -> list[Label]:
        """Store labels as one write: all of them or (if any is invalid) none."""
        checked = [_validate(lab, self.eval_share) for lab in labels]
        if not checked:
            return []
        with self._locked() as fd:
            return self._write(fd, checked)

    def undo(self, annotator: str, corpus: str, query: str, doc_id: str) -> Label | None:
        """Revert this annotator's last change for the key by appending a row.

        Restores the row before the last one (its grade, model, rank, note), or appends a
        retraction when there was only one. Undoing an undo redoes. None: nothing to undo.
        """
        with self._locked() as fd:  # read-decide-append under one lock: two undos can't interleave
            frame = self._snapshot(fd).frame
            mine = frame[_key_mask(frame, annotator, corpus, query, doc_id)]
            if mine.empty:
                return None
            if len(mine) >= 2:
                restored = _label_from_row(mine.iloc[-2])
            elif pd.isna(mine["grade"].iloc[-1]):
                return None  # already retracted
            else:
                restored = Label(annotator, corpus, query, doc_id, grade=None)
            return self._write(fd, [_validate(restored, self.eval_share)])[0]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # closing releases the flock

    def _write(self, fd: int, labels: list[Label]) -> list[Label]:
        now = _now()  # stamped under the lock, so ts order follows file order
        labels = [lab if lab.ts else replace(lab, ts=now) for lab in labels]
        size = os.fstat(fd).st_size
        prefix = b""
        if size == 0:
            prefix = _HEADER  # under the lock: exactly one writer sees an empty file
        elif os.pread(fd, 1, size - 1) != b"\n":
            prefix = _TORN_MARK + b"\n"  # close the torn row so it stays its own damaged line
        payload = prefix + _encode_rows(labels)
        written = os.write(fd, payload)  # one O_APPEND write: rows land whole and contiguous
        while written < len(payload):  # short write (rare: signal, disk nearly full)
            written += os.write(fd, payload[written:])
        os.fsync(fd)
        if size == 0:
            fsync_path(self.path.parent)  # make the new file's directory entry durable too
        return labels

    # -- reading

    def read(self) -> LabelsRead:
        """Every row in file order plus the damaged lines that were skipped."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return _parse(b"")
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return self._snapshot(fd)
        finally:
            os.close(fd)

    def _snapshot(self, fd: int) -> LabelsRead:
        # The app re-reads on every rerun; the file only grows, so (inode, size, mtime) is a
        # cheap and safe cache key. Copies keep callers from mutating the cached frame.
        st = os.fstat(fd)
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, _parse(_pread_all(fd, st.st_size)))
        parsed = self._cache[1]
        return LabelsRead(parsed.frame.copy(), list(parsed.skipped))

    def latest(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """The current grade per key: last row in file order; retracted keys dropped."""
        if frame is None:
            frame = self.read().frame
        last = frame.drop_duplicates(subset=KEY, keep="last")
        return last[last["grade"].notna()].reset_index(drop=True)

    def grades_for(self, corpus: str, query: str, annotator: str) -> dict[str, dict]:
        """{doc_id: {"mine": grade or None, "others": n}} for docs graded for this query."""
        cur = self.latest()
        cur = cur[(cur["corpus"] == corpus) & (cur["query"] == query)]
        out: dict[str, dict] = {}
        for doc_id, who, grade in zip(cur["doc_id"], cur["annotator"], cur["grade"]):
            entry = out.setdefault(doc_id, {"mine": None, "others": 0})
            if who == annotator:
                entry["mine"] = int(grade)
            else:
                entry["others"] += 1
        return out

    def history(self, corpus: str, query: str, doc_id: str) -> pd.DataFrame:
        """All rows (every annotator, retractions included) for one document, oldest first."""
        frame = self.read().frame
        mask = (frame["corpus"] == corpus) & (frame["query"] == query) & (frame["doc_id"] == doc_id)
        return frame[mask].reset_index(drop=True)


def _key_mask(frame: pd.DataFrame, annotator: str, corpus: str, query: str, doc_id: str):
    return (
        (frame["annotator"] == annotator) & (frame["corpus"] == corpus)
        & (frame["query"] == query) & (frame["doc_id"] == doc_id)
    )


def _pread_all(fd: int, size: int) -> bytes:
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------------------- export


def export_csv(frame: pd.DataFrame) -> bytes:
    """CSV bytes for spreadsheet users: UTF-8 with BOM, CRLF, every text cell defused.

    See spreadsheet_csv. The store itself keeps the exact text; this is only for the download.
    """
    return spreadsheet_csv(frame, bom=True)


# A spreadsheet may split a line on any of these (its list separator is locale-dependent: `;`
# in Russian Excel), and a line break inside a field starts a row where quoting gets out of step.
_CELL_BREAKS = re.compile(r"([,;\t\r\n])")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def neutralise(value: str) -> str:
    """Text that no spreadsheet runs as a formula, wherever it splits the line (OWASP CSV injection).

    Every place a cell could start - the start of the text and right after each `,` `;` TAB
    CR or LF in it, past any spaces or double quotes - gets a "'" before a = + - @ TAB or CR
    that would start a formula there: `ok;=1+1` -> `ok;'=1+1`, `=1+1` -> `'=1+1`. Plain numbers
    are not formulas and stay as they are, so Telegram's `-1001111111111` stays a number."""
    if not isinstance(value, str) or not value:
        return value
    pieces = _CELL_BREAKS.split(value)
    out = []
    for i, piece in enumerate(pieces):
        if i % 2 == 0:   # a stretch between breaks: where a cell could begin
            lead = len(piece) - len(piece.lstrip(' "'))
            body = piece[lead:]
            if i == 0 and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
                piece = "'" + piece    # the whole cell starts with TAB/CR or a formula character
            elif body.startswith(_FORMULA_START) and not _NUMBER.fullmatch(body.strip(' "')):
                piece = piece[:lead] + "'" + body
        out.append(piece)
    return "".join(out)


def spreadsheet_csv(frame: pd.DataFrame, bom: bool = True) -> bytes:
    """A frame as CSV that spreadsheets open safely: every text cell is double-quoted (so a
    `,` or `;` inside it never splits it where quoting is honoured) and neutralised (where it
    is not); numbers are written unquoted, as numbers; missing values as empty cells."""
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
    writer.writerow([neutralise(str(c)) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        writer.writerow([_cell(v) for v in row])
    return (("\ufeff" if bom else "") + buf.getvalue()).encode("utf-8")


def _cell(value):
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value)
    if isinstance(value, (numbers.Real, np.floating)):
        return "" if np.isnan(value) else float(value)
    return neutralise(str(value))
