"""The training loop of a full fine-tune: MultipleNegativesRankingLoss (in-batch negatives,
scale 20) plus judged hard negatives, AdamW with warm-up then linear decay, early stopping on a
validation slice of the train split, a fixed seed.

Written out rather than taken from sentence-transformers' trainer because the loss must mask:
one query can point to several documents (none may be its negative), and a hard negative of one
query may be another query's positive in the same batch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from core.finetune.result import FinetuneCancelled, Progress, ShouldStop

SCALE = 20.0            # 1 / temperature 0.05, the e5 / sentence-transformers default


def no_duplicate_batches(q: Sequence[str], d: Sequence[str], batch_size: int, rng) -> list[list[int]]:
    """Shuffled batches in which no query and no document appears twice, so every in-batch
    negative is a true negative (sentence-transformers' NO_DUPLICATES sampler, in short)."""
    pending = list(rng.permutation(len(q)))
    batches = []
    while pending:
        batch, qs, ds, rest = [], set(), set(), []
        for i in pending:
            if len(batch) < batch_size and q[i] not in qs and d[i] not in ds:
                batch.append(int(i))
                qs.add(q[i])
                ds.add(d[i])
            else:
                rest.append(i)
        batches.append(batch)
        pending = rest
    # A lone pair has no in-batch negative to learn from; it is left out of this epoch only.
    return [b for b in batches if len(b) >= 2]


def split_by_query(queries: Sequence[str], fraction: float, rng, min_pairs: int = 40) -> tuple[list[int], list[int]]:
    """(train, validation) pair indices; every pair of one query falls on one side. Below
    `min_pairs` there is no validation slice (too few to tell a gain from noise)."""
    idx = list(range(len(queries)))
    if len(queries) < min_pairs or fraction <= 0:
        return idx, []
    uniq = sorted(set(queries))
    held = set(rng.permutation(uniq)[:max(1, int(round(len(uniq) * fraction)))])
    return [i for i in idx if queries[i] not in held], [i for i in idx if queries[i] in held]


@dataclass
class Validation:
    """Val queries ranked against a candidate pool (their positives, their judged negatives and
    a seeded sample of other documents, up to `pool` texts): MRR@10 in the pool."""
    queries: list[str]
    relevant: list[set[int]]       # pool positions relevant to each query
    texts: list[str]               # the pool

    @classmethod
    def build(cls, val_q: list[str], val_doc: list[int], doc_texts: Sequence[str], negatives: dict[str, list[int]],
              rng, pool: int = 256) -> "Validation":
        chosen = list(dict.fromkeys(list(val_doc) + [n for q in val_q for n in negatives.get(q, [])]))
        others = [i for i in rng.permutation(len(doc_texts)) if i not in set(chosen)]
        chosen += others[:max(0, pool - len(chosen))]
        where = {d: i for i, d in enumerate(chosen)}
        by_q: dict[str, set[int]] = {}
        for q, d in zip(val_q, val_doc):
            by_q.setdefault(q, set()).add(where[d])
        qs = sorted(by_q)
        return cls(qs, [by_q[q] for q in qs], [doc_texts[i] for i in chosen])

    def mrr(self, encode: Callable[[list[str], str], np.ndarray]) -> float:
        Q, D = encode(self.queries, "query"), encode(self.texts, "passage")
        scores = Q @ D.T
        out = []
        for row, rel in zip(scores, self.relevant):
            top = np.argsort(-row, kind="stable")[:10]
            hit = [r for r, i in enumerate(top, 1) if int(i) in rel]
            out.append(1.0 / hit[0] if hit else 0.0)
        return float(np.mean(out))


@dataclass
class TrainPlan:
    queries: list[str]
    doc_ids: list[str]
    doc_texts: list[str]                      # text of each pair's document
    positives: dict[str, set[str]]            # every known positive of a query (for the mask)
    negatives: dict[str, list[tuple[str, str]]]   # query -> [(doc_id, text)] judged irrelevant


def train_mnrl(model, plan: TrainPlan, *, q_prompt: str, d_prompt: str, epochs: int, batch_size: int, lr: float,
               trainable: Callable[[str], bool], validation: Validation | None = None, warmup_ratio: float = 0.1,
               seed: int = 0, max_seq_length: int = 256, progress: Progress | None = None,
               should_stop: ShouldStop | None = None) -> tuple[list[dict], int]:
    """Train `model` (a SentenceTransformer) in place; returns (history, best epoch). With a
    validation slice the weights of the best epoch are restored (epoch 0 = untouched base)."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    params = [(n, p) for n, p in model.named_parameters()]
    for n, p in params:
        p.requires_grad_(trainable(n))
    train_params = [p for _, p in params if p.requires_grad]
    if not train_params:
        raise ValueError("нечего обучать: ни один параметр модели не выбран")
    batches = [no_duplicate_batches(plan.queries, plan.doc_ids, batch_size, rng) for _ in range(epochs)]
    total = sum(len(b) for b in batches)
    opt = torch.optim.AdamW(train_params, lr=lr, weight_decay=0.01)
    warmup = max(1, int(total * warmup_ratio))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    device = next(model.parameters()).device
    old_len = model.max_seq_length
    model.max_seq_length = min(old_len, max_seq_length)

    def embed(texts, prompt):
        feats = model.preprocess(list(texts), prompt=prompt or None)
        feats = {k: v.to(device) if hasattr(v, "to") else v for k, v in feats.items()}
        return torch.nn.functional.normalize(model(feats)["sentence_embedding"], dim=-1)

    def encode_eval(texts, kind):
        model.eval()
        with torch.no_grad():
            out = [embed(texts[i:i + 64], q_prompt if kind == "query" else d_prompt).cpu().numpy()
                   for i in range(0, len(texts), 64)]
        return np.concatenate(out) if out else np.zeros((0, 1), np.float32)

    history: list[dict] = []
    best = (-1.0, 0, None)
    if validation is not None:
        base = validation.mrr(encode_eval)
        history.append({"epoch": 0, "step": 0, "val_mrr@10": base})
        best = (base, 0, _snapshot(train_params))
    step, t0 = 0, time.time()
    try:
        for epoch, plan_batches in enumerate(batches, start=1):
            model.train()
            for batch in plan_batches:
                if should_stop and should_stop():
                    raise FinetuneCancelled("дообучение отменено; ничего не сохранено")
                loss = _batch_loss(embed, plan, batch, q_prompt, d_prompt, rng, torch)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(train_params, 1.0)
                opt.step()
                sched.step()
                step += 1
                elapsed = time.time() - t0
                history.append({"epoch": epoch, "step": step, "loss": float(loss.item())})
                if progress:
                    progress(step, total, loss=float(loss.item()), epoch=epoch, epochs=epochs,
                             eta_s=elapsed / step * (total - step))
            if validation is not None:
                score = validation.mrr(encode_eval)
                history.append({"epoch": epoch, "step": step, "val_mrr@10": score})
                if score > best[0]:
                    best = (score, epoch, _snapshot(train_params))
    finally:
        model.max_seq_length = old_len
        model.eval()
    if validation is None:
        return history, epochs
    _restore(train_params, best[2])
    return history, best[1]


def _batch_loss(embed, plan: TrainPlan, batch: list[int], q_prompt: str, d_prompt: str, rng, torch):
    qs = [plan.queries[i] for i in batch]
    docs = [plan.doc_ids[i] for i in batch]
    texts = [plan.doc_texts[i] for i in batch]
    in_batch = set(docs)
    for q in qs:       # one judged negative per query, never a document already in the batch
        cands = [n for n in plan.negatives.get(q, []) if n[0] not in in_batch]
        if cands:
            doc_id, text = cands[int(rng.integers(len(cands)))]
            docs.append(doc_id)
            texts.append(text)
            in_batch.add(doc_id)
    q_emb, d_emb = embed(qs, q_prompt), embed(texts, d_prompt)
    logits = SCALE * q_emb @ d_emb.T
    mask = torch.zeros_like(logits, dtype=torch.bool)
    for r, q in enumerate(qs):
        for c, d in enumerate(docs):
            if c != r and d in plan.positives.get(q, ()):
                mask[r, c] = True       # another relevant document of this query: not a negative
    logits = logits.masked_fill(mask, float("-inf"))
    return torch.nn.functional.cross_entropy(logits, torch.arange(len(qs), device=logits.device))


def _snapshot(params):
    return [p.detach().clone() for p in params]


def _restore(params, saved) -> None:
    import torch
    with torch.no_grad():
        for p, s in zip(params, saved):
            p.copy_(s)
