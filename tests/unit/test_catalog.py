"""The corpus catalog: demo + imported corpora, atomic imports, removal, coverage."""
from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from core.config import Settings
from core.corpora.catalog import Catalog, can_manage
from core.corpora.errors import CorpusError
from core.corpora.prepare import check_name, guess_kind, prepare_import, remaining_columns, suggest_name
from core.retrieval.cache import EmbeddingCache, corpus_coverage, embed_cached, embed_catalog_corpus
from core.retrieval.search import build_corpus_index, search
from tests.conftest import DEMO

POSTS_CSV = (
    "post_id,chan,text,date,topic\n"
    "p1,c1,Скидка 30% на курсы английского до конца недели,2024-05-01,Образование\n"
    "p2,c1,\"Как выбрать кроссовки для бега: три простых правила\",2024-05-02,Спорт\n"
    "p3,c2,Сборная вышла в финал после серии пенальти,2024-05-03,Спорт\n"
)
MAPPING = {"id": "post_id", "channel_id": "chan", "raw_text": "text", "published_at": "date", "category": "topic"}


@pytest.fixture
def settings(monkeypatch, tmp_path) -> Settings:
    monkeypatch.setenv("VECSCOPE_DATA_DIR", str(DEMO))
    monkeypatch.setenv("VECSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VECSCOPE_LABELS", str(tmp_path / "labels.csv"))
    monkeypatch.setenv("VECSCOPE_IMPORTS_DIR", str(tmp_path / "imports"))
    return Settings.from_env()


@pytest.fixture
def catalog(settings) -> Catalog:
    return Catalog(settings)


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_lists_demo_corpora_as_builtin(catalog):
    infos = {i.name: i for i in catalog.list()}
    assert {"memes", "posts", "channels"} <= set(infos)
    assert all(infos[n].builtin and infos[n].rows > 0 for n in ("memes", "posts", "channels"))
    assert len(catalog.load("memes")) == infos["memes"].rows


def test_import_with_mapping_is_listed_and_loads_as_a_corpus(catalog, tmp_path):
    path = write(tmp_path, "ads.csv", POSTS_CSV)
    info = catalog.import_table(path, "ads", "posts", MAPPING)
    assert (info.name, info.kind, info.rows, info.builtin) == ("ads", "posts", 3, False)
    assert info.source == str(path) and info.content_hash
    assert "ads" in [i.name for i in catalog.list()]
    corpus = catalog.load("ads")
    assert corpus.texts[2] == "Сборная вышла в финал после серии пенальти"
    assert list(corpus.frame["category"]) == ["Образование", "Спорт", "Спорт"]
    assert set(corpus.frame["channel_title"]) == {""}     # optional columns exist, empty
    meta = json.loads((catalog.root / "ads" / "meta.json").read_text(encoding="utf-8"))
    assert meta["mapping"] == MAPPING and meta["rows"] == 3 and meta["kind"] == "posts"


def test_generic_corpus_joins_text_columns_and_keeps_metadata(catalog, tmp_path):
    path = write(tmp_path, "faq.csv", "key,q,a,lang\nf1,Как вернуть товар?,Напишите в поддержку.,ru\n"
                                      "f2,Сроки доставки,,ru\n")
    catalog.import_table(path, "faq", "generic", {"id": "key"}, text_columns=["q", "a"], meta_columns=["lang"])
    corpus = catalog.load("faq")
    assert corpus.texts == ("Как вернуть товар?\n\nНапишите в поддержку.", "Сроки доставки")
    assert list(corpus.frame.columns) == ["id", "text", "lang"]


def test_generic_row_without_any_text_names_row_and_columns(catalog, tmp_path):
    path = write(tmp_path, "faq.csv", "key,q,a\nf1,Вопрос,Ответ\nf2,,\n")
    with pytest.raises(CorpusError) as err:
        catalog.import_table(path, "faq", "generic", {"id": "key"}, text_columns=["q", "a"])
    assert "faq.csv" in str(err.value) and "в строке 3" in str(err.value) and "'q', 'a'" in str(err.value)


def test_mapped_column_missing_names_file_and_column(catalog, tmp_path):
    path = write(tmp_path, "ads.csv", POSTS_CSV)
    with pytest.raises(CorpusError) as err:
        catalog.import_table(path, "ads", "posts", {**MAPPING, "raw_text": "body"})
    assert "ads.csv" in str(err.value) and "'body'" in str(err.value)


def test_reimport_replaces_atomically_and_a_bad_file_keeps_the_old_data(catalog, tmp_path):
    catalog.import_table(write(tmp_path, "ads.csv", POSTS_CSV), "ads", "posts", MAPPING)
    first = catalog.version("ads")
    # a file with an empty text on row 3: refused before anything is written
    bad = write(tmp_path, "bad.csv", POSTS_CSV.replace("Как выбрать кроссовки для бега: три простых правила", ""))
    with pytest.raises(CorpusError, match=r"в строке 3 \(id 'p2'\)"):
        catalog.import_table(bad, "ads", "posts", MAPPING)
    assert catalog.version("ads") == first and len(catalog.load("ads")) == 3
    # a good new version replaces the old one, which is then gone from disk
    two_rows = write(tmp_path, "two.csv", "\n".join(POSTS_CSV.splitlines()[:3]) + "\n")
    info = catalog.import_table(two_rows, "ads", "posts", MAPPING)
    assert info.rows == 2 and len(catalog.load("ads")) == 2 and catalog.version("ads") != first
    versions = [p for p in (catalog.root / ".versions").iterdir()]
    assert [p.name for p in versions] == [catalog.version("ads")]


def test_a_crash_while_writing_leaves_the_old_version_current(catalog, tmp_path, monkeypatch):
    catalog.import_table(write(tmp_path, "ads.csv", POSTS_CSV), "ads", "posts", MAPPING)
    before = catalog.version("ads")

    def boom(self, *args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        catalog.import_table(write(tmp_path, "new.csv", POSTS_CSV.replace("p1", "p9")), "ads", "posts", MAPPING)
    monkeypatch.undo()
    assert catalog.version("ads") == before and catalog.load("ads").frame["id"].iloc[0] == "p1"
    assert [p.name for p in (catalog.root / ".versions").iterdir()] == [before]   # no temp folder left


def test_remove_imported_but_never_builtin(catalog, tmp_path):
    catalog.import_table(write(tmp_path, "ads.csv", POSTS_CSV), "ads", "posts", MAPPING)
    catalog.remove("ads")
    assert "ads" not in catalog.names()
    assert list((catalog.root / ".versions").iterdir()) == []
    with pytest.raises(CorpusError, match="встроенный демо-корпус"):
        catalog.remove("memes")
    with pytest.raises(CorpusError, match="неизвестный корпус 'ads'"):
        catalog.load("ads")


def test_names_are_checked_and_demo_names_refused(catalog, tmp_path):
    path = write(tmp_path, "ads.csv", POSTS_CSV)
    for bad in ("../etc", ".hidden", "a/b", "", "x" * 65):
        with pytest.raises(CorpusError, match="название корпуса"):
            catalog.import_table(path, bad, "posts", MAPPING)
    with pytest.raises(CorpusError, match="встроенный демо-корпус"):
        catalog.import_table(path, "memes", "posts", MAPPING)
    assert check_name("реклама_2024") == "реклама_2024"
    assert suggest_name("Посты канала (май).csv") == "Посты-канала-май"


def test_coverage_counts_cached_rows_and_one_edit_reembeds_one_row(catalog, settings, tmp_path, keyword_encoder):
    catalog.import_table(write(tmp_path, "ads.csv", POSTS_CSV), "ads", "posts", MAPPING)
    assert corpus_coverage(catalog, "ads", keyword_encoder.id) == 0.0
    embed_catalog_corpus(catalog, "ads", keyword_encoder)
    assert keyword_encoder.calls == 3 and corpus_coverage(catalog, "ads", keyword_encoder) == 1.0
    catalog.import_table(write(tmp_path, "ads.csv", POSTS_CSV.replace("пенальти", "пенальти!")), "ads", "posts", MAPPING)
    assert corpus_coverage(catalog, "ads", keyword_encoder.id) == pytest.approx(2 / 3)
    ci = build_corpus_index(catalog.load("ads"), keyword_encoder, EmbeddingCache(settings.cache_dir, keyword_encoder.id))
    assert keyword_encoder.calls == 4
    assert search(ci, keyword_encoder, "финал пенальти", 1)["id"].iloc[0] == "p3"


def test_parquet_and_dataframe_sources(catalog, tmp_path):
    frame = pd.DataFrame({"id": [1, 2], "title": ["Кухня без заморочек", "Сигнал"], "subs": [1200, 560000]})
    frame.to_parquet(tmp_path / "ch.parquet")
    info = catalog.import_table(tmp_path / "ch.parquet", "my-channels", "channels", {"subscribers": "subs"})
    assert catalog.load("my-channels").frame["subscribers"].tolist() == ["1200", "560000"]
    info2 = catalog.import_table(frame, "from-frame", "channels", source="notebook")
    assert info.rows == info2.rows == 2 and info2.source == "notebook"
    assert catalog.load("my-channels").texts == ("Кухня без заморочек", "Сигнал")


def test_prepare_import_checks_without_writing(settings, tmp_path):
    frame = pd.read_csv(write(tmp_path, "ads.csv", POSTS_CSV), dtype=str)
    corpus = prepare_import(frame, "posts", "ads", "ads.csv", MAPPING)
    assert len(corpus) == 3 and not (tmp_path / "imports").exists()
    assert remaining_columns(list(frame.columns), "posts", {"id": "post_id", "raw_text": "text"}) == ["chan", "date", "topic"]
    with pytest.raises(CorpusError, match="совпадает по имени"):
        prepare_import(frame.assign(category="x"), "posts", "ads", "ads.csv", MAPPING, meta_columns=["category"])


def test_admins_guard():
    assert can_manage(None, "") and can_manage([], "anna")
    assert can_manage(["Anna", "boris"], " anna ") and can_manage("anna, boris", "boris")
    assert not can_manage(["anna"], "") and not can_manage("anna", "mallory")


def test_stale_unpublished_folders_are_swept(catalog, tmp_path):
    catalog.import_table(write(tmp_path, "ads.csv", POSTS_CSV), "ads", "posts", MAPPING)
    leftover = catalog.root / ".versions" / ".tmp-ads-killed"
    leftover.mkdir()
    os.utime(leftover, (0, 0))
    catalog.import_table(write(tmp_path, "b.csv", POSTS_CSV), "other", "posts", MAPPING)
    assert not leftover.exists() and {"ads", "other"} <= set(catalog.names())
    assert np.isclose(corpus_coverage(catalog, "other", "nothing-cached"), 0.0)


def test_embed_uses_the_shared_cache(catalog, settings, tmp_path, keyword_encoder):
    catalog.import_table(write(tmp_path, "ads.csv", POSTS_CSV), "ads", "posts", MAPPING)
    texts = catalog.load("ads").texts
    embed_cached(keyword_encoder, texts, EmbeddingCache(settings.cache_dir, keyword_encoder.id))
    embed_catalog_corpus(catalog, "ads", keyword_encoder)
    assert keyword_encoder.calls == 3


def test_cli_imports_lists_and_removes(settings, tmp_path, capsys):
    from core.cli.imports import main
    path = write(tmp_path, "ads.csv", POSTS_CSV)
    maps = [a for ours, theirs in MAPPING.items() for a in ("--map", f"{ours}={theirs}")]
    assert main(["file", str(path), "--name", "ads", "--kind", "posts", *maps]) == 0
    assert "ads: posts, 3 rows" in capsys.readouterr().out
    assert main(["list"]) == 0 and "ads\tposts\t3\timported" in capsys.readouterr().out
    assert main(["file", str(path), "--name", "ads", "--kind", "posts", "--map", "raw_text=body"]) == 2
    assert "'body'" in capsys.readouterr().err and len(Catalog(settings).load("ads")) == 3
    assert main(["remove", "ads"]) == 0 and "ads" not in Catalog(settings).names()


def test_kind_is_guessed_from_the_columns_a_file_has():
    assert guess_kind(["id", "header", "meaning", "link"]) == "memes"
    assert guess_kind(["id", "channel_id", "raw_text"]) == "posts"
    assert guess_kind(["id", "title", "about", "subscribers"]) == "channels"
    assert guess_kind(["id", "text"]) == "generic"
    # a posts file without raw_text stays posts, so the message names raw_text, not text
    assert guess_kind(["id", "channel_id", "text", "published_at"]) == "posts"
    with pytest.raises(CorpusError, match="ads.csv: нет столбца 'raw_text'.*«посты»; в файле есть 'id', 'channel_id', 'text'"):
        prepare_import(pd.DataFrame({"id": ["p1"], "channel_id": ["c1"], "text": ["пост"]}), "posts", "ads", "ads.csv")


def test_files_that_are_not_what_they_seem_never_replace_an_import(catalog, tmp_path):
    import zipfile

    import pyarrow as pa
    import pyarrow.parquet as pq
    catalog.import_table(write(tmp_path, "ads.csv", POSTS_CSV), "ads", "posts", MAPPING)
    before = catalog.version("ads")
    xlsx = tmp_path / "ads-xlsx.csv"
    with zipfile.ZipFile(xlsx, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
    zeros = tmp_path / "zeros.csv"
    zeros.write_bytes(b"\0" * 4096)
    dup = write(tmp_path, "dup.csv", POSTS_CSV.replace("topic", "text", 1))
    pq.write_table(pa.table({"post_id": ["p1"], "chan": ["c1"], "text": pa.array([b"\xff\xfe"])}), tmp_path / "b.parquet")
    for bad, expected in [(xlsx, "Excel"), (zeros, "нулевых байтов"), (dup, "'text' (столбцы 3, 5)"),
                          (tmp_path / "b.parquet", "двоичные")]:
        with pytest.raises(CorpusError) as err:
            catalog.import_table(bad, "ads", "posts", MAPPING, source=bad.name)
        assert expected in str(err.value) and bad.name in str(err.value) and str(tmp_path) not in str(err.value)
    assert catalog.version("ads") == before and len(catalog.load("ads")) == 3


def test_a_semicolon_file_imports_and_says_how_it_was_read(catalog, tmp_path):
    path = write(tmp_path, "excel.csv", POSTS_CSV.replace(",", ";").replace('";', '";'))
    frame = catalog.read(path, source="excel.csv")
    corpus = prepare_import(frame, "posts", "ads", "excel.csv", MAPPING)
    assert corpus.texts[1] == "Как выбрать кроссовки для бега: три простых правила"
    assert any("точка с запятой" in n for n in corpus.notes)
    assert catalog.import_table(path, "ads", "posts", MAPPING).rows == 3
