"""The «Оценка» view's judging block (pages/_judging.py) through app.py with AppTest."""
from tests.app.test_pages import set_annotator, start


def test_eval_view_shows_coverage_side_by_side_a_verdict_and_a_blind_queue(app_env):
    at = start("pages/compare.py")
    at.segmented_control(key="compare_view").set_value("table").run()
    assert not at.exception, at.exception
    assert any("Сравнение, которому можно верить" in m.value for m in at.markdown)
    side = next(f.value for f in at.dataframe if "сжатый nDCG@10" in f.value.columns)
    assert list(side.index) and {"judged@10", "nDCG@10", "сжатый MRR@10"} <= set(side.columns)
    assert len(side) == 2
    lines = [e.value for e in [*at.success, *at.error, *at.info]]
    assert any(v.startswith(("Нет доказательств", )) or " лучше " in v or " хуже " in v for v in lines)
    assert any("Сжатые nDCG@10" in c.value for c in at.caption)
    assert any("Цель покрытия" in p.proto.text for p in at.get("progress"))
    # every eval query of the demo has its example meme graded 2: the queue completes them first
    order = next(c.value for c in at.caption if c.value.startswith("Очередь разметки:"))
    assert "Порядок: дооценка" in order and "разведка" not in order
    button = next(b for b in at.button if b.label == "Оценить следующий из очереди вслепую")
    button.click().run()
    assert not at.exception, at.exception
    assert at.segmented_control(key="compare_view").value == "blind"
    assert at.text_input(key="compare_query").value
    # blind: no model name on the page
    assert "e5-small" not in " ".join(m.value for m in at.markdown)


def _grade_keys(node) -> set[str]:
    return {b.key for b in node.button if b.key and b.key.startswith("g0_blind")}


def _waiting(at) -> set[str]:
    """Grade buttons inside the blind view's «Остальные документы» expander."""
    return {k for e in at.expander if e.label.startswith("Остальные документы") for k in _grade_keys(e)}


def test_coming_from_the_queue_the_blind_view_puts_what_it_asks_first_and_keeps_graded_ones_in_place(app_env):
    from core.labels.store import LabelStore

    at = start("pages/compare.py")
    set_annotator(at, "vera")
    at.segmented_control(key="compare_view").set_value("table").run()
    next(b for b in at.button if b.label == "Оценить следующий из очереди вслепую").click().run()
    assert not at.exception, at.exception
    first_query = at.text_input(key="compare_query").value
    note = next(i.value for i in at.info if i.value.startswith("Очередь разметки, запрос 1 из"))
    asked = int(note.split("нужны ещё ")[1].split()[0])
    later = _waiting(at)
    main = _grade_keys(at) - later
    # the query already has its example meme graded 2 (not by anyone here): every document that
    # moves the difference is asked, the ones at the same rank in both lists wait
    assert asked == len(main) > 0
    at.button(key="g0_blind1").click().run()
    assert not at.exception, at.exception
    rows = LabelStore(app_env / "labels.csv").read().frame
    assert (rows["query"] == first_query).sum() == 1                      # on disk
    assert "g0_blind1" in _grade_keys(at) - _waiting(at)                  # the graded result did not jump away
    note = next(i.value for i in at.info if i.value.startswith("Очередь разметки, запрос 1 из"))
    assert int(note.split("нужны ещё ")[1].split()[0]) == asked - 1
    at.button(key="queue_next").click().run()
    assert at.text_input(key="compare_query").value != first_query
    assert any(i.value.startswith("Очередь разметки, запрос 2 из") for i in [*at.info, *at.success])


def test_on_a_query_without_a_relevant_grade_the_queue_asks_for_every_document_that_moves(app_env):
    from core.finetune.data import is_eval_query
    from core.labels.store import Label, LabelStore
    from pages._judging import QUEUE_KEY

    query = next(q for q in (f"кот смотрит в окно {i}" for i in range(100)) if is_eval_query(q, set(), 0.3))
    LabelStore(app_env / "labels.csv").append(Label(annotator="boris", corpus="memes", query=query,
                                                    doc_id="m001", grade=0))
    at = start("pages/compare.py")
    at.session_state[QUEUE_KEY] = [query]
    at.session_state["compare_query"] = query
    at.session_state["compare_view"] = "blind"
    at.run()
    assert not at.exception, at.exception
    note = next(i.value for i in at.info if i.value.startswith("Очередь разметки, запрос 1 из 1"))
    asked = int(note.split("нужны ещё ")[1].split()[0])
    later = _waiting(at)
    # the whole query, not only the top 2 of each list: whether it counts must not depend on where
    # its relevant document sits; only documents at the same rank in both lists wait
    assert asked > 4 and len(_grade_keys(at) - later) == asked


def test_the_blind_views_coverage_counts_the_corpus_examples_the_queue_counts(app_env):
    """On a held-out example query of the demo no one has graded anything, but the corpus grades its
    meme 2: the judged@10 line says so (the queue and the verdict count that grade too)."""
    import re

    from core.corpora.records import load_demo
    from core.finetune.data import is_eval_query
    from tests.conftest import ROOT

    frame = load_demo(ROOT / "data" / "demo", "memes").frame
    examples = [q.strip() for ex in frame["examples"] for q in str(ex).split("|") if q.strip()]
    held_out = [q for q in examples if is_eval_query(q, set(), 0.3)][:5]
    shares = []
    for query in held_out:
        at = start("pages/compare.py")
        at.session_state["compare_query"] = query
        at.session_state["compare_view"] = "blind"
        at.run()
        assert not at.exception, at.exception
        line = next(c.value for c in at.caption if c.value.startswith("judged@10:"))
        assert "примеры корпуса" in line
        shares.append([int(x) for x in re.findall(r"(\d+)\s%", line)[:2]])
    # a held-out example's own meme is in the top 10 of at least one list for most of them
    assert any(a + b > 0 for a, b in shares), shares
