"""How good channel neighbours are, measured: look-alikes (channel → channels) and ad
placement (post → channels), with bootstrap intervals, for any channel space.

Look-alikes are judged against the team's channel labels (query = a channel) where there are
any, otherwise against category agreement as a proxy (every other channel of the same category
is relevant), and the result says which. Ad placement is judged against the channel each post
was actually published in, with that post held out of its channel's vector (leave-one-out:
otherwise a channel built from its posts would trivially find its own post), and against the
labels whose query is a post or a pasted text. The baselines: chance for look-alikes, and
"always the channels with the most posts" (popularity) for placement.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from core import display
from core.corpora.records import Corpus
from core.evaluation.metrics import evaluate_run
from core.evaluation.significance import paired_bootstrap
from core.labels.channel_labels import Qrels, category_qrels, lookalike_qrels, placement_qrels, query_ref
from core.retrieval.channels import ChannelSpace, SpaceSpec

K_PRECISION, K_NDCG, K_HIT = 5, 10, 5
N_RESAMPLES = 2000
TRUTH_NAMES = {
    "labels": "по оценкам команды (канал → канал)",
    "category": "по совпадению тематики (пока нет оценок каналов: это замена, а не оценки людей)",
    "none": "не с чем сравнить: нет ни оценок каналов, ни тематик",
}


@dataclass(frozen=True)
class Truth:
    qrels: Qrels
    source: str            # "labels" | "category" | "none"

    @property
    def note(self) -> str:
        return TRUTH_NAMES[self.source]


def lookalike_truth(channels: pd.DataFrame, grades: Mapping[tuple[str, str], float] | None = None,
                    category_column: str = "category") -> Truth:
    """The labels (query = a channel of this corpus) if any has a relevant grade, else the
    category proxy, else nothing."""
    labelled = lookalike_qrels(grades or {}, channels["id"])
    if any(g >= 1 for rel in labelled.values() for g in rel.values()):
        return Truth(labelled, "labels")
    proxy = category_qrels(channels, category_column)
    return Truth(proxy, "category") if proxy else Truth({}, "none")


def bootstrap_mean(values: Iterable[float], n_resamples: int = N_RESAMPLES, seed: int = 0,
                   ci: float = 0.95) -> tuple[float, float, float, int]:
    """(mean, lo, hi, n): percentile bootstrap interval of the mean over queries (nan dropped);
    core.evaluation.significance.paired_bootstrap against a zero system is exactly that, memory-bounded."""
    x = np.asarray(list(values), float)
    out = paired_bootstrap(np.zeros_like(x), x, n_resamples=n_resamples, seed=seed, ci=ci)
    return out["mean_diff"], out["lo"], out["hi"], out["n"]


def _ids(space: ChannelSpace) -> np.ndarray:
    return space.channels.frame["id"].to_numpy()


def lookalike_run(space: ChannelSpace, k: int = K_NDCG) -> dict[str, list[str]]:
    """{channel id: its k nearest other channels, best first} in this space."""
    sims = space.vectors @ space.vectors.T
    np.fill_diagonal(sims, -np.inf)
    k = min(k, max(len(sims) - 1, 0))
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    ids = _ids(space)
    return {ids[i]: list(ids[row]) for i, row in enumerate(order)}


def lookalike_scores(space: ChannelSpace, truth: Truth) -> pd.DataFrame:
    """Per source channel: precision@5 and nDCG@10 (sources without a relevant channel left out)."""
    if not truth.qrels:
        return pd.DataFrame(columns=[f"precision@{K_PRECISION}", f"ndcg@{K_NDCG}"], dtype=float)
    run = lookalike_run(space, max(K_PRECISION, K_NDCG))
    return evaluate_run(run, truth.qrels, [f"precision@{K_PRECISION}", f"ndcg@{K_NDCG}"])


def chance_precision(truth: Truth, n_channels: int) -> float:
    """Expected precision@k of a random order: relevant share of the other channels, averaged."""
    shares = [sum(g >= 1 for g in rel.values()) / max(n_channels - 1, 1) for rel in truth.qrels.values()
              if any(g >= 1 for g in rel.values())]
    return float(np.mean(shares)) if shares else np.nan


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    k = min(k, scores.shape[1])
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def placement_hits(space: ChannelSpace, positions: np.ndarray, k: int = K_HIT) -> np.ndarray:
    """1.0 where the channel a post was published in is among the top k channels for the post's
    text, its own channel rebuilt without it; nan for posts of channels not in the space.
    `positions` are rows of the posts corpus the space was built with."""
    positions = np.asarray(positions, np.int64)
    if space.sums is None or len(positions) == 0:
        return np.full(len(positions), np.nan)
    owner = space.sums.post_channel[positions]
    q = space.place(space.post_vectors[positions])
    scores = q @ space.vectors.T
    own = space.without_post(positions)
    known = owner >= 0
    scores[np.flatnonzero(known), owner[known]] = np.einsum("md,md->m", q[known], own[known])
    top = _top(scores, k)
    hits = (top == owner[:, None]).any(axis=1).astype(float)
    hits[~known] = np.nan
    return hits


def popularity_hits(space: ChannelSpace, positions: np.ndarray, k: int = K_HIT) -> np.ndarray:
    """The same question answered by always naming the k channels with the most posts."""
    positions = np.asarray(positions, np.int64)
    if space.sums is None:
        return np.full(len(positions), np.nan)
    counts = np.bincount(space.sums.post_channel[space.sums.post_channel >= 0], minlength=len(space.channels))
    top = np.argsort(-counts, kind="stable")[:k]
    owner = space.sums.post_channel[positions]
    hits = np.isin(owner, top).astype(float)
    hits[owner < 0] = np.nan
    return hits


def label_placement_scores(space: ChannelSpace, qrels: Qrels, vectors: Mapping[str, np.ndarray],
                           k: int = K_HIT) -> pd.Series:
    """HitRate@k per labelled post/text query (its raw vector in `vectors`; queries without one
    are skipped)."""
    queries = [q for q in qrels if q in vectors]
    if not queries:
        return pd.Series(dtype=float)
    q = space.place(np.stack([vectors[x] for x in queries]))
    top = _top(q @ space.vectors.T, k)
    ids = _ids(space)
    run = {x: list(ids[row]) for x, row in zip(queries, top)}
    return evaluate_run(run, {x: qrels[x] for x in queries}, [f"hit_rate@{k}"])[f"hit_rate@{k}"]


def label_query_vectors(qrels: Qrels, posts: Corpus | None, post_vectors: np.ndarray | None,
                        encode: Callable[[list[str]], np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Raw vectors of labelled placement queries: a "[post id] …" query takes the post's vector
    from the posts corpus, a pasted text is embedded with `encode` (skipped without one)."""
    out: dict[str, np.ndarray] = {}
    where = {p: i for i, p in enumerate(posts.frame["id"])} if posts is not None and post_vectors is not None else {}
    texts = []
    for q in qrels:
        ref, _ = query_ref(q)
        if ref is not None and ref in where:
            out[q] = np.asarray(post_vectors[where[ref]])
        elif ref is None:
            texts.append(q)
    if texts and encode is not None:
        for q, v in zip(texts, encode(texts)):
            out[q] = v
    return out


@dataclass(frozen=True)
class Placement:
    """What ad placement is measured on: post positions in the posts corpus (all posts with a
    known channel, and the ad posts among them) plus any labelled placement queries."""
    all_posts: np.ndarray
    ad_posts: np.ndarray
    label_qrels: Qrels
    label_vectors: Mapping[str, np.ndarray]


def placement_queries(space: ChannelSpace, posts: Corpus | None,
                      grades: Mapping[tuple[str, str], float] | None = None,
                      encode: Callable[[list[str]], np.ndarray] | None = None,
                      limit: int | None = None, seed: int = 0) -> Placement:
    """Posts to place (with `limit`, a seeded sample of that many) and the labelled queries
    (`posts` = the posts corpus the space was built with)."""
    label_q = placement_qrels(grades or {}, _ids(space))
    post_vectors = space.post_vectors
    if posts is None or post_vectors is None or space.sums is None:
        return Placement(np.zeros(0, np.int64), np.zeros(0, np.int64), label_q, {})
    known = np.flatnonzero(space.sums.post_channel >= 0)
    if limit and len(known) > limit:
        known = np.sort(np.random.default_rng(seed).choice(known, limit, replace=False))
    ads = known[_is_ad(posts.frame).to_numpy()[known]] if "is_ad" in posts.frame else np.zeros(0, np.int64)
    return Placement(known, ads, label_q, label_query_vectors(label_q, posts, post_vectors, encode))


def _is_ad(frame: pd.DataFrame) -> pd.Series:
    return frame["is_ad"].astype(str).str.strip().isin(["1", "true", "True"])


COLUMNS = {   # our column -> Russian header
    "model": "модель", "space": "вектор канала · постобработка",
    "p5": f"похожие · точность@{K_PRECISION}", "ndcg10": f"похожие · nDCG@{K_NDCG}",
    "hit_all": f"размещение постов · HitRate@{K_HIT}", "hit_ads": f"размещение рекламы · HitRate@{K_HIT}",
    "hit_labels": f"по оценкам · HitRate@{K_HIT}",
}
DEFAULT_MARK = "★ "


def measure(space: ChannelSpace, truth: Truth, placement: Placement, model: str = "") -> dict:
    """One row of the quality table: every metric as (mean, lo, hi, n) under its column."""
    row: dict = {"model": model, "space": space.spec.label, "representation": space.spec.representation,
                 "postprocess": space.spec.postprocess}
    per = lookalike_scores(space, truth)
    row["p5"] = bootstrap_mean(per[f"precision@{K_PRECISION}"]) if len(per) else (np.nan,) * 3 + (0,)
    row["ndcg10"] = bootstrap_mean(per[f"ndcg@{K_NDCG}"]) if len(per) else (np.nan,) * 3 + (0,)
    row["hit_all"] = bootstrap_mean(placement_hits(space, placement.all_posts))
    row["hit_ads"] = bootstrap_mean(placement_hits(space, placement.ad_posts))
    row["hit_labels"] = bootstrap_mean(label_placement_scores(space, placement.label_qrels,
                                                              placement.label_vectors))
    return row


def baseline_rows(space: ChannelSpace, truth: Truth, placement: Placement) -> list[dict]:
    """Chance (look-alikes) and popularity (placement), in the table's shape."""
    none = (np.nan, np.nan, np.nan, 0)
    chance = chance_precision(truth, len(space.channels))
    n_scored = len(lookalike_scores(space, truth).dropna(how="all"))
    return [{"model": "—", "space": "случайный порядок (ожидание)", "representation": "", "postprocess": "",
             "p5": (chance, chance, chance, n_scored), "ndcg10": none, "hit_all": none, "hit_ads": none,
             "hit_labels": none},
            {"model": "—", "space": "популярность: каналы с наибольшим числом постов", "representation": "",
             "postprocess": "", "p5": none, "ndcg10": none,
             "hit_all": bootstrap_mean(popularity_hits(space, placement.all_posts)),
             "hit_ads": bootstrap_mean(popularity_hits(space, placement.ad_posts)), "hit_labels": none}]


def table(rows: list[dict]) -> pd.DataFrame:
    """Rows of `measure` -> one flat frame: <metric>, <metric>_lo, <metric>_hi, <metric>_n."""
    out = []
    for r in rows:
        flat = {k: v for k, v in r.items() if not isinstance(v, tuple)}
        for metric in ("p5", "ndcg10", "hit_all", "hit_ads", "hit_labels"):
            mean, lo, hi, n = r[metric]
            flat.update({metric: mean, f"{metric}_lo": lo, f"{metric}_hi": hi, f"{metric}_n": n})
        out.append(flat)
    return pd.DataFrame(out)


def with_interval(mean, lo, hi, digits: int = 2) -> str:
    """"0,62 [0,55–0,69]"; a dash where there is nothing to measure."""
    if pd.isna(mean):
        return display.MISSING
    if pd.isna(lo) or lo == hi:
        return display.decimal(mean, digits)
    return f"{display.decimal(mean, digits)} [{display.decimal(lo, digits)}–{display.decimal(hi, digits)}]"


def shown(frame: pd.DataFrame, default: str | None = None) -> pd.DataFrame:
    """The table as text for the page and the bench: Russian headers, values with intervals;
    metric columns nobody could measure (e.g. no labelled placement queries) are dropped. The
    row whose space is `default` (a SpaceSpec.label) is marked with a star."""
    cols = {"model": frame["model"],
            "space": [DEFAULT_MARK + x if x == default else x for x in frame["space"]]}
    for metric in ("p5", "ndcg10", "hit_all", "hit_ads", "hit_labels"):
        if frame[f"{metric}_n"].fillna(0).max() == 0:
            continue
        cols[metric] = [with_interval(m, lo, hi) for m, lo, hi in
                        zip(frame[metric], frame[f"{metric}_lo"], frame[f"{metric}_hi"])]
    return pd.DataFrame(cols).rename(columns=COLUMNS)


def counts_note(frame: pd.DataFrame) -> str:
    """How many queries each kind of metric averages (Russian, one line)."""
    n = {m: int(frame[f"{m}_n"].max()) for m in ("p5", "hit_all", "hit_ads", "hit_labels")}
    parts = [f"похожие — {display.count(n['p5'], 'канал', 'канала', 'каналов')}"]
    if n["hit_all"]:
        parts.append(f"размещение — {display.count(n['hit_all'], 'пост', 'поста', 'постов')}"
                     + (f", из них реклама — {display.number(n['hit_ads'])}" if n["hit_ads"] else ""))
    if n["hit_labels"]:
        parts.append(f"по оценкам — {display.count(n['hit_labels'], 'запрос', 'запроса', 'запросов')}")
    return "Запросов: " + "; ".join(parts) + ". В скобках — 95 % бутстреп-интервал."


def grid(specs: Iterable[SpaceSpec], build: Callable[[SpaceSpec], ChannelSpace], truth: Truth,
         placement_for: Callable[[ChannelSpace], Placement], model: str = "") -> list[dict]:
    """measure() for each spec; `build` makes the space, `placement_for` what to place in it."""
    return [measure(space, truth, placement_for(space), model) for space in map(build, specs)]
