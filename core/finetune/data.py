"""What fine-tuning learns from and what it is judged on: (query, document) pairs from the
corpus' example queries and the labels, hard negatives from grade-0 labels, held-out qrels.

The leakage rule: a query trains only if its split (core.labels.store.split_of, a stable hash of the
query text) is "train" and no label row of it was stored with split "eval"; every other query
is held out. The held-out qrels come from exactly the complement, so no query both trains and
evaluates.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from core.corpora.records import Corpus
from core.labels.channel_labels import training_query_text
from core.labels.store import KEY, split_of

SOURCES = ("examples", "labels")
SOURCE_NAMES = {"examples": "из примеров запросов корпуса", "labels": "из оценок аннотаторов"}
Qrels = dict[str, dict[str, float]]


@dataclass(frozen=True)
class PairSet:
    """Training pairs (query, doc_id, source), unique per (query, doc_id), sorted; and hard
    negatives {query: (doc_id, ...)}: documents judged irrelevant (grade 0) for a train query."""
    pairs: tuple[tuple[str, str, str], ...]
    excluded: Mapping[str, int] = field(default_factory=dict)   # why rows were left out, counted
    negatives: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def queries(self) -> list[str]:
        return [p[0] for p in self.pairs]

    @property
    def doc_ids(self) -> list[str]:
        return [p[1] for p in self.pairs]

    @property
    def n_negatives(self) -> int:
        return sum(len(v) for v in self.negatives.values())

    @property
    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in SOURCES}
        for _, _, source in self.pairs:
            out[source] = out.get(source, 0) + 1
        return out

    @property
    def hash(self) -> str:
        """Stable across runs and machines: sha256 of the sorted pairs and negatives."""
        h = hashlib.sha256()
        for q, d, _ in self.pairs:
            h.update(q.encode("utf-8", "surrogatepass") + b"\0" + d.encode("utf-8", "surrogatepass") + b"\n")
        for q in sorted(self.negatives):
            for d in self.negatives[q]:
                h.update(b"-" + q.encode("utf-8", "surrogatepass") + b"\0" + d.encode("utf-8", "surrogatepass"))
        return h.hexdigest()[:16]

    @classmethod
    def from_pairs(cls, pairs, source: str = "examples", excluded: Mapping[str, int] | None = None,
                   negatives: Mapping[str, tuple[str, ...]] | None = None) -> "PairSet":
        """From (query, doc_id) or (query, doc_id, source) tuples; first occurrence wins."""
        seen: dict[tuple[str, str], str] = {}
        for p in pairs:
            q, d = str(p[0]).strip(), str(p[1])
            if q and (q, d) not in seen:
                seen[(q, d)] = p[2] if len(p) > 2 else source
        return cls(tuple(sorted((q, d, s) for (q, d), s in seen.items())), dict(excluded or {}),
                   {q: tuple(sorted(v)) for q, v in sorted((negatives or {}).items()) if v})

    def summary(self) -> str:
        """One Russian line for the page and the CLI."""
        parts = ", ".join(f"{n} {SOURCE_NAMES.get(s, s)}" for s, n in self.counts.items())
        out = f"{len(self)} пар для обучения ({parts}), {self.n_negatives} трудных негативов (оценка 0)"
        left = [f"{n} — {why}" for why, n in self.excluded.items() if n]
        if left:
            out += "; не вошли: " + "; ".join(left)
        return out


def example_queries(corpus: Corpus) -> list[tuple[str, str]]:
    """(query, doc_id) from the `examples` column ("|"-separated user-style queries)."""
    if "examples" not in corpus.frame.columns:
        return []
    out = []
    for doc_id, examples in zip(corpus.frame["id"], corpus.frame["examples"]):
        for q in str(examples or "").split("|"):
            if q.strip():
                out.append((q.strip(), doc_id))
    return out


def label_grades(labels_frame: pd.DataFrame | None, corpus_name: str) -> dict[tuple[str, str], float]:
    """{(query, doc_id): grade} from the labels of one corpus.

    The latest row per (annotator, corpus, query, doc_id) wins (retractions drop the key).
    Several annotators on one pair: the mean of their 0..2 grades; a pair only graded
    "can't judge" (-1) keeps -1, which counts as judged but never as relevant.
    """
    if labels_frame is None or len(labels_frame) == 0:
        return {}
    frame = labels_frame[labels_frame["corpus"] == corpus_name]
    latest = frame.drop_duplicates(subset=KEY, keep="last")
    latest = latest[latest["grade"].notna()]
    out: dict[tuple[str, str], float] = {}
    for (q, d), grades in latest.groupby(["query", "doc_id"], sort=False)["grade"]:
        known = [int(g) for g in grades if int(g) >= 0]
        g = float(np.mean(known)) if known else -1.0
        out[(q, d)] = int(g) if g == int(g) else g
    return out


def _eval_queries_of_labels(labels_frame: pd.DataFrame | None, corpus_name: str) -> set[str]:
    """Queries a label row stored as eval (e.g. written with another eval share): held out too."""
    if labels_frame is None or len(labels_frame) == 0 or "split" not in labels_frame:
        return set()
    rows = labels_frame[(labels_frame["corpus"] == corpus_name) & (labels_frame["split"] == "eval")]
    return set(rows["query"])


def _judgements(corpus: Corpus, labels_frame, corpus_name: str, use_examples: bool) -> tuple[dict, dict[str, int]]:
    """{(query, doc_id): (grade, source)}: examples are grade 2; a label on the same pair
    overrides the example (a person's latest judgement wins). Plus counts of what was dropped."""
    known_ids = set(corpus.frame["id"])
    out = {(q, d): (2, "examples") for q, d in example_queries(corpus)} if use_examples else {}
    unknown = 0
    for (q, d), g in label_grades(labels_frame, corpus_name).items():
        if d not in known_ids:
            unknown += 1
            continue
        out[(q, d)] = (g, "labels")
    return out, {"оценки документов, которых нет в корпусе": unknown}


def _query_text(corpus: Corpus):
    """What a label's query trains and evaluates as. For a channels corpus a label's query names
    its source ("[c001] Сигнал | Новости", see core.labels.channel_labels): a channel → channel pair
    trains with the source channel's text as embedded. The split stays that of the stored query."""
    if corpus.kind != "channels":
        return lambda q: q
    texts = dict(zip(corpus.frame["id"], corpus.texts))
    return lambda q: training_query_text(q, texts)


def is_eval_query(query: str, stored_eval: set[str], eval_share: float = 0.3) -> bool:
    return split_of(query, eval_share) == "eval" or query in stored_eval


def n_examples(corpus: Corpus) -> int:
    """How many example queries the corpus carries (shown next to the switch that uses them)."""
    return len(example_queries(corpus))


def training_pairs(corpus: Corpus, labels_frame: pd.DataFrame | None = None, corpus_name: str | None = None,
                   eval_share: float = 0.3, use_examples: bool = True) -> PairSet:
    """Train-split pairs: example queries (unless use_examples is off) and labels with grade >= 1;
    hard negatives: train-split labels with grade 0 (an unjudged document is never a negative)."""
    name = corpus_name or corpus.name
    judged, excluded = _judgements(corpus, labels_frame, name, use_examples)
    stored_eval = _eval_queries_of_labels(labels_frame, name)
    text_of = _query_text(corpus)
    pairs, negatives, held_out, unsure = [], {}, 0, 0
    for (q, d), (g, source) in judged.items():
        if is_eval_query(q, stored_eval, eval_share):
            held_out += 1
        elif g >= 1:
            pairs.append((text_of(q), d, source))
        elif g == 0:
            negatives.setdefault(text_of(q), set()).add(d)
        else:
            unsure += 1
    trained = {p[0] for p in pairs}
    orphan = sum(len(v) for q, v in negatives.items() if q not in trained)
    negatives = {q: v for q, v in negatives.items() if q in trained}
    excluded = {**excluded, "пары проверочных запросов (отложены для оценки)": held_out,
                "оценки «не могу оценить»": unsure,
                "негативы запросов без релевантного документа": orphan}
    return PairSet.from_pairs(pairs, excluded=excluded, negatives=negatives)


def eval_queries(corpus: Corpus, labels_frame: pd.DataFrame | None = None, corpus_name: str | None = None,
                 eval_share: float = 0.3, use_examples: bool = True) -> Qrels:
    """Held-out qrels {query: {doc_id: grade}}: the eval-split example queries (grade 2 for
    their document) and the eval-split labels (all grades, -1 included as judged)."""
    name = corpus_name or corpus.name
    judged, _ = _judgements(corpus, labels_frame, name, use_examples)
    stored_eval = _eval_queries_of_labels(labels_frame, name)
    text_of = _query_text(corpus)
    qrels: Qrels = {}
    for (q, d), (g, _) in judged.items():
        if is_eval_query(q, stored_eval, eval_share):
            qrels.setdefault(text_of(q), {})[d] = g
    return dict(sorted(qrels.items()))


def positions(corpus: Corpus, doc_ids) -> np.ndarray:
    where = {d: i for i, d in enumerate(corpus.frame["id"])}
    missing = [d for d in doc_ids if d not in where]
    if missing:
        raise ValueError(f"{len(missing)} пар(ы) для обучения указывают на документы, которых нет в корпусе "
                         f"«{corpus.name}» (первый: {missing[0]!r}).")
    return np.array([where[d] for d in doc_ids], dtype=np.int64)


MIN_PAIRS = 4


def require_pairs(pairs: PairSet, corpus_name: str) -> None:
    """No (or too few) train-split pairs: say how many are needed and where to get them."""
    if len(pairs) < MIN_PAIRS:
        raise ValueError(
            f"Для обучения на корпусе «{corpus_name}» нужно хотя бы {MIN_PAIRS} пар запрос → релевантный документ "
            f"из обучающей части, а есть {len(pairs)}. Оцените результаты на «Поиске» или вслепую на «Сравнении» "
            "(оценки 1 и 2 становятся парами), или добавьте колонку examples с примерами запросов.")
