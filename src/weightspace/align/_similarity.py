"""Unit-by-unit similarity matrices read off the spec's table: S[i, j] = Σ ⟨A[..i..], B[..j..]⟩."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ..symmetry import GroupElement, Spec
from ..symmetry._units import unit_matrix

__all__ = ["unit_matrix", "factor_similarity", "SimilarityCache", "without", "objective"]


def without(element: GroupElement, names: set[str]) -> GroupElement:
    """`element` with the factors in `names` reset to the identity."""
    ident = element.spec.identity()
    return GroupElement(element.spec, {k: (ident.actions[k] if k in names else a) for k, a in element.actions.items()})


def _terms(spec: Spec, name: str, pairs, others: GroupElement, child: str | None, skip: frozenset[str]):
    """The (U_A, U_B) unit-matrix pairs whose products Σ U_A U_Bᵀ make up factor `name`'s similarity."""
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
                tb = others._apply_tensor(key, b[key])
                yield unit_matrix(a[key], axis, seg, lead), unit_matrix(tb, axis, seg, lead)


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
    for ua, ub in _terms(spec, name, pairs, others, child, skip):
        m = (ua @ ub.T).to(torch.float64)  # products in the networks' own precision, accumulated in float64
        s = m if s is None else s + m
    return s


class SimilarityCache:
    """Factor similarities kept between the sweeps of one weight matching, updated where B moved.

    S = Σ_terms U_A U_Bᵀ, and another factor's permutation moves only some columns of each U_B (those
    of its units that changed), so S_new = S_old + Σ U_A[:, m] (U_B,new[:, m] − U_B,old[:, m])ᵀ over the
    changed columns m (products in the networks' precision, accumulated in float64). Past `max_fraction`
    of the columns changed, S is recomputed.
    `products` counts full recomputations, `updates` low-rank ones, `reused` unchanged returns.
    """

    def __init__(self, max_fraction: float = 0.25) -> None:
        self.max_fraction = max_fraction
        self._kept: dict[str, tuple[Tensor, list[Tensor]]] = {}
        self.stats = {"products": 0, "updates": 0, "reused": 0}

    def __call__(self, spec: Spec, name: str, pairs, others: GroupElement) -> Tensor | None:
        terms = list(_terms(spec, name, pairs, others, None, frozenset()))
        kept = self._kept.get(name)
        if kept is not None and len(kept[1]) == len(terms):
            s, old = kept
            moved = [(ub != ob).any(dim=0) for (_, ub), ob in zip(terms, old, strict=True)]  # (cols,) per term
            changed = sum(int(m.sum()) for m in moved)
            if changed <= self.max_fraction * sum(len(m) for m in moved):
                if changed == 0:
                    self.stats["reused"] += 1
                    return s
                s = s.clone()
                for (ua, ub), ob, m in zip(terms, old, moved, strict=True):
                    if bool(m.any()):
                        s += (ua[:, m] @ (ub[:, m] - ob[:, m]).T).to(torch.float64)
                self.stats["updates"] += 1
                self._kept[name] = (s, [ub for _, ub in terms])
                return s
        s = None
        for ua, ub in terms:
            m = (ua @ ub.T).to(torch.float64)
            s = m if s is None else s + m
        self.stats["products"] += 1
        if s is not None:
            self._kept[name] = (s, [ub for _, ub in terms])
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
