"""Label downloads for spreadsheet users: every text cell quoted and defused (OWASP CSV injection).

The stores keep the exact text; only these downloads change it. Both label stores feed the same
frame in, so their exports are byte-identical for the same labels.
"""

from __future__ import annotations

import csv
import io
import numbers
import re

import numpy as np
import pandas as pd

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV-injection triggers


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
