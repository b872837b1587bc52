"""Learned matching (Git Re-Basin's straight-through estimator).

A free copy θ̃ (started at θ_A) is trained so that the midpoint ½(θ_A + π(θ_B)) has low loss, where
π = weight_matching(θ̃, θ_B) is recomputed every step (warm-started): the forward pass uses the hard
permutation π(θ_B), the backward pass treats it as θ̃ (straight-through). The last π is returned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from ..data import to_model
from ..errors import ConfigError, DataError
from ..evaluate import criterion, eval_mode
from ..params import forward
from ..symmetry import Spec
from ._alignment import Alignment
from ._weight_matching import as_pairs, weight_matching

__all__ = ["learned_matching"]


def learned_matching(
    model: nn.Module,
    reference: Mapping[str, Tensor],
    other: Mapping[str, Tensor],
    inputs: Tensor,
    targets: Tensor,
    task: str | None,
    spec: Spec,
    *,
    steps: int = 200,
    batch_size: int = 128,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    callback: Callable[[dict], None] | None = None,
) -> Alignment:
    """Permutation of `other` learned by minimising the midpoint loss with the straight-through estimator."""
    as_pairs(reference, other)
    if len(inputs) == 0:
        raise DataError("learned matching needs data: the training set is empty")
    if steps < 1 or batch_size < 1:
        raise ConfigError("learned matching: steps and batch_size must be positive")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    keys = [k for k, v in reference.items() if v.is_floating_point() and k in dict(model.named_parameters())]
    free = {k: reference[k].detach().clone().requires_grad_(True) for k in keys}
    opt = torch.optim.Adam(free.values(), lr=lr)
    alignment = weight_matching(reference, other, spec, generator=gen)
    with eval_mode(model):
        for step in range(steps):
            current = {**reference, **{k: v.detach() for k, v in free.items()}}
            alignment = weight_matching(current, other, spec, generator=gen, init=alignment.element)
            projected = alignment.apply(other)
            mid = dict(projected)
            for k in keys:
                ste = free[k] + (projected[k] - free[k]).detach()  # forward: π(θ_B); backward: θ̃
                mid[k] = 0.5 * (reference[k] + ste)
            for k in reference:
                if k not in keys:
                    mid[k] = reference[k]
            idx = torch.randint(0, len(inputs), (batch_size,), generator=gen)
            ref = reference[keys[0]]
            y = targets[idx].to(ref.device)
            loss = criterion(task, forward(model, mid, to_model(inputs[idx], ref)),
                             to_model(y, ref))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if callback is not None:
                callback({"step": step + 1, "total_steps": steps, "loss": float(loss)})
    current = {**reference, **{k: v.detach() for k, v in free.items()}}
    final = weight_matching(current, other, spec, generator=gen, init=alignment.element)
    return Alignment(final.element, method="ste", objective=final.objective, iterations=steps)
