"""Weight-space ensembling (WiSE-FT, Wortsman et al. 2022): the saved model is
base + mix × (tuned − base) for every trained weight.

Why: a fine-tune on a few hundred pairs of one domain pulls the bundled e5-small away from
where it retrieves well in general. Measured (bench/finetune.py, trained on demo memes, scored
on xquad-ru questions): the full fine-tune as trained (mix 1) loses 0.071 MRR@10 there, at
mix 0.3 0.010, while on held-out memes its MRR@10 gain grows from +0.124 to +0.145 (Recall@10
+0.163 -> +0.134); the light one loses 0.043 at mix 1 and 0.009 at mix 0.5 (memes +0.129).
One training run serves any mix: nothing is retrained.
"""
from __future__ import annotations

from typing import Callable

State = dict  # parameter name -> a detached copy of its tensor


def snapshot(model, trainable: Callable[[str], bool]) -> State:
    """Copies of the weights training will move (the frozen ones stay where they are)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if trainable(n)}


def check_mix(mix: float) -> float:
    if not 0.0 < float(mix) <= 1.0:
        raise ValueError(f"доля дообучения {mix}: нужна больше 0 и не больше 1 (1 — модель как обучилась)")
    return float(mix)


def mix_into(model, base: State, mix: float) -> None:
    """In place: each snapshotted weight becomes base + mix × (current − base)."""
    import torch

    if check_mix(mix) == 1.0:
        return
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in base:
                param.copy_(base[name].to(param.device) + mix * (param - base[name].to(param.device)))
