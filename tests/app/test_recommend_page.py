"""Recommendations page through app.py with AppTest: the scores, one reader, uploads good and bad."""
import re
import shutil

import pandas as pd
import pytest

from tests import hostile
from tests.app.test_pages import start
from tests.app.test_russian import assert_russian
from tests.conftest import DEMO


def table(at, column):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def reasons(at):
    """The caption under each recommended post: why it came up."""
    return [hostile.read(c.value) for c in at.caption if c.value.startswith(("похоже на", "популярно у всех"))]


def test_methods_are_scored_against_popularity_and_one_reader_is_explained(app_env):
    at = start("pages/recommend.py")
    assert not at.exception, at.exception
    scores = table(at, "HitRate@5")
    assert scores["метод"].tolist() == ["популярное", "средний вкус", "соседи каждого лайка"]
    assert scores["nDCG@5"].str.contains(r"\[").all() and scores["покрытие"].str.contains("%").all()
    recs = reasons(at)
    assert len(recs) == 10 and all(re.search(r"^похоже на: .+\(0,\d\d\)", r) for r in recs)   # nearest history items
    assert len(table(at, "действие")) > 0                                         # the history beside it
    assert_russian(at, "Рекомендации")
    at.segmented_control(key="reco_method").set_value("popularity").run()
    assert set(reasons(at)) == {"популярно у всех"}
    assert_russian(at, "Рекомендации, популярное")


def _with_interactions(tmp_path, edit):
    data = tmp_path / "demo"
    shutil.copytree(DEMO, data)
    frame = pd.read_csv(data / "interactions.csv", dtype=str)
    frame = edit(frame)
    frame.to_csv(data / "interactions.csv", index=False)
    return data


def test_a_reader_with_no_history_is_told_so(app_env, monkeypatch):
    def edit(frame):   # a reader whose only action is a view after the cut
        return pd.concat([frame, pd.DataFrame([{"user_id": "новичок", "item_id": "p0001", "action": "view",
                                                "ts": "2025-10-30T10:00:00"}])])
    monkeypatch.setenv("VECSCOPE_DATA_DIR", str(_with_interactions(app_env, edit)))
    at = start("pages/recommend.py")
    at.selectbox(key="reco_user").set_value("новичок").run()
    assert any("«новичок»" in hostile.read(w.value) and "нет ни одного лайка" in w.value for w in at.warning)
    assert set(reasons(at)) == {"популярно у всех"}
    assert_russian(at, "Рекомендации, читатель без истории")


def test_bundled_interactions_naming_an_unknown_post_stop_with_file_column_row(app_env, monkeypatch):
    def edit(frame):
        frame.loc[3, "item_id"] = "p9999"
        return frame
    monkeypatch.setenv("VECSCOPE_DATA_DIR", str(_with_interactions(app_env, edit)))
    at = start("pages/recommend.py")
    msg = hostile.read(at.error[0].value)
    assert "interactions.csv" in msg and "'item_id'" in msg and "строке 5" in msg and "'p9999'" in msg
    assert_russian(at, "Рекомендации, неизвестный пост", data=("item_id",))


@pytest.mark.parametrize("good", [True, False])
def test_an_upload_is_saved_only_when_every_row_checks_out(app_env, monkeypatch, good):
    monkeypatch.setenv("VECSCOPE_IMPORTS_DIR", str(app_env / "imports"))
    at = start("pages/recommend.py")
    rows = "user_id,item_id,action,ts\nu1,p0001,like,2025-09-01T10:00:00\nu1,p0002,like,2025-09-20T10:00:00\n" \
           "u2,p0002,like,2025-09-02T10:00:00\nu2,p0001,like,2025-09-25T10:00:00\n"
    if not good:
        rows += "u3,нет-такого,like,2025-09-03T10:00:00\n"
    at.file_uploader(key="reco_upload").set_value(("clicks.csv", rows.encode(), "text/csv")).run()
    at.button(key="reco_save").click().run()
    stored = app_env / "imports" / ".interactions" / "posts.csv"
    if good:
        assert at.success and stored.exists()
        assert len(table(at, "HitRate@5")) == 3
    else:
        msg = hostile.read(at.error[0].value)
        assert "clicks.csv" in msg and "'item_id'" in msg and "строке 6" in msg and not stored.exists()
    assert_russian(at, f"Рекомендации, загрузка {'годная' if good else 'с ошибкой'}", data=("item_id", "u1", "u2"))


def test_a_hostile_post_is_shown_as_text_in_recommendations(app_env, monkeypatch):
    data = _with_interactions(app_env, lambda frame: pd.concat([frame, pd.DataFrame(
        [{"user_id": f"фанат-{i}", "item_id": "p0001", "action": "like", "ts": "2025-09-02T10:00:00"}
         for i in range(30)])]))                       # p0001 becomes the most popular post
    posts = pd.read_csv(data / "posts.csv", dtype=str, keep_default_na=False)
    posts.loc[0, "raw_text"] = hostile.POST_TEXT
    (data / "posts.csv").write_text(posts.to_csv(index=False, lineterminator="\n"), encoding="utf-8")
    monkeypatch.setenv("VECSCOPE_DATA_DIR", str(data))
    at = start("pages/recommend.py")
    at.segmented_control(key="reco_method").set_value("popularity").run()
    first = next(m.value for m in at.markdown if m.value.startswith("**1.**"))
    assert "Кот уронил всё со стола" in hostile.read(first)
    for m in [*at.markdown, *at.caption]:
        assert hostile.IMG not in m.value and "<img" not in m.value and "\n#" not in m.value
