"""Encode with the torch twin exactly as e5.c does, long texts included: no truncation; content
split into windows of MAXP - 2 tokens, each run as <s> window </s>, mean-pooled over its tokens,
and the windows averaged weighted by their content length, then L2-normalised.

(A sentence-transformers folder truncates at 512 tokens instead, as every such model does; the
two agree on every text that fits, which is 95% of real posts.)
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def encode_like_engine(bert, tokenizer, texts: Sequence[str], prefix: str, *, bos: int, eos: int, pad: int,
                       maxp: int = 512, batch_size: int = 32) -> np.ndarray:
    """bert: transformers BertModel; tokenizer: tokenizers.Tokenizer from core.models.twin.tokenizer."""
    import torch

    texts = list(texts)
    dim = bert.config.hidden_size
    if not texts:
        return np.zeros((0, dim), np.float32)
    width = maxp - 2
    windows: list[tuple[int, list[int]]] = []          # (text index, content ids)
    for i, enc in enumerate(tokenizer.encode_batch([prefix + t for t in texts], add_special_tokens=False)):
        ids = enc.ids
        windows += [(i, ids[a:a + width]) for a in range(0, max(len(ids), 1), width)]
    sums = np.zeros((len(texts), dim), np.float64)
    weights = np.zeros(len(texts), np.float64)
    device = next(bert.parameters()).device
    order = sorted(range(len(windows)), key=lambda w: len(windows[w][1]))     # less padding per batch
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = [windows[w] for w in order[start:start + batch_size]]
            seqs = [[bos, *ids, eos] for _, ids in chunk]
            n = max(len(x) for x in seqs)
            ids = torch.full((len(seqs), n), pad, dtype=torch.long)
            mask = torch.zeros((len(seqs), n), dtype=torch.long)
            for r, x in enumerate(seqs):
                ids[r, :len(x)] = torch.tensor(x)
                mask[r, :len(x)] = 1
            hidden = bert(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
            m = mask.to(device).unsqueeze(-1).to(hidden.dtype)
            mean = ((hidden * m).sum(1) / m.sum(1)).double().cpu().numpy()
            for (i, content), v in zip(chunk, mean):
                w = max(len(content), 1)
                sums[i] += w * v
                weights[i] += w
    out = sums / weights[:, None]
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out.astype(np.float32)
