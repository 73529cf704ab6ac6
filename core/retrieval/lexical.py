"""BM25 over Russian-normalised tokens, and reciprocal rank fusion for hybrid search.

Tokens: lowercase, ё -> е, words of letters/digits; Cyrillic words are cut to their Snowball
Russian stem ("борща", "борщом" -> "борщ"), Latin words to their Snowball English stem. The
stemmer is cached per word (a corpus repeats most words many times).

BM25 (Robertson/Lucene form, k1 = 1.2, b = 0.75):

    score(q, d) = sum over distinct terms t of q:
                  idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * len(d) / avglen))
    idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))      (never negative)

The per-(doc, term) part does not depend on the query, so it is computed once into a sparse
matrix W; a query is then one sparse column slice times its idf vector.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CYRILLIC = re.compile(r"[а-я]")


@lru_cache(maxsize=1)
def _stemmers():
    import snowballstemmer
    return snowballstemmer.stemmer("russian"), snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def normalise_word(word: str) -> str:
    """One lowercased word -> its stem (cached)."""
    ru, en = _stemmers()
    word = word.lower().replace("ё", "е")
    if _CYRILLIC.search(word):
        return ru.stemWord(word)
    if word.isascii() and word.isalpha():
        return en.stemWord(word)
    return word


def tokenize(text: str) -> list[str]:
    return [normalise_word(w) for w in _WORD.findall(text.lower())]


class BM25Index:
    def __init__(self, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.vocab: dict[str, int] = {}
        rows, cols = [], []
        for i, text in enumerate(texts):
            for tok in tokenize(text):
                rows.append(i)
                cols.append(self.vocab.setdefault(tok, len(self.vocab)))
        n_docs = len(texts)
        self.size = n_docs
        tf = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)),
                           shape=(n_docs, max(len(self.vocab), 1)), dtype=np.float32)
        tf.sum_duplicates()
        doc_len = np.asarray(tf.sum(axis=1)).ravel()
        avg_len = float(doc_len.mean()) if n_docs and doc_len.mean() > 0 else 1.0
        df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float64)
        self.idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        # saturate tf in place: tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg))
        norm = k1 * (1.0 - b + b * doc_len / avg_len)
        row_of = np.repeat(np.arange(n_docs), np.diff(tf.indptr))
        data = tf.data
        tf.data = (data * (k1 + 1.0) / (data + norm[row_of])).astype(np.float32)
        self._weights = tf.tocsc()    # column slices per query term are the hot path

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for the query (0 where no term matches)."""
        terms = sorted({self.vocab[t] for t in tokenize(query) if t in self.vocab})
        if not terms:
            return np.zeros(self.size, np.float32)
        return np.asarray(self._weights[:, terms] @ self.idf[terms]).ravel()

    def search(self, query: str, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions) of the top k documents, best first. Only documents sharing at
        least one term with the query are returned, so there may be fewer than k."""
        s = self.scores(query)
        hits = np.flatnonzero(s > 0)
        if len(hits) > k:
            hits = hits[np.argpartition(-s[hits], k - 1)[:k]]
        order = hits[np.lexsort((hits, -s[hits]))]     # score desc, then position: deterministic
        return s[order], order


def rrf_fuse(rankings: Iterable[Sequence[int]], k: int = 60) -> list[int]:
    """Reciprocal rank fusion: score(d) = sum over rankings of 1 / (k + rank of d), rank 1-based.

    Negative ids (faiss padding) are ignored, as are repeats within one ranking. Ties go to
    the document with the better best rank, then to the one seen first.
    """
    score: dict[int, float] = {}
    best: dict[int, int] = {}
    first: dict[int, int] = {}
    seen_order = 0
    for ranking in rankings:
        rank = 0
        done: set[int] = set()
        for doc in ranking:
            doc = int(doc)
            if doc < 0 or doc in done:
                continue
            done.add(doc)
            rank += 1
            score[doc] = score.get(doc, 0.0) + 1.0 / (k + rank)
            best[doc] = min(best.get(doc, rank), rank)
            if doc not in first:
                first[doc] = seen_order
                seen_order += 1
    return sorted(score, key=lambda d: (-score[d], best[d], first[d]))
