"""The Labels page's eval-set health panel: agreement, disagreements, pace, exports."""
from typing import Callable

import pandas as pd
import streamlit as st

from core import display
from core.labels.quality import (
    disagreement_queue,
    judgements_per_hour,
    krippendorff_alpha,
    pairwise_agreement,
    quepid_csv,
    trec_qrels,
)


def show(history: pd.DataFrame, latest: pd.DataFrame, doc_name: Callable[[str, str], str]) -> None:
    """doc_name(corpus, doc_id) -> what to call a document on screen."""
    alpha, n_items = krippendorff_alpha(latest)
    c = st.columns(3)
    c[0].metric("α Криппендорфа", "—" if n_items == 0 else display.decimal(alpha, 2),
                help="Согласие аннотаторов на документах, оценённых двумя и более (интервальная метрика): "
                     "1 — полное согласие, 0 — как случайно. «Не могу оценить» не учитывается.")
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
        st.dataframe(display.styled(pairwise_agreement(latest), formats={"exact": display.percent}),
                     hide_index=True)
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
