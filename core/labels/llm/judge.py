"""The judge's run: grades for the pairs nobody graded, as hints shaped like the team's model's
(core.labels.suggest; a hint, never a label), calibrated the same way: on a seeded sample of graded
pairs (up to CALIBRATION_SIZE) its quadratic-weighted kappa and exact agreement with the human
grades. The first failed request stops the run and keeps what came back. The endpoint gives no
probabilities, so a judge's confidence is nan: NO_CONFIDENCE, and the page says so."""
from __future__ import annotations

import hashlib
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from core import display
from core.labels.base import normalise_query
from core.labels.llm.cache import AnswerCache, cache_file, question_key
from core.labels.llm.client import ask
from core.labels.llm.config import JudgeConfig, JudgeError
from core.labels.suggest import Suggestions, kappa_exact, kappa_words, labelled

CALIBRATION_SIZE = 60        # labelled pairs the judge is checked on
MIN_CALIBRATION = 10         # fewer answered calibration pairs than this: no kappa
WORKERS = 4                  # requests in flight at once
NO_CONFIDENCE = math.nan     # what a judge reports as its confidence: the endpoint gives none


# --------------------------------------------------------------------------- calibration


def agreement(human: Sequence[int], judged: Sequence[int], groups: Sequence[str] | None = None,
              min_n: int = MIN_CALIBRATION) -> dict:
    """The judge against human grades, as core.labels.suggest.agreement reports a model:
    {"kappa" (quadratic-weighted Cohen's), "exact" (share identical), "n", "queries"}; nan when
    fewer than ``min_n`` pairs or a single grade among them."""
    y, p = np.asarray(human, dtype=int), np.asarray(judged, dtype=int)
    out = {"kappa": math.nan, "exact": math.nan, "n": int(len(y)),
           "queries": len(set(groups)) if groups is not None else 0}
    if len(y) < max(min_n, 1) or len(np.unique(np.concatenate([y, p]))) < 2:
        return out
    out["kappa"], out["exact"] = kappa_exact(y, p)
    return out


def calibration_sample(pairs: Sequence[tuple[str, str]], size: int = CALIBRATION_SIZE, seed: int = 0) -> list:
    """Up to ``size`` pairs, the same ones at every run: those with the smallest seeded hash, so a
    new label changes the sample by at most one pair and the cached answers stay useful."""
    def rank(p):
        return hashlib.sha256(f"{seed}\0{p[0]}\0{p[1]}".encode("utf-8", "surrogatepass")).hexdigest()
    return sorted(dict.fromkeys(pairs), key=rank)[:size]


# --------------------------------------------------------------------------- a run


@dataclass(frozen=True)
class Item:
    query: str
    doc_id: str
    text: str
    need: str = ""


@dataclass
class Judgements(Suggestions):
    """Shaped like core.labels.suggest.Suggestions: ``model`` is the JudgeConfig, ``by_pair`` maps
    (query, doc_id) -> (grade, NO_CONFIDENCE, grade) for the unjudged pairs the judge graded,
    ``agreement`` is the calibration (plus "unparsed": answers that gave no grade)."""
    error: str = ""       # why questions were left unasked (Russian); "" when every request went through
    pending: int = 0      # questions not asked yet (max_items per run, or stopped by the error)
    asked: int = 0        # requests this run made


@dataclass
class Plan:
    """What a run needs: the hints wanted, the calibration pairs with their human grade, the
    answers already on disk and the questions still to ask (at most config.max_items)."""
    config: JudgeConfig
    hints: list[Item]
    calibration: list[tuple[Item, int]]
    known: dict[str, int | None]
    todo: list[Item]
    pending: int
    cache: AnswerCache

    @property
    def todo_calibration(self) -> int:
        keys = {self.key(i) for i, _ in self.calibration}
        return sum(self.key(i) in keys for i in self.todo)

    def key(self, item: Item) -> str:
        return question_key(self.config, item.query, item.text, item.need)

    def run(self, ask_new: bool = True, opener: Callable | None = None) -> Judgements:
        """Ask the questions of ``todo`` (WORKERS at a time; none when ask_new is False) and put
        together what is known. The first failed request stops the rest; its answers so far stay."""
        known, error, asked = dict(self.known), "", 0
        if ask_new and self.todo:
            stop, lock = threading.Event(), threading.Lock()
            errors: list[str] = []

            def one(item: Item) -> None:
                nonlocal asked
                if stop.is_set():
                    return
                try:
                    grade, answer = ask(self.config, item.query, item.text, item.need, opener)
                except Exception as exc:    # JudgeError, or what nobody foresaw: a message, never a traceback
                    stop.set()
                    with lock:
                        errors.append(str(exc) if isinstance(exc, JudgeError) else
                                      f"Запрос к LLM-судье на {self.config.host} не удался: неожиданная ошибка "
                                      f"(`{type(exc).__name__}`).")
                    return
                key = self.key(item)
                try:
                    self.cache.add(key, grade, self.config.model, answer)
                except OSError:
                    pass            # the cache is a saving, not a requirement: the answer still counts
                with lock:
                    known[key] = grade
                    asked += 1

            with ThreadPoolExecutor(max_workers=min(WORKERS, len(self.todo))) as pool:
                list(pool.map(one, self.todo))
            error = errors[0] if errors else ""
        return self._result(known, error, asked)

    def _result(self, known: dict, error: str, asked: int) -> Judgements:
        by_pair = {}
        for item in self.hints:
            grade = known.get(self.key(item))
            if grade is not None:
                by_pair[(item.query, item.doc_id)] = (int(grade), NO_CONFIDENCE, float(grade))
        human, judged, groups = [], [], []
        for item, y in self.calibration:
            grade = known.get(self.key(item))
            if grade is not None:
                human.append(y)
                judged.append(grade)
                groups.append(item.query)
        agree = agreement(human, judged, groups)
        everything = [*self.hints, *(i for i, _ in self.calibration)]
        keys = {self.key(i) for i in everything}
        agree["unparsed"] = sum(1 for k in keys if k in known and known[k] is None)
        agree["sample"] = len(self.calibration)
        pending = sum(1 for k in keys if k not in known)
        return Judgements(self.config, agree, by_pair, error=error, pending=pending, asked=asked)


def plan(config: JudgeConfig, qrels: Mapping[str, Mapping[str, int]], wanted: Sequence[tuple[str, str]],
         position: Mapping[str, int], texts: Sequence[str], needs: Mapping[str, str] | None, cache_dir,
         sample: int = CALIBRATION_SIZE, seed: int = 0) -> Plan:
    """The judge's questions for ``wanted`` pairs nobody graded in ``qrels`` (documents by corpus
    position), plus a calibration sample of the graded ones. ``needs`` maps normalised queries to
    their information need (core.labels.needs.NeedStore.latest)."""
    needs = needs or {}

    def item(q: str, d: str) -> Item:
        return Item(q, d, texts[position[d]], needs.get(normalise_query(q), ""))

    hints = [item(q, d) for q, d in dict.fromkeys(wanted) if d in position and d not in qrels.get(q, {})]
    pairs, y = labelled(qrels, position)
    grade = dict(zip(pairs, y.tolist()))
    calibration = [(item(q, d), int(grade[(q, d)])) for q, d in calibration_sample(pairs, sample, seed)]
    cache = AnswerCache(cache_file(cache_dir))
    known = cache.load()
    missing, seen = [], set()
    for it in [*hints, *(i for i, _ in calibration)]:     # the hints first: they are what the page shows
        k = question_key(config, it.query, it.text, it.need)
        if k not in known and k not in seen:
            seen.add(k)
            missing.append(it)
    todo = missing[:config.max_items]
    return Plan(config, hints, calibration, known, todo, len(missing) - len(todo), cache)


def judge_for(config: JudgeConfig, qrels, wanted, position, texts, needs, cache_dir, **kw) -> Judgements:
    """plan(...).run(): the judge's hints and its calibration in one call."""
    return plan(config, qrels, wanted, position, texts, needs, cache_dir, **kw).run()


def calibration_line(j: Judgements) -> str:
    """One Russian line (plain text: the page escapes it) on how far the judge agrees with the
    team, on how many pairs, and what that means."""
    a, name = j.agreement, j.model.model
    kappa = a.get("kappa", math.nan)
    if math.isnan(kappa):
        measured = (f"сверка с вашими оценками: {display.count(a.get('n', 0), 'пара', 'пары', 'пар')} с ответом "
                    f"из {display.number(a.get('sample', 0))} — {kappa_words(kappa)} (нужно хотя бы "
                    f"{MIN_CALIBRATION} и две разные степени)")
    else:
        measured = (f"согласие с вашими оценками на {display.count(a['n'], 'паре', 'парах', 'парах')} из "
                    f"{display.count(a.get('queries', 0), 'запроса', 'запросов', 'запросов')}: κ = "
                    f"{display.decimal(kappa, 2)} ({kappa_words(kappa)}), совпадение {display.percent(a['exact'])}")
    unparsed = a.get("unparsed", 0)
    tail = (f" На {display.count(unparsed, 'вопрос', 'вопроса', 'вопросов')} ответ не разобран: там подсказки нет."
            if unparsed else "")
    return (f"LLM-судья {name}: {measured}. Уверенности у подсказки нет: вероятностей у сервера не спрашиваем.{tail} Подсказка — только намёк: "
            "оценкой она становится, когда её подтвердит человек.")
