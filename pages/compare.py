"""Compare two search configurations: side by side, blind, the eval table, and fine-tuning."""
import streamlit as st

from core import display
from core.corpora.errors import CorpusError
from core.evaluation.compare import blind_pool, judged_share, rank_moves
from core.evaluation.evaluate import MODES, SearchConfig, run_config
from core.evaluation.judging_queue import asked_now
from core.models.encoders import EncoderLoadError
from core.retrieval.search import QueryError, prepare_query
from pages import _cache, _finetune, _grading, _judging, _llm, _needs, _suggest
from pages._state import MODEL_KEY, annotator, require_frame, settings

require_frame()
s = settings()
CORPORA = _cache.corpora_of_kind(s, "memes", "posts", "generic", "channels")   # every corpus of the catalog
MODE_NAMES = {"dense": "эмбеддинги", "hybrid": "эмбеддинги + BM25"}
VIEWS = {"side": "Рядом", "blind": "Вслепую", "table": "Оценка", "train": "Дообучение"}

st.title("Сравнение моделей")
_grading.show_feedback()
default, specs = _cache.models(s)
names = [spec.name for spec in specs]
tuned = [spec.name for spec in specs if spec.backend == "adapter" or spec.meta.get("method")]

top = st.columns([1, 2, 2])
corpus_name = top[0].selectbox("Корпус", list(CORPORA), format_func=CORPORA.get, key="compare_corpus")
picks = []
for col, side, model_default, mode_default in (
        (top[1], "a", st.session_state[MODEL_KEY], "dense"),
        (top[2], "b", tuned[-1] if tuned else st.session_state[MODEL_KEY], "dense" if tuned else "hybrid")):
    with col.container(border=True):
        model = st.selectbox(f"Конфигурация {side.upper()}: модель", names, index=names.index(model_default),
                             key=f"compare_model_{side}")
        mode = st.segmented_control("Поиск", MODES, format_func=MODE_NAMES.get, default=mode_default,
                                    required=True, key=f"compare_mode_{side}")
        picks.append((model, mode))
if picks[0] == picks[1]:
    st.info("Выбраны две одинаковые конфигурации — поменяйте модель или режим у B.")

try:
    corpus = _cache.corpus(s, corpus_name)
    configs = [SearchConfig(m, _cache.current_encoder(s, m), mode) for m, mode in picks]
except (CorpusError, EncoderLoadError) as exc:
    st.error(str(exc))
    st.stop()
indexes = [_cache.corpus_index(s, corpus, c.encoder) for c in configs]
bm25 = _cache.bm25(corpus.name, corpus.content_hash, _corpus=corpus) if any(c.mode == "hybrid" for c in configs) else None
labels = [f"A · {configs[0].label}", f"B · {configs[1].label}"]

# The view is also set by buttons («Открыть рядом», «Оценить вслепую»): a widget default next to a
# session-state value set by a callback makes Streamlit warn, so the default lives in the state.
st.session_state.setdefault("compare_view", "side")
view = st.segmented_control("Режим", list(VIEWS), format_func=VIEWS.get, required=True, key="compare_view")


def ranked(query: str, k: int) -> list[list[str]]:
    return [run_config(c, corpus, ci.vectors, [query], k,
                       query_vectors=_cache.query_vector(c.encoder.id, query, _encoder=c.encoder)[None, :],
                       bm25=bm25)[query] for c, ci in zip(configs, indexes)]


def show_doc(doc_id: str, *, prefix: str, rank: int | None, key: str, grades: dict, model: str) -> None:
    pos = corpus.position(doc_id)
    row = corpus.frame.iloc[pos]
    with st.container(border=True, key=f"cmp_{key}"):
        st.markdown(prefix)
        st.text(display.record_titles(corpus.kind, corpus.frame.iloc[[pos]]).iloc[0])   # data: shown as text
        body = str(row["meaning"]) if corpus.kind == "memes" else corpus.texts[pos]
        st.caption(display.plain(body if len(body) < 320 else body[:320].rsplit(" ", 1)[0] + " …"))   # as written
        tip = _suggest.hint(hints, query, doc_id)
        if tip:
            st.caption(tip, help=_suggest.hint_help(hints))
        _grading.grade_row(corpus=corpus.name, query=query, doc_id=doc_id, rank=rank, model=model,
                           state=grades.get(doc_id), key=key)


def _go_next(order: list[str], after: str) -> None:
    st.session_state["compare_query"] = order[(order.index(after) + 1) % len(order)]


def queue_split(pool: list[str], lists, query: str, k: int, graded: set[str]) -> tuple[list[str], list[str]]:
    """(first, later): coming from the judging queue, the documents it asks for now on this query
    come first and the rest wait in an expander; otherwise the whole pool, as typed. What it asks
    is computed from the same held-out grades as the eval view (the corpus' examples included)."""
    order = st.session_state.get(_judging.QUEUE_KEY) or []
    if query not in order:
        return pool, []
    known = _cache.eval_qrels(s, corpus).get(query, {})
    asked = asked_now(lists[0], lists[1], known, k)
    # graded ones stay where they are (a graded result must not jump into the expander)
    first = [d for d in pool if d in asked or d in graded]
    place = order.index(query) + 1
    with st.container(horizontal=True, vertical_alignment="center"):
        if asked:
            st.info(f"Очередь разметки, запрос {place} из {len(order)}: для сравнения сейчас нужны ещё "
                    f"{display.count(len(asked), 'документ', 'документа', 'документов')} — они первыми.",
                    icon=":material/playlist_add_check:")
        else:
            st.success(f"Очередь разметки, запрос {place} из {len(order)}: здесь для сравнения больше ничего не "
                       "нужно.", icon=":material/check:")
        st.button("Следующий запрос очереди", on_click=_go_next, args=(order, query), key="queue_next",
                  icon=":material/skip_next:")
    return first, [d for d in pool if d not in first]


hints = None   # suggested grades (or an LLM judge's), shown only in the blind view when switched on
if view in ("side", "blind"):
    with st.form("compare_form", border=False):
        c1, c2 = st.columns([4, 1])
        text = c1.text_input("Ситуация", key="compare_query", placeholder="где Губка Боб?")
        k = c2.number_input("k", 1, 50, 10, key="compare_k")
        st.form_submit_button("Сравнить", type="primary")
    try:
        query, note = prepare_query(text)
    except QueryError as exc:
        st.info(str(exc))
        st.stop()
    if note:
        st.caption(note)
    if not annotator():
        st.warning("Чтобы оценивать, впишите имя в поле «Аннотатор» слева.", icon=":material/person:")
    lists = ranked(query, int(k))
    _needs.need_panel(corpus.name, query, key="compare")
    grades = _grading.current_grades(corpus.name, query)
    judged = {d for d, g in grades.items() if g.get("mine") is not None or g.get("others")}
    # the comparison and its queue also count the corpus' example grades: so does this line
    counted = judged | set(_cache.eval_qrels(s, corpus).get(query, {}))
    cover = [judged_share(ids, dict.fromkeys(counted)) for ids in lists]
    st.caption(f"judged@{k}: A {display.percent(cover[0])} · B {display.percent(cover[1])} (оценки и примеры корпуса) "
               "— неоценённые результаты считаются нерелевантными.")
    if view == "side":
        moves = rank_moves(lists[0], lists[1])
        cols = st.columns(2)
        for side, (col, ids) in enumerate(zip(cols, lists)):
            col.subheader(display.plain(labels[side]))    # model names are user-registered: plain text
            with col:
                for r, doc_id in enumerate(ids, start=1):
                    move = f" `{moves[doc_id]}`" if side == 1 else ""
                    show_doc(doc_id, prefix=f"**#{r}**{move} ·", rank=r, key=f"{'ab'[side]}{r}",
                             grades=grades, model=configs[side].label)
    else:
        pool = blind_pool(lists[0], lists[1], query)
        if st.toggle("Подсказки модели", key="compare_hints",
                     help="Степень, которую предлагает модель, обученная на ваших оценках. По умолчанию выключено: "
                          "подсказка до собственного решения сдвигает оценку."):
            qrels = _suggest.corpus_qrels(_cache.store(s).latest(_cache.labels(s).frame), corpus.name)
            judge = _llm.chosen()      # a choice of source only when [llm_judge] is in the secrets
            if judge is not None:
                hints = _llm.judgements(s, corpus, judge, qrels, [(query, d) for d in pool])
            else:
                hints = _suggest.suggestions(s, corpus, configs, qrels, [(query, d) for d in pool])
                st.caption(display.plain(_suggest.agreement_line(hints)))
        st.caption(f"{len(pool)} документов из обоих топ-{k} в случайном порядке, без названий моделей. "
                   "Оценка пишется один раз и засчитывается обеим моделям.")
        first, later = queue_split(pool, lists, query, int(k), judged)
        for i, doc_id in enumerate(first, start=1):
            show_doc(doc_id, prefix=f"**{i}.**", rank=None, key=f"blind{i}", grades=grades,
                     model=f"blind:{configs[0].label}|{configs[1].label}")
        if later:
            with st.expander(f"Остальные документы запроса ({len(later)}): для сравнения сейчас не нужны"):
                for i, doc_id in enumerate(later, start=len(first) + 1):
                    show_doc(doc_id, prefix=f"**{i}.**", rank=None, key=f"blind{i}", grades=grades,
                             model=f"blind:{configs[0].label}|{configs[1].label}")

elif view == "table":
    _finetune.eval_table(s, corpus, configs, labels)
else:
    _finetune.train_panel(s, corpus, specs)
