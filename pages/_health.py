"""The Labels page's eval-set health panel: agreement, disagreements, pace, exports."""
import math
from typing import Callable

import pandas as pd
import streamlit as st

from core import display
from core.labels import agreement
from core.labels.quality import (
    disagreement_queue,
    graded,
    judgements_per_hour,
    pairwise_agreement,
    quepid_csv,
    trec_qrels,
)
from pages._state import annotator

SHOWN_QUERIES = 50   # the per-query table lists the least agreement first: intervals for these only


@st.cache_data(show_spinner="Считаем согласие аннотаторов…", max_entries=4)
def _agreement(latest: pd.DataFrame):
    """Ordinal alpha overall, per pair and per query (bootstrap intervals): cached per labels read."""
    return (agreement.ordinal_alpha(graded(latest)), agreement.by_pair(latest),
            agreement.by_query(latest, intervals_for=SHOWN_QUERIES))


def _open_blind(corpus: str, query: str) -> None:
    st.session_state["compare_corpus"] = corpus
    st.session_state["compare_query"] = query
    st.session_state["compare_view"] = "blind"


def show(history: pd.DataFrame, latest: pd.DataFrame, doc_name: Callable[[str, str], str]) -> None:
    """doc_name(corpus, doc_id) -> what to call a document on screen."""
    overall, pairs, queries = _agreement(latest)
    n_items = overall["items"]
    c = st.columns(3)
    interval = ("" if math.isnan(overall["lo"]) else
                f"95 % интервал {display.decimal(overall['lo'], 2)} … {display.decimal(overall['hi'], 2)}")
    c[0].metric("α Криппендорфа", "—" if n_items == 0 else display.decimal(overall["alpha"], 2),
                delta=interval or None, delta_color="off",
                help="Согласие аннотаторов на документах, оценённых двумя и более (порядковая метрика): "
                     "1 — полное согласие, 0 — как случайно. «Не могу оценить» не учитывается. " + agreement.EXPLAIN)
    c[1].metric("Документов с 2+ оценками", display.number(n_items))
    c[2].metric("Аннотаторов", display.number(latest["annotator"].nunique()))
    if n_items == 0:
        st.info("Согласие появится, когда один и тот же результат оценят хотя бы двое "
                "(удобно в слепом режиме на странице «Сравнение моделей»).")
    else:
        st.markdown("**Споры: сначала самые расходящиеся оценки**")
        queue = disagreement_queue(latest)
        queue["doc_id"] = [doc_name(cp, d) for cp, d in zip(queue["corpus"], queue["doc_id"])]
        st.dataframe(display.styled(queue), hide_index=True, width="stretch")
        st.caption(agreement.EXPLAIN)
        exact = pairwise_agreement(latest).set_index("annotators")["exact"]
        by_pair = pairs.assign(exact=pairs["annotators"].map(exact))
        two = lambda v: display.decimal(v, 2)   # noqa: E731
        names = {"alpha": "α", "lo": "95 % интервал: от", "hi": "до", "items": "документов с 2+ оценками"}
        st.markdown("**Согласие по парам аннотаторов и по запросам** (α с 95 % интервалом бутстрэпа по документам)")
        st.dataframe(display.styled(by_pair, names=names, formats={"exact": display.percent, "alpha": two,
                                                                   "lo": two, "hi": two}), hide_index=True)
        # α first: a long query must not push the number this table is about off the screen
        per_query = queries.head(SHOWN_QUERIES)[["alpha", "lo", "hi", "items", "query", "corpus"]]
        st.dataframe(display.styled(per_query, names=names, formats={"alpha": two, "lo": two, "hi": two}),
                     hide_index=True, width="stretch", height=min(38 * (len(per_query) + 1), 400))
        _second_opinion(latest, doc_name)
    st.markdown("**Темп разметки**")
    st.dataframe(display.styled(judgements_per_hour(history), formats={"per_hour": lambda v: display.decimal(v, 1)}),
                 hide_index=True)
    e = st.columns(2)
    e[0].download_button("TREC qrels", trec_qrels(latest).encode("utf-8"), file_name="vecscope.qrels",
                         mime="text/plain", icon=":material/download:",
                         help="Формат TREC: строки `query_id 0 doc_id grade`; одна оценка на документ — "
                              "округлённое среднее аннотаторов.")
    e[1].download_button("CSV для Quepid", quepid_csv(latest), file_name="vecscope-quepid.csv", mime="text/csv",
                         icon=":material/download:", help="Столбцы `query,docid,rating` — формат импорта оценок Quepid.")


def _second_opinion(latest: pd.DataFrame, doc_name: Callable[[str, str], str]) -> None:
    """Items two annotators disagree on (0 vs 2, or 1 vs 2 with a note), for someone who has not graded them."""
    me = annotator()
    todo = agreement.second_opinion(latest, me) if me else agreement.second_opinion(latest, "")
    st.markdown(f"**Нужно ещё одно мнение:** {display.count(len(todo), 'документ', 'документа', 'документов')}"
                + ("" if me else " (впишите имя слева, чтобы увидеть те, что вы ещё не оценивали)"))
    if not len(todo):
        return
    shown = todo.assign(doc_id=[doc_name(cp, d) for cp, d in zip(todo["corpus"], todo["doc_id"])])
    st.dataframe(display.styled(shown.head(20)), hide_index=True, width="stretch")
    queries = list(dict.fromkeys(zip(todo["corpus"], todo["query"])))[:20]
    pick = st.selectbox("Запрос", queries, format_func=lambda cq: cq[1], key="labels_second_opinion")
    if st.button("Оценить вслепую", on_click=_open_blind, args=pick, key="labels_second_opinion_go",
                 icon=":material/visibility_off:", disabled=not me,
                 help="Откроет «Сравнение моделей» вслепую с этим запросом: модели не названы, чужие оценки не видны."):
        st.switch_page("pages/compare.py")
