"""Permutations removed against a reference: per-unit cosine, or the project's weight matching.

Both networks are first brought to canonical scale. "cosine" (Pittorino et al.), layer by layer from the
input: for each permutation factor, S[i, j] = Σ_spheres ⟨u_i^A, u_j^B⟩ over the spheres whose rows are its
units (its incoming vectors, the filters of the convolutions producing it), B's earlier layers already
permuted; the assignment maximising Σ_i S[i, π(i)] is applied. Binary networks are matched on |S| and
unit i of B flipped by sign(S[i, π(i)]) (a sign-aware cosine). "weight": `weight_matching` (Git Re-Basin)
on the canonical forms (real-valued networks only).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ..align import solve, weight_matching
from ..errors import ConfigError
from ..params import Params, check_same_structure
from ..symmetry import FactorAction, GroupElement
from ._canonical import canonical_scale
from ._structure import Quotient, quotient_of

__all__ = ["METHODS", "align_to"]

METHODS = ("cosine", "weight")


def _method(method: str | None, quotient: Quotient) -> str:
    if method is None:
        return "cosine" if quotient.binary else "weight"
    if method not in METHODS:
        raise ConfigError(f"align_to: method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "weight" and quotient.binary:
        raise ConfigError("align_to: binary networks are aligned with method='cosine' (sign-aware); weight "
                          "matching does not flip signs")
    return method


def _cosine(ref: Params, other: Params, quotient: Quotient) -> Params:
    spec = quotient.spec
    for f in spec.permutation_factors:
        s = sum(sp.matrix(ref).to(torch.float64) @ sp.matrix(other).to(torch.float64).T
                for sp in quotient.spheres if sp.factor == f.name)  # (n, n)
        perm = solve(s.abs() if quotient.binary else s).cpu()
        actions = dict(spec.identity().actions)
        coeff = None
        if quotient.binary:
            coeff = torch.where(s[torch.arange(f.size), perm] < 0, -1.0, 1.0).to(torch.float64)
        actions[f.name] = FactorAction(perm, coeff)
        other = GroupElement(spec, actions).apply(other)
    return other


def align_to(model: nn.Module, params: Mapping[str, Tensor], reference: Mapping[str, Tensor], *,
             method: str | None = None, quotient: Quotient | None = None) -> tuple[Params, Params]:
    """(reference, params) at canonical scale, `params` permuted (and, binary, sign-flipped) onto `reference`.

    Args:
      method: "cosine" (layer by layer, per-unit cosine) or "weight" (weight matching); default "weight",
        and "cosine" for binary networks.
    Returns:
      the reference's and the aligned network's canonical-scale state dicts (the reference's order kept).
    """
    quotient = quotient if quotient is not None else quotient_of(model)
    method = _method(method, quotient)
    check_same_structure(reference, params, what="the reference and the network to align")
    ref = canonical_scale(model, reference, quotient=quotient)
    other = canonical_scale(model, params, quotient=quotient)
    if method == "cosine":
        return ref, _cosine(ref, other, quotient)
    return ref, weight_matching(ref, other, quotient.spec).apply(other)
