"""Every label, filterable, with history, undo and export."""
import streamlit as st

from core.labels import GRADES, export_csv
from pages import _cache, _grading, _health
from pages._state import annotator, require_frame, settings

require_frame()
s = settings()
st.title("Разметка")
_grading.show_feedback()

read = _cache.labels_read(str(s.labels_path), _cache.mtime(s.labels_path))
for bad in read.skipped:
    st.warning(f"Строка {bad.line_no} файла {s.labels_path} повреждена и пропущена ({bad.reason}): "
               f"`{bad.text_excerpt[:80]}`. Остальные оценки загружены, новые дописываются как обычно.")
if read.frame.empty:
    st.info("Оценок пока нет. Откройте «Поиск», найдите что-нибудь и оцените результаты — они появятся здесь.")
    st.stop()

store = _cache.store(s)
latest = store.latest(read.frame)
c = st.columns(4)
c[0].metric("Текущих оценок", f"{len(latest):,}".replace(",", " "))
c[1].metric("Запросов с оценками", latest.groupby(["corpus", "query"]).ngroups)
c[2].metric("Аннотаторов", latest["annotator"].nunique())
c[3].metric("Строк в истории", f"{len(read.frame):,}".replace(",", " "))
per_corpus = (latest.groupby("corpus").agg(запросов=("query", "nunique"), оценок=("doc_id", "size"))
              .rename_axis("корпус"))
st.dataframe(per_corpus, width="content")

f = st.columns([1, 1, 2, 1])
who = f[0].multiselect("Аннотатор", sorted(latest["annotator"].unique()), key="labels_annotators", placeholder="все")
corp = f[1].multiselect("Корпус", sorted(latest["corpus"].unique()), key="labels_corpora", placeholder="все")
q = f[2].text_input("Запрос содержит", key="labels_query")
grades = f[3].multiselect("Оценка", list(GRADES), format_func=lambda g: f"{g} · {GRADES[g]}",
                          key="labels_grades", placeholder="все")
view = latest
if who:
    view = view[view["annotator"].isin(who)]
if corp:
    view = view[view["corpus"].isin(corp)]
if q:
    view = view[view["query"].str.contains(q, case=False, regex=False)]
if grades:
    view = view[view["grade"].isin(grades)]

st.caption(f"Показано {len(view)} из {len(latest)} · у каждого (аннотатор, корпус, запрос, документ) — последняя оценка; "
           "выберите строку, чтобы увидеть её историю.")
picked = st.dataframe(view, hide_index=True, on_select="rerun", selection_mode="single-row", key="labels_table",
                      column_order=["ts", "annotator", "corpus", "query", "doc_id", "grade", "model", "rank",
                                    "split", "note"])
st.download_button("Скачать CSV", export_csv(view), file_name="vecscope-labels.csv", mime="text/csv",
                   icon=":material/download:",
                   help="Ячейки, начинающиеся с = + - @, экранированы апострофом для Excel; исходный файл хранит точный текст.")

health = st.toggle("Здоровье eval-набора: согласие аннотаторов, очередь споров, темп, экспорт", key="labels_health")
if health:
    _health.show(read.frame, latest)

rows = picked.selection.rows if picked else []
if rows:
    row = view.iloc[rows[0]]
    st.subheader("История оценки")
    st.write(f"«{row['query']}» → `{row['doc_id']}` ({row['corpus']})")
    hist = store.history(row["corpus"], row["query"], row["doc_id"])
    st.dataframe(hist, hide_index=True)
    if row["annotator"] == annotator():
        def _undo():
            store.undo(row["annotator"], row["corpus"], row["query"], row["doc_id"])
            st.session_state[_grading.FLASH] = "Последняя оценка отменена (добавлена строка в историю)."
        st.button("Отменить мою последнюю оценку", on_click=_undo, icon=":material/undo:")
