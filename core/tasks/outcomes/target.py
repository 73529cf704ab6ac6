"""What the user wants to predict about a post, and its values checked row by row.

    Target("column", "views", log=True)                  -> log(1 + views)
    Target("ratio", "likes", per="views")                -> likes / views (a rate: binomial log-likelihood)
    Target("weighted", per="views", weights=(("likes", 1), ("forwards", 5)))
                                                         -> (likes + 5·forwards) / views

Counts come from files people exported by hand ("1 234", "0,5", "много"), so every value is
parsed here and a bad one stops the run with a message naming the file, the column and the row;
a blank value or a zero denominator only leaves that row out (and says how many).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core import display
from core.corpora.files import row_number

KINDS = ("column", "ratio", "weighted")
NUMERIC_SHARE = 0.8   # a column is offered as a target when this share of its filled cells are numbers


class OutcomeError(ValueError):
    """The chosen target cannot be computed; the message says where and how to fix it."""


@dataclass(frozen=True)
class Target:
    kind: str
    column: str = ""                                   # column: the value; ratio: the numerator
    per: str = ""                                      # ratio, weighted: the denominator (views)
    weights: tuple[tuple[str, float], ...] = ()        # weighted: (column, weight) pairs
    log: bool = False                                  # column: fit and score log(1 + value)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown target kind {self.kind!r}; known: {', '.join(KINDS)}")

    @property
    def is_rate(self) -> bool:
        """Successes out of trials (likes of views): scored by the binomial log-likelihood too."""
        return self.kind == "ratio"

    @property
    def columns(self) -> tuple[str, ...]:
        if self.kind == "column":
            return (self.column,)
        if self.kind == "ratio":
            return (self.column, self.per)
        return tuple(c for c, _ in self.weights) + (self.per,)

    def label(self) -> str:
        """The target in words, for headers and axes: «лайки / просмотры»."""
        h = display.header
        if self.kind == "column":
            return f"{h(self.column)} (логарифм)" if self.log else h(self.column)
        if self.kind == "ratio":
            return f"{h(self.column)} / {h(self.per)}"
        parts = " + ".join(f"{display.decimal(w, 1).removesuffix(',0')}·{h(c)}" for c, w in self.weights)
        return f"({parts}) / {h(self.per)}"


@dataclass(frozen=True)
class TargetValues:
    y: np.ndarray                  # (n_kept,) the value the model fits and is scored on
    rows: np.ndarray               # (n_kept,) row positions in the corpus
    successes: np.ndarray | None   # rate targets: numerator counts
    trials: np.ndarray | None      # rate targets: denominator counts
    notes: tuple[str, ...] = ()


def parse_numbers(values: pd.Series) -> pd.Series:
    """Numbers as people type them: spaces between thousands, a decimal comma. Blank -> nan;
    anything else that is not a number -> None (so the caller can say which row)."""
    text = values.astype(str).str.strip().str.replace(r"[\s\u00a0\u202f]", "", regex=True).str.replace(",", ".")
    text = text.mask(text.str.lower().isin(["", "nan", "none", "null"]))
    parsed = pd.to_numeric(text, errors="coerce")
    return parsed.astype(object).where(parsed.notna() | text.isna(), None)


def numeric_candidates(frame: pd.DataFrame, exclude: tuple[str, ...] = ("id",)) -> list[str]:
    """Columns that are (nearly) all numbers: what the page offers as targets and metadata."""
    out = []
    for col in frame.columns:
        if col in exclude:
            continue
        parsed = parse_numbers(frame[col])
        filled = parsed.notna() | parsed.map(lambda v: v is None)
        numbers = pd.to_numeric(parsed, errors="coerce").notna()
        if filled.any() and numbers.sum() >= NUMERIC_SHARE * filled.sum():
            out.append(col)
    return out


def numeric_column(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    """The column as floats (nan where blank); OutcomeError at the first cell that is not a
    number or is negative (counts of views and actions never are)."""
    if column not in frame.columns:
        raise OutcomeError(f"{source}: нет столбца {column!r}; есть {display.quoted(frame.columns)}.")
    parsed = parse_numbers(frame[column])
    bad = np.flatnonzero(parsed.map(lambda v: v is None).to_numpy())
    if len(bad):
        i = bad[0]
        raise OutcomeError(
            f"{source}: в столбце {column!r} в строке {row_number(i)} (id {frame['id'].iat[i]!r}) значение "
            f"{display.snippet(frame[column].iat[i], 40)!r} — не число (всего таких строк: {len(bad)}). "
            "Исправьте файл или выберите другой столбец.")
    values = pd.to_numeric(parsed, errors="coerce").to_numpy(float)
    negative = np.flatnonzero(values < 0)
    if len(negative):
        i = negative[0]
        raise OutcomeError(
            f"{source}: в столбце {column!r} в строке {row_number(i)} (id {frame['id'].iat[i]!r}) "
            f"отрицательное значение {display.decimal(values[i], 0)} — просмотров и действий меньше нуля не бывает "
            f"(всего таких строк: {len(negative)}).")
    return values


def target_values(frame: pd.DataFrame, target: Target, source: str) -> TargetValues:
    """The target per usable row. Rows with a blank value or a zero denominator are left out."""
    cols = {c: numeric_column(frame, c, source) for c in dict.fromkeys(target.columns)}
    successes = trials = None
    if target.kind == "column":
        raw = cols[target.column]
        y = np.log1p(raw) if target.log else raw
    else:
        denom = cols[target.per]
        num = cols[target.column] if target.kind == "ratio" else sum(w * cols[c] for c, w in target.weights)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.where(denom > 0, num / denom, np.nan)
        if target.is_rate:
            _check_not_above(frame, num, denom, target, source)
            successes, trials = num, denom
    keep = ~np.isnan(y)
    notes = []
    if (~keep).any():
        first = int(np.flatnonzero(~keep)[0])
        notes.append(f"{display.count(int((~keep).sum()), 'строка не участвует', 'строки не участвуют', 'строк не участвуют')}"
                     f": пустое значение или ноль в знаменателе (первая — строка {row_number(first)}).")
    rows = np.flatnonzero(keep)
    return TargetValues(y[keep], rows, None if successes is None else successes[keep],
                        None if trials is None else trials[keep], tuple(notes))


def _check_not_above(frame, num, denom, target: Target, source: str) -> None:
    """A rate of successes out of trials is at most 1: more likes than views is a broken row."""
    above = np.flatnonzero(num > denom)
    if len(above):
        i = above[0]
        raise OutcomeError(
            f"{source}: в строке {row_number(i)} (id {frame['id'].iat[i]!r}) {target.column!r} = "
            f"{display.number(num[i])} больше, чем {target.per!r} = {display.number(denom[i])}: доля не бывает "
            f"больше 1 (всего таких строк: {len(above)}). Проверьте столбцы или выберите «взвешенную сумму».")
