"""Unit-by-unit similarity matrices read off the spec's table: S[i, j] = Σ ⟨A[..i..], B[..j..]⟩."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ..symmetry import GroupElement, Spec
from ..symmetry._units import unit_matrix

__all__ = ["unit_matrix", "factor_similarity", "without", "objective"]


def without(element: GroupElement, names: set[str]) -> GroupElement:
    """`element` with the factors in `names` reset to the identity."""
    ident = element.spec.identity()
    return GroupElement(element.spec, {k: (ident.actions[k] if k in names else a) for k, a in element.actions.items()})


def factor_similarity(
    spec: Spec,
    name: str,
    pairs: Sequence[tuple[Mapping[str, Tensor], Mapping[str, Tensor]]],
    others: GroupElement,
    *,
    child: str | None = None,
    skip: frozenset[str] = frozenset(),
) -> Tensor:
    """S (n × n) for factor `name` — or, with `child`, over its (unit, child dim) pairs — summed over pairs.

    B's other axes are first moved by `others` (whose action on `name` is the identity); tensors
    touched by a factor in `skip` (not yet matched) do not contribute.
    """
    s = None
    for key, axis in spec.factor(name).axes:
        if skip and any(p.factor in skip for e in spec.table[key] if e for seg in e for p in seg.pieces):
            continue
        for seg in spec.table[key][axis]:
            names = [p.factor for p in seg.pieces]
            if name not in names:
                continue
            i = names.index(name)
            if child is None:
                if i + 1 < len(names) and names[i + 1] is not None and spec.factor(names[i + 1]).parent == name:
                    continue  # head blocks are matched through their children
                lead = (i,)
            else:
                if i + 1 >= len(names) or names[i + 1] != child:
                    continue
                lead = (i, i + 1)
            for a, b in pairs:
                ta, tb = a[key], others._apply_tensor(key, b[key])
                # products in the networks' own precision, accumulated in float64
                m = (unit_matrix(ta, axis, seg, lead) @ unit_matrix(tb, axis, seg, lead).T).to(torch.float64)
                s = m if s is None else s + m
    return s


def objective(pairs, element: GroupElement) -> float:
    """Σ_pairs Σ_tensors ⟨A, g(B)⟩ over the tensors the permutation factors act on."""
    spec = element.spec
    keys = sorted({k for f in spec.factors for k, _ in f.axes})
    total = 0.0
    for a, b in pairs:
        for k in keys:
            if a[k].is_floating_point():
                total += float((a[k].to(torch.float64) * element._apply_tensor(k, b[k]).to(torch.float64)).sum())
    return total
