"""Streamlit side of core.evaluation.judging on the Compare page's «Оценка» view: judged@k side by side,
the metrics robust to unjudged documents, the verdict the labels support, and the judging queue."""
from __future__ import annotations

import streamlit as st

from core import display
from core.evaluation.estimated import estimated
from core.evaluation.judging import EXPLAIN, TARGET, compare, summary_frame
from core.evaluation.judging_queue import coverage_progress, judging_queue, next_item, queue_queries

QUEUE_KEY = "judging_queue_queries"   # the queue's queries in visiting order, for the blind view


def _open_blind(query: str, order: list[str]) -> None:
    st.session_state[QUEUE_KEY] = order
    st.session_state["compare_query"] = query
    st.session_state["compare_view"] = "blind"


def judging_block(table, qrels, labels, sug=None) -> None:
    """table: core.evaluation.evaluate.EvalTable; qrels: its {query: {doc: grade}}; labels: shown names of A, B;
    sug: core.labels.suggest.Suggestions for the unjudged documents of both top k (or None)."""
    if len(table.labels) < 2:
        return
    a, b = table.labels[0], table.labels[1]
    k = table.k
    name_a, name_b = (list(labels) + [a, b])[:2] if labels else (a, b)
    c = compare(table.runs[a], table.runs[b], qrels, k, a=name_a, b=name_b)
    st.markdown(f"**Сравнение, которому можно верить** (покрытие оценками топ-{k} и устойчивые метрики)")
    st.dataframe(display.styled(summary_frame(c, [name_a, name_b])), width="stretch")
    st.caption(" ".join(line.format(k=k) for line in EXPLAIN.values()))
    if c.warning:
        st.warning(display.md_text(c.warning))
    say = st.success if c.verdict.sign > 0 else st.error if c.verdict.sign < 0 else st.info
    say(display.md_text(c.verdict.text))
    if sug is not None:
        _estimated_line(table.runs[a], table.runs[b], qrels, sug, k, name_a, name_b)

    queries = list(qrels)
    progress = coverage_progress(table.runs[a], table.runs[b], qrels, k, TARGET, queries=queries)
    done = progress["at_target"] / progress["queries"] if progress["queries"] else 1.0
    st.progress(done, text=f"Цель покрытия (judged@{k} ≥ {display.decimal(TARGET, 1)} у обеих): "
                           f"{progress['at_target']} из {progress['queries']} запросов; осталось оценить не меньше "
                           f"{display.count(progress['needed'], 'документа', 'документов', 'документов')}")
    queue = judging_queue(table.runs[a], table.runs[b], qrels, k, queries=queries)
    head = next_item(queue)
    if head is None:
        st.caption(f"Очередь разметки пуста: топ-{k} обеих конфигураций оценён целиком.")
        return
    complete = int((queue["stage"] == "complete").sum())
    fresh = queue.loc[queue["stage"] == "next", "query"].nunique()
    steps = []
    if complete:
        steps.append(f"дооценка {display.count(complete, 'документа', 'документов', 'документов')} на запросах, которые "
                     "решение уже учитывает (с релевантной оценкой или начатых; пока документы не оценены, решение "
                     "считает их против лидера)")
    if fresh:
        steps.append(f"новые запросы по одному, каждый целиком ({display.count(fresh, 'запрос', 'запроса', 'запросов')}"
                     "): решение учитывает запрос с первой оценки")
    steps.append("документы на одном месте в обоих списках (они разницу не меняют)")
    st.caption(f"Очередь разметки: {display.count(len(queue), 'документ', 'документа', 'документов')} из объединения "
               f"топов. Порядок: {'; затем '.join(steps)}. Модели не называются, порядок документов в слепом режиме "
               "перемешан.")
    st.button("Оценить следующий из очереди вслепую", on_click=_open_blind, args=(head[0], queue_queries(queue)),
              icon=":material/playlist_add_check:", key="judging_next")


def _estimated_line(run_a, run_b, qrels, sug, k: int, name_a: str, name_b: str) -> None:
    """The "estimated" column: holes filled by suggestions, shown apart from every real metric."""
    from pages._suggest import agreement_line
    st.caption(agreement_line(sug))
    if sug.model is None or not sug.by_pair:
        return
    est = estimated(run_a, run_b, qrels, {p: e for p, (_, _, e) in sug.by_pair.items()}, k)
    t = est["test"]
    signed = lambda v: display.decimal(v, sign=True)   # noqa: E731
    st.markdown(
        f"**Оценка с подсказками** (не метрика: {display.count(est['filled'], 'неоценённому документу', 'неоценённым документам', 'неоценённым документам')} "
        f"дана подсказанная моделью степень): nDCG@{k} {display.plain(name_a)} {display.decimal(est['ndcg_a'])}, "
        f"{display.plain(name_b)} {display.decimal(est['ndcg_b'])}; B − A {signed(t['mean_diff'])} "
        f"(95 % интервал {signed(t['lo'])} … {signed(t['hi'])}). Решение выше от неё не зависит.")
