"""Recommendations: the next posts for each reader from the embeddings of what they liked."""
import pandas as pd
import streamlit as st

from core import display
from core.corpora.files import MAX_FILE_BYTES
from core.tasks.recommend.evaluate import evaluate
from core.tasks.recommend.interactions import (
    COLUMNS,
    InteractionsError,
    interactions_for,
    load_interactions,
    save_interactions,
)
from core.tasks.recommend.methods import HALF_LIFE_DAYS, METHODS
from pages import _cache
from pages._state import admin_required, corpus_and_encoder, require_frame, settings
from pages._upload import uploader_in_russian

require_frame()
s = settings()
NAMES = {"popularity": "популярное", "profile": "средний вкус", "neighbours": "соседи каждого лайка"}
ACTIONS = {"view": "просмотр", "like": "лайк", "forward": "пересылка", "comment": "комментарий", "reaction": "реакция"}
K = 5

st.title("Рекомендации")
st.caption("Какие посты предложить читателю, судя по тому, что он лайкал раньше: средний вкус (среднее эмбеддингов "
           "лайкнутых постов, свежие весят больше) и соседи каждого лайка — против популярного. Проверка по времени: "
           "модель видит всё до момента разреза и угадывает, что читатель лайкнет после.")
corpora = _cache.corpora_of_kind(s, "posts", "generic", "memes", "channels")
corpus_name = st.selectbox("Корпус", list(corpora), format_func=corpora.get, key="reco_corpus",
                           index=list(corpora).index("posts") if "posts" in corpora else 0)
corpus, enc = corpus_and_encoder(corpus_name)

with st.expander("Загрузить взаимодействия", icon=":material/upload:"):
    st.caption(f"CSV или Parquet со столбцами {', '.join(f'`{c}`' for c in COLUMNS)}: кто, какой пост (его `id` в "
               f"корпусе), что сделал ({', '.join(f'`{a}`' for a in ACTIONS)}) и когда. Файл проверяется целиком; "
               "с ошибкой он не сохраняется, прежние взаимодействия остаются.")
    uploader_in_russian(MAX_FILE_BYTES // 2**20)
    upload = st.file_uploader("Файл взаимодействий", type=["csv", "parquet"], key="reco_upload")
    # saving replaces the corpus' interactions for everyone: an admin's action, as on the Data page
    if upload is not None and st.button("Сохранить для этого корпуса", key="reco_save", icon=":material/save:") \
            and admin_required("Замена взаимодействий"):
        try:
            saved = save_interactions(s, corpus, upload.getvalue(), upload.name)
            st.success(f"Сохранено: {display.count(len(saved.frame), 'взаимодействие', 'взаимодействия', 'взаимодействий')}"
                       f" для корпуса «{display.plain(corpus.name)}».")
        except InteractionsError as exc:
            st.error(display.plain(exc), icon=":material/error:")

path = interactions_for(s, corpus.name)
if path is None:
    st.info(f"У корпуса «{display.plain(corpus.name)}» пока нет взаимодействий читателей — загрузите файл выше "
            "(у встроенных постов они уже есть).")
    st.stop()


@st.cache_resource(show_spinner="Читаем взаимодействия…", max_entries=8)
def _interactions(where: str, version: str, corpus_hash: str, _corpus):
    return load_interactions(where, _corpus)


@st.cache_resource(show_spinner="Считаем рекомендации для всех читателей…", max_entries=8)
def _report(where: str, version: str, model_id: str, corpus_hash: str, half_life: float, _frame, _vectors):
    return evaluate(_frame, _vectors, K, half_life)   # holds a faiss index: a resource, never pickled


try:
    interactions = _interactions(str(path), _cache.mtime(path), corpus.content_hash, _corpus=corpus)
except InteractionsError as exc:
    st.error(display.plain(exc), icon=":material/error:")
    st.stop()
ci = _cache.corpus_index(s, corpus, enc)
half_life = st.slider("Полураспад интереса, дней", 1, 60, int(HALF_LIFE_DAYS), key="reco_half_life",
                      help="Лайк такой давности весит вдвое меньше сегодняшнего.")
rep = _report(str(path), _cache.mtime(path), ci.model_id, corpus.content_hash, float(half_life),
              _frame=interactions.frame, _vectors=ci.vectors)
if not rep.split.answers:
    st.warning("После момента разреза никто ничего нового не лайкнул — проверять не на чем. Нужны взаимодействия "
               "за более долгий срок.")
    st.stop()


def interval(row, m: str, fmt=display.decimal) -> str:
    if pd.isna(row.get(m)):
        return display.MISSING
    return f"{fmt(row[m])} [{fmt(row[m + '_lo'])}; {fmt(row[m + '_hi'])}]"


signed = lambda v: display.decimal(v, 3, sign=True)  # noqa: E731
t = rep.table
st.subheader("Качество на отложенном периоде")
st.dataframe(pd.DataFrame({
    "метод": t["method"].map(NAMES), "HitRate@5": [interval(r, "hit_rate") for _, r in t.iterrows()],
    "nDCG@5": [interval(r, "ndcg") for _, r in t.iterrows()],
    "покрытие": [interval(r, "coverage", display.percent) for _, r in t.iterrows()],
    "HitRate@5 сверх популярного": [interval(r, "hit_rate_gain", signed) for _, r in t.iterrows()]}),
    hide_index=True, width="stretch")
st.caption(f"Разрез — {display.moment(rep.split.cutoff)}: до него история, после — ответы (лайки и пересылки постов, "
           f"которых читатель раньше не видел). Оценено {display.count(len(rep.split.answers), 'читатель', 'читателя', 'читателей')}"
           + (f"; ещё {display.number(len(rep.split.cold))} без единого лайка до разреза не оценивались"
              if rep.split.cold else "") + ". В скобках — 95 % бутстреп-интервал по читателям; «сверх популярного» — "
           "парная разница на тех же читателях. Покрытие — доля корпуса, попавшая хоть в один топ-5.")

st.subheader("Один читатель")
users = sorted(rep.split.answers) + sorted(set(interactions.users) - set(rep.split.answers))
c1, c2, c3 = st.columns([2, 3, 1])
user = c1.selectbox("Читатель", users, key="reco_user")
method = c2.segmented_control("Метод", list(METHODS), format_func=NAMES.get, default="neighbours", required=True,
                              key="reco_method")
n = int(c3.number_input("Сколько", 1, 50, 10, key="reco_n"))
hist = rep.histories.get(user)
if hist is None or len(hist.items) == 0:
    st.warning(f"У читателя «{display.plain(user)}» нет ни одного лайка или пересылки до "
               f"{display.moment(rep.split.cutoff)} — рекомендовать по вкусу не из чего; ниже — популярное.",
               icon=":material/person_off:")
    method = "popularity"
    if hist is None:
        import numpy as np

        from core.tasks.recommend.methods import History
        hist = History(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64))
titles = display.record_titles(corpus.kind, corpus.frame, corpus.texts, limit=80).to_numpy()
left, right = st.columns(2)
before = rep.split.history[rep.split.history["user_id"] == user].sort_values("ts", ascending=False)
left.markdown(f"**История до разреза** · {display.count(len(before), 'действие', 'действия', 'действий')}")
left.dataframe(pd.DataFrame({"когда": before["ts"].map(display.moment).to_numpy(),
                             "действие": before["action"].map(ACTIONS).to_numpy(),
                             "пост": titles[before["item"].to_numpy()]}), hide_index=True, width="stretch", height=420)
top, _ = rep.recommender.recommend(hist, method, n)
answers = rep.split.answers.get(user, set())
right.markdown(f"**Рекомендации · {display.plain(NAMES[method])}**")
with right.container(height=420, border=False):
    for rank, item in enumerate(top.tolist(), start=1):
        with st.container(border=True, key=f"reco_item_{rank}"):
            hit = " · :green-badge[лайкнул потом]" if item in answers else ""
            st.markdown(f"**{rank}.** {display.plain(titles[item], one_line=True)}{hit}")
            reasons = ("; ".join(f"{display.plain(titles[h], one_line=True)} ({display.decimal(sim, 2)})"
                                 for h, sim in rep.recommender.why(hist, item)) if method != "popularity" else "")
            st.caption(f"похоже на: {reasons}" if reasons else "популярно у всех")
right.caption("«Похоже на» — посты истории, ближайшие к рекомендованному (косинус в скобках); «лайкнул потом» — "
              "читатель действительно лайкнул или переслал его после разреза.")
