"""Pair files: `a_id, b_id[, label]` naming records of a corpus, or `text_a, text_b[, label]`.

Reading is all-or-nothing, like a corpus file: a wrong column, an id the corpus does not have,
a label that is not same/different, an unreadable file -> PairFileError naming the file, the
column and the row, and nothing is stored. Labelled rows become pair labels in one append_many,
so a file is stored whole or not at all, and labels already on disk are never touched.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.corpora.errors import CorpusError
from core.corpora.files import column_list, read_table, row_number, separator_hint
from core.corpora.records import Corpus
from core.display import count, quoted
from core.labels.base import Label
from core.tasks.pairs.labels import DIFFERENT, SAME, UNSURE, pair_key, pair_label

ID_COLUMNS, TEXT_COLUMNS = ("a_id", "b_id"), ("text_a", "text_b")
# What people write in a label column; compared case-folded and stripped. Empty = not labelled yet.
LABEL_WORDS = {
    SAME: {"1", "same", "да", "одно и то же", "одинаковые", "совпадает", "true"},
    DIFFERENT: {"0", "different", "нет", "разные", "не совпадает", "false"},
    UNSURE: {"-1", "?", "не могу оценить", "unsure"},
}
_LABELS = {word: grade for grade, words in LABEL_WORDS.items() for word in words}


class PairFileError(ValueError):
    """A pair file that cannot be used; the message names the file, the column and the row."""


@dataclass(frozen=True)
class PairFile:
    pairs: pd.DataFrame              # a_id, b_id (ordered by pair_key), label (Int64, <NA> = to judge)
    source: str
    texts: pd.DataFrame | None = None   # id, text: a text-pair file's records (a corpus to import)
    notes: tuple[str, ...] = field(default=())

    @property
    def n_labelled(self) -> int:
        return int(self.pairs["label"].notna().sum())


def text_id(text: str) -> str:
    """A stable id for a record that only exists as text in a pair file."""
    return "t" + hashlib.sha256(text.strip().encode("utf-8", "surrogatepass")).hexdigest()[:12]


def read_pair_file(path: str | Path, corpus: Corpus | None, source: str | None = None) -> PairFile:
    """Read and check a pair file. `corpus`: the corpus an id file must name (unused for texts)."""
    source = source or str(path)
    try:
        table = read_table(path)
    except CorpusError as exc:
        raise PairFileError(str(exc).replace(str(path), source)) from exc
    return pairs_from_table(table, corpus, source)


def pairs_from_table(table: pd.DataFrame, corpus: Corpus | None, source: str) -> PairFile:
    columns = [str(c).strip() for c in table.columns]
    table = table.set_axis(columns, axis=1).reset_index(drop=True)
    if all(c in columns for c in ID_COLUMNS):
        (a, b), texts = _ids(table, corpus, source), None
    elif all(c in columns for c in TEXT_COLUMNS):
        a, b, texts = _texts(table, source)
    else:
        raise PairFileError(
            f"{source}: нужны столбцы {quoted(ID_COLUMNS)} (идентификаторы записей корпуса) или "
            f"{quoted(TEXT_COLUMNS)} (два текста), и по желанию 'label'; в файле есть {column_list(columns)}."
            f"{separator_hint(columns)}")
    if table.empty:
        raise PairFileError(f"{source}: в файле есть заголовок, но нет ни одной пары.")
    labels = _labels(table, source)
    same = [i for i in range(len(a)) if a[i] == b[i]]
    if same:
        raise PairFileError(f"{source}: строка {row_number(same[0])} — пара из одной и той же записи "
                            f"({a[same[0]]!r}); такую пару не с чем сравнивать.")
    keys = [pair_key(x, y) for x, y in zip(a, b)]
    frame = pd.DataFrame({"a_id": [k[0] for k in keys], "b_id": [k[1] for k in keys],
                          "label": pd.array(labels, dtype="Int64")})
    notes = ()
    dupes = int(frame.duplicated(["a_id", "b_id"]).sum())
    if dupes:   # the same pair twice: the later row wins, as a later label would
        frame = frame.drop_duplicates(["a_id", "b_id"], keep="last").reset_index(drop=True)
        notes = (f"{count(dupes, 'пара повторяется', 'пары повторяются', 'пар повторяются')} — "
                 "учтена последняя строка каждой.",)
    return PairFile(frame, source, texts, notes)


def _ids(table: pd.DataFrame, corpus: Corpus | None, source: str) -> tuple[list[str], list[str]]:
    if corpus is None:
        raise PairFileError(f"{source}: файл называет записи по 'a_id' и 'b_id' — выберите корпус, из которого они.")
    known = set(corpus.frame["id"])
    out = []
    for col in ID_COLUMNS:
        values = [str(v).strip() for v in table[col]]
        empty = [i for i, v in enumerate(values) if not v]
        if empty:
            raise PairFileError(f"{source}: столбец '{col}', строка {row_number(empty[0])}: пустой идентификатор.")
        unknown = [i for i, v in enumerate(values) if v not in known]
        if unknown:
            i = unknown[0]
            raise PairFileError(
                f"{source}: столбец '{col}', строка {row_number(i)}: записи {values[i]!r} нет в корпусе "
                f"«{corpus.name}» (всего неизвестных в этом столбце: {len(unknown)}). Проверьте, что выбран "
                "тот корпус, или исправьте файл; ничего не сохранено.")
        out.append(values)
    return out[0], out[1]


def _texts(table: pd.DataFrame, source: str):
    sides = []
    for col in TEXT_COLUMNS:
        values = [str(v).strip() for v in table[col]]
        empty = [i for i, v in enumerate(values) if not v]
        if empty:
            raise PairFileError(f"{source}: столбец '{col}', строка {row_number(empty[0])}: пустой текст.")
        sides.append(values)
    unique = list(dict.fromkeys(sides[0] + sides[1]))
    texts = pd.DataFrame({"id": [text_id(t) for t in unique], "text": unique})
    return [text_id(t) for t in sides[0]], [text_id(t) for t in sides[1]], texts


def _labels(table: pd.DataFrame, source: str) -> list[int | None]:
    if "label" not in table.columns:
        return [None] * len(table)
    out = []
    for i, raw in enumerate(table["label"]):
        word = " ".join(str(raw).casefold().split())
        if word in ("", "nan", "none"):
            out.append(None)
        elif word in _LABELS:
            out.append(_LABELS[word])
        else:
            raise PairFileError(
                f"{source}: столбец 'label', строка {row_number(i)}: {str(raw)[:40]!r} — не метка пары. Пишите 1 "
                "(одно и то же), 0 (разные), -1 (не могу оценить) или оставьте пустым, чтобы разметить на странице.")
    return out


def file_labels(pf: PairFile, corpus_name: str, annotator: str) -> list[Label]:
    """The file's labelled rows as pair labels signed by `annotator`, noting the file."""
    note = f"файл {Path(pf.source).name}"[:200]
    return [pair_label(annotator, corpus_name, a, b, int(g), note=note)
            for a, b, g in zip(pf.pairs["a_id"], pf.pairs["b_id"], pf.pairs["label"]) if pd.notna(g)]


DEMO_PAIRS = {"offers": "offer_pairs.csv"}   # ground truth shipped with a demo corpus


def demo_pair_file(data_dir: str | Path, corpus_name: str) -> Path | None:
    """The bundled ground-truth pairs of a demo corpus, if it has them."""
    name = DEMO_PAIRS.get(corpus_name)
    path = Path(data_dir) / name if name else None
    return path if path is not None and path.exists() else None
