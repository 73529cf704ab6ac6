"""Pair labels as the fine-tuning job's label rows, so pairs train through the same job
(core.finetune.run_finetune) as relevance labels, with the same leakage rule.

A pair (a, b) becomes one relevance row: query = a's text as embedded, doc_id = b, grade 2 for
"same" (a positive) and 0 for "different" (a hard negative of that query; core.finetune.data
only uses a negative whose query also has a positive). "Can't judge" and ties are left out.
The row keeps the pair's split, and core.finetune.data also holds out queries whose own text
hashes to eval, so an eval-split pair never trains; the price is that some train-split pairs
are held out too (about 3 in 10), which the plan's counts show.
"""
from __future__ import annotations

import pandas as pd

from core.corpora.records import Corpus
from core.labels.base import typed_frame
from core.tasks.pairs.labels import DIFFERENT, SAME, current_pairs

ANNOTATOR = "пары"   # the rows' signature: they summarise every annotator's pair labels


def as_relevance_labels(corpus: Corpus, pair_frame: pd.DataFrame) -> pd.DataFrame:
    """Label-store rows (core.labels.base.COLUMNS) for the judged pairs of this corpus."""
    pairs = current_pairs(pair_frame, corpus.name)
    pairs = pairs[pairs["label"].notna()]
    text = dict(zip(corpus.frame["id"], corpus.texts))
    known = pairs["a_id"].isin(text.keys()) & pairs["b_id"].isin(text.keys())
    pairs = pairs[known]
    grade = {SAME: 2, DIFFERENT: 0}
    n = len(pairs)
    return typed_frame({
        "ts": [""] * n, "annotator": [ANNOTATOR] * n, "corpus": [corpus.name] * n,
        "query": [text[a] for a in pairs["a_id"]], "doc_id": list(pairs["b_id"]),
        "grade": [grade[int(g)] for g in pairs["label"]], "model": [""] * n, "rank": [None] * n,
        "split": list(pairs["split"]), "note": [""] * n,
    })
