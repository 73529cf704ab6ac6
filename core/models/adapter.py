"""A low-rank query adapter on top of any frozen encoder.

    q' = normalise(q + U (V^T q))         U, V: (dim, rank); U starts at 0, so q' = q at init

Only query vectors move; passage vectors stay the base encoder's, so a corpus embedded and
cached under the base model is reused as is and nothing is re-embedded (`passage_id` names
the cache those vectors live in). Training uses the same in-batch-negatives loss as
sentence-transformers' MultipleNegativesRankingLoss (InfoNCE, temperature 0.05 = scale 20),
with three brakes against the overfitting measured in DESIGN.md (a plain linear adapter on
~380 pairs: train Recall@10 0.99, held-out +0.01): a small rank, an L2 penalty on U V^T
(i.e. toward the identity map), and early stopping on a validation slice of the *training*
pairs. The identity (epoch 0) competes in that early stopping, so an adapter that never
beats the base model on the validation slice comes back as the identity.

Weights are a plain .npz (U, V, metadata as JSON text) read with allow_pickle=False.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from core.atomic import atomic_write
from core.models.encoders import Encoder, EncoderLoadError, Kind, l2_normalise

FORMAT = "vecscope-adapter/1"


# --------------------------------------------------------------------------- weights


@dataclass
class AdapterWeights:
    U: np.ndarray                      # (dim, rank) float32
    V: np.ndarray                      # (dim, rank) float32
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.U.shape[0])

    @property
    def rank(self) -> int:
        return int(self.U.shape[1])

    @classmethod
    def identity(cls, dim: int, rank: int = 16, seed: int = 0) -> "AdapterWeights":
        """U = 0 (the map is exactly the identity), V random so gradients reach U at once."""
        rng = np.random.default_rng(seed)
        V = rng.normal(0.0, 1.0 / np.sqrt(dim), size=(dim, rank)).astype(np.float32)
        return cls(np.zeros((dim, rank), np.float32), V, {})

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(n, dim) vectors -> adapted, L2-normalised (n, dim) float32."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"adapter expects vectors of dim {self.dim}, got shape {x.shape}")
        return l2_normalise(x + (x @ self.V) @ self.U.T)

    def save(self, path: str | Path) -> Path:
        """Write atomically (temp file + rename), so a reader never sees half a file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "dim": self.dim, "rank": self.rank, **self.meta}
        return atomic_write(path, lambda fh: np.savez(
            fh, U=self.U.astype(np.float32), V=self.V.astype(np.float32),
            meta=np.array(json.dumps(meta, ensure_ascii=False, sort_keys=True))))

    @classmethod
    def load(cls, path: str | Path) -> "AdapterWeights":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                U, V, meta = z["U"], z["V"], json.loads(str(z["meta"]))
        except (OSError, KeyError, ValueError) as exc:
            raise EncoderLoadError(f"adapter weights {path} cannot be read ({exc}).") from exc
        if meta.get("format") != FORMAT or U.shape != V.shape or U.ndim != 2:
            raise EncoderLoadError(f"adapter weights {path} are not a {FORMAT} file.")
        return cls(U.astype(np.float32), V.astype(np.float32), meta)


def file_sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------- encoder


class AdapterEncoder:
    """An Encoder: the base encoder's vectors, queries passed through the adapter."""

    def __init__(self, base: Encoder, weights_path: str | Path) -> None:
        self.base = base
        self.weights_path = Path(weights_path)
        self.weights = AdapterWeights.load(self.weights_path)
        if self.weights.dim != base.dim:
            raise EncoderLoadError(f"adapter {self.weights_path.name} was trained for {self.weights.dim}-d "
                                   f"vectors, but base model {base.id} gives {base.dim}-d.")
        self.id = f"{base.id}+adapter:{file_sha(self.weights_path)[:12]}"
        self.dim = base.dim
        # Passages are the base model's vectors: cache and reuse them under the base id.
        self.passage_id = getattr(base, "passage_id", base.id)
        trained_on = self.weights.meta.get("base_id")
        self.notice = base.notice or (
            f"This adapter was trained on {trained_on}, but runs on {base.id}; its scores may differ."
            if trained_on and trained_on != base.id else "")

    def encode(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        return self.from_base(self.base.encode(texts, kind), kind)

    def from_base(self, base_vecs: np.ndarray, kind: Kind) -> np.ndarray:
        """This encoder's vectors from the base encoder's (e.g. cached) vectors of the same texts."""
        if kind != "query" or len(base_vecs) == 0:
            return base_vecs   # exactly the base vectors: the same as those cached under passage_id
        return self.weights.apply(l2_normalise(base_vecs))


# --------------------------------------------------------------------------- training


def _row_index(doc_vecs: np.ndarray, pos_vecs: np.ndarray) -> np.ndarray:
    """Position in doc_vecs of each row of pos_vecs (exact byte match)."""
    where = {row.tobytes(): i for i, row in enumerate(np.ascontiguousarray(doc_vecs, np.float32))}
    idx = np.array([where.get(row.tobytes(), -1) for row in np.ascontiguousarray(pos_vecs, np.float32)])
    if (idx < 0).any():
        raise ValueError(f"{int((idx < 0).sum())} positive vector(s) are not rows of doc_vecs")
    return idx


def _split_val(groups: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train/validation row masks; rows of one group (same query vector) stay together."""
    uniq = np.unique(groups)
    rng = np.random.default_rng(seed)
    n_val = int(round(len(uniq) * val_fraction)) if val_fraction > 0 else 0
    n_val = min(n_val, len(uniq) - 1)
    val_groups = rng.permutation(uniq)[:n_val] if n_val > 0 else uniq[:0]
    val = np.isin(groups, val_groups)
    return ~val, val


def _ranks(q: np.ndarray, docs: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """1-based rank of each query's positive among all docs (ties count against it)."""
    sims = q @ docs.T
    own = sims[np.arange(len(q)), pos][:, None]
    return (sims > own).sum(axis=1) + 1


def retrieval_scores(q: np.ndarray, docs: np.ndarray, pos: np.ndarray, k: int = 10) -> dict[str, float]:
    if len(q) == 0:
        return {"mrr@10": float("nan"), "recall@10": float("nan")}
    r = _ranks(q, docs, pos)
    return {"mrr@10": float(np.where(r <= k, 1.0 / r, 0.0).mean()), "recall@10": float((r <= k).mean())}


def train_adapter(
    q_vecs: np.ndarray,
    pos_doc_vecs: np.ndarray,
    *,
    doc_vecs: np.ndarray | None = None,
    pos_index: np.ndarray | None = None,
    val_fraction: float = 0.2,
    epochs: int = 100,
    lr: float = 3e-3,
    rank: int = 16,
    temperature: float = 0.05,
    l2: float = 0.1,
    batch_size: int = 64,
    negatives: str = "batch",
    patience: int = 10,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[AdapterWeights, list[dict[str, float]]]:
    """Train a query adapter on (query vector, positive doc vector) pairs.

    `doc_vecs` is the candidate set (the whole corpus); without it, the distinct positives are.
    `pos_index[i]` is the row of doc_vecs that is pair i's positive (found by value if omitted).
    negatives="batch": the loss is InfoNCE over the batch's positives (MultipleNegativesRanking-
    Loss; a doc that is the positive of two queries in a batch is not a negative for either).
    negatives="corpus": the softmax runs over every candidate doc (exact with cached corpus
    vectors and cheap, because only queries pass through the adapter).
    A slice of `val_fraction` of the training queries is held out for early stopping on MRR@10
    over the candidates; the best epoch (epoch 0 = identity included) is returned.
    Returns (weights, history: one dict per epoch).
    """
    import torch

    # The matrices are small: one thread is as fast, and several threads spin-wait badly when
    # the CPU is shared (measured 1 s vs 15-45 s per run next to another busy process).
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(q_vecs, pos_doc_vecs, doc_vecs=doc_vecs, pos_index=pos_index,
                      val_fraction=val_fraction, epochs=epochs,
                      lr=lr, rank=rank, temperature=temperature, l2=l2, batch_size=batch_size,
                      negatives=negatives, patience=patience, seed=seed, progress=progress,
                      should_stop=should_stop)
    finally:
        torch.set_num_threads(previous)


def _train(q_vecs, pos_doc_vecs, *, doc_vecs, pos_index, val_fraction, epochs, lr, rank, temperature, l2,
           batch_size, negatives, patience, seed, progress, should_stop):
    import torch

    q_vecs = l2_normalise(q_vecs)
    pos_doc_vecs = l2_normalise(pos_doc_vecs)
    if len(q_vecs) != len(pos_doc_vecs) or len(q_vecs) < 2:
        raise ValueError(f"need >= 2 (query, doc) pairs of equal count, got {len(q_vecs)} and {len(pos_doc_vecs)}")
    if negatives not in ("batch", "corpus"):
        raise ValueError(f"negatives must be 'batch' or 'corpus', got {negatives!r}")
    if doc_vecs is None:
        doc_vecs, pos = np.unique(pos_doc_vecs, axis=0, return_inverse=True)
        pos = pos.ravel()
    else:
        doc_vecs = l2_normalise(doc_vecs)
        pos = _row_index(doc_vecs, pos_doc_vecs) if pos_index is None else np.asarray(pos_index, np.int64)
        if len(pos) != len(q_vecs) or pos.min() < 0 or pos.max() >= len(doc_vecs):
            raise ValueError("pos_index must give one row of doc_vecs per pair")
    dim = q_vecs.shape[1]
    _, qgroup = np.unique(q_vecs, axis=0, return_inverse=True)
    tr, va = _split_val(qgroup.ravel(), val_fraction, seed)

    torch.manual_seed(seed)
    init = AdapterWeights.identity(dim, rank, seed)
    U = torch.tensor(init.U, requires_grad=True)
    V = torch.tensor(init.V, requires_grad=True)
    opt = torch.optim.Adam([U, V], lr=lr)
    Q = torch.from_numpy(q_vecs)
    D = torch.from_numpy(np.ascontiguousarray(doc_vecs))
    P = torch.from_numpy(pos.astype(np.int64))
    tr_idx = np.flatnonzero(tr)
    scale = 1.0 / temperature

    def adapt(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(x + (x @ V) @ U.T, dim=1)

    def info_nce(idx: np.ndarray) -> torch.Tensor:
        qa = adapt(Q[idx])
        p = P[idx]
        if negatives == "corpus":
            return torch.nn.functional.cross_entropy(qa @ D.T * scale, p)
        logits = qa @ D[p].T * scale
        dup = (p[:, None] == p[None, :]) & ~torch.eye(len(idx), dtype=torch.bool)
        return torch.nn.functional.cross_entropy(logits.masked_fill(dup, float("-inf")), torch.arange(len(idx)))

    def snapshot(epoch: int, train_loss: float) -> dict[str, float]:
        with torch.no_grad():
            qa = adapt(Q).numpy()
            held = va if va.any() else tr      # no validation slice: select on the training pairs
            val = retrieval_scores(qa[held], doc_vecs, pos[held])
            trn = retrieval_scores(qa[tr], doc_vecs, pos[tr])
            shift = float(((U.T @ U) * (V.T @ V)).sum().sqrt())
        return {"epoch": epoch, "train_loss": train_loss, "train_recall@10": trn["recall@10"],
                "val_mrr@10": val["mrr@10"], "val_recall@10": val["recall@10"], "delta_norm": shift}

    with torch.no_grad():
        base_loss = float(info_nce(tr_idx))
    history = [snapshot(0, base_loss)]
    best = (history[0]["val_mrr@10"], 0, U.detach().clone(), V.detach().clone())
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        if should_stop and should_stop():
            break
        order = rng.permutation(tr_idx)
        losses = []
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            if len(idx) < 2:
                continue
            loss = info_nce(idx)
            penalty = ((U.T @ U) * (V.T @ V)).sum()    # ||U V^T||_F^2: distance from identity
            opt.zero_grad()
            (loss + l2 * penalty).backward()
            opt.step()
            losses.append(loss.item())
        history.append(snapshot(epoch, float(np.mean(losses)) if losses else float("nan")))
        if progress:
            progress(epoch, epochs)
        if history[-1]["val_mrr@10"] > best[0] + 1e-9:
            best = (history[-1]["val_mrr@10"], epoch, U.detach().clone(), V.detach().clone())
        elif epoch - best[1] >= patience:
            break

    _, best_epoch, bU, bV = best
    weights = AdapterWeights(bU.numpy().astype(np.float32), bV.numpy().astype(np.float32), {
        "best_epoch": best_epoch, "epochs_run": history[-1]["epoch"], "rank": rank, "lr": lr,
        "l2": l2, "temperature": temperature, "negatives": negatives, "val_fraction": val_fraction,
        "batch_size": batch_size, "seed": seed, "n_train": int(tr.sum()), "n_val": int(va.sum()),
        "val_mrr@10_base": history[0]["val_mrr@10"], "val_mrr@10_best": history[best_epoch]["val_mrr@10"],
    })
    return weights, history
