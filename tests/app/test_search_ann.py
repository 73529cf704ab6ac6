"""The Search page past VECSCOPE_ANN_MIN vectors: results come from the ANN index and the page
says so next to them, with the recall@10 measured when the index was built."""
from streamlit.testing.v1 import AppTest

from core import display
from core.config import AnnConfig
from core.corpora.records import load_demo
from core.models.encoders import default_encoder
from core.retrieval.ann import index_folder, load_ann
from tests.conftest import DEMO, ROOT


def test_search_page_says_approximate_and_shows_the_measured_recall(app_env, monkeypatch, warm_cache):
    monkeypatch.setenv("VECSCOPE_ANN_MIN", "100")            # the 210 demo memes count as "large"
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.text_input(key="search_query").input("когда экзамен перенесли после бессонной ночи")
    next(b for b in at.button if b.label == "Искать").click().run()
    assert not at.exception, at.exception
    assert len([m for m in at.markdown if m.value.startswith("**#")]) == 10

    memes = load_demo(DEMO, "memes")
    folder = index_folder(warm_cache, default_encoder().id, memes.content_hash, AnnConfig.from_env())
    meta = load_ann(folder).meta
    assert meta["recall_query_source"] == "queries"          # the memes' own example queries
    want = f"приближённый поиск, recall@10 {display.decimal(meta['recall@10'], 2)}"
    assert any(want in c.value for c in at.caption), [c.value for c in at.caption]
