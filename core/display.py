"""How numbers, dates, grades and column names reach the screen: one Russian format everywhere.

    number(213700)        -> "213 700"        (no-break space between thousands)
    decimal(0.8734)       -> "0,873"          (decimal comma, typographic minus)
    percent(0.45)         -> "45 %"
    pvalue(0.0002)        -> "< 0,001"        (never a bare 0,000)
    moment("2026-11-23T09:05:00+00:00") -> "23.11.2026 12:05"   (UTC stored, local time shown)
    grade_label(2)        -> "2 · релевантно"
    styled(frame)         -> a Styler with Russian headers and the formats above

Pure functions, no Streamlit: pages, the CLI and tests share them. The files on disk keep
their own formats (ISO UTC times, English column names); only what is shown is translated.
"""
from __future__ import annotations

import math
import os
import re
from datetime import datetime, timezone, tzinfo
from typing import Callable, Mapping

import pandas as pd

NBSP = "\u00a0"
MINUS = "\u2212"
MISSING = "—"
DATE_FORMAT = "%d.%m.%Y %H:%M"
DATETIME_COLUMN_FORMAT = "DD.MM.YYYY HH:mm"   # the same, in the pattern language of st.column_config

# Grade names as on the buttons (2 · релевантно …); the labels file stores the numbers.
GRADE_NAMES = {2: "релевантно", 1: "частично", 0: "мимо", -1: "не могу оценить"}
SPLIT_NAMES = {"train": "обучение", "eval": "проверка"}
KIND_NAMES = {"memes": "мемы", "posts": "посты", "channels": "каналы", "generic": "произвольный (id + текст)"}

# Russian headers for the column names core frames use. Unknown columns keep their name
# (a user's own metadata column is shown as the user named it).
COLUMN_NAMES = {
    # corpora
    "id": "идентификатор", "title": "название", "channel_title": "канал", "channel_id": "канал (id)",
    "category": "тематика", "subscribers": "подписчики", "about": "описание",
    "pinned_text": "закреплённый пост", "header": "мем", "meaning": "смысл", "raw_text": "текст",
    "text": "текст", "published_at": "опубликован", "is_ad": "реклама", "link": "ссылка",
    "examples": "примеры запросов",
    # maps and search results
    "cluster": "кластер", "log_subscribers": "подписчики (логарифм)", "rank": "место", "score": "сходство", "overlap": "общих соседей, доля",
    "shared": "общих", "only_a": "только у текущей", "only_b": "только у второй",
    # labels
    "ts": "время", "annotator": "аннотатор", "corpus": "корпус", "query": "запрос", "doc_id": "документ",
    "grade": "оценка", "model": "модель", "split": "сплит", "note": "заметка",
    # eval-set health
    "spread": "разброс", "grades": "оценки", "annotators": "аннотаторы", "exact": "совпадают",
    "labels": "оценок", "active_hours": "активных часов", "per_hour": "в час", "holes": "дыр",
    # engagement (Outcomes) and interactions (Recommendations)
    "views": "просмотры", "likes": "лайки", "comments": "комментарии", "forwards": "пересылки",
    "reactions": "реакции", "user_id": "пользователь", "item_id": "пост", "action": "действие",
    "cluster_mean": "среднее по кластеру",
}


# -- scalars -------------------------------------------------------------------------------
def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def number(value) -> str:
    """A whole number with no-break spaces between thousands: 213 700."""
    if _missing(value):
        return MISSING
    n = int(round(float(value)))
    text = f"{abs(n):,}".replace(",", NBSP)
    return (MINUS if n < 0 else "") + text


def decimal(value, digits: int = 3, sign: bool = False) -> str:
    """A fraction with a decimal comma: 0,873; sign=True writes +0,012 / −0,034."""
    if _missing(value):
        return MISSING
    x = float(value)
    if math.isinf(x):
        return ("−" if x < 0 else "") + "∞"
    text = f"{abs(x):,.{digits}f}".replace(",", NBSP).replace(".", ",")
    if float(text.replace(NBSP, "").replace(",", ".")) == 0:
        return text   # no "−0,000" or "+0,000"
    return (MINUS if x < 0 else "+" if sign else "") + text


def significant(value, digits: int = 3) -> str:
    """A number of any size with `digits` significant digits: 0,000314 -> "0,000314", 2,5e-7 ->
    "2,50·10⁻⁷" (a rate's MSE is tiny; decimal() would show 0,000)."""
    if _missing(value):
        return MISSING
    x = float(value)
    if x == 0 or math.isinf(x):
        return decimal(x, digits)
    exp = math.floor(math.log10(abs(x)))
    if -4 <= exp < 6:
        return decimal(x, max(digits - 1 - exp, 0))
    mantissa = decimal(x / 10 ** exp, digits - 1)
    power = str(exp).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"{mantissa}·10{power}"


def percent(value, digits: int = 0) -> str:
    """A share as percent: 0.45 -> 45 %."""
    if _missing(value):
        return MISSING
    return decimal(100 * float(value), digits) + NBSP + "%"


def pvalue(value, digits: int = 3) -> str:
    """A p-value: below the shown precision it is "< 0,001", never 0,000."""
    if _missing(value):
        return MISSING
    floor = 10 ** -digits
    return f"<{NBSP}{decimal(floor, digits)}" if float(value) < floor else decimal(value, digits)


def local_zone() -> tzinfo:
    """Times are shown in the server's time zone (TZ, e.g. TZ=Europe/Moscow)."""
    name = os.environ.get("TZ")
    if name:
        try:
            from zoneinfo import ZoneInfo
            return ZoneInfo(name)
        except Exception:   # an unknown TZ name: fall back to the system's zone
            pass
    return datetime.now().astimezone().tzinfo or timezone.utc


def to_local(values) -> pd.Series:
    """ISO times (stored in UTC) as naive local datetimes, for sorting and a date column."""
    ts = pd.to_datetime(pd.Series(values), errors="coerce", utc=True, format="ISO8601")
    return ts.dt.tz_convert(local_zone()).dt.tz_localize(None)


def moment(value) -> str:
    """A time as "23.11.2026 12:05": one with a zone (labels are stored in UTC) in local time,
    a naive one (a post's published_at from a file) as written; unreadable text as it is."""
    if _missing(value) or value == "":
        return MISSING
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return str(value)
    if _missing(ts):
        return MISSING
    if ts.tzinfo is not None:
        ts = ts.tz_convert(local_zone())
    return ts.strftime(DATE_FORMAT)


def grade_label(grade) -> str:
    """"2 · релевантно"; a retraction (no grade) is "отменена"."""
    if _missing(grade):
        return "отменена"
    g = int(grade)
    return f"{'?' if g == -1 else g} · {GRADE_NAMES.get(g, str(g))}"


def plural(n: int, one: str, few: str, many: str) -> str:
    """The Russian word form for n: 1 запись, 2 записи, 5 записей."""
    n = abs(int(n))
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def count(n: int, one: str, few: str, many: str) -> str:
    """"213 700 записей"."""
    return f"{number(n)} {plural(n, one, few, many)}"


def quoted(names) -> str:
    """Column or file names for a message: 'a', 'b'."""
    return ", ".join(repr(str(n)) for n in names)


def snippet(text, limit: int = 90) -> str:
    """One line of a text: line breaks and runs of spaces become one space, cut at a word."""
    flat = re.sub(r"\s+", " ", str(text or "")).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0] if " " in flat[:limit] else flat[:limit]
    return cut.rstrip(" ,.;:—-") + " …"


# -- untrusted text ------------------------------------------------------------------------
# Every ASCII punctuation character that Markdown, GFM, HTML or Streamlit's extensions could
# read as syntax: emphasis, code, links and images, HTML tags and entities, headings, lists,
# tables, :colour[...] / :material/…: directives, $math$, autolinks (www. / http: / a@b.c).
# A backslash before ASCII punctuation is always a literal in CommonMark, so escaping too much
# costs nothing.
_PLAIN_SPECIAL = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
_LEADING_SPACE = re.compile(r"^[ \t]+", re.MULTILINE)
# GFM turns bare URLs and e-mails into links after the text is parsed (escapes do not stop it):
# an invisible WORD JOINER breaks the patterns it looks for ("http://", "www.", "a@b.c")
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(https?|www)(?=:/|\.)|(?=@)")


def plain(text, one_line: bool = False) -> str:
    """User or corpus text for anything Streamlit renders as Markdown (st.markdown, st.caption,
    st.toast, st.info/warning/error/success, button and expander labels, radio and
    segmented-control options): it shows literally, as written - no images, links, HTML,
    headings or coloured text. Line breaks stay line breaks (one_line=True makes the text one
    line). Widgets that show plain text (st.text, st.code, st.dataframe, selectbox options)
    need no escaping, and would show the backslashes."""
    value = "" if _missing(text) else str(text)
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if one_line:
        value = re.sub(r"\s+", " ", value).strip()
    value = _AUTOLINK.sub(lambda m: (m.group(1) or "") + WORD_JOINER, value)
    escaped = _PLAIN_SPECIAL.sub(r"\\\1", value)
    # leading spaces would start a code block; no-break spaces keep the indent as text
    escaped = _LEADING_SPACE.sub(lambda m: NBSP * len(m.group(0).expandtabs(4)), escaped)
    return escaped.replace("\n", "  \n")   # a hard line break, as in the text


_URL_SAFE = "/:?#[]@!$&'*+,;=%-._~"   # RFC 3986 reserved and unreserved characters (and % of escapes)


def web_link(url) -> str | None:
    """The URL if it is an absolute http(s) link (the only kind the app makes clickable);
    None for anything else: javascript:, data:, relative paths, text that is not a URL."""
    from urllib.parse import urlsplit
    value = "" if _missing(url) else str(url).strip()
    if not value or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return value


def link_markdown(url) -> str:
    """A `link` value for st.markdown: a clickable link with the URL as its text when it is an
    http(s) link, the value as plain text otherwise."""
    from urllib.parse import quote
    target = web_link(url)
    if target is None:
        return plain(url, one_line=True)
    return f"[{plain(target, one_line=True)}]({quote(target, safe=_URL_SAFE)})"


# -- tables --------------------------------------------------------------------------------
def header(column) -> str:
    return COLUMN_NAMES.get(str(column), str(column))


def headers(frame: pd.DataFrame, names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A copy with Russian column names (names= overrides or adds some)."""
    table = {**COLUMN_NAMES, **dict(names or {})}
    return frame.rename(columns=lambda c: table.get(str(c), str(c)))


def _formatter(column: str, values: pd.Series) -> Callable | None:
    if column == "grade":
        return grade_label
    if column == "split":
        return lambda v: SPLIT_NAMES.get(v, v)
    if column in ("ts", "published_at", "created") or pd.api.types.is_datetime64_any_dtype(values):
        return moment
    if pd.api.types.is_bool_dtype(values):
        return lambda v: "да" if v else "нет"
    if pd.api.types.is_integer_dtype(values):
        return number
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if len(whole) and (whole == whole.round()).all() and whole.abs().max() >= 1000:
            return number
        return decimal
    return None


STYLER_MAX_ROWS = 5000   # pandas' Styler costs ~1.3 s for 22K rows x 4 columns; past this, plain text


def styled(frame: pd.DataFrame, names: Mapping[str, str] | None = None,
           formats: Mapping[str, Callable] | None = None):
    """The frame for st.dataframe: Russian headers; numbers, dates, grades and shares in the
    formats above. The data keeps its types, so columns still sort as numbers and times
    (past STYLER_MAX_ROWS rows the formatted columns become text instead: fast, sorts as text).
    formats= ({our column: function}) overrides the guess, e.g. {"exact": percent}."""
    fmt = {}
    for col in frame.columns:
        f = (formats or {}).get(col) or _formatter(str(col), frame[col])
        if f is not None:
            fmt[col] = f
    if len(frame) > STYLER_MAX_ROWS:
        return headers(frame.assign(**{str(c): frame[c].map(f) for c, f in fmt.items()}), names)
    shown = headers(frame, names)
    renamed = dict(zip(frame.columns, shown.columns))
    return shown.style.format({renamed[c]: f for c, f in fmt.items()}, na_rep=MISSING)


# -- records -------------------------------------------------------------------------------
def record_titles(kind: str, frame: pd.DataFrame, texts=None, limit: int = 70) -> pd.Series:
    """A readable name per record, aligned with the frame: a meme's header, a channel's title,
    "channel: start of the post" for a post, the start of the text otherwise. The id only
    where a record has nothing readable."""
    def col(name: str) -> pd.Series:
        if name in frame:
            return frame[name].fillna("").astype(str).str.strip()
        return pd.Series([""] * len(frame), index=frame.index, dtype=object)

    if kind == "memes":
        names = col("header")
    elif kind == "channels":
        names = col("title")
    else:
        body = col("raw_text") if kind == "posts" else col("text")
        if texts is not None and not body.ne("").any():
            body = pd.Series(list(texts), index=frame.index, dtype=object)
        short = body.map(lambda t: snippet(t, limit))
        channel = col("channel_title")
        names = (channel + ": " + short).where(channel.ne("") & short.ne(""), short.where(short.ne(""), channel))
    ids = col("id")
    return names.where(names.ne(""), ids)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=^])")


def md_text(text) -> str:
    """Corpus text (a channel title, a post) placed inside st.markdown: every character
    Markdown or Streamlit would read as markup (emphasis, links, HTML, :colour[...], $math$)
    is backslash-escaped, and line breaks become spaces, so the text shows as written."""
    return plain(text, one_line=True)   # one escaping rule for the whole app (display.plain)
