"""A demo data folder whose records attack the page: Markdown images and HTML tags that point at
an outside host, giant headings, coloured fake warnings, javascript: links, bare URLs and
e-mails that Markdown would make clickable, ids full of Markdown. Shared by the AppTest and
Chromium tests of issue 15 (untrusted text is shown as text)."""
from __future__ import annotations

import csv
import re
from pathlib import Path

from core.display import WORD_JOINER
from tests.conftest import DEMO

HOST = "203.0.113.7"   # TEST-NET-3: nothing answers there; a request to it is the failure
IMG = f"![картинка](http://{HOST}/img.png)"
TAG = f'<img src="http://{HOST}/tag.png"><b>жирный</b>'
HEADING = "# ГИГАНТСКИЙ ЗАГОЛОВОК"
WARNING = ":red[Ваш аккаунт заблокирован] :material/warning:"
PHISH = "[войдите заново](javascript:alert(1))"
BARE = f"www.{HOST}.nip.io http://{HOST}/bare и admin@{HOST}.nip.io"
MATH = "$x^2$ ~~зачёркнуто~~ | a | b | &lt;i&gt;"
GOOD_LINK = f"https://{HOST}/ok"   # the one kind of value that may become a link (not loaded)

MEME_ID = f"m-{IMG}-{'я' * 80}"                # a long id with Markdown in it
POST_ID = f"p-<img src=http://{HOST}/id.png>"
CHANNEL_ID = f"c-{HEADING}"
LOST_ID = f"gone-{IMG}"                        # a labelled doc id that is in no corpus

MEME_HEADER = f"{IMG} кот фиаско {HEADING}"
MEME_MEANING = f"Кот уронил всё со стола. {TAG} {WARNING} {PHISH} {BARE} {MATH}"
CHANNEL_TITLE = f"{WARNING} {IMG}"
CHANNEL_ABOUT = f"{HEADING} {PHISH} {TAG}"
CATEGORY = f'<a href="http://{HOST}/cat">клик</a><span style="font-size:90px">ОГРОМНО</span>'
POST_TEXT = f"Кот уронил всё со стола.\n{HEADING}\n{IMG}\n{TAG} {PHISH} {BARE}"
QUERY = f"кот уронил {IMG}"

# everything above that a page may show; each must appear on the page character for character
RAW = [IMG, TAG, HEADING, WARNING, PHISH, MATH]


def _rows(name: str) -> tuple[list[str], list[dict]]:
    with open(DEMO / f"{name}.csv", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def write(folder: Path, n_benign: int = 6) -> Path:
    """memes.csv, posts.csv, channels.csv: a few ordinary demo records and the hostile ones."""
    folder.mkdir(parents=True, exist_ok=True)
    fields, memes = _rows("memes")
    memes = memes[:n_benign] + [
        {"id": MEME_ID, "header": MEME_HEADER, "meaning": MEME_MEANING, "link": "javascript:alert(1)",
         "examples": "кот уронил всё"},
        {"id": "m-evil-2", "header": HEADING, "meaning": f"Кот и фиаско. {IMG}", "link": GOOD_LINK,
         "examples": ""},
        {"id": "m-evil-3", "header": f"Кот {TAG}", "meaning": f"Кот {WARNING}", "link": f"data:text/html,{TAG}",
         "examples": ""}]
    _write(folder / "memes.csv", fields, memes)

    fields, channels = _rows("channels")
    channels = channels[:n_benign] + [
        {"id": CHANNEL_ID, "title": CHANNEL_TITLE, "about": CHANNEL_ABOUT, "pinned_text": f"Кот {PHISH}",
         "category": CATEGORY, "subscribers": "1000"},
        {"id": "c-evil-2", "title": f"Коты {TAG}", "about": f"Кот {IMG}", "pinned_text": "",
         "category": HEADING, "subscribers": "2000"}]
    _write(folder / "channels.csv", fields, channels)

    fields, posts = _rows("posts")
    known = {c["id"] for c in channels}
    posts = [p for p in posts if p["channel_id"] in known][:n_benign] + [
        {"id": POST_ID, "channel_id": CHANNEL_ID, "raw_text": POST_TEXT, "published_at": "2026-11-01 10:00",
         "is_ad": "1"},
        {"id": "p-evil-2", "channel_id": "c-evil-2", "raw_text": f"Кот уронил {WARNING} {MATH}",
         "published_at": "2026-11-02 10:00", "is_ad": "0"}]
    _write(folder / "posts.csv", fields, posts)
    return folder


def read(markdown: str) -> str:
    """What a reader sees of Markdown that display.plain wrote: escapes resolved, hard breaks as
    line breaks, no word joiners (for assertions on AppTest values, which are the sources)."""
    text = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown.replace("  \n", "\n"))
    return text.replace(WORD_JOINER, "")


def web_links(folder: Path) -> set[str]:
    """The http(s) values of the memes' `link` column: the only links a page may draw."""
    with open(folder / "memes.csv", encoding="utf-8", newline="") as fh:
        return {r["link"] for r in csv.DictReader(fh) if r["link"].startswith(("http://", "https://"))}


def _write(path: Path, fields: list[str], rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
