"""Streamlit side of core.labels.suggest: one model per corpus, configurations and labels version,
trained when asked and kept until a new label changes the labels version."""
from __future__ import annotations

import math

import numpy as np
import streamlit as st

from core import display
from core.config import Settings
from core.corpora.records import Corpus
from core.labels.llm.judge import Judgements
from core.labels.suggest import MIN_LABELS, Suggestions, kappa_words, query_space, suggest_for
from pages import _cache


@st.cache_resource(show_spinner="Обучаем подсказки на ваших оценках…", max_entries=8)
def _suggestions(key: tuple, _s: Settings, _corpus: Corpus, _configs, _qrels, _wanted) -> Suggestions:
    position = {d: i for i, d in enumerate(_corpus.frame["id"])}
    queries = list(dict.fromkeys([*_qrels, *(q for q, _ in _wanted)]))
    spaces = [query_space(c.encoder, queries, _cache.corpus_index(_s, _corpus, c.encoder).vectors, _s.cache_dir)
              for c in _configs]
    bm25 = _cache.bm25(_corpus.name, _corpus.content_hash, _corpus=_corpus)
    lengths = np.array([len(t) for t in _corpus.texts])
    return suggest_for(_qrels, _wanted, position, spaces, bm25, lengths)


def suggestions(s: Settings, corpus: Corpus, configs, qrels: dict, wanted: list[tuple[str, str]]) -> Suggestions:
    """Suggestions for ``wanted`` pairs from a model trained on ``qrels`` (cached per labels version)."""
    key = (corpus.name, corpus.content_hash, tuple(c.encoder.id for c in configs), _cache.labels_version(s),
           hash(tuple(sorted(wanted))))
    return _suggestions(key, s, corpus, configs, qrels, list(wanted))


def corpus_qrels(latest, corpus_name: str) -> dict:
    """{query: {doc: grade}} of every human label of a corpus (one grade per item: the consensus)."""
    from core.labels.quality import consensus
    agreed = consensus(latest[latest["corpus"] == corpus_name]) if len(latest) else latest
    out: dict = {}
    for q, d, g in zip(agreed.get("query", []), agreed.get("doc_id", []), agreed.get("grade", [])):
        out.setdefault(str(q), {})[str(d)] = int(g)
    return out


def agreement_line(sug: Suggestions) -> str:
    a = sug.agreement
    if sug.model is None:
        return (f"Подсказки модели появятся после {MIN_LABELS} оценок хотя бы двух разных степеней "
                f"(сейчас {display.number(a.get('n', 0))}).")
    kappa = a.get("kappa", math.nan)
    k_text = "—" if math.isnan(kappa) else display.decimal(kappa, 2)
    return (f"Подсказки модели обучены на {display.count(sug.model.n_labels, 'оценке', 'оценках', 'оценках')}; "
            f"согласие с людьми на отложенных запросах: κ = {k_text} ({kappa_words(kappa)}). Подсказка — "
            "только намёк: оценкой она становится, когда её подтвердит человек.")


def hint(sug: Suggestions | None, query: str, doc_id: str) -> str | None:
    """"Подсказка модели: 2 · релевантно (уверенность 80 %)"; an LLM judge's hint says LLM and
    gives no confidence (its endpoint reports none)."""
    got = sug.get(query, doc_id) if sug is not None else None
    if got is None:
        return None
    grade, confidence, _ = got
    who = "LLM" if isinstance(sug, Judgements) else "модели"
    sure = "" if math.isnan(confidence) else f" (уверенность {display.percent(confidence)})"
    return f"Подсказка {who}: {display.grade_label(grade)}{sure}"


def hint_help(sug: Suggestions | None) -> str:
    if isinstance(sug, Judgements):
        return (f"Оценка LLM-судьи {display.plain(sug.model.model, one_line=True)}: он видел запрос, описание "
                "потребности и текст документа. Не записывается, пока вы не оцените сами.")
    return "Модель, обученная на ваших оценках этого корпуса. Не записывается, пока вы не оцените сами."
