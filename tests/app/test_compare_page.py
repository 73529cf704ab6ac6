"""Compare page through app.py with AppTest: side by side, blind grading, eval table, fine-tune."""
from core.labels.store import LabelStore
from core.models.registry import load_registry
from tests.app.test_pages import set_annotator, start
from tests.conftest import ROOT


def compare(at, query: str, view: str = "side"):
    at.segmented_control(key="compare_view").set_value(view).run()
    at.text_input(key="compare_query").input(query)
    next(b for b in at.button if b.label == "Сравнить").click().run()
    assert not at.exception, at.exception
    return at


def test_side_by_side_shows_both_lists_with_rank_moves(app_env):
    at = compare(start("pages/compare.py"), "где губка боб")
    heads = [m.value for m in at.markdown if m.value.startswith("**#")]
    assert len(heads) == 20     # default B is the same model with BM25 fused: two lists of 10
    assert any("`new`" in h or "`↑" in h or "`↓" in h or "`=`" in h for h in heads[10:])
    assert any("judged@10" in c.value for c in at.caption)


def test_blind_mode_hides_models_and_grades_once(app_env):
    at = compare(start("pages/compare.py"), "когда всё пошло не по плану", view="blind")
    items = [m.value for m in at.markdown if m.value.startswith("**1.**")]
    assert items and "e5-small" not in " ".join(m.value for m in at.markdown)
    set_annotator(at, "bella")
    at.button(key="g2_blind1").click().run()
    row = LabelStore(app_env / "labels.csv").read().frame.iloc[0]
    assert row["model"].startswith("blind:") and row["annotator"] == "bella" and row["grade"] == 2


def test_eval_table_scores_both_configs_with_coverage(app_env):
    at = start("pages/compare.py")
    at.segmented_control(key="compare_view").set_value("table").run()
    assert not at.exception, at.exception
    frames = at.dataframe
    assert len(frames) >= 2
    summary = frames[0].value
    assert {"nDCG@10", "MRR@10", "judged@10"} <= set(summary.columns)
    assert any("Мало оценок" in w.value and "judged@10" in w.value for w in at.warning)


def test_training_panel_plans_the_twin_and_registers_an_adapter(app_env):
    at = start("pages/compare.py")
    at.segmented_control(key="compare_view").set_value("train").run()
    plan = " ".join(m.value for m in at.markdown)
    # the bundled model's default is the full fine-tune through its torch twin, with the plan spelled out
    assert at.segmented_control(key="train_method_e5-small").value == "full"
    assert "пар для обучения" in plan and "трудных негативов" in plan and "ожидаемое время" in plan
    assert "отложено для оценки" in plan
    at.toggle(key="train_use_examples").set_value(False).run()
    assert "0 пар для обучения" in " ".join(m.value for m in at.markdown)
    assert next(b for b in at.button if b.label == "Обучить").disabled        # no labels yet: nothing to learn
    at.toggle(key="train_use_examples").set_value(True).run()
    at.segmented_control(key="train_method_e5-small").set_value("adapter").run()
    at.checkbox(key="train_force").check().run()
    next(b for b in at.button if b.label == "Обучить").click().run()
    from pages._finetune import _jobs
    job = _jobs().get(("memes", "e5-small", "adapter", True, None))      # an adapter has no mix
    assert job is not None and job.wait(120).done and job.error is None, job.error
    names = [s.name for s in load_registry(ROOT / "data" / "models.yaml", app_env / "users.yaml")[1]]
    assert "e5-small-memes-adapter" in names


def test_eval_view_serves_the_holes_one_query_at_a_time(app_env):
    at = start("pages/compare.py")
    at.segmented_control(key="compare_view").set_value("table").run()
    assert any("Дыры в разметке" in m.value for m in at.markdown)
    pick = at.selectbox(key="compare_hole").value
    next(b for b in at.button if b.label == "Оценить вслепую").click().run()
    assert at.segmented_control(key="compare_view").value == "blind"
    assert at.text_input(key="compare_query").value == pick


def _seed_labels(path, n_queries: int = 8):
    """Grades a team would have given: each example query's meme relevant, five other memes not."""
    import pandas as pd

    from core.labels.base import Label
    memes = pd.read_csv(ROOT / "data" / "demo" / "memes.csv", dtype=str, keep_default_na=False)
    ids = list(memes["id"])
    labels = []
    for i, (doc, ex) in enumerate(zip(memes["id"][:n_queries], memes["examples"][:n_queries])):
        query = ex.split("|")[0].strip()
        labels.append(Label("ann", "memes", query, doc, 2))
        labels += [Label("ann", "memes", query, other, 0) for other in ids[20 + 5 * i:25 + 5 * i]]
    LabelStore(path).append_many(labels)
    return len(labels)


def test_blind_view_hints_suggested_grades_without_writing_them(app_env):
    n = _seed_labels(app_env / "labels.csv")
    at = compare(start("pages/compare.py"), "когда всё пошло не по плану", view="blind")
    assert not any("Подсказка модели:" in c.value for c in at.caption)       # off by default: no anchoring
    at.toggle(key="compare_hints").set_value(True).run()
    assert not at.exception, at.exception
    hints = [c.value for c in at.caption if c.value.startswith("Подсказка модели:")]
    assert len(hints) >= 10 and all("уверенность" in h for h in hints)
    assert any("согласие с людьми" in c.value and "κ" in c.value for c in at.caption)
    assert len(LabelStore(app_env / "labels.csv").read().frame) == n          # a hint is never a label


def test_eval_table_says_when_suggestions_will_appear(app_env):
    at = start("pages/compare.py")
    at.segmented_control(key="compare_view").set_value("table").run()
    assert not at.exception, at.exception
    assert any("Подсказки модели появятся после 30 оценок" in c.value for c in at.caption)


def test_eval_table_keeps_the_estimated_column_apart(app_env):
    _seed_labels(app_env / "labels.csv")
    at = start("pages/compare.py")
    at.segmented_control(key="compare_view").set_value("table").run()
    assert not at.exception, at.exception
    line = next(m.value for m in at.markdown if m.value.startswith("**Оценка с подсказками**"))
    assert "не метрика" in line and "Решение выше от неё не зависит" in line
