"""Information needs: durable, latest wins, history kept, matched like the label split."""
import pytest

from core.labels.base import LabelError
from core.labels.needs import NeedStore, needs_path


def test_latest_description_wins_and_history_stays(tmp_path):
    store = NeedStore(needs_path(tmp_path / "labels.csv"))
    assert store.path.name == "labels.needs.csv"
    store.write("memes", "Кот  на работе", "мем про кота, который мешает работать", "ann")
    store.write("memes", "кот на работе", "кот мешает работать из дома", "bob")
    again = NeedStore(store.path)                          # another process reading the same file
    assert again.get("memes", "КОТ на работе") == "кот мешает работать из дома"
    assert again.get("posts", "кот на работе") == ""       # per corpus
    assert list(again.history()["author"]) == ["ann", "bob"]
    store.write("memes", "кот на работе", "")              # cleared: an appended row, not a deletion
    assert again.get("memes", "кот на работе") == "" and len(again.history()) == 3


def test_hostile_text_is_stored_as_written_and_limits_are_named(tmp_path):
    store = NeedStore(tmp_path / "n.csv")
    evil = '<script>alert(1)</script>, "кавычки"; =HYPERLINK("x")\nвторая строка'
    store.write("memes", "q", evil)
    assert store.get("memes", "q") == '<script>alert(1)</script>, "кавычки"; =HYPERLINK("x") вторая строка'
    with pytest.raises(LabelError, match="длиннее 1000"):
        store.write("memes", "q", "я" * 1001)
    with pytest.raises(LabelError, match="запрос пустой"):
        store.write("memes", "  ", "что-то")
    assert len(store.history()) == 1                       # a refused write leaves the file as it was


def test_a_torn_last_line_is_ignored(tmp_path):
    store = NeedStore(tmp_path / "n.csv")
    store.write("memes", "q", "целое описание")
    with open(store.path, "ab") as f:
        f.write(b'2026-01-01,ann,memes,q,"\xd0\xbe\xd0\xb1\xd0\xbe')       # a crash mid-row
    assert store.get("memes", "q") == "целое описание"


def test_latest_reads_every_query_of_a_corpus_at_once(tmp_path):
    store = NeedStore(tmp_path / "n.csv")
    store.write("memes", "Кот  на работе", "первое", "ann")
    store.write("memes", "кот на работе", "второе", "bob")
    store.write("memes", "пёс", "собака")
    store.write("memes", "пёс", "")                        # cleared: left out
    store.write("posts", "экзамен", "про сессию")
    assert store.latest("memes") == {"кот на работе": "второе"}
    assert store.latest("posts") == {"экзамен": "про сессию"} and store.latest("channels") == {}
