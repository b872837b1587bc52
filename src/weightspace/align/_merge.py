"""Aligning many networks at once, and merging them.

`align_many` moves N networks onto a reference (one of them), or onto their running mean
(MergeMany: each network in turn is matched to the mean of the others until nothing changes).
`merge` is the weighted average Σ_i w_i π_i(θ_i) after aligning every network to the first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ..errors import ConfigError
from ..params import Params, combine
from ..symmetry import Spec
from ._alignment import Alignment
from ._weight_matching import weight_matching

__all__ = ["align_many", "merge"]


def align_many(
    networks: Sequence[Mapping[str, Tensor]],
    spec: Spec,
    *,
    reference: int | str = 0,
    max_rounds: int = 20,
    generator: torch.Generator | None = None,
) -> list[Alignment]:
    """One alignment per network (the reference's is the identity); `reference="mean"` runs MergeMany."""
    if len(networks) < 2:
        raise ConfigError(f"align_many needs at least two networks, got {len(networks)}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    if isinstance(reference, int):
        if not 0 <= reference < len(networks):
            raise ConfigError(f"align_many: reference index {reference} out of range 0..{len(networks) - 1}")
        ref = networks[reference]
        return [Alignment(spec.identity(), "weight") if i == reference else
                weight_matching(ref, net, spec, generator=gen) for i, net in enumerate(networks)]
    if reference != "mean":
        raise ConfigError(f"align_many: reference must be an index or 'mean', got {reference!r}")
    alignments = [Alignment(spec.identity(), "merge_many") for _ in networks]
    for _ in range(max_rounds):
        changed = False
        for i in torch.randperm(len(networks), generator=gen).tolist():
            others = [alignments[j].apply(networks[j]) for j in range(len(networks)) if j != i]
            mean = combine([1 / len(others)] * len(others), others)
            new = weight_matching(mean, networks[i], spec, generator=gen, init=alignments[i].element)
            if any(not torch.equal(new.element.actions[f].perm, alignments[i].element.actions[f].perm)
                   for f in new.element.actions):
                changed = True
            alignments[i] = Alignment(new.element, "merge_many", new.objective, new.iterations)
        if not changed:
            break
    return alignments


def merge(
    networks: Sequence[Mapping[str, Tensor]],
    spec: Spec,
    *,
    weights: Sequence[float] | None = None,
    align: bool = True,
    generator: torch.Generator | None = None,
) -> Params:
    """Σ_i w_i π_i(θ_i) with every π_i aligning network i to the first (identity with `align=False`)."""
    if len(networks) < 1:
        raise ConfigError("merge needs at least one network")
    w = list(weights) if weights is not None else [1 / len(networks)] * len(networks)
    if len(w) != len(networks):
        raise ConfigError(f"merge: {len(w)} weights for {len(networks)} networks")
    if abs(sum(w) - 1) > 1e-9 or any(x < 0 for x in w):
        raise ConfigError(f"merge: weights must be non-negative and sum to 1, got {w}")
    aligned = [dict(networks[0])]
    for net in networks[1:]:
        aligned.append(weight_matching(networks[0], net, spec, generator=generator).apply(net) if align else dict(net))
    return combine(w, aligned)
