"""Pairs: are two records the same thing? Judge pairs, import pair files, measure each model at a
target false-positive rate, fine-tune from the pairs. Logic: core.tasks.pairs."""
import json

import pandas as pd
import streamlit as st

from core import display
from core.tasks.pairs import plots
from core.tasks.pairs.evaluate import PairEvalError, evaluate_pairs, hardest_mistakes, pair_scores, threshold_record
from core.tasks.pairs.files import demo_pair_file, read_pair_file
from core.tasks.pairs.labels import current_pairs
from core.tasks.pairs.propose import ORIGINS, propose_pairs
from core.tasks.pairs.training import as_relevance_labels
from pages import _cache, _finetune, _pairing
from pages._state import MODEL_KEY, annotator, corpus_and_encoder, require_frame, settings

require_frame()
s = settings()
VIEWS = {"judge": "Разметка", "file": "Файл пар", "quality": "Качество", "train": "Дообучение"}
FPRS = {0.01: "1 %", 0.05: "5 %", None: "своя"}
QUEUE = "pairs_queue"

st.title("Пары")
_pairing.show_feedback()
corpora = _cache.corpora_of_kind(s, "memes", "posts", "generic", "channels")
names = list(corpora) or ["offers"]
top = st.columns([1, 3])
corpus_name = top[0].selectbox("Корпус", names, index=names.index("offers") if "offers" in names else 0,
                               format_func=lambda n: corpora.get(n, n), key="pairs_corpus")
corpus, enc = corpus_and_encoder(corpus_name)
# a column that splits the corpus into a few sources (a shop, a channel): pairs across two of them
groups = [c for c in corpus.frame.columns if c not in ("id", "text") and 2 <= corpus.frame[c].nunique() <= 50]
group_column = "shop" if "shop" in groups else (groups[0] if groups else None)
st.session_state.setdefault("pairs_view", "judge")
with top[1]:
    view = st.segmented_control("Режим", list(VIEWS), format_func=VIEWS.get, required=True, key="pairs_view")

judged = current_pairs(_pairing.read(s), corpus.name)
if judged.empty:
    demo = demo_pair_file(s.data_dir, corpus.name)
    st.info("У этого корпуса ещё нет размеченных пар. Размечайте пары, которые предлагает инструмент "
            "(режим «Разметка»), или загрузите файл пар (режим «Файл пар»)."
            + (" Для демо есть готовая эталонная разметка." if demo else ""))
    if demo and st.button("Взять эталонную разметку демо", icon=":material/download_done:", disabled=not annotator()):
        pf = read_pair_file(demo, corpus, source=demo.name)
        n = _pairing.store_file_labels(s, pf, corpus.name)
        if n:
            st.session_state[_pairing.FLASH] = f"Сохранено {display.count(n, 'метка', 'метки', 'меток')} из {demo.name}"
        st.rerun()
if not annotator():
    st.warning("Чтобы размечать пары, впишите имя в поле «Аннотатор» слева.", icon=":material/person:")


def judge_view() -> None:
    ci = _cache.corpus_index(s, corpus, enc)
    c1, c2, c3, c4 = st.columns([3, 2, 1, 1])
    where = c1.segmented_control("Откуда пары", ["within", "across"], required=True, key="pairs_where",
                                 format_func={"within": "соседи внутри корпуса", "across": "между источниками"}.get,
                                 default="across" if group_column else "within", disabled=not group_column)
    a_group = b_group = None
    if where == "across" and group_column:
        values = sorted(corpus.frame[group_column].astype(str).unique())
        a_group = c2.selectbox(f"Источник A ({group_column})", values, key="pairs_a_group")
        b_group = c2.selectbox(f"Источник B ({group_column})", values, index=min(1, len(values) - 1),
                               key="pairs_b_group")
    n = c3.number_input("Пар", 10, 500, 40, step=10, key="pairs_n")
    share = c4.slider("Случайных", 0.0, 0.8, 0.3, 0.1, key="pairs_random",
                      help="Доля случайных пар: без них размечаются только близкие пары, и доля ложных "
                           "совпадений на обычных парах остаётся неизмеренной.")
    params = (corpus.name, ci.model_id, where, a_group, b_group, int(n), share)
    current = st.session_state.get(QUEUE)
    # a first visit (or another corpus) gets a proposal at once; later ones only on the button
    if st.button("Предложить пары", icon=":material/auto_awesome:") or not current or current["params"][0] != corpus.name:
        exclude = set(zip(judged["a_id"], judged["b_id"]))
        frame = propose_pairs(corpus.frame["id"], ci.vectors, groups=corpus.frame[group_column] if group_column else None,
                              a_group=a_group, b_group=b_group, n=int(n), random_share=share, exclude=exclude,
                              seed=len(exclude))
        frame["origin"] = [f"{ORIGINS[o]} №{r}" if r else ORIGINS[o] for o, r in zip(frame["origin"], frame["rank"])]
        st.session_state[QUEUE] = {"params": params, "pairs": frame}
    st.caption("Подборка: ближайшие соседи по выбранной модели вперемешку со случайными парами, уже размеченные "
               "пропущены.")
    _pairing.judge(s, corpus, st.session_state[QUEUE]["pairs"], st.session_state[MODEL_KEY], group_column)
    _pairing.history(s, corpus.name)


def file_view() -> None:
    st.caption("Метки из файла сохраняются одной записью и подписываются вашим именем; пары без метки "
               "становятся подборкой для разметки.")
    pf = _pairing.upload(corpus)
    if pf is None:
        return
    if pf.texts is not None:
        st.warning("В файле тексты, а не записи корпуса: импортируйте их как корпус на странице «Данные» "
                   "(столбцы id и text) и загрузите пары по идентификаторам.")
        st.dataframe(pf.texts.head(20), hide_index=True)
        return
    for note in pf.notes:
        st.caption(display.plain(note))
    st.write(f"{display.count(len(pf.pairs), 'пара', 'пары', 'пар')}, из них с меткой {pf.n_labelled}.")
    st.dataframe(pf.pairs.head(50), hide_index=True)
    c1, c2 = st.columns(2)
    if pf.n_labelled and c1.button(f"Сохранить метки из файла ({pf.n_labelled})", type="primary",
                                   disabled=not annotator()):
        n = _pairing.store_file_labels(s, pf, corpus.name)
        if n:
            st.success(f"Сохранено {display.count(n, 'метка', 'метки', 'меток')} из {display.plain(pf.source)}.")
    unlabelled = pf.pairs[pf.pairs["label"].isna()]
    if len(unlabelled) and c2.button(f"Разметить пары без метки ({len(unlabelled)})"):
        st.session_state[QUEUE] = {"params": (corpus.name, "", "file"),
                                   "pairs": unlabelled[["a_id", "b_id"]].assign(origin="файл", similarity=float("nan"))}
        st.session_state["pairs_view"] = "judge"
        st.rerun()


@st.cache_resource(show_spinner="Считаем качество на отложенных парах…", max_entries=16)
def _evaluate(model: str, model_id: str, corpus_hash: str, labels_version: str, fpr: float, _vectors, _pairs_frame):
    scores = pair_scores(_vectors, corpus.frame["id"], _pairs_frame["a_id"], _pairs_frame["b_id"])
    return evaluate_pairs(_pairs_frame, scores, model, fpr)


def quality_view() -> None:
    default, specs = _cache.models(s)
    model_names = [sp.name for sp in specs]
    tuned = [sp.name for sp in specs if sp.meta.get("method") or sp.backend == "adapter"]
    c1, c2, c3 = st.columns([2, 2, 2])
    a = c1.selectbox("Модель A", model_names, index=model_names.index(st.session_state[MODEL_KEY]), key="pairs_a")
    b = c2.selectbox("Модель B", ["—"] + model_names, index=1 + model_names.index(tuned[-1]) if tuned else 0,
                     key="pairs_b", help="Например, дообученная на этих парах — рядом с базовой.")
    with c3:
        pick = st.segmented_control("Целевая доля ложных совпадений (FPR)", list(FPRS), format_func=FPRS.get,
                                    default=0.05, required=True, key="pairs_fpr")
        fpr = pick if pick is not None else st.number_input("FPR, %", 0.1, 50.0, 2.0, 0.5, key="pairs_fpr_own") / 100
    scored = judged[judged["label"].notna() & judged["role"].isin(["validation", "test"])]
    by_role = scored.groupby("role")["label"].agg(["count", "sum"])
    st.caption("Порог выбирается на валидационных парах при целевой FPR и проверяется на тестовых; обе части — "
               "отложенная половина пар (стабильный хэш), на которой модели не обучаются. Интервалы — 95 % "
               f"бутстрепа по тестовым парам. Валидация: {_role_counts(by_role, 'validation')}; тест: "
               f"{_role_counts(by_role, 'test')}.")
    results = []
    for name in [a] + ([b] if b not in ("—", a) else []):
        try:
            model_enc = _cache.current_encoder(s, name)
            ci = _cache.corpus_index(s, corpus, model_enc)
            results.append(_evaluate(name, ci.model_id, corpus.content_hash, _pairing.store(s).version(), fpr,
                                     _vectors=ci.vectors, _pairs_frame=judged))
        except PairEvalError as exc:
            st.info(display.plain(exc))
            return
        except Exception as exc:   # a model that cannot load offline: say which, keep the page
            st.error(f"Модель «{display.plain(name)}» недоступна: {display.plain(exc)}")
    if not results:
        return
    st.dataframe(display.styled(pd.DataFrame([r.summary_row() for r in results])), hide_index=True)
    st.plotly_chart(plots.distributions(results), key="pairs_hist")
    left, right = st.columns(2)
    left.plotly_chart(plots.roc(results), key="pairs_roc")
    right.plotly_chart(plots.precision_recall(results), key="pairs_pr")
    for r in results:
        _model_details(r)


def _role_counts(by_role: pd.DataFrame, role: str) -> str:
    n, same = (int(by_role.loc[role, "count"]), int(by_role.loc[role, "sum"])) if role in by_role.index else (0, 0)
    return f"{n} пар, из них «одно и то же» {same}"


def _model_details(r) -> None:
    with st.expander(f"{display.plain(r.model, one_line=True)}: порог {display.decimal(r.threshold)}, "
                     "ошибки и экспорт", expanded=True):
        t = r.test
        st.dataframe(pd.DataFrame({"модель: одно и то же": [t["tp"], t["fp"]], "модель: разные": [t["fn"], t["tn"]]},
                                  index=["на деле одно и то же", "на деле разные"]))
        worst = hardest_mistakes(r)
        if worst.empty:
            st.caption("На тестовых парах ошибок при этом пороге нет.")
        else:
            text = dict(zip(corpus.frame["id"], corpus.texts))
            st.caption("Самые грубые ошибки на тестовых парах (дальше всего от порога):")
            st.dataframe(pd.DataFrame({
                "ошибка": ["пропущено совпадение" if y == 1 else "ложное совпадение" for y in worst["label"]],
                "сходство": worst["score"].round(3), "текст A": [text[x] for x in worst["a_id"]],
                "текст B": [text[x] for x in worst["b_id"]], "A": worst["a_id"], "B": worst["b_id"]}),
                hide_index=True)
        model_id = _cache.current_encoder(s, r.model).id
        st.download_button("Скачать порог модели (JSON)", json.dumps(threshold_record(r, model_id, corpus.name),
                                                                     ensure_ascii=False, indent=1),
                           file_name=f"{r.model}-{corpus.name}-threshold.json", mime="application/json",
                           key=f"pairs_export_{r.model}", icon=":material/download:")


if view == "judge":
    judge_view()
elif view == "file":
    file_view()
elif view == "quality":
    quality_view()
else:
    st.caption("Пары «одно и то же» становятся положительными примерами (текст A → запись B), «разные» — трудными "
               "негативами; обучение то же, что на «Сравнении моделей», отложенные пары в него не попадают.")
    _finetune.train_panel(s, corpus, _cache.models(s)[1], labels=as_relevance_labels(corpus, _pairing.read(s)),
                          source="pairs")
