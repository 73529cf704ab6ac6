import pandas as pd
import pytest

from core.corpora import CorpusError, channel_text, load_corpus, load_demo
from tests.conftest import DEMO


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_channel_text_skips_missing_parts_without_blank_artefacts():
    row = {"title": "Кухня без заморочек", "about": "", "pinned_text": "Правила канала: без спама."}
    assert channel_text(row) == "Кухня без заморочек\n\nПравила канала: без спама."
    assert channel_text({"title": "Сигнал", "about": None, "pinned_text": float("nan")}) == "Сигнал"
    assert channel_text(row, parts=("title",)) == "Кухня без заморочек"


def test_missing_column_names_file_and_column(tmp_path):
    path = write(tmp_path, "memes.csv", "id,title,meaning\nm1,Кот,Смешной кот\n")
    with pytest.raises(CorpusError) as err:
        load_corpus(path, "memes")
    assert "memes.csv" in str(err.value) and "нет столбца 'header'" in str(err.value)
    assert "«мемы»" in str(err.value) and "'title'" in str(err.value)   # what the file has instead


def test_duplicate_ids_name_both_rows(tmp_path):
    path = write(tmp_path, "posts.csv", "id,channel_id,raw_text\np1,c1,а\np2,c1,б\np1,c2,в\n")
    with pytest.raises(CorpusError, match=r"'p1' повторяется в строках 2 и 4"):
        load_corpus(path, "posts")


def test_cp1251_file_gets_an_encoding_hint(tmp_path):
    path = write(tmp_path, "posts.csv", "id,channel_id,raw_text\np1,c1,Привет, это пост про котов\n", "cp1251")
    with pytest.raises(CorpusError, match="cp1251") as err:
        load_corpus(path, "posts")
    assert "не в кодировке UTF-8" in str(err.value) and "строке 2" in str(err.value)


def test_broken_csv_names_the_line_in_russian(tmp_path):
    path = write(tmp_path, "posts.csv", "id,channel_id,raw_text\np1,c1,раз\np2,c1,два,три\n")
    with pytest.raises(CorpusError, match=r"posts.csv: CSV не разбирается \(в строке 3 полей 4, а ожидалось 3\)"):
        load_corpus(path, "posts")


def test_empty_file_and_header_only(tmp_path):
    with pytest.raises(CorpusError, match="файл пустой"):
        load_corpus(write(tmp_path, "a.csv", ""), "posts")
    with pytest.raises(CorpusError, match="нет ни одной строки"):
        load_corpus(write(tmp_path, "b.csv", "id,channel_id,raw_text\n"), "posts")


def test_row_without_text_is_named(tmp_path):
    path = write(tmp_path, "posts.csv", 'id,channel_id,raw_text\np1,c1,текст\np2,c1,"  "\n')
    with pytest.raises(CorpusError, match=r"в строке 3 \(id 'p2'\)"):
        load_corpus(path, "posts")


def test_column_mapping_and_parquet(tmp_path):
    frame = pd.DataFrame({"post_id": [1, 2], "chan": ["a", "b"], "body": ["первый", "второй"]})
    frame.to_parquet(tmp_path / "p.parquet")
    corpus = load_corpus(tmp_path / "p.parquet", "posts",
                         mapping={"id": "post_id", "channel_id": "chan", "raw_text": "body"})
    assert list(corpus.frame["id"]) == ["1", "2"] and corpus.texts == ("первый", "второй")
    with pytest.raises(CorpusError, match="'text_col'"):
        load_corpus(tmp_path / "p.parquet", "posts", mapping={"raw_text": "text_col"})


def test_content_hash_changes_with_one_record(tmp_path):
    a = load_corpus(write(tmp_path, "a.csv", "id,text\n1,раз\n2,два\n"), "generic")
    b = load_corpus(write(tmp_path, "b.csv", "id,text\n1,раз\n2,три\n"), "generic")
    assert a.content_hash != b.content_hash


def test_demo_corpora_meet_the_promised_shape():
    memes, posts, channels = (load_demo(DEMO, n) for n in ("memes", "posts", "channels"))
    assert len(memes) >= 200 and len(channels) >= 120 and len(posts) >= 400
    assert all(len(e.split("|")) >= 2 for e in memes.frame["examples"])
    assert channels.frame["category"].nunique() >= 10
    assert (channels.frame["about"] == "").any() and (channels.frame["pinned_text"] == "").mean() > 0.2
    assert posts.frame["channel_title"].ne("").all()
    assert (posts.frame["is_ad"] == "1").sum() >= 20


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr("core.corpora.MAX_FILE_BYTES", 1024)
    path = write(tmp_path, "big.csv", "id,text\n" + "".join(f"{i},строка номер {i}\n" for i in range(200)))
    with pytest.raises(CorpusError, match=r"big.csv: .* больше предела .*VECSCOPE_MAX_FILE_MB"):
        load_corpus(path, "generic")
