"""Search memes or posts with a short situation description, and grade the results."""
import streamlit as st

from core import display
from core.retrieval.search import QueryError, prepare_query, search_note, search_vector
from pages import _cache, _grading, _needs
from pages._state import MODEL_KEY, annotator, corpus_and_encoder, require_frame, settings

require_frame()
s = settings()
LABELS = {"memes": "Мемы", "posts": "Посты", "offers": "Товары"}
SUBMITTED = "search_submitted"

st.title("Поиск")
_grading.show_feedback()
# with nothing found, try the bundled memes anyway: loading them says which file is missing
corpora = _cache.corpora_of_kind(s, "memes", "posts", "generic") or {"memes": "memes"}
corpus_name = st.segmented_control("Корпус", list(corpora),
                                   format_func=lambda n: LABELS.get(n) or display.plain(corpora[n], one_line=True),
                                   default="memes" if "memes" in corpora else next(iter(corpora)), required=True,
                                   key="search_corpus")
corpus, enc = corpus_and_encoder(corpus_name)
if enc.notice:
    st.info(enc.notice)
for note in corpus.notes:
    st.warning(display.plain(note))

with st.form("search_form", border=False):
    query_text = st.text_input("Ситуация", key="search_query",
                               placeholder="когда экзамен перенесли после бессонной ночи")
    cols = st.columns([1, 2, 2])
    k = cols[0].number_input("Результатов", 1, 100, 10, key="search_k")
    filters = {}
    if corpus.kind == "posts":
        if "category" in corpus.frame and corpus.frame["category"].ne("").any():
            filters["category"] = cols[1].multiselect(
                "Тематика", sorted(set(corpus.frame["category"]) - {""}), key="search_categories", placeholder="все",
                select_all=False)
        titles = corpus.frame.drop_duplicates("channel_id").set_index("channel_id")["channel_title"]
        filters["channel_id"] = cols[2].multiselect(
            "Каналы", list(titles.index), format_func=lambda c: titles.get(c) or c,
            key="search_channels", placeholder="все", select_all=False)
    if st.form_submit_button("Искать", type="primary", icon=":material/search:"):
        st.session_state[SUBMITTED] = {"corpus": corpus_name, "query": query_text, "k": int(k),
                                       "filters": filters}

ci = _cache.corpus_index(s, corpus, enc)
request = st.session_state.get(SUBMITTED)
if not request or request["corpus"] != corpus_name:
    st.info("Опишите ситуацию своими словами и нажмите «Искать». Результаты можно сразу оценивать: "
            "2 — релевантно, 1 — частично, 0 — мимо.")
    st.stop()
try:
    query, note = prepare_query(request["query"])
except QueryError as exc:
    st.warning(display.plain(str(exc)))
    st.stop()
if note:
    st.caption(f":material/content_cut: {display.plain(note)}")

results = search_vector(ci, _cache.query_vector(enc.id, query, _encoder=enc), request["k"], request["filters"])
if results.empty:
    st.info("Ничего не найдено с такими фильтрами — снимите часть фильтров.")
    st.stop()
if not annotator():
    st.warning("Чтобы оценивать результаты, впишите своё имя в поле «Аннотатор» слева.",
               icon=":material/person:")

_needs.need_panel(corpus.name, query, key="search")
grades = _grading.current_grades(corpus.name, query)
model = st.session_state[MODEL_KEY]
done = sum(1 for d in results["id"] if (grades.get(d) or {}).get("mine") is not None)
st.caption(f"{display.count(len(results), 'результат', 'результата', 'результатов')} · вы оценили {done} "
           f"из {len(results)} · модель {display.plain(model, one_line=True)} · "
           "клавиши 2 / 1 / 0 / X оценивают первый неоценённый результат")
if approx := search_note(results):   # past VECSCOPE_ANN_MIN vectors: ANN, with its measured recall
    st.caption(f":material/speed: {approx}")
cursor = next((i for i, d in enumerate(results["id"]) if (grades.get(d) or {}).get("mine") is None), None)

for i, row in results.iterrows():
    with st.container(border=True, key=f"result_{i}"):
        head = {"memes": row.get("header"), "posts": row.get("channel_title") or row.get("channel_id")}.get(
            corpus.kind) or row["id"]
        # corpus text is shown as written (display.plain): no images, links, HTML or headings of its own
        st.markdown(f"**#{row['rank']}** · `{display.decimal(row['score'])}` · **{display.plain(head, one_line=True)}**"
                    + (" · :blue-badge[следующий]" if i == cursor else ""))
        if corpus.kind == "memes":
            st.markdown(display.plain(row["meaning"]))
            if row.get("link"):   # a link only when it is http(s); anything else as text
                st.markdown(display.link_markdown(row["link"]))
        else:
            text = row["text"]
            st.markdown(display.plain(text if len(text) <= 600 else text[:600].rsplit(" ", 1)[0] + " …"))
            published = row.get("published_at", "")
            meta = [row.get("category", ""), display.moment(published) if published else ""]
            if any(meta):   # the id is not shown: the header already falls back to it
                st.caption(display.plain(" · ".join(m for m in meta if m)))
        _grading.grade_row(corpus=corpus.name, query=query, doc_id=row["id"], rank=int(row["rank"]),
                           model=model, state=grades.get(row["id"]), key=f"{i}", keyboard=i == cursor)
