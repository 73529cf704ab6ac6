"""The «Оценка» view's judging block (pages/_judging.py) through app.py with AppTest."""
from tests.app.test_pages import start


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
    button = next(b for b in at.button if b.label == "Оценить следующий из очереди вслепую")
    button.click().run()
    assert not at.exception, at.exception
    assert at.segmented_control(key="compare_view").value == "blind"
    assert at.text_input(key="compare_query").value
    # blind: no model name on the page
    assert "e5-small" not in " ".join(m.value for m in at.markdown)
