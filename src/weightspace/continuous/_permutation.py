"""Permutations connect the components of a deep linear minimum (width h >= 2).

A permutation matrix Π of a hidden factor i acts like any g ∈ GL_h: P_i ↦ Π P_i, so an odd permutation
(det Π = −1, e.g. swapping units 0 and 1) flips exactly label coordinate i while keeping the function.
To join minima θ_a and θ_b of different labels, swap two units of every factor whose label coordinates
differ: Π·θ_a computes the same function and carries θ_b's label, so a zero-loss path in GL⁺
(`group_path`) leads on to θ_b. Modulo permutations the minimum is connected; without them any path
passes a singular partial product and leaves the minimum (see `singular_loss_floor`). At width 1 there is
no odd permutation and the components stay apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import SymmetryError
from ..params import Params
from ..symmetry import FactorAction, GroupElement, Spec
from ._linear import GroupPath, component_label, group_path, linear_layers

__all__ = ["PermutationConnection", "permutation_connection"]


@dataclass(frozen=True, repr=False)
class PermutationConnection:
    """θ_a —Π→ Π·θ_a (same function, θ_b's component) —`path`→ θ_b at zero loss."""

    label_a: tuple[int, ...]
    label_b: tuple[int, ...]
    swapped: tuple[str, ...]
    permutation: GroupElement
    permuted: Params
    path: GroupPath

    def __repr__(self) -> str:
        return (f"PermutationConnection({self.label_a} -> {self.label_b}, odd permutations on "
                f"{list(self.swapped)})")


def permutation_connection(params_a: Mapping[str, Tensor], params_b: Mapping[str, Tensor],
                           spec: Spec) -> PermutationConnection:
    """Swap units 0 and 1 of each hidden factor whose label differs, then a zero-loss path in GL⁺ to θ_b.

    Raises:
      SymmetryError: width 1 (no odd permutation exists), or the minima compute different maps.
    """
    la, lb = component_label(params_a), component_label(params_b)
    layers = linear_layers(params_a)
    hidden = [f for f in spec.factors if "gl" in f.kinds and f.parent is None]
    if len(hidden) != len(layers) - 1:
        raise SymmetryError(f"permutation_connection: expected {len(layers) - 1} hidden GL factors in the spec, "
                            f"found {[f.name for f in hidden]}")
    actions = dict(spec.identity().actions)
    swapped = []
    for i, f in enumerate(hidden):
        if la[i] == lb[i]:
            continue
        if f.size < 2:
            raise SymmetryError(f"permutation_connection: factor {f.name!r} has one unit, so no odd permutation "
                                f"exists; at width 1 the components are not connected by permutations")
        perm = torch.arange(f.size)
        perm[0], perm[1] = 1, 0
        actions[f.name] = FactorAction(perm)
        swapped.append(f.name)
    element = GroupElement(spec, actions)
    permuted = element.apply(params_a)
    return PermutationConnection(la, lb, tuple(swapped), element, permuted, group_path(permuted, params_b))
