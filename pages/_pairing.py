"""Streamlit side of the Pairs page: the pair-label store, one-click judging, pair files."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from core import display
from core.config import Settings
from core.corpora.records import Corpus
from core.tasks.pairs.files import PairFile, PairFileError, file_labels, read_pair_file
from core.tasks.pairs.labels import DIFFERENT, PAIR_GRADES, SAME, UNSURE, mine, open_pair_store, pair_label, undo_pair
from pages._state import annotator

FLASH, ERROR, LAST = "pairs_flash", "pairs_error", "pairs_last"
BUTTONS = [(SAME, "Одно и то же", "1"), (DIFFERENT, "Разные", "0"), (UNSURE, "Не могу оценить", "X")]


@st.cache_resource(show_spinner=False, max_entries=4)
def _store(path: str, _s: Settings):
    return open_pair_store(_s)


def store(s: Settings):
    """One store per file and process: its parsed read is cached by the file's size and mtime."""
    return _store(str(s.pair_labels_path), _s=s)


def read(s: Settings) -> pd.DataFrame:
    """Every pair-label row, re-parsed only when the file changed (LabelStore caches by size+mtime)."""
    return store(s).read().frame


def show_feedback() -> None:
    if msg := st.session_state.pop(FLASH, None):
        st.toast(msg, icon=":material/check:")
    if msg := st.session_state.pop(ERROR, None):
        st.error(msg)


def _failed(exc: Exception) -> None:
    st.session_state[ERROR] = (f"Метка НЕ сохранена ({display.plain(exc)}). Проверьте путь VECSCOPE_PAIR_LABELS; "
                               "ранее сохранённые метки не затронуты.")


def save(s: Settings, corpus: str, a_id: str, b_id: str, grade: int, model: str, note: str) -> None:
    """A click's callback: the label is fsynced to disk before the page reruns and says so."""
    try:
        store(s).append(pair_label(annotator(), corpus, a_id, b_id, grade, model=model, note=note))
    except Exception as exc:   # disk full, permissions…: say so, keep the page alive
        _failed(exc)
        return
    st.session_state[LAST] = (corpus, a_id, b_id)
    st.session_state[FLASH] = f"Сохранено: {display.plain(a_id)} и {display.plain(b_id)} — {PAIR_GRADES[grade]}"


def undo_last(s: Settings) -> None:
    last = st.session_state.get(LAST)
    if not last:
        return
    try:
        restored = undo_pair(store(s), annotator(), *last)
    except Exception as exc:
        _failed(exc)
        return
    st.session_state[FLASH] = ("Отменено: " + ("метка снята" if restored is None or restored.grade is None
                                               else f"вернули «{PAIR_GRADES[restored.grade]}»"))


def show_record(corpus: Corpus, doc_id: str, group_column: str | None) -> None:
    """One side of a pair: its text exactly as written (st.text never interprets markup)."""
    pos = corpus.position(doc_id)
    row = corpus.frame.iloc[pos]
    meta = [doc_id] + ([str(row[group_column])] if group_column else [])
    st.caption(display.plain(" · ".join(meta), one_line=True))
    st.text(corpus.texts[pos])


def judge(s: Settings, corpus: Corpus, queue: pd.DataFrame, model: str, group_column: str | None) -> None:
    """The first pair of the queue this annotator has not judged, with the three buttons."""
    who = annotator()
    done = mine(read(s), corpus.name, who)
    left = queue[[(a, b) not in done for a, b in zip(queue["a_id"], queue["b_id"])]]
    st.caption(f"Размечено {len(queue) - len(left)} из {len(queue)} пар этой подборки · клавиши 1 / 0 / X "
               "ставят метку, U отменяет последнюю")
    if left.empty:
        st.success("Все пары подборки размечены. Предложите новую подборку или загрузите файл пар.")
        return
    pair = left.iloc[0]
    with st.container(border=True, key="pair_card"):
        origin = pair.get("origin", "")
        if origin:
            st.caption(display.plain(f"{origin} · сходство {display.decimal(pair['similarity'])}"))
        left_col, right_col = st.columns(2)
        with left_col:
            show_record(corpus, pair["a_id"], group_column)
        with right_col:
            show_record(corpus, pair["b_id"], group_column)
        with st.container(horizontal=True, key="pair_buttons"):
            for grade, text, key in BUTTONS:
                st.button(text, key=f"pair_g{grade}", shortcut=key, disabled=not who, type="secondary",
                          on_click=save, args=(s, corpus.name, pair["a_id"], pair["b_id"], grade, model,
                                               str(origin)))
            st.button("Отменить последнюю", key="pair_undo", shortcut="U", icon=":material/undo:",
                      disabled=not st.session_state.get(LAST), on_click=undo_last, args=(s,))


def history(s: Settings, corpus: str) -> None:
    frame = read(s)
    rows = frame[(frame["corpus"] == corpus) & (frame["annotator"] == annotator())].tail(10).iloc[::-1]
    if rows.empty:
        return
    shown = pd.DataFrame({"когда": rows["ts"].map(display.moment),
                          "запись A": rows["query"], "запись B": rows["doc_id"],
                          "метка": [PAIR_GRADES.get(g, "снята") if pd.notna(g) else "снята" for g in rows["grade"]],
                          "откуда": rows["note"]})
    with st.expander("Мои последние метки (история: каждая строка файла, отмена — новая строка)"):
        st.dataframe(shown, hide_index=True)


def upload(corpus: Corpus) -> PairFile | None:
    """A pair file from the browser, checked against the corpus; errors shown, nothing stored."""
    up = st.file_uploader("Файл пар: CSV (UTF-8) или Parquet", type=["csv", "parquet"], key="pairs_upload",
                          help="Столбцы `a_id`, `b_id` (записи выбранного корпуса) или `text_a`, `text_b` (два "
                               "текста), и по желанию `label`: 1 — одно и то же, 0 — разные, -1 — не могу оценить, "
                               "пусто — разметить здесь.")
    if up is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(up.name).name
        path.write_bytes(up.getvalue())
        try:
            return read_pair_file(path, corpus, source=up.name)
        except PairFileError as exc:
            st.error(display.plain(exc))
            return None


def store_file_labels(s: Settings, pf: PairFile, corpus_name: str) -> int:
    """All labelled rows of the file in one write: the whole file or, on failure, nothing."""
    labels = file_labels(pf, corpus_name, annotator())
    try:
        store(s).append_many(labels)
    except Exception as exc:
        _failed(exc)
        return 0
    return len(labels)
