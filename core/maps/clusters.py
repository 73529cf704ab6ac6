"""Clusters of a corpus and short readable names for them.

    cluster(vectors) -> labels (n,) int, 0 = largest cluster
    cluster_names(texts, labels) -> {label: "крипта · биткоин · курс"}

Clustering is KMeans on the L2-normalised embeddings (spherical k-means: cosine, the geometry
search uses), not HDBSCAN on the 2-D map: the clusters then exist before UMAP has finished (the
PCA preview shows the same colours), do not move when the UMAP sliders move, and every point gets
a cluster (HDBSCAN leaves a "noise" share that is often the largest group on text embeddings).
The number of clusters is round(sqrt(n / 2)), clipped to 4..20: 8 for the 120 demo channels,
20 for 22K posts. Labels are renumbered by size so colours and names are stable between runs.

Names are the most distinctive terms per cluster by class-based TF-IDF (c-TF-IDF, as in
BERTopic): a term's share of the cluster's documents times log(1 + average terms per cluster /
its frequency over all clusters). Counting a term once per document keeps one long post from
naming its cluster. Text is lowercased, ё→е, urls, @mentions, numbers and words under 3 letters
dropped, '#' stripped from hashtags, words lemmatised with pymorphy3 (each distinct word form
once; lemmas memoised across calls) and grouped by Snowball stem (pymorphy3 guesses lemmas of
slang it does not know differently per form), and function words dropped both by part of
speech (prepositions, conjunctions, particles, pronouns, pronoun-adjectives such as "весь",
"который") and by the stop list below (Russian + English, ~350 words).
"""
from __future__ import annotations

import math
import re
import threading
from collections import Counter
from functools import lru_cache
from typing import Sequence

import numpy as np

MIN_CLUSTERS, MAX_CLUSTERS = 4, 20
SKIP_SINGLETONS_FROM = 2000   # texts; from here word forms seen in one document are skipped
SEPARATOR = " · "
LIFT = 3.0          # a name word is at least 3x as common in its cluster as in the rest

# Function words, pronouns, particles, auxiliary and "empty" verbs/adverbs, as lemmas
# (pymorphy3 normal forms) plus the odd word form it leaves alone.
STOP_WORDS_RU = frozenset("""
а аж без более бы был быть будто бывать в вам вас весь во вот впрочем все всегда всего всех
всё вы где да даже для до если есть еще ещё же за здесь и из или им иметь их к как какой
каждый кем когда кого кто ли либо между меня мне много может можно мой мы на над надо
наш не него нее неё нельзя нет ни нибудь никогда ничто но ну о об один однако он она они
оно опять от очень по под после потом потому почему при про раз разве с сам самый свой себя
сегодня сейчас со совсем так также такой там тебя тем теперь то тогда того тоже только том
тот тут ты у уж уже хоть хотя чего чей чем через что чтобы чуть эта эти это этот я
который которая которые свое своя свои сказать говорить стать мочь хотеть делать сделать
являться новый другой год день время час минута неделя месяц раньше ранее пока лишь именно
вообще просто почти около сразу снова тысяча миллион млн млрд тыс руб рубль
вся всей всю всем всеми наш ваш ваши наши ее её его нам нас ими ей ему кому чему чём
сообщать сообщить рассказать заявить отметить считать ли бывший несколько нужно нужный
какие каких какая любой иной например поэтому затем причём причем либо кроме вместо среди
ради вокруг мимо вне внутри вдоль возле пусть давать дать идти пойти знать видеть
первый второй последний оказаться остаться появиться получить начать находиться
""".split()) | frozenset(
    # Telegram boilerplate ("пишите @bot", "подписывайтесь на канал") and the legal marking of
    # ad posts ("Реклама. ООО …, ИНН …, erid: …"): in every cluster, never its topic
    "канал подписаться подписываться писать ссылка перейти переходить читать прислать "
    "присылать erid инн ооо огрн".split())

STOP_WORDS_EN = frozenset("""
the a an and or but if then else of to in on at by for with from into onto over under about
as is are was were be been being am do does did done have has had having it its this that
these those there here what which who whom whose when where why how all any both each few more
most other some such no nor not only own same so than too very can will just should now
i me my we our you your he him his she her they them their not via amp http https www com
""".split())

STOP_WORDS = STOP_WORDS_RU | STOP_WORDS_EN

# pymorphy3 parts of speech / grammemes that never make a topic word
_STOP_POS = frozenset({"PREP", "CONJ", "PRCL", "INTJ", "NPRO", "NUMR", "PRED", "COMP"})
_STOP_GRAMMEMES = ("Apro",)   # pronoun-adjectives: весь, который, этот, свой, такой, самый

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w.-]+\.(?:ru|com|org|net|me|io|рф)(?:/\S*)?", re.I)
_MENTION = re.compile(r"@\w+")
# a word not glued to digits: "25-летнего" and "x2" are numbers, not words
_WORD = re.compile(r"(?<![0-9A-Za-zА-Яа-я_-])[a-zA-Zа-яА-Я]+(?:-[a-zA-Zа-яА-Я]+)*(?![0-9A-Za-zА-Яа-я_])")


def n_clusters_for(n: int) -> int:
    """round(sqrt(n / 2)) clipped to MIN..MAX_CLUSTERS, and never more than n."""
    if n <= 0:
        return 0
    return int(min(n, max(MIN_CLUSTERS, min(MAX_CLUSTERS, round(math.sqrt(n / 2))))))


def cluster(vectors: np.ndarray, n_clusters: int | None = None, seed: int = 0) -> np.ndarray:
    """KMeans labels (n,) int64 for embeddings (rows normalised first) or 2-D coordinates
    (used as they are). Label 0 is the largest cluster, 1 the next, and so on."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"vectors must be a 2-D array (n, d); got shape {x.shape}")
    n = len(x)
    k = n_clusters_for(n) if n_clusters is None else int(min(max(n_clusters, 1), n))
    if n == 0:
        return np.zeros(0, np.int64)
    if k <= 1 or n <= 2:
        return np.zeros(n, np.int64)
    if x.shape[1] > 2:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    if n > 100_000:   # full Lloyd passes get slow past this; mini-batches are close enough for colours
        model = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
    else:
        model = KMeans(n_clusters=k, random_state=seed, n_init=1)   # k-means++ seeding: one run is enough
    raw = model.fit_predict(x)
    counts = np.bincount(raw, minlength=k)
    order = np.lexsort((np.arange(k), -counts))          # biggest first, ties by old label
    remap = np.empty(k, np.int64)
    remap[order] = np.arange(k)
    return remap[raw]


# ---------------------------------------------------------------- names

_MORPH = None
_MORPH_LOCK = threading.Lock()


def _morph():
    global _MORPH
    if _MORPH is None:
        with _MORPH_LOCK:
            if _MORPH is None:
                import pymorphy3
                _MORPH = pymorphy3.MorphAnalyzer()
    return _MORPH


@lru_cache(maxsize=500_000)
def lemma(word: str) -> str:
    """Normal form of a word from `tokens`, "" for function words. Latin words and all-caps
    abbreviations stay as they are, lowercased (pymorphy3 has no English dictionary);
    memoised, since pymorphy3 costs ~20-60 us a word."""
    if not word:
        return ""
    if word.isupper():                      # abbreviation: kept, not lemmatised
        word = word.lower()
        return "" if word in STOP_WORDS else word
    if word in STOP_WORDS:
        return ""
    if not ("а" <= word[0] <= "я"):
        return word
    parse = _morph().parse(word)[0]
    tag = parse.tag
    if tag.POS in _STOP_POS or any(g in tag for g in _STOP_GRAMMEMES):
        return ""
    form = parse.normal_form.replace("ё", "е")
    return "" if form in STOP_WORDS or len(form) < 3 else form


def tokens(text: str) -> list[str]:
    """Lowercased word forms worth lemmatising: no urls, @mentions, numbers, '#', short words.
    Short all-caps words (США, МВД, ИНН) come back upper-case: they are abbreviations, which
    pymorphy3 would "lemmatise" into unrelated words (ИНН -> инна)."""
    text = _MENTION.sub(" ", _URL.sub(" ", text.replace("ё", "е").replace("Ё", "Е")))
    return [w if (w.isupper() and len(w) <= 6) else w.lower()
            for w in _WORD.findall(text) if len(w) >= 3]


_LOCAL = threading.local()


@lru_cache(maxsize=500_000)
def stem(word: str) -> str:
    """Snowball stem of a lemma (Russian; Latin words pass unchanged)."""
    stemmer = getattr(_LOCAL, "stemmer", None)
    if stemmer is None:        # snowball stemmers keep state: one per thread
        import snowballstemmer
        stemmer = _LOCAL.stemmer = snowballstemmer.stemmer("russian")
    return stemmer.stemWord(word)


def _document_terms(texts: Sequence[str]) -> tuple[list[set[str]], dict[str, str]]:
    """Per document the set of its terms, and the display word of each term.

    A term is the stem of a lemma. pymorphy3 guesses lemmas of words it does not know, and
    guesses differently per form (биткоин, биткоина -> "биткоина"; биткоинов -> "биткоин"), so
    grouping lemmas by stem keeps one word's counts together. The word shown is the group's
    shortest lemma (then the most frequent), which undoes most of those guesses."""
    forms = [set(tokens(t)) for t in texts]
    form_docs = Counter(w for doc in forms for w in doc)
    if len(forms) >= SKIP_SINGLETONS_FROM:
        # most distinct forms of a big corpus occur in one document only; they cannot make a
        # name (that needs a term in several documents) and lemmatising them is most of the time
        forms = [{w for w in doc if form_docs[w] > 1} for doc in forms]
    lemma_of = {w: lemma(w) for w in form_docs if len(forms) < SKIP_SINGLETONS_FROM or form_docs[w] > 1}
    lemma_docs: Counter = Counter()
    docs = []
    for doc in forms:
        lemmas = {lemma_of[w] for w in doc} - {""}
        lemma_docs.update(lemmas)
        docs.append(lemmas)
    display: dict[str, str] = {}
    for lem in sorted(lemma_docs, key=lambda l: (len(l), -lemma_docs[l], l)):
        display.setdefault(stem(lem), lem)
    return [{stem(l) for l in doc} for doc in docs], display


def top_terms(texts: Sequence[str], labels: Sequence[int], top_n: int = 3) -> dict[int, list[tuple[str, float]]]:
    """The top_n (word, c-TF-IDF score) per label, best first."""
    labels = np.asarray(labels)
    if len(labels) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    docs, display = _document_terms(texts)
    per_cluster: dict[int, Counter] = {}
    sizes: Counter = Counter()
    for lab, doc in zip(labels.tolist(), docs):
        per_cluster.setdefault(lab, Counter()).update(doc)
        sizes[lab] += 1
    overall: Counter = Counter()
    for counts in per_cluster.values():
        overall.update(counts)
    avg_words = sum(overall.values()) / max(len(per_cluster), 1)
    n_docs = len(docs)
    result: dict[int, list[tuple[str, float]]] = {}
    for lab, counts in per_cluster.items():
        # a name word should be shared by several documents, when the cluster has several
        floor = 2 if sizes[lab] >= 4 else 1
        rest = max(n_docs - sizes[lab], 1)

        def score(term: str, c: int) -> float:
            return (c / sizes[lab]) * math.log(1 + avg_words / overall[term])

        def specific(term: str, c: int) -> bool:
            """Boilerplate ("реклама", "сотрудничество" in every about text) is as common outside
            the cluster as inside: a name word must be at least LIFT times more common inside."""
            inside, outside = c / sizes[lab], (overall[term] - c) / rest
            return inside >= LIFT * outside

        scored = [(t, score(t, c)) for t, c in counts.items() if c >= floor and specific(t, c)]
        if not scored:
            scored = [(t, score(t, c)) for t, c in counts.items() if specific(t, c)] or \
                     [(t, score(t, c)) for t, c in counts.items()]
        scored.sort(key=lambda item: (-item[1], item[0]))
        result[lab] = [(display[term], score) for term, score in scored[:top_n]]
    return result


def cluster_names(texts: Sequence[str], labels: Sequence[int], top_n: int = 3) -> dict[int, str]:
    """{label: "слово · слово · слово"} from each cluster's most distinctive lemmas. A cluster
    with no usable words is called "кластер N"; label -1 (noise, if a caller has it) is
    "без кластера". Equal names get the label appended so legends stay unambiguous."""
    names: dict[int, str] = {}
    for lab, terms in top_terms(texts, labels, top_n).items():
        lab = int(lab)
        if lab < 0:
            names[lab] = "без кластера"
        else:
            names[lab] = SEPARATOR.join(t for t, _ in terms) or f"кластер {lab}"
    seen = Counter(names.values())
    return {lab: (f"{name} ({lab})" if seen[name] > 1 else name) for lab, name in sorted(names.items())}


# ---------------------------------------------------------------- big corpora, cached on disk

CLUSTER_FORMAT = 1
PREDICT_CHUNK = 65_536


def clusters_for_map(vectors, texts: Sequence[str], sample: int | None = None,
                     seed: int = 0) -> tuple[np.ndarray, dict[int, str]]:
    """(labels (n,), names) for a map. Up to `sample` rows: cluster() and cluster_names() on all of
    them, as always. Past it: k-means (k = n_clusters_for(n)) fitted on the map's sample rows,
    every row assigned to its nearest centre in chunks (vectors may be a float16 memory map),
    names from the sample's texts; labels renumbered by size over all rows."""
    n = len(vectors)
    if not sample or n <= sample:
        labels = cluster(np.asarray(vectors, np.float32))
        return labels, cluster_names(texts, labels)
    from sklearn.cluster import KMeans

    from core.maps.projection import sample_rows
    rows = sample_rows(n, sample, seed)
    x = np.asarray(vectors[rows], np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    k = n_clusters_for(n)
    centres = KMeans(n_clusters=k, random_state=seed, n_init=1).fit(x).cluster_centers_.astype(np.float32)
    half_sq = 0.5 * (centres ** 2).sum(axis=1)
    raw = np.empty(n, np.int64)
    for start in range(0, n, PREDICT_CHUNK):   # nearest centre: argmax x.c - |c|^2 / 2 (Euclidean on unit rows)
        chunk = np.asarray(vectors[start:start + PREDICT_CHUNK], np.float32)
        chunk = chunk / np.maximum(np.linalg.norm(chunk, axis=1, keepdims=True), 1e-12)
        raw[start:start + len(chunk)] = (chunk @ centres.T - half_sq).argmax(axis=1)
    counts = np.bincount(raw, minlength=k)
    order = np.lexsort((np.arange(k), -counts))
    remap = np.empty(k, np.int64)
    remap[order] = np.arange(k)
    labels = remap[raw]
    return labels, cluster_names([texts[i] for i in rows], labels[rows])


def _cluster_paths(cache_dir, model_id: str, corpus_hash: str, sample: int | None):
    import hashlib
    import json
    from pathlib import Path
    blob = json.dumps({"model": model_id, "corpus": corpus_hash, "sample": sample, "format": CLUSTER_FORMAT},
                      sort_keys=True)
    key = hashlib.sha256(blob.encode()).hexdigest()[:24]
    folder = Path(cache_dir) / "clusters"
    return folder / f"{key}.labels.npy", folder / f"{key}.json"


def cached_clusters(cache_dir, model_id: str, corpus_hash: str, vectors, texts: Sequence[str],
                    sample: int | None = None) -> tuple[np.ndarray, dict[int, str]]:
    """clusters_for_map from the disk cache (key: model, corpus content, sample), or computed and
    stored (labels with np.save, names as JSON written last), so a big map's page opens without
    clustering a million rows. `sample` counts only when the corpus is larger than it."""
    import json

    from core.atomic import atomic_bytes, atomic_npy
    n = len(vectors)
    sample = int(sample) if sample and n > sample else None
    labels_path, names_path = _cluster_paths(cache_dir, model_id, corpus_hash, sample)
    try:
        names = {int(k): v for k, v in json.loads(names_path.read_text(encoding="utf-8")).items()}
        labels = np.load(labels_path, allow_pickle=False)
        if labels.shape == (n,):
            labels.setflags(write=False)
            return labels, names
    except (OSError, ValueError):
        pass
    labels, names = clusters_for_map(vectors, texts, sample)
    labels_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_npy(labels_path, np.asarray(labels, np.int64))
    atomic_bytes(names_path, json.dumps({str(k): v for k, v in names.items()}, ensure_ascii=False).encode("utf-8"))
    labels.setflags(write=False)
    return labels, names
