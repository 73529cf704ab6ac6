"""What a label of the channels corpus means, and the judgements channel quality is measured on.

The Channels page stores a grade with the query written as
    "[c001] Сигнал | Новости"          a channel's look-alikes (the source channel, by id)
    "[p0001] 🔮 Что звёзды готовят…"   an ad post from the posts corpus (its first 300 characters)
    "Онлайн-школа программирования…"   a pasted ad text, as typed
so the source of a judgement is recovered from the query alone. No Streamlit, no heavy imports:
core.finetune.data uses this to turn channel labels into training pairs.
"""
from __future__ import annotations

import re
from typing import Iterable, Mapping

import pandas as pd

POST_QUERY_CHARS = 300
_REF = re.compile(r"\[([^\]\s]+)\] ?(.*)", re.S)

Grades = Mapping[tuple[str, str], float]       # {(query, doc_id): grade}, as core.finetune.data.label_grades
Qrels = dict[str, dict[str, float]]


def channel_query(channel_id: str, title: str) -> str:
    return f"[{channel_id}] {title}"


def post_query(post_id: str, text: str) -> str:
    return f"[{post_id}] {str(text)[:POST_QUERY_CHARS]}"


def query_ref(query: str) -> tuple[str | None, str]:
    """("c001", "Сигнал | Новости") for "[c001] Сигнал | Новости"; (None, query) otherwise."""
    m = _REF.fullmatch(str(query))
    return (m.group(1), m.group(2)) if m else (None, str(query))


def query_channel(query: str, channel_ids: Iterable[str]) -> str | None:
    """The source channel's id when the query is a channel of this corpus, else None."""
    ref, _ = query_ref(query)
    return ref if ref is not None and ref in set(channel_ids) else None


def training_query_text(query: str, channel_texts: Mapping[str, str]) -> str:
    """What a channels-corpus query trains as: the source channel's text (as embedded) for a
    channel → channel label; the post text for "[post id] text"; a pasted text as it is."""
    ref, rest = query_ref(query)
    if ref is None:
        return query
    if ref in channel_texts:
        return channel_texts[ref]
    return rest.strip() or query


def lookalike_qrels(grades: Grades, channel_ids: Iterable[str]) -> Qrels:
    """{source channel id: {channel id: grade}} from the labels whose query is a channel."""
    ids = set(channel_ids)
    out: Qrels = {}
    for (q, d), g in grades.items():
        src = query_channel(q, ids)
        if src is not None and d in ids and d != src:
            out.setdefault(src, {})[d] = g
    return dict(sorted(out.items()))


def placement_qrels(grades: Grades, channel_ids: Iterable[str]) -> Qrels:
    """{query: {channel id: grade}} from the labels whose query is a post or a pasted text."""
    ids = set(channel_ids)
    out: Qrels = {}
    for (q, d), g in grades.items():
        if query_channel(q, ids) is None and d in ids:
            out.setdefault(q, {})[d] = g
    return dict(sorted(out.items()))


def category_qrels(frame: pd.DataFrame, column: str = "category") -> Qrels:
    """The proxy where no channel is labelled yet: every other channel of the same category is
    relevant (grade 1). Channels without a category, or alone in theirs, get no entry."""
    if column not in frame:
        return {}
    out: Qrels = {}
    groups = frame.groupby(frame[column].fillna("").astype(str).str.strip())["id"].apply(list)
    for cat, members in groups.items():
        if not cat or len(members) < 2:
            continue
        for c in members:
            out[c] = {o: 1 for o in members if o != c}
    return dict(sorted(out.items()))
