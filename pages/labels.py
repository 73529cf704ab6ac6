"""Every label, filterable, with history, undo and export."""
import hashlib

import pandas as pd
import streamlit as st

from core import display
from core.labels.store import GRADES, export_csv
from pages import _cache, _grading, _health
from pages._state import annotator, require_frame, settings

PICKED = "labels_picked"   # (annotator, corpus, query, doc_id) of the label whose history is shown

require_frame()
s = settings()
st.title("Разметка")
_grading.show_feedback()

read = _cache.labels(s)
for bad in read.skipped:
    st.warning(f"Строка {bad.line_no} файла {display.plain(s.labels_path)} повреждена и пропущена "
               f"({display.plain(bad.reason)}): «{display.plain(bad.text_excerpt[:80], one_line=True)}». "
               "Остальные оценки загружены, новые дописываются как обычно.")
if read.frame.empty:
    st.info("Оценок пока нет. Откройте «Поиск», найдите что-нибудь и оцените результаты — они появятся здесь.")
    st.stop()

store = _cache.store(s)
latest = store.latest(read.frame)
c = st.columns(4)
c[0].metric("Текущих оценок", display.number(len(latest)))
c[1].metric("Запросов с оценками", display.number(latest.groupby(["corpus", "query"]).ngroups))
c[2].metric("Аннотаторов", display.number(latest["annotator"].nunique()))
c[3].metric("Строк в истории", display.number(len(read.frame)))
per_corpus = (latest.groupby("corpus").agg(запросов=("query", "nunique"), оценок=("doc_id", "size"))
              .reset_index())
st.dataframe(display.styled(per_corpus), width="content", hide_index=True)


def doc_name(corpus: str, doc_id: str) -> str:
    return _cache.titles(s, corpus).get(doc_id) or doc_id


def readable(frame):
    """The labels as people read them: document names, grade names, local times."""
    names = {cp: _cache.titles(s, cp) for cp in frame["corpus"].unique()}
    out = frame.assign(
        ts=display.to_local(frame["ts"]).to_numpy(),
        doc_id=[names[cp].get(d) or d for cp, d in zip(frame["corpus"], frame["doc_id"])],
        grade=frame["grade"].map(display.grade_label),
        split=frame["split"].map(lambda v: display.SPLIT_NAMES.get(v, v)),
        rank=frame["rank"].map(lambda v: "" if pd.isna(v) else display.number(v)))   # no "None" for a blank
    return display.headers(out[["ts", "annotator", "corpus", "query", "doc_id", "grade", "model", "rank",
                                "split", "note"]])


TABLE_CONFIG = {display.header("ts"): st.column_config.DatetimeColumn(format=display.DATETIME_COLUMN_FORMAT)}

f = st.columns([1, 1, 2, 1])
who = f[0].multiselect("Аннотатор", sorted(latest["annotator"].unique()), key="labels_annotators",
                       placeholder="все", select_all=False)
corp = f[1].multiselect("Корпус", sorted(latest["corpus"].unique()), key="labels_corpora", placeholder="все",
                        select_all=False)
q = f[2].text_input("Запрос содержит", key="labels_query")
grades = f[3].multiselect("Оценка", list(GRADES), format_func=display.grade_label, key="labels_grades",
                          placeholder="все", select_all=False)
view = latest
if who:
    view = view[view["annotator"].isin(who)]
if corp:
    view = view[view["corpus"].isin(corp)]
if q:
    view = view[view["query"].str.contains(q, case=False, regex=False)]
if grades:
    view = view[view["grade"].isin(grades)]

st.caption(f"Показано {display.number(len(view))} из {display.number(len(latest))} · у каждого (аннотатор, корпус, "
           "запрос, документ) — последняя оценка; выберите строку, чтобы увидеть её историю.")
# A selection is a row number. The table's key changes whenever its rows can change (new labels,
# an undo, other filters), so a row number is only ever read against the rows it was picked on,
# and the picked label itself is remembered by its identity, not by its row.
keys = list(zip(view["annotator"], view["corpus"], view["query"], view["doc_id"]))
table_key = "labels_table_" + hashlib.sha1(
    repr((_cache.labels_version(s), who, corp, q, grades)).encode()).hexdigest()[:12]


def _pick(table_key: str = table_key, keys: list = keys) -> None:
    rows = st.session_state[table_key].selection.rows
    st.session_state[PICKED] = keys[rows[0]] if rows and rows[0] < len(keys) else None


st.dataframe(readable(view), hide_index=True, on_select=_pick, selection_mode="single-row", key=table_key,
             column_config=TABLE_CONFIG)
st.download_button("Скачать CSV", export_csv(view), file_name="vecscope-labels.csv", mime="text/csv",
                   icon=":material/download:",
                   help="Ячейки, начинающиеся с = + - @, экранированы апострофом для Excel; исходный файл хранит точный текст.")

health = st.toggle("Здоровье набора оценок: согласие аннотаторов, очередь споров, темп, экспорт", key="labels_health")
if health:
    _health.show(read.frame, latest, doc_name)


def _undo(picked: tuple) -> None:
    """Undo the named label and nothing else, whatever the table shows now."""
    restored = store.undo(*picked)
    name = display.plain(display.snippet(doc_name(picked[1], picked[3]), 60))
    if restored is None:
        st.session_state[_grading.FLASH] = f"Нечего отменять у «{name}»."
    elif restored.grade is None:
        st.session_state[_grading.FLASH] = f"Оценка «{name}» снята (в историю добавлена строка)."
    else:
        st.session_state[_grading.FLASH] = (f"Оценка «{name}» отменена: снова {display.grade_label(restored.grade)} "
                                            "(в историю добавлена строка).")


picked = st.session_state.get(PICKED)
if picked:
    p_who, p_corpus, p_query, p_doc = picked
    name = doc_name(p_corpus, p_doc)
    st.subheader("История оценки")
    st.markdown(f"«{display.plain(p_query, one_line=True)}» → **{display.plain(name, one_line=True)}** · "
                f"{display.plain(p_corpus)}")
    hist = store.history(p_corpus, p_query, p_doc)
    st.dataframe(readable(hist), hide_index=True, column_config=TABLE_CONFIG, key="labels_history")
    if p_who == annotator():
        current = latest[(latest["annotator"] == p_who) & (latest["corpus"] == p_corpus)
                         & (latest["query"] == p_query) & (latest["doc_id"] == p_doc)]
        now = display.grade_label(current["grade"].iloc[0]) if len(current) else "оценка снята"
        st.caption(f"Ваша оценка сейчас: {now}. Отмена вернёт вашу предыдущую оценку (или снимет эту, если она "
                   "первая); повторная отмена вернёт эту.")
        st.button(f"Отменить мою последнюю оценку «{display.plain(display.snippet(name, 50))}»", key="labels_undo",
                  on_click=_undo, args=(picked,), icon=":material/undo:")
