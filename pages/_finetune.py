"""Streamlit side of the Compare page's eval table and fine-tuning panel."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.config import Settings
from core.corpora import Corpus
from core.evaluate import SearchConfig, evaluate_configs
from core.finetune import eval_queries, run_finetune, training_pairs
from core.jobs import JobRegistry
from core.quality import holes
from pages import _cache
from pages._state import admin_required

METRIC_NAMES = {"ndcg@10": "nDCG@10", "mrr@10": "MRR@10", "recall@10": "Recall@10", "hit_rate@5": "HitRate@5",
                "judged@10": "judged@10"}


@st.cache_resource(show_spinner=False)
def _jobs() -> JobRegistry:
    return JobRegistry()


def _labels(s: Settings) -> pd.DataFrame:
    read = _cache.labels_read(str(s.labels_path), _cache.mtime(s.labels_path))
    return _cache.store(s).latest(read.frame)


@st.cache_resource(show_spinner="Считаем метрики на eval-запросах…", max_entries=8)
def _table(config_key: tuple, corpus_hash: str, labels_version: str, cache_dir: str,
           _configs, _corpus, _qrels):
    return evaluate_configs(_configs, _corpus, _qrels, cache_root=cache_dir)


def _open_side_by_side(query: str) -> None:
    st.session_state["compare_query"] = query
    st.session_state["compare_view"] = "side"


def eval_table(s: Settings, corpus: Corpus, configs: list[SearchConfig], labels: list[str]) -> None:
    qrels = eval_queries(corpus, _labels(s), corpus.name)
    if not qrels:
        st.info("Пока нет запросов eval-сплита для этого корпуса. Оценивайте результаты на «Поиске» или "
                "здесь вслепую: примерно 30% запросов (по хэшу текста) уходят в eval.")
        return
    key = tuple((c.label, c.encoder.id) for c in configs)
    if key[0] == key[1]:
        return
    table = _table(key, corpus.content_hash, _cache.mtime(s.labels_path), str(s.cache_dir),
                   _configs=configs, _corpus=corpus, _qrels=qrels)
    st.caption(f"{len(qrels)} запросов eval-сплита (примеры запросов корпуса + оценки аннотаторов). "
               "Неоценённые документы считаются нерелевантными; judged@10 показывает долю оценённых в топ-10.")
    summary = table.summary.rename(columns=METRIC_NAMES).rename(index=dict(zip(table.labels, labels)))
    st.dataframe(summary.drop(columns=["low_coverage"]).style.format(precision=3), width="stretch")
    low = [name for name, lab in zip(labels, table.labels) if table.low_coverage[lab]]
    if low:
        st.warning(f"Мало оценок (средний judged@10 < 0.5) у {', '.join(low)}: неоценённые документы считаются "
                   "нерелевантными, поэтому эти числа — нижняя граница. Дооцените дыры ниже или вслепую.")
    b = table.labels[1]
    diff = pd.DataFrame(table.comparisons[b]).T[["mean_diff", "lo", "hi", "p_value", "n"]]
    diff = diff.rename(index=METRIC_NAMES, columns={"mean_diff": "B − A", "lo": "95% CI от", "hi": "до",
                                                    "p_value": "p", "n": "запросов"})
    st.markdown("**Разница B − A** (парный бутстрэп по запросам, 95% интервал)")
    diff["запросов"] = diff["запросов"].astype(int)
    st.dataframe(diff.style.format({c: "{:+.3f}" for c in ("B − A", "95% CI от", "до")} | {"p": "{:.3f}"}),
                 width="stretch")
    _holes(table, qrels)
    dis = table.disagreements.get(b)
    if dis is not None and len(dis):
        st.markdown("**Где модели расходятся сильнее всего** (ΔnDCG@10)")
        st.dataframe(dis.head(10), hide_index=True, width="stretch")
        pick = st.selectbox("Открыть запрос рядом", list(dis["query"].head(10)), key="compare_disagreement")
        st.button("Открыть рядом", on_click=_open_side_by_side, args=(pick,), icon=":material/compare_arrows:")


def _open_blind(query: str) -> None:
    st.session_state["compare_query"] = query
    st.session_state["compare_view"] = "blind"


def _holes(table, qrels) -> None:
    """"Judge the holes": the unjudged documents of each configuration's top-10, per query."""
    queue = holes(table.runs, {q: set(g) for q, g in qrels.items()}, k=table.k)
    st.markdown(f"**Дыры в разметке:** {int(queue['holes'].sum()) if len(queue) else 0} неоценённых документов "
                f"в топ-{table.k} двух конфигураций на {len(queue)} запросах")
    if len(queue):
        st.dataframe(queue.head(20), hide_index=True, width="stretch")
        pick = st.selectbox("Следующий запрос для разметки", list(queue["query"].head(20)), key="compare_hole")
        st.button("Оценить вслепую", on_click=_open_blind, args=(pick,), icon=":material/visibility_off:")


def train_panel(s: Settings, corpus: Corpus, specs) -> None:
    labels = _labels(s)
    pairs = training_pairs(corpus, labels, corpus.name)
    st.markdown(f"**Пары для обучения:** {pairs.summary()}")
    st.caption("Запросы eval-сплита в обучение не попадают никогда (сплит — стабильный хэш текста запроса).")
    methods = {"adapter": "адаптер поверх модели (секунды, CPU)", "full": "полное дообучение sentence-transformers"}
    method = st.segmented_control("Метод", list(methods), format_func=methods.get, default="adapter",
                                  required=True, key="train_method")
    bases = [sp.name for sp in specs if sp.backend != "adapter"
             and (method == "adapter" or sp.backend == "sentence-transformers")]
    if not bases:
        st.info("Для полного дообучения нужна модель sentence-transformers в data/models.yaml.")
        return
    base = st.selectbox("Базовая модель", bases, key="train_base")
    key = (corpus.name, base, method)
    job = _jobs().get(key)
    start = st.button("Обучить", type="primary", icon=":material/model_training:",
                      disabled=len(pairs) < 2 or (job is not None and not job.done))
    if start and admin_required("Дообучение"):
        _jobs().drop(key)
        job = _jobs().start(key, run_finetune, s, corpus, labels, base, method)
    if job is not None:
        _watch(job, key)


@st.fragment(run_every=1.0)
def _watch(job, key) -> None:
    if not job.done:
        st.progress(job.fraction, text=f"Обучение: шаг {job.done_units} из {job.total_units or '…'}")
        st.button("Отменить", on_click=job.cancel, key=f"cancel_{'_'.join(key)}")
        return
    if job.error:
        st.error(f"Обучение не удалось: {job.error}")
    elif job.result is None:
        st.info("Обучение отменено; ничего не сохранено.")
    else:
        r = job.result
        st.success(f"Готово: модель «{r.name}» сохранена и добавлена в data/models.yaml "
                   f"({sum(r.pair_counts.values())} пар). Выберите её в конфигурации B.")
        if r.scores:
            scores = pd.DataFrame(r.scores).T.drop(columns=["n_queries"], errors="ignore")
            st.dataframe(scores.rename(columns=METRIC_NAMES).style.format(precision=3))
