"""core.display: one Russian format for numbers, dates, grades and table headers."""
import re

import pandas as pd
import pytest

from core import display
from core.display import NBSP


def test_numbers_group_thousands_with_a_no_break_space():
    assert display.number(88400) == f"88{NBSP}400"
    assert display.number(213700) == f"213{NBSP}700"
    assert display.number(7) == "7"
    assert display.number(-1500) == f"−1{NBSP}500"
    assert display.number(None) == display.number(float("nan")) == "—"


def test_decimals_use_a_comma_and_a_real_minus():
    assert display.decimal(0.87345) == "0,873"
    assert display.decimal(0.5, 1) == "0,5"
    assert display.decimal(-0.0345, sign=True) == "−0,035"
    assert display.decimal(0.012, sign=True) == "+0,012"
    assert display.decimal(-0.0001) == "0,000"          # no "−0,000"
    assert display.percent(0.45) == f"45{NBSP}%"


def test_a_p_value_below_the_precision_is_never_zero():
    assert display.pvalue(0.0) == f"<{NBSP}0,001"
    assert display.pvalue(0.0004) == f"<{NBSP}0,001"
    assert display.pvalue(0.0312) == "0,031"


def test_times_stored_in_utc_are_shown_in_local_time(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Moscow")              # UTC+3, no summer time
    assert display.moment("2026-11-23T09:05:41+00:00") == "23.11.2026 12:05"
    assert display.moment("2024-01-08T18:30:18") == "08.01.2024 18:30"   # naive: as written
    assert display.moment("") == display.moment(None) == "—"
    assert display.moment("вчера") == "вчера"
    local = display.to_local(["2026-11-23T21:30:00+00:00", "плохо"])
    assert str(local.iloc[0]) == "2026-11-24 00:30:00" and pd.isna(local.iloc[1])


def test_grades_are_named_as_on_the_buttons():
    assert [display.grade_label(g) for g in (2, 1, 0, -1)] == [
        "2 · релевантно", "1 · частично", "0 · мимо", "? · не могу оценить"]
    assert display.grade_label(None) == "отменена"


@pytest.mark.parametrize("n, word", [(1, "запись"), (3, "записи"), (5, "записей"), (11, "записей"),
                                     (21, "запись"), (112, "записей"), (1024, "записи")])
def test_plural_forms(n, word):
    assert display.plural(n, "запись", "записи", "записей") == word


def test_snippet_is_one_line_cut_at_a_word():
    text = "Что звёзды готовят вам на этой неделе?\nНа канале скидки"
    assert display.snippet(text, 200) == "Что звёзды готовят вам на этой неделе? На канале скидки"
    assert display.snippet(text, 20) == "Что звёзды готовят …"


def test_styled_table_has_russian_headers_and_formatted_cells(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    frame = pd.DataFrame({"annotator": ["anna"], "labels": [88400], "per_hour": [12.345], "grade": [1],
                          "ts": ["2026-11-23T09:05:41+00:00"], "мой столбец": ["x"]})
    styler = display.styled(frame)
    assert list(styler.data.columns) == ["аннотатор", "оценок", "в час", "оценка", "время", "мой столбец"]
    html = styler.to_html()
    for shown in (f"88{NBSP}400", "12,345", "1 · частично", "23.11.2026 09:05"):
        assert shown in html
    assert styler.data["оценок"].dtype.kind == "i"          # still sorts as a number
    assert "12,3" in display.styled(frame, formats={"per_hour": lambda v: display.decimal(v, 1)}).to_html()


def test_records_are_named_by_their_text_and_ids_only_as_a_last_resort():
    posts = pd.DataFrame({"id": ["p1", "p2"], "channel_title": ["Сигнал", ""],
                          "raw_text": ["Что звёзды\nготовят вам", ""]})
    assert display.record_titles("posts", posts).tolist() == ["Сигнал: Что звёзды готовят вам", "p2"]
    memes = pd.DataFrame({"id": ["m1"], "header": ["Кот в окне"], "meaning": ["ждёт"]})
    assert display.record_titles("memes", memes).tolist() == ["Кот в окне"]
    generic = pd.DataFrame({"id": ["u002"], "text": ["Как вернуть товар?"]})
    assert display.record_titles("generic", generic).tolist() == ["Как вернуть товар?"]


def test_a_huge_table_gets_the_same_formats_as_text(monkeypatch):
    monkeypatch.setattr(display, "STYLER_MAX_ROWS", 2)
    shown = display.styled(pd.DataFrame({"subscribers": [1850000, 64300, 7]}))
    assert isinstance(shown, pd.DataFrame) and shown["подписчики"].tolist() == [
        f"1{NBSP}850{NBSP}000", f"64{NBSP}300", "7"]


# -- untrusted text (issue 15) --------------------------------------------------------------
HOSTILE = [
    "![x](http://203.0.113.7/x.png)", '<img src="http://203.0.113.7/t.png"> <b>b</b> &lt;i&gt;', "# заголовок",
    "Заголовок\n===", ":red[предупреждение] :material/lock: :smile:", "[фишинг](javascript:alert(1))",
    "www.evil.ru http://203.0.113.7/a HTTPS://x.y a@b.ru", "$x^2$ ~~s~~ | a | b |", "> цитата\n1. список\n- пункт",
    "```\nкод\n```", "    отступ", "\\*не курсив\\*", "[a]: http://203.0.113.7/ref", "строка\n\nабзац",
]


def _read(markdown: str) -> str:
    """What a reader of the rendered Markdown sees: escapes resolved, hard breaks as breaks."""
    text = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown.replace("  \n", "\n"))
    return re.sub(f"^{NBSP}+", lambda m: " " * len(m.group(0)), text, flags=re.M).replace(display.WORD_JOINER, "")


@pytest.mark.parametrize("text", HOSTILE)
def test_plain_text_reads_back_exactly_as_written(text):
    assert _read(display.plain(text)) == text
    assert _read(display.plain(text, one_line=True)) == re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize("text", HOSTILE)
def test_plain_text_leaves_no_markdown_syntax(text):
    from markdown_it import MarkdownIt
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    out = display.plain(text)
    # every ASCII punctuation character is behind a backslash, none starts a construct
    assert not re.search(r"[!-/:-@\[-`{-~]", re.sub(r"\\[!-/:-@\[-`{-~]", "", out))
    kinds = {t.type for tok in md.parse(out) for t in [tok, *(tok.children or [])]}
    assert kinds <= {"paragraph_open", "paragraph_close", "inline", "text", "hardbreak", "softbreak"}, kinds
    # bare URLs and e-mails are broken up for GFM's autolinker, invisibly
    assert not re.search(r"(?i)https?:|www\.|\w@", out.replace("\\", ""))


def test_plain_text_of_nothing_is_empty():
    assert display.plain(None) == display.plain(float("nan")) == ""
    assert display.plain(12) == "12"


@pytest.mark.parametrize("url", ["https://memepedia.ru/eto-fiasko/", "http://203.0.113.7/ok?a=1#b", "HTTPS://EX.COM"])
def test_web_links_are_absolute_http(url):
    assert display.web_link(url) == url


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)",
                                 "java\nscript:alert(1)", "data:text/html,<b>x</b>", "vbscript:x", "//evil.ru/x",
                                 "/relative", "http:/no-host", "https://exa mple.ru", "mailto:a@b.ru", "", None,
                                 "ftp://example.com/f"])
def test_anything_else_is_no_link(url):
    assert display.web_link(url) is None
    assert "](" not in display.link_markdown(url)


def test_a_link_keeps_its_target_and_shows_its_text():
    md = display.link_markdown("https://ex.com/a_(b) c")          # a space: not a URL, text only
    assert "](" not in md
    md = display.link_markdown("https://ex.com/wiki/A_(b)")
    assert md.endswith("(https://ex.com/wiki/A_%28b%29)")         # parentheses cannot end the link early
    assert _read(md[1:md.index("](")]) == "https://ex.com/wiki/A_(b)"


def test_md_text_is_plain_on_one_line():
    assert display.md_text("a\n*b*") == display.plain("a *b*")
