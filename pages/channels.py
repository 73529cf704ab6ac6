"""Nearest channels of a channel (look-alikes) or of an ad post (where to place it)."""
import pandas as pd
import streamlit as st

from core import display
from core.corpora import CHANNEL_PARTS, CorpusError
from core.encoders import EncoderLoadError
from core.search import list_changes, prepare_query, QueryError, search_vector
from pages import _cache, _grading
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
    posts = _cache.corpus(s, "posts")
    c1, c2 = st.columns([1, 1])
    parts_key = c2.segmented_control("Текст канала", list(PARTS), format_func=PART_NAMES.get,
                                     default="pinned", required=True, key="channels_parts",
                                     help="Из чего собран текст канала для эмбеддинга. Пустые части пропускаются.")
    channels = _cache.corpus(s, channels_name, PARTS[parts_key])
except (CorpusError, EncoderLoadError) as exc:
    st.error(str(exc))
    st.stop()
mode = c1.segmented_control("Искать соседей для", ["channel", "post"], required=True, default="channel",
                            format_func={"channel": "канала", "post": "рекламного поста"}.get, key="channels_mode")
ci = _cache.corpus_index(s, channels, enc)
frame = channels.frame

f1, f2, f3 = st.columns([2, 2, 1])
categories = f1.multiselect("Тематика соседей", sorted(set(frame.get("category", pd.Series(dtype=str))) - {""}),
                            key="channels_categories", placeholder="все", select_all=False)
low, high = f2.select_slider("Подписчики", SUB_STEPS, value=(SUB_STEPS[0], SUB_STEPS[-1]), key="channels_subs",
                             format_func=display.number)
k = f3.number_input("Соседей", 1, 50, 10, key="channels_k")
filters = {"category": categories, "subscribers": (low, high) if (low, high) != (0, SUB_STEPS[-1]) else None}

own_channel, exclude = None, None
if mode == "channel":
    titles = dict(zip(frame["id"], frame["title"]))
    channel_id = st.selectbox("Канал (начните печатать название)", list(titles), format_func=titles.get,
                              key="channels_pick")
    position = channels.position(channel_id)
    qvec, exclude = ci.vectors[position], position
    query = f"[{channel_id}] {titles[channel_id]}"
else:
    source = st.radio("Пост", ["corpus", "paste"], horizontal=True, key="channels_post_source",
                      format_func={"corpus": "из корпуса постов", "paste": "вставить текст"}.get)
    if source == "corpus":
        pf = posts.frame.sort_values("is_ad", ascending=False) if "is_ad" in posts.frame else posts.frame
        # one line per post: a post's line breaks would glue its sentences together ("неделе?На канале")
        labels = {pid: ("[реклама] " if ad == "1" else "") + f"{title}: {display.snippet(text, 90)}"
                  for pid, ad, title, text in zip(pf["id"], pf.get("is_ad", ""), pf["channel_title"], pf["raw_text"])}
        post_id = st.selectbox("Пост", list(labels), format_func=labels.get, key="channels_post")
        post = posts.frame.iloc[posts.position(post_id)]
        text, own_channel = post["raw_text"], post["channel_id"]
        query = f"[{post_id}] {text[:300]}"
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
    # posts and channels are both documents: compare them as passages
    qvec = _cache.passage_vector(enc.id, text, _encoder=enc)

results = search_vector(ci, qvec, int(k), filters, exclude=exclude)
if results.empty:
    st.info("Под фильтры не попал ни один канал — расширьте диапазон подписчиков или снимите тематику.")
    st.stop()

# how the list changes with another composition of the channel text
other_key = "title" if parts_key == "pinned" else "pinned"
other_ci = _cache.corpus_index(s, _cache.corpus(s, channels_name, PARTS[other_key]), enc)
other_q = other_ci.vectors[exclude] if exclude is not None else qvec
other = search_vector(other_ci, other_q, int(k), filters, exclude=exclude)
entered, left = list_changes(list(other["id"]), list(results["id"]))
titles_all = dict(zip(frame["id"], frame["title"]))
with st.container(border=True):
    st.markdown(f"**Сравнение с текстом «{PART_NAMES[other_key]}»:** "
                + (f"вошли {', '.join(titles_all[c] for c in entered)}; вышли {', '.join(titles_all[c] for c in left)}"
                   if entered else "список соседей тот же."))

if not annotator():
    st.warning("Чтобы оценивать соседей, впишите имя в поле «Аннотатор» слева.", icon=":material/person:")
grades = _grading.current_grades("channels", query)
for i, row in results.iterrows():
    with st.container(border=True, key=f"neighbour_{i}"):
        badge = " · :green-badge[канал этого поста]" if row["id"] == own_channel else ""
        subs = pd.to_numeric(row.get("subscribers"), errors="coerce")
        subs_text = f" · {display.count(subs, 'подписчик', 'подписчика', 'подписчиков')}" if pd.notna(subs) else ""
        category = f" · {row['category']}" if row.get("category") else ""
        st.markdown(f"**#{row['rank']}** · `{display.decimal(row['score'])}` · **{row['title']}**{category}"
                    + subs_text + badge)
        if row["about"]:
            st.caption(row["about"][:240])
        with st.expander("Текст, по которому считался эмбеддинг"):
            st.text(row["text"])
        _grading.grade_row(corpus="channels", query=query, doc_id=row["id"], rank=int(row["rank"]),
                           model=st.session_state[MODEL_KEY], state=grades.get(row["id"]), key=f"ch{i}",
                           keyboard=False)
