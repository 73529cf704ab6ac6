"""Outcomes page through app.py with AppTest: the table, the three kinds of target, bad input."""
import io
import shutil

import pandas as pd
import pytest

from tests import hostile
from tests.app.test_pages import start
from tests.app.test_russian import assert_russian
from tests.conftest import DEMO


def table(at):
    return next(d.value for d in at.dataframe if "модель" in d.value.columns)


@pytest.mark.parametrize("kind", ["ratio", "weighted", "column"])
def test_outcomes_score_models_against_both_baselines_in_russian(app_env, kind):
    at = start("pages/outcomes.py")
    if kind != "ratio":
        at.segmented_control(key="outcomes_kind").set_value(kind).run()
    assert not at.exception, at.exception
    t = table(at)
    assert t["модель"].tolist()[:3] == ["среднее", "длина текста", "e5-small"]
    assert ("правдоподобие на просмотр" in t.columns) == (kind == "ratio")
    assert t["R²"].str.contains(r"\[").all()                     # every score has its interval over folds
    assert at.get("plotly_chart") and len(at.get("plotly_chart")) == 2   # predicted vs actual, the map
    assert any(b.label == "Скачать предсказания (CSV)" for b in at.get("download_button"))
    assert_russian(at, f"Отклик, {kind}")


def test_metadata_adds_its_own_row(app_env):
    at = start("pages/outcomes.py")
    at.multiselect(key="outcomes_meta").set_value(["category"]).run()
    assert "метаданные" in table(at)["модель"].tolist()
    assert_russian(at, "Отклик, с метаданными")


def _data_dir(tmp_path, edit):
    data = tmp_path / "demo"
    shutil.copytree(DEMO, data)
    posts = pd.read_csv(data / "posts.csv", dtype=str, keep_default_na=False)
    edit(posts)
    (data / "posts.csv").write_text(posts.to_csv(index=False, lineterminator="\n"), encoding="utf-8")
    return data


@pytest.mark.parametrize("value, words", [("много", "не число"), ("-40", "отрицательное значение")])
def test_a_bad_views_cell_is_named_by_file_column_and_row(app_env, monkeypatch, value, words):
    def edit(posts):
        posts.loc[4, "views"] = value
    data = _data_dir(app_env, edit)
    monkeypatch.setenv("VECSCOPE_DATA_DIR", str(data))
    at = start("pages/outcomes.py")
    assert at.error, "a broken views cell must stop the page with a message"
    msg = hostile.read(at.error[0].value)
    assert "posts.csv" in msg and "'views'" in msg and "строке 6" in msg and words in msg
    assert not at.get("plotly_chart")
    assert_russian(at, f"Отклик, плохое значение {value}", data=("views",))


def test_hostile_post_text_is_shown_as_text(app_env, monkeypatch):
    def edit(posts):   # the best converting post is the hostile one
        posts.loc[0, "raw_text"] = hostile.POST_TEXT
        posts.loc[0, "likes"] = posts.loc[0, "views"]
    monkeypatch.setenv("VECSCOPE_DATA_DIR", str(_data_dir(app_env, edit)))
    at = start("pages/outcomes.py")
    assert not at.exception, at.exception
    best = next(d.value for d in at.dataframe if "пост" in d.value.columns)
    assert best["пост"].str.contains(hostile.IMG, regex=False).any()   # a table cell: plain text
    for m in [*at.markdown, *at.caption]:
        assert hostile.IMG not in m.value and "<img" not in m.value


def test_predictions_download_is_a_csv_of_every_post(app_env):
    import numpy as np

    from core.corpora.records import load_demo
    from core.tasks.outcomes.report import evaluate, predictions_csv
    from core.tasks.outcomes.target import Target
    corpus = load_demo(DEMO, "posts")
    rep = evaluate(corpus, Target("ratio", "likes", per="views"), {"x": np.random.default_rng(0).normal(size=(400, 4))})
    frame = pd.read_csv(io.BytesIO(predictions_csv(rep, corpus.frame["id"])), encoding="utf-8-sig")
    assert len(frame) == 400 and frame["id"].iloc[0] == "p0001" and set(frame["fold"]) == {1, 2, 3, 4, 5}
