"""Iterative magnitude pruning (IMP) with rewinding.

Level 0 trains the dense network from θ_k, the weights after a short warm-up of `rewind_epochs`.
Each next level removes the `rate` fraction of the remaining weights with the smallest magnitude
(global over every weight matrix and convolution kernel; biases and normalisation parameters are
never pruned), rewinds the survivors to θ_k and retrains with the mask held fixed. Level `l` is
written to `out/level-LL/` as an ordinary run directory whose checkpoints carry the masks.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import Tensor

from .data import Dataset
from .data import load as load_data
from .errors import ConfigError
from .params import Params
from .train import TrainResult, train

__all__ = ["magnitude_masks", "imp"]


def magnitude_masks(params: Mapping[str, Tensor], masks: Mapping[str, Tensor] | None, rate: float) -> Params:
    """Remove the `rate` fraction of surviving prunable weights with the smallest |θ| (one global threshold)."""
    if not 0 < rate < 1:
        raise ConfigError(f"pruning rate must be in (0, 1), got {rate}")
    keys = [k for k, v in params.items() if k.endswith("weight") and v.ndim >= 2]
    masks = {k: (masks[k] if masks and k in masks else torch.ones_like(params[k])) for k in keys}
    alive = torch.cat([params[k].abs()[masks[k] > 0].flatten() for k in keys])
    n_prune = int(rate * alive.numel())
    if n_prune == 0:
        return {k: m.clone() for k, m in masks.items()}
    threshold = alive.kthvalue(n_prune).values
    return {k: ((params[k].abs() > threshold) & (masks[k] > 0)).to(params[k].dtype) for k in keys}


def imp(
    config: dict,
    data: str | Dataset,
    *,
    levels: int = 4,
    rate: float = 0.2,
    rewind_epochs: int = 1,
    epochs: int = 20,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    callback: Callable[[str, dict], None] | None = None,
    **train_kwargs,
) -> list[TrainResult]:
    """Train `levels` + 1 networks of increasing sparsity, each rewound to the warm-up weights θ_k."""
    if levels < 0 or rewind_epochs < 1:
        raise ConfigError("imp: levels must be >= 0 and rewind_epochs >= 1")
    dataset = load_data(data) if isinstance(data, str) else data
    root = Path(out) if out is not None else None

    def report(label):
        return (lambda e: callback(label, e)) if callback is not None else None

    warm = train(config, dataset, epochs=rewind_epochs, seed=seed, callback=report("warm-up"), **train_kwargs)
    rewind = copy.deepcopy(warm.model.state_dict())
    results: list[TrainResult] = []
    masks = None
    for level in range(levels + 1):
        if level > 0:
            masks = magnitude_masks(dict(results[-1].model.named_parameters()), masks, rate)
        module = copy.deepcopy(warm.model)
        module.load_state_dict(rewind)
        run_dir = root / f"level-{level:02d}" if root is not None else None
        r = train(module, dataset, epochs=epochs, seed=seed, out=run_dir, masks=masks,
                  callback=report(f"level {level}"), **train_kwargs)
        results.append(r)
    return results
