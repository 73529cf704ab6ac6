"""Outcomes: how well a post's text predicts how it converts views into actions, and what converts."""
import pandas as pd
import streamlit as st

from core import display
from core.maps import plots
from core.models.encoders import EncoderLoadError
from core.tasks.outcomes import report as outcomes
from core.tasks.outcomes.figures import predicted_figure
from core.tasks.outcomes.fit import MEAN
from core.tasks.outcomes.target import OutcomeError, Target, numeric_candidates
from pages import _cache, _maps
from pages._state import MODEL_KEY, corpus_and_encoder, require_frame, settings

require_frame()
s = settings()
KINDS = {"ratio": "доля", "weighted": "взвешенная сумма на просмотр", "column": "столбец"}
WEIGHTS = {"likes": 1.0, "comments": 3.0, "forwards": 5.0, "reactions": 1.0}   # a comment costs more than a like
TEXT_COLUMNS = {"raw_text", "text", "meaning", "about", "pinned_text", "header", "title", "id", "published_at"}

st.title("Отклик")
st.caption("Насколько текст поста предсказывает, как просмотры превращаются в действия: гребневая регрессия "
           "на эмбеддингах с K-кратной проверкой против двух простых ориентиров — среднего и длины текста.")
corpora = _cache.corpora_of_kind(s, "posts", "generic", "channels", "memes")
corpus_name = st.selectbox("Корпус", list(corpora), format_func=corpora.get, key="outcomes_corpus",
                           index=list(corpora).index("posts") if "posts" in corpora else 0)
corpus, enc = corpus_and_encoder(corpus_name)


@st.cache_data(show_spinner=False, max_entries=16)
def _numeric(name: str, version: str, _frame) -> list[str]:
    return numeric_candidates(_frame)


numeric = _numeric(corpus.name, outcomes.data_version(corpus.frame, corpus.frame.columns), _frame=corpus.frame)
if not numeric:
    st.info("В этом корпусе нет числовых столбцов. Импортируйте на странице «Данные» файл, где у каждого поста "
            "есть просмотры и действия (например, столбцы views, likes, comments, forwards).")
    st.stop()

kind = st.segmented_control("Что предсказываем", list(KINDS), format_func=KINDS.get, default="ratio",
                                required=True, key="outcomes_kind")
views = "views" if "views" in numeric else numeric[0]
actions = [c for c in numeric if c != views]
with st.container():
    if kind == "column":
        c1, c2 = st.columns([2, 1])
        column = c1.selectbox("Столбец", numeric, format_func=display.header, key="outcomes_column")
        log = c2.toggle("Логарифм", value=True, key="outcomes_log",
                        help="Просмотры и действия распределены с тяжёлым хвостом: модель учится на `log(1 + x)`, "
                             "иначе несколько вирусных постов решают всё.")
        target = Target("column", column, log=log)
    elif kind == "ratio":
        c1, c2 = st.columns(2)
        nums = actions or numeric
        num = c1.selectbox("Числитель", nums, index=nums.index("likes") if "likes" in nums else 0,
                           format_func=display.header, key="outcomes_num")
        per = c2.selectbox("Знаменатель", numeric, index=numeric.index(views), format_func=display.header,
                           key="outcomes_per")
        target = Target("ratio", num, per=per)
    else:
        per = st.selectbox("На что делим", numeric, index=numeric.index(views), format_func=display.header,
                           key="outcomes_wper")
        picked = [c for c in numeric if c != per and (c in WEIGHTS or not set(WEIGHTS) & set(numeric))]
        cols = st.columns(max(len(picked), 1))
        weights = tuple((c, float(col.number_input(f"Вес: {display.header(c)}", 0.0, 100.0, WEIGHTS.get(c, 1.0),
                                                   0.5, key=f"outcomes_w_{c}"))) for c, col in zip(picked, cols))
        target = Target("weighted", per=per, weights=tuple((c, w) for c, w in weights if w > 0))
        if not target.weights:
            st.info("Задайте хотя бы одному действию вес больше нуля.")
            st.stop()

default, specs = _cache.models(s)
missing = _cache.needs_download(s)
usable = [sp.name for sp in specs if not missing.get(sp.name)]
low = st.columns([3, 3, 1])
models = low[0].multiselect("Модели", usable, default=[st.session_state[MODEL_KEY]] if st.session_state[MODEL_KEY]
                            in usable else usable[:1], key="outcomes_models",
                            help="Несколько моделей — например, базовая и дообученная — проверяются на одних и тех же "
                                 "частях, их строки в таблице можно сравнивать.")
meta_options = [c for c in corpus.frame.columns if c not in TEXT_COLUMNS and c not in target.columns]
metadata = low[1].multiselect("Метаданные к эмбеддингу", meta_options, format_func=display.header,
                              key="outcomes_meta", placeholder="без метаданных",
                              help="Числа идут как есть, текстовые столбцы (тематика) — по значениям. Отдельной "
                                   "строкой появится модель только на метаданных.")
k = int(low[2].number_input("Частей K", 3, 10, 5, key="outcomes_k"))
if not models:
    st.info("Выберите хотя бы одну модель.")
    st.stop()

indexes = {}
for name in models:
    try:
        indexes[name] = _cache.corpus_index(s, corpus, enc if name == st.session_state[MODEL_KEY]
                                            else _cache.current_encoder(s, name))
    except EncoderLoadError as exc:
        st.error(display.plain(exc))
        st.stop()


@st.cache_data(show_spinner="Обучаем и проверяем на отложенных частях…", max_entries=32)
def _evaluate(corpus_hash: str, version: str, target_key: str, model_ids: tuple, metadata: tuple, k: int,
              _corpus, _target, _vectors):
    return outcomes.evaluate(_corpus, _target, _vectors, list(metadata), k)


try:
    rep = _evaluate(corpus.content_hash, outcomes.data_version(corpus.frame, [*target.columns, *metadata]),
                    repr(target), tuple((n, ci.model_id) for n, ci in indexes.items()), tuple(metadata), k,
                    _corpus=corpus, _target=target, _vectors={n: ci.vectors for n, ci in indexes.items()})
except OutcomeError as exc:
    st.error(display.plain(exc), icon=":material/error:")
    st.stop()
for note in rep.notes:
    st.caption(display.plain(note))

st.subheader(f"Как предсказывается «{display.plain(target.label(), one_line=True)}»")


def interval(row, m: str, fmt) -> str:
    if pd.isna(row.get(m)):
        return display.MISSING
    return f"{fmt(row[m])} [{fmt(row[m + '_lo'])}; {fmt(row[m + '_hi'])}]"


table = pd.DataFrame({"модель": rep.cv.table["model"]})
table["R²"] = [interval(r, "r2", display.decimal) for _, r in rep.cv.table.iterrows()]
table["MSE"] = [interval(r, "mse", display.significant) for _, r in rep.cv.table.iterrows()]
if target.is_rate:
    table["правдоподобие на просмотр"] = [interval(r, "ll", lambda v: display.decimal(v, 5))
                                         for _, r in rep.cv.table.iterrows()]
if "r2_gain" in rep.cv.table:
    table["R² сверх длины текста"] = [interval(r, "r2_gain", lambda v: display.decimal(v, 3, sign=True))
                                      for _, r in rep.cv.table.iterrows()]
st.dataframe(table, hide_index=True, width="stretch")
st.caption(f"{display.count(len(rep.y), 'пост', 'поста', 'постов')}, {k} частей: каждая часть по очереди отложена, "
           "модель учится на остальных. В скобках — 95 % интервал по частям. R² считается от среднего отложенной "
           "части, поэтому у «среднего» он чуть ниже нуля. Правдоподобие — биномиальное, на один просмотр (выше — "
           "лучше); «сверх длины текста» — разница R² с ориентиром по длине на тех же частях.")

choices = list(rep.cv.table["model"].drop(rep.cv.table.index[rep.cv.table["model"] == MEAN]))
shown_model = st.selectbox("Модель для графика и выгрузки", choices, index=choices.index(rep.best)
                           if rep.best in choices else 0, key="outcomes_shown")
scored = corpus.frame.iloc[rep.rows]
hover = plots.hover_texts(scored, [c for c in ("channel_title", "category") if c in scored])
st.plotly_chart(predicted_figure(rep.y, rep.cv.predictions[shown_model].to_numpy(), hover, target.label(),
                                 shown_model), key="outcomes_scatter")
st.download_button("Скачать предсказания (CSV)", outcomes.predictions_csv(rep, corpus.frame["id"]),
                   file_name=f"vecscope-{corpus.name}-predictions.csv", mime="text/csv",
                   icon=":material/download:", key="outcomes_download")

st.subheader("Что конвертирует")
ci = next(iter(indexes.values()))
projection, job = _maps.projection(s, ci, {})
if job is not None:
    st.caption(":material/hourglass_top: Показан быстрый PCA-предпросмотр; UMAP считается в фоне и заменит его сам.")
    _maps.watch(job)
labels, names = _maps.clusters(s, ci)
means = outcomes.cluster_means(labels, rep.rows, rep.y)
per_point = pd.Series(means["mean"].to_numpy(), index=means["cluster"]).reindex(labels).to_numpy()
frame = corpus.frame.assign(cluster=[names.get(c, f"кластер {c}") for c in labels], cluster_mean=per_point)
left, right = st.columns(2)
cluster_map = plots.map_figure(projection.coords, frame, color_by="cluster_mean",
                               hover_cols=[c for c in ("channel_title", "category", "cluster") if c in frame],
                               cluster_labels=labels, cluster_names=names)
left.plotly_chart(cluster_map.update_layout(separators=", "), key="outcomes_map")   # decimal comma on the scale
cluster_table = pd.DataFrame({"кластер": [names.get(c, f"кластер {c}") for c in means["cluster"]],
                              "постов": means["n"], target.label(): means["mean"].map(display.significant)})
right.dataframe(cluster_table, hide_index=True, height=480)
right.caption(f"Кластеры — те же, что на странице «Карта» (модель «{display.plain(ci.model_id)}»); цвет — "
              "среднее значение цели по постам кластера.")

best, worst = outcomes.extremes(rep)
neighbours = outcomes.neighbour_outcomes(ci.vectors, rep.rows, rep.y, [*best, *worst])
value_of = dict(zip(rep.rows.tolist(), rep.y.tolist()))
for col, title, positions in zip((st.container(), st.container()), ("Лучше всех", "Хуже всех"), (best, worst)):
    part = neighbours[neighbours["position"].isin(positions)].set_index("position").loc[list(positions)]
    col.markdown(f"**{title}**")
    col.dataframe(pd.DataFrame({
        "пост": display.record_titles(corpus.kind, corpus.frame.iloc[list(positions)], limit=90).to_numpy(),
        "значение": [display.significant(value_of[p]) for p in positions],
        "у 10 ближайших": part["neighbour_mean"].map(display.significant).to_numpy()}), hide_index=True,
        width="stretch")
st.caption("«У 10 ближайших» — среднее у самых похожих по эмбеддингу постов: если оно тоже высокое, конвертирует "
           "тема, если нет — сам пост." + (" Для доли в списки попадают посты не меньше чем с медианой просмотров."
                                           if target.is_rate else ""))
