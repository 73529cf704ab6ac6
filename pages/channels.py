"""Nearest channels of a channel (look-alikes) or of an ad post (where to place it)."""
import pandas as pd
import streamlit as st

from core import display
from core.corpora.errors import CorpusError
from core.corpora.records import CHANNEL_PARTS
from core.evaluation import channel_quality
from core.labels.channel_labels import channel_query, post_query
from core.models.encoders import EncoderLoadError
from core.retrieval.channels import neighbours
from core.retrieval.search import QueryError, list_changes, prepare_query
from pages import _cache, _grading, _spaces
from pages._state import MODEL_KEY, annotator, require_frame, settings

require_frame()
s = settings()
PARTS = {"title": ("title",), "about": ("title", "about"), "pinned": CHANNEL_PARTS}
PART_NAMES = {"title": "только название", "about": "+ описание", "pinned": "+ закреплённый пост"}
SUB_STEPS = [0, 1_000, 5_000, 10_000, 50_000, 100_000, 500_000, 1_000_000, 5_000_000]

st.title("Каналы")
_grading.show_feedback()
channel_corpora = _cache.corpora_of_kind(s, "channels") or {"channels": "channels"}
channels_name = "channels"
if len(channel_corpora) > 1:
    channels_name = st.selectbox("Корпус каналов", list(channel_corpora), format_func=channel_corpora.get,
                                 key="channels_corpus")
try:
    enc = _cache.current_encoder(s, st.session_state[MODEL_KEY])
    posts = _spaces.posts_for(s, channels_name)
    c1, c2 = st.columns([1, 1])
    parts_key = c2.segmented_control("Текст канала", list(PARTS), format_func=PART_NAMES.get,
                                     default="pinned", required=True, key="channels_parts",
                                     help="Из чего собран текст канала для эмбеддинга. Пустые части пропускаются.")
    channels = _cache.corpus(s, channels_name, PARTS[parts_key])
except (CorpusError, EncoderLoadError) as exc:
    st.error(display.plain(exc))
    st.stop()
mode = c1.segmented_control("Искать соседей для", ["channel", "post"], required=True, default="channel",
                            format_func={"channel": "канала", "post": "рекламного поста"}.get, key="channels_mode")
spec = _spaces.controls("channels")
if spec.uses_posts and posts is None:
    st.caption("У этого корпуса каналов нет корпуса постов: каналы берутся по тексту.")
space = _spaces.space(s, channels, enc, spec, posts)
frame = channels.frame

f1, f2, f3 = st.columns([2, 2, 1])
categories = f1.multiselect("Тематика соседей", sorted(set(frame.get("category", pd.Series(dtype=str))) - {""}),
                            key="channels_categories", placeholder="все", select_all=False)
low, high = f2.select_slider("Подписчики", SUB_STEPS, value=(SUB_STEPS[0], SUB_STEPS[-1]), key="channels_subs",
                             format_func=display.number)
k = f3.number_input("Соседей", 1, 50, 10, key="channels_k")
filters = {"category": categories, "subscribers": (low, high) if (low, high) != (0, SUB_STEPS[-1]) else None}

own_channel, exclude, held_out = None, None, None
if mode == "channel":
    titles = dict(zip(frame["id"], frame["title"]))
    channel_id = st.selectbox("Канал (начните печатать название)", list(titles), format_func=titles.get,
                              key="channels_pick")
    position = channels.position(channel_id)
    qvec, exclude = space.vectors[position], position
    query = channel_query(channel_id, titles[channel_id])
else:
    source = st.radio("Пост", ["corpus", "paste"], horizontal=True, key="channels_post_source",
                      format_func={"corpus": "из корпуса постов", "paste": "вставить текст"}.get)
    if source == "corpus" and posts is None:
        st.info("Корпуса постов для этих каналов нет — вставьте текст поста.")
        st.stop()
    if source == "corpus":
        pf = posts.frame.sort_values("is_ad", ascending=False) if "is_ad" in posts.frame else posts.frame
        # one line per post: a post's line breaks would glue its sentences together ("неделе?На канале")
        labels = {pid: ("[реклама] " if ad == "1" else "") + f"{title}: {display.snippet(text, 90)}"
                  for pid, ad, title, text in zip(pf["id"], pf.get("is_ad", ""), pf["channel_title"], pf["raw_text"])}
        post_id = st.selectbox("Пост", list(labels), format_func=labels.get, key="channels_post")
        held_out = posts.position(post_id)
        post = posts.frame.iloc[held_out]
        text, own_channel = post["raw_text"], post["channel_id"]
        query = post_query(post_id, text)
    else:
        text = st.text_area("Текст рекламного поста", key="channels_ad_text", height=140,
                            placeholder="Вставьте текст поста — покажем каналы, чья аудитория ближе всего.")
        query = text.strip()
    try:
        text, note = prepare_query(text)
    except QueryError:
        st.info("Вставьте текст поста или выберите пост из корпуса — покажем ближайшие каналы.")
        st.stop()
    if note:
        st.caption(note)
    # posts and channels are both documents: compare them as passages, in the channels' space
    qvec = space.place(_cache.passage_vector(enc.id, text, _encoder=enc))
    if held_out is not None and spec.uses_posts:
        st.caption("Канал этого поста считается без него — как для нового рекламного поста.")

results = neighbours(space, qvec, int(k), filters, exclude=exclude, held_out_post=held_out)
if results.empty:
    st.info("Под фильтры не попал ни один канал — расширьте диапазон подписчиков или снимите тематику.")
    st.stop()

# how the list changes with another composition of the channel text (same vectors and post-processing)
other_key = "title" if parts_key == "pinned" else "pinned"
other_space = _spaces.space(s, _cache.corpus(s, channels_name, PARTS[other_key]), enc, spec, posts)
other_q = other_space.vectors[exclude] if exclude is not None else other_space.place(
    _cache.passage_vector(enc.id, text, _encoder=enc))
other = neighbours(other_space, other_q, int(k), filters, exclude=exclude, held_out_post=held_out)
entered, left = list_changes(list(other["id"]), list(results["id"]))
titles_all = {c: display.md_text(t) for c, t in zip(frame["id"], frame["title"])}
with st.container(border=True):
    st.markdown(f"**Сравнение с текстом «{PART_NAMES[other_key]}»:** "
                + (f"вошли {', '.join(titles_all[c] for c in entered)}; вышли {', '.join(titles_all[c] for c in left)}"
                   if entered else "список соседей тот же."))

if st.toggle("Качество соседей: все варианты векторов на этом корпусе", key="channels_quality",
             help="Похожие каналы и размещение рекламы, измеренные для каждого вектора канала и постобработки "
                  "текущей модели; в скобках — 95 % бутстреп-интервал."):
    table, truth = _spaces.quality(s, channels_name, channels, enc, st.session_state[MODEL_KEY], posts)
    st.caption(f"Похожие каналы — {truth.note}. Размещение — найдёт ли пост канал, в котором он вышел "
               "(канал считается без этого поста), и, где есть, по оценкам рекламных постов. "
               + channel_quality.counts_note(table)
               + (f" Посты для размещения — случайная выборка из {display.number(len(posts))}."
                  if posts is not None and len(posts) > _spaces.PLACED_POSTS else "")
               + f" {channel_quality.DEFAULT_MARK}по умолчанию: {_spaces.DEFAULT.label}.")
    st.dataframe(channel_quality.shown(table, _spaces.DEFAULT.label), hide_index=True,
                 height=35 * (len(table) + 1) + 3, key="channels_quality_table")

if not annotator():
    st.warning("Чтобы оценивать соседей, впишите имя в поле «Аннотатор» слева.", icon=":material/person:")
grades = _grading.current_grades(channels_name, query)
pairs = "пар каналов" if mode == "channel" else "пар «пост — канал»"
st.caption(f"Сходство — процентиль среди всех {pairs} этого корпуса в выбранном пространстве "
           f"(99 % — ближе, чем 99 % пар); в скобках косинус. Векторы: {spec.label}.")
for i, row in results.iterrows():
    with st.container(border=True, key=f"neighbour_{i}"):
        badge = " · :green-badge[канал этого поста]" if row["id"] == own_channel else ""
        subs = pd.to_numeric(row.get("subscribers"), errors="coerce")
        subs_text = f" · {display.count(subs, 'подписчик', 'подписчика', 'подписчиков')}" if pd.notna(subs) else ""
        category = f" · {display.md_text(row['category'])}" if row.get("category") else ""
        st.markdown(f"**#{row['rank']}** · `{display.percent(row['percentile'], 1)}` "
                    f"({display.decimal(row['score'])}) · **{display.md_text(row['title'])}**{category}"
                    + subs_text + badge)
        if row["about"]:
            st.caption(display.md_text(row["about"][:240]))
        with st.expander("Текст, по которому считался эмбеддинг"):
            st.text(row["text"])
        _grading.grade_row(corpus=channels_name, query=query, doc_id=row["id"], rank=int(row["rank"]),
                           model=st.session_state[MODEL_KEY], state=grades.get(row["id"]), key=f"ch{i}",
                           keyboard=False)
