"""The Pairs page through app.py: Russian on every screen, a click on disk before the page says
so, undo as a row, hostile texts shown as written, a bad pair file named and nothing stored."""
from __future__ import annotations

import pandas as pd

from core.labels.store import LabelStore
from tests.app.test_pages import literal, set_annotator, start
from tests.app.test_russian import assert_russian
from tests.conftest import DEMO

PAGE = "pages/pairs.py"


def pair_store(app_env) -> LabelStore:
    return LabelStore(app_env / "var" / "pair_labels.csv")


def view(at, name):
    at.segmented_control(key="pairs_view").set_value(name).run()
    assert not at.exception, at.exception
    return at


def test_first_start_explains_and_the_demo_ground_truth_feeds_the_metrics(app_env):
    at = start(PAGE)
    assert at.title[0].value == "Пары"
    assert any("ещё нет размеченных пар" in i.value for i in at.info)
    assert_russian(at, "Пары, пусто")
    set_annotator(at, "анна")
    next(b for b in at.button if b.label == "Взять эталонную разметку демо").click().run()
    frame = pair_store(app_env).read().frame
    truth = pd.read_csv(DEMO / "offer_pairs.csv")
    assert len(frame) == len(truth) and set(frame["annotator"]) == {"анна"}
    view(at, "quality")
    table = at.dataframe[0].value
    assert list(table["модель"]) == ["e5-small"] and 0.5 < float(table["AUC"].iloc[0]) <= 1.0
    assert len(at.get("plotly_chart")) == 3
    assert any(b.label == "Скачать порог модели (JSON)" for b in at.get("download_button"))
    assert_russian(at, "Пары, качество")
    at_5 = float(table["порог"].iloc[0])
    at.segmented_control(key="pairs_fpr").set_value(None).run()     # a user-set FPR: more false positives allowed
    at.number_input(key="pairs_fpr_own").set_value(20.0).run()
    assert not at.exception and float(at.dataframe[0].value["порог"].iloc[0]) < at_5
    view(at, "train")
    assert any("пар для обучения" in m.value for m in at.markdown)
    assert_russian(at, "Пары, дообучение")


def test_a_click_is_on_disk_before_the_page_confirms_and_undo_appends(app_env):
    at = start(PAGE)
    assert at.button(key="pair_g1").disabled           # a name first
    set_annotator(at, "анна")
    shown = [t.value for t in at.text][:2]               # the two texts of the pair on screen
    at.button(key="pair_g1").click().run()
    rows = pair_store(app_env).read().frame
    assert len(rows) == 1 and rows.at[0, "grade"] == 1 and rows.at[0, "annotator"] == "анна"
    corpus = pd.read_csv(DEMO / "offers.csv").set_index("id")["text"]
    assert {corpus[rows.at[0, "query"]], corpus[rows.at[0, "doc_id"]]} == set(shown)
    assert any("Сохранено" in t.value for t in at.toast)
    assert_russian(at, "Пары, разметка")
    at.button(key="pair_undo").click().run()
    rows = pair_store(app_env).read().frame
    assert len(rows) == 2 and pd.isna(rows.at[1, "grade"])      # undo is a new row, the first stays
    assert any("Отменено" in t.value for t in at.toast)


HOSTILE = ["**жирный** <b>тег</b> [ссылка](http://example.com) ![x](http://example.com/x.png)",
           "# заголовок\n<script>alert(1)</script> :red[красный] $x^2$"]


def test_hostile_pair_texts_are_shown_as_written(app_env, monkeypatch, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"id": ["h1", "h2", "h3"], "shop": ["А", "Б", "Б"],
                  "text": HOSTILE + ["молоко 1 л"]}).to_csv(data / "offers.csv", index=False)
    monkeypatch.setenv("VECSCOPE_DATA_DIR", str(data))
    at = start(PAGE)
    set_annotator(at, "анна")
    at.segmented_control(key="pairs_where").set_value("within").run()
    for _ in range(3):   # judge pairs until both hostile texts have been on screen
        texts = [t.value for t in at.text]
        if set(HOSTILE) <= set(texts):
            break
        at.button(key="pair_g0").click().run()
    assert set(HOSTILE) <= set(texts)
    rendered = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "<script>" not in rendered and "**жирный**" not in rendered


def test_a_pair_file_with_an_unknown_id_is_named_and_nothing_is_stored(app_env):
    at = start(PAGE)
    set_annotator(at, "анна")
    view(at, "file")
    at.file_uploader(key="pairs_upload").set_value(
        ("мои пары.csv", "a_id,b_id,label\nlk-001,gk-001,1\nlk-002,zz-999,0\n".encode(), "text/csv")).run()
    msg = literal(at.error[0].value)   # as the user reads it
    assert "мои пары.csv" in msg and "b_id" in msg and "строка 3" in msg and "zz-999" in msg
    assert not (app_env / "var" / "pair_labels.csv").exists()
    assert_russian(at, "Пары, файл с ошибкой", data=("a_id", "b_id", "zz-999", "lk-001", "lk-002", "gk-001"))
    at.file_uploader(key="pairs_upload").set_value(
        ("хорошие.csv", "a_id,b_id,label\nlk-001,gk-001,1\nlk-002,gk-002,\n".encode(), "text/csv")).run()
    next(b for b in at.button if b.label.startswith("Сохранить метки из файла")).click().run()
    rows = pair_store(app_env).read().frame
    assert len(rows) == 1 and rows.at[0, "note"] == "файл хорошие.csv"


def test_pair_labels_train_a_model_through_the_relevance_job(app_env):
    """The loop closes for pairs: the demo ground truth trains an adapter, which is registered."""
    from core.models.registry import load_registry
    from pages._finetune import _jobs
    from tests.conftest import ROOT
    at = start(PAGE)
    set_annotator(at, "анна")
    next(b for b in at.button if b.label == "Взять эталонную разметку демо").click().run()
    view(at, "train")
    at.segmented_control(key="train_method_e5-small").set_value("adapter").run()
    at.checkbox(key="train_force").check().run()
    next(b for b in at.button if b.label == "Обучить").click().run()
    assert not at.exception, at.exception
    job = _jobs().get(("offers", "e5-small", "adapter", True, None, "pairs"))
    assert job is not None and job.wait(180).done and job.error is None, job.error
    names = [s.name for s in load_registry(ROOT / "data" / "models.yaml", app_env / "users.yaml")[1]]
    assert any("offers" in n for n in names), names
