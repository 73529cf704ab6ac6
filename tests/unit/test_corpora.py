import pandas as pd
import pytest

from core.corpora.errors import CorpusError
from core.corpora.files import read_table
from core.corpora.records import channel_text, load_corpus, load_demo
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
    monkeypatch.setattr("core.corpora.files.MAX_FILE_BYTES", 1024)
    path = write(tmp_path, "big.csv", "id,text\n" + "".join(f"{i},строка номер {i}\n" for i in range(200)))
    with pytest.raises(CorpusError, match=r"big.csv: .* больше предела .*VECSCOPE_MAX_FILE_MB"):
        load_corpus(path, "generic")


# ------------------------------------------------------------------ files that are not what they seem

def test_parquet_columns_are_converted_explicitly_by_type(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pa.table({
        "id": pa.array([-1001111111111.0, 2.0, 3.0]),                      # ids saved as double by pandas
        "raw_text": ["первый", "второй", "третий"],
        "channel_id": pa.array([1, None, 3], pa.int64()),
        "tags": pa.array([["x", "y"], [], None], pa.list_(pa.string())),   # numpy's str gave "['x' 'y']"
        "meta": pa.array([{"a": 1}, {"a": None}, None], pa.struct([("a", pa.int32())])),
        "score": pa.array([0.5, None, 0.25]),
        "f32": pa.array([0.1, 1.5, None], pa.float32()),
        "subs": pa.array([1200.0, float("nan"), 3.0]),
        "raw": pa.array([b"utf-8 \xd1\x82\xd0\xb5\xd0\xba\xd1\x81\xd1\x82", None, b""], pa.binary()),
        "when": pa.array([3_600_000_000, None, 86_400_000_000], pa.timestamp("us")),
    })
    pq.write_table(table, tmp_path / "p.parquet")
    frame = read_table(tmp_path / "p.parquet")
    assert frame["id"].tolist() == ["-1001111111111", "2", "3"]
    assert frame["channel_id"].tolist() == ["1", None, "3"]
    assert frame["tags"].tolist() == ['["x", "y"]', "[]", None]
    assert frame["meta"].tolist() == ['{"a": 1}', '{"a": null}', None]
    assert frame["score"].tolist() == ["0.5", None, "0.25"] and frame["f32"].tolist() == ["0.1", "1.5", None]
    assert frame["subs"].tolist() == ["1200", None, "3"]
    assert frame["raw"].tolist() == ["utf-8 текст", None, ""]
    assert frame["when"].tolist() == ["1970-01-01 01:00:00", None, "1970-01-02 00:00:00"]
    notes = " | ".join(frame.attrs["notes"])
    for col in ("'id'", "'subs'", "'tags'", "'meta'", "'raw'"):
        assert col in notes
    corpus = load_corpus(tmp_path / "p.parquet", "posts")
    assert corpus.frame["id"].tolist()[0] == "-1001111111111" and any("'tags'" in n for n in corpus.notes)


def test_parquet_binary_that_is_not_text_and_inexact_doubles_are_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"id": ["a", "b"], "thumb": pa.array([b"ok", b"\xff\xd8\xff\xe0"])}), tmp_path / "b.parquet")
    with pytest.raises(CorpusError) as err:                  # used to be an uncaught UnicodeDecodeError
        read_table(tmp_path / "b.parquet")
    assert "'thumb'" in str(err.value) and "строке 3" in str(err.value) and "двоичные" in str(err.value)
    pq.write_table(pa.table({"id": pa.array([1.0, 2.0**60])}), tmp_path / "big.parquet")
    with pytest.raises(CorpusError, match=r"'id' .* строке 3 .* 2\^53"):
        read_table(tmp_path / "big.parquet")


def test_a_spreadsheet_renamed_to_csv_is_called_a_spreadsheet_not_cp1251(tmp_path):
    import zipfile
    path = tmp_path / "posts.csv"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", "<worksheet>Привет</worksheet>")
    with pytest.raises(CorpusError) as err:
        load_corpus(path, "posts")
    assert "Excel (.xlsx)" in str(err.value) and "CSV UTF-8" in str(err.value) and "cp1251" not in str(err.value)
    with pytest.raises(CorpusError, match="UTF-16"):
        load_corpus(write(tmp_path, "u16.csv", "\ufeffid,text\n1,текст\n", "utf-16-le"), "generic")
    with pytest.raises(CorpusError, match="UTF-16"):
        load_corpus(write(tmp_path, "u16b.csv", "id,text\n1,текст\n", "utf-16-le"), "generic")


def test_a_file_of_nul_bytes_gets_a_short_message_saying_what_it_is(tmp_path):
    path = tmp_path / "zeros.csv"
    path.write_bytes(b"\0" * 4096)
    with pytest.raises(CorpusError) as err:                  # used to be 17 KB of '\x00'
        load_corpus(path, "posts")
    assert len(str(err.value)) < 300 and "нулевых байтов" in str(err.value) and "zeros.csv" in str(err.value)
    path.write_bytes(b"id,text\n1,\0\0 x\n")
    with pytest.raises(CorpusError, match="двоичный файл"):
        load_corpus(path, "generic")


def test_column_lists_in_messages_are_capped(tmp_path):
    header = ",".join(f"very_long_column_name_number_{i:03d}_" + "x" * 50 for i in range(300))
    path = write(tmp_path, "wide.csv", header + "\n" + ",".join("v" for _ in range(300)) + "\n")
    with pytest.raises(CorpusError) as err:
        load_corpus(path, "posts")
    assert len(str(err.value)) < 1200 and "и ещё 285" in str(err.value)


def test_semicolon_and_tab_separated_files_are_read_with_their_separator(tmp_path):
    text = "id;channel_id;raw_text\np1;c1;Скидка 30%, только сегодня\np2;c1;\"Цитата; с точкой с запятой\"\n"
    corpus = load_corpus(write(tmp_path, "excel.csv", text), "posts")
    assert corpus.texts == ("Скидка 30%, только сегодня", "Цитата; с точкой с запятой")
    assert any("точка с запятой" in n for n in corpus.notes)
    tsv = load_corpus(write(tmp_path, "t.csv", "id\ttext\n1\tраз, два\n"), "generic")
    assert tsv.texts == ("раз, два",) and any("табуляц" in n for n in tsv.notes)
    # a comma file whose texts hold semicolons stays a comma file
    plain = load_corpus(write(tmp_path, "c.csv", "id,text\n1,а; б; в\n2,г; д\n"), "generic")
    assert plain.texts == ("а; б; в", "г; д") and plain.notes == ()


def test_a_separator_that_cannot_be_read_is_named(tmp_path):
    # one field too many in most rows: not consistent enough to switch, so say what it looks like
    text = "id;channel_id;raw_text\n" + "".join(f"p{i};c1;текст;лишнее;ещё\n" for i in range(5))
    with pytest.raises(CorpusError) as err:
        load_corpus(write(tmp_path, "odd.csv", text), "posts")
    assert "точка с запятой" in str(err.value)


def test_duplicate_header_names_are_refused_naming_them(tmp_path):
    with pytest.raises(CorpusError) as err:              # pandas quietly renamed the second to 'id.1'
        load_corpus(write(tmp_path, "d.csv", "id,text,id\n1,а,2\n"), "generic")
    assert "'id' (столбцы 1, 3)" in str(err.value)
    with pytest.raises(CorpusError, match=r"'text' \(столбцы 2, 3\)"):
        load_corpus(write(tmp_path, "s.csv", "id,text, text\n1,а,б\n"), "generic")
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.Table.from_arrays([pa.array(["1"]), pa.array(["а"]), pa.array(["б"])], ["id", "text", "text"]),
                   tmp_path / "d.parquet")
    with pytest.raises(CorpusError, match=r"'text' \(столбцы 2, 3\)"):
        read_table(tmp_path / "d.parquet")


def test_missing_column_message_lists_only_what_the_file_has(tmp_path):
    path = write(tmp_path, "p.csv", "post_id,body\n1,текст\n")
    with pytest.raises(CorpusError) as err:
        load_corpus(path, "posts", mapping={"id": "post_id", "raw_text": "body"})
    message = str(err.value)
    assert "'channel_id'" in message and "в файле есть 'post_id', 'body'" in message
    assert "'raw_text'" not in message.split("в файле есть")[1].split(".")[0].replace("raw_text сопоставлен", "")
