"""Group elements: per factor a monomial matrix M = diag(c) P (or a dense GL matrix), acting on state dicts.

On an axis piece owned by a factor with power p, T'[i] = c_i^p · T[π(i)]; with a dense matrix G,
p = +1 gives T' = G T and p = −1 gives T' = T G⁻¹ along that axis. Composition `g.compose(h)` is
"apply h, then g"; every state-dict tensor is transformed by the tensor product of its axes' maps.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ..errors import SymmetryError

if TYPE_CHECKING:
    from ._spec import Factor, Spec

__all__ = ["KINDS", "FactorAction", "GroupElement", "sample", "identity"]

KINDS = ("permutation", "scale", "sign", "gl")


def _is_bijection(perm: Tensor) -> bool:
    """Every row of `perm` is a permutation of 0..n−1 (n = its last dimension)."""
    n = perm.shape[-1]
    return torch.equal(perm.sort(dim=-1).values, torch.arange(n, device=perm.device).expand_as(perm))


@dataclass(frozen=True, repr=False)
class FactorAction:
    """The action on one factor: `perm` (n,) — or (parent size, n) for head dims —, coefficients or a matrix.

    Checked when built: every row of `perm` is a bijection of 0..n−1; `coeff` (n,) is finite and
    nonzero; `matrix` (n, n) is finite and invertible.
    """

    perm: Tensor
    coeff: Tensor | None = None
    matrix: Tensor | None = None

    def __post_init__(self) -> None:
        p = self.perm
        if not isinstance(p, Tensor) or p.dtype == torch.bool or p.is_floating_point() or p.is_complex():
            got = p.dtype if isinstance(p, Tensor) else type(p).__name__
            raise SymmetryError(f"FactorAction: perm must be an integer tensor, got {got}")
        if p.dim() not in (1, 2) or p.shape[-1] == 0:
            raise SymmetryError(f"FactorAction: perm must have shape (n,) or (heads, n), got {tuple(p.shape)}")
        if not _is_bijection(p):
            raise SymmetryError(f"FactorAction: perm is not a bijection of 0..{p.shape[-1] - 1}: {_short(p)}")
        n = p.shape[-1]
        if self.coeff is not None:
            c = self.coeff
            if not isinstance(c, Tensor) or not c.is_floating_point() or tuple(c.shape) != (n,) or p.dim() != 1:
                got = tuple(c.shape) if isinstance(c, Tensor) else type(c).__name__
                raise SymmetryError(f"FactorAction: coefficients must be a float tensor of shape ({n},), got {got}")
            if not bool(torch.isfinite(c).all()) or bool((c == 0).any()):
                raise SymmetryError(f"FactorAction: coefficients must be finite and nonzero, got {_short(c)}")
        if self.matrix is not None:
            m = self.matrix
            if not isinstance(m, Tensor) or not m.is_floating_point() or tuple(m.shape) != (n, n) or p.dim() != 1:
                got = tuple(m.shape) if isinstance(m, Tensor) else type(m).__name__
                raise SymmetryError(f"FactorAction: the GL matrix must be a float tensor of shape ({n}, {n}), "
                                    f"got {got}")
            if not bool(torch.isfinite(m).all()):
                raise SymmetryError("FactorAction: the GL matrix has NaN or infinite entries")
            sv = torch.linalg.svdvals(m.to(torch.float64))
            if float(sv[-1]) <= n * torch.finfo(m.dtype).eps * float(sv[0]):
                raise SymmetryError(f"FactorAction: the GL matrix is singular (singular values {float(sv[0]):.3g} "
                                    f"to {float(sv[-1]):.3g})")

    @property
    def label(self) -> str:
        """What this action does: "gl", "perm", "scale", "sign", products like "perm×scale", or "identity"."""
        if self.matrix is not None:
            return "gl"
        parts = []
        if not torch.equal(self.perm, torch.arange(self.perm.shape[-1], device=self.perm.device).expand_as(self.perm)):
            parts.append("perm")
        if self.coeff is not None:
            if bool((self.coeff.abs() != 1).any()):
                parts.append("scale")
            elif bool((self.coeff < 0).any()):
                parts.append("sign")
        return "×".join(parts) or "identity"

    def __repr__(self) -> str:
        return f"FactorAction({'×'.join(str(s) for s in self.perm.shape)}: {self.label})"

    def dense(self) -> Tensor:
        """M with M[i, π(i)] = c_i (float64)."""
        if self.matrix is not None:
            return self.matrix
        n = self.perm.shape[-1]
        m = torch.zeros(n, n, dtype=torch.float64)
        c = self.coeff if self.coeff is not None else torch.ones(n, dtype=torch.float64)
        m[torch.arange(n), self.perm] = c
        return m


def _compose_monomial(a: FactorAction, b: FactorAction) -> FactorAction:
    if a.matrix is not None or b.matrix is not None:
        return FactorAction(torch.arange(a.perm.shape[-1]), matrix=a.dense() @ b.dense())
    perm = b.perm[a.perm]
    if a.coeff is None and b.coeff is None:
        return FactorAction(perm)
    ca = a.coeff if a.coeff is not None else torch.ones(len(perm), dtype=torch.float64)
    cb = b.coeff if b.coeff is not None else torch.ones(len(perm), dtype=torch.float64)
    return FactorAction(perm, ca * cb[a.perm])


def _invert_monomial(a: FactorAction) -> FactorAction:
    if a.matrix is not None:
        return FactorAction(a.perm, matrix=torch.linalg.inv(a.matrix))
    inv = torch.argsort(a.perm)
    return FactorAction(inv, None if a.coeff is None else 1.0 / a.coeff[inv])


def _short(t: Tensor, k: int = 6) -> str:
    flat = t.reshape(-1).tolist()
    return str(flat[:k])[:-1] + (", ...]" if len(flat) > k else "]")


def _check_action(f: Factor, a: FactorAction, parent_size: int | None) -> None:
    """Refuse an action that is not an element of factor `f`'s group (one line naming the factor)."""
    where = f"GroupElement: factor {f.name!r}"
    if not isinstance(a, FactorAction):
        raise SymmetryError(f"{where}: expected a FactorAction, got {type(a).__name__}")
    want = (f.size,) if parent_size is None else (parent_size, f.size)
    if tuple(a.perm.shape) != want:
        raise SymmetryError(f"{where}: perm has shape {tuple(a.perm.shape)}, expected {want}")
    if "permutation" not in f.kinds and a.matrix is None and not torch.equal(
            a.perm, torch.arange(f.size, device=a.perm.device).expand_as(a.perm)):
        raise SymmetryError(f"{where}: the factor admits no permutation (kinds {f.kinds}), got {_short(a.perm)}")
    if a.matrix is not None and "gl" not in f.kinds:
        raise SymmetryError(f"{where}: the factor admits no GL matrix (kinds {f.kinds})")
    c = a.coeff
    if c is None:
        return
    scale, sign = "scale" in f.kinds, "sign" in f.kinds
    if scale and not sign and bool((c < 0).any()):
        raise SymmetryError(f"{where}: admits scale but not sign, so coefficients must be positive, got {_short(c)}")
    if sign and not scale and bool((c.abs() != 1).any()):
        raise SymmetryError(f"{where}: admits sign but not scale, so coefficients must be ±1, got {_short(c)}")
    if not (scale or sign) and bool((c != 1).any()):
        raise SymmetryError(f"{where}: admits neither scale nor sign (kinds {f.kinds}), got coefficients {_short(c)}")


def _nested_index(parent_perm: Tensor, perm: Tensor) -> Tensor:
    """Flat index map over (H, d): I[h, j] = π_H(h)·d + σ_h(j), σ indexed by the new head h."""
    d = perm.shape[1]
    return (parent_perm[:, None] * d + perm).reshape(-1)


def _split_nested(index: Tensor, h: int, d: int) -> tuple[Tensor, Tensor]:
    grid = index.reshape(h, d)
    return grid[:, 0] // d, grid % d


@dataclass(frozen=True, repr=False)
class GroupElement:
    """An element of a spec's symmetry group: one `FactorAction` per factor.

    Checked when built: exactly the spec's factors are covered, each action has the factor's size
    (heads: one permutation per parent unit) and lies in the factor's group (positive coefficients
    where the factor admits scale but not sign, ±1 where sign but not scale, GL only where admitted).
    """

    spec: Spec
    actions: Mapping[str, FactorAction]

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", MappingProxyType(dict(self.actions)))
        names = [f.name for f in self.spec.factors]
        missing, extra = sorted(set(names) - set(self.actions)), sorted(set(self.actions) - set(names))
        if missing or extra:
            raise SymmetryError(f"GroupElement: actions must cover exactly the spec's factors; "
                                f"missing {missing[:5]}, unknown {extra[:5]}")
        sizes = {f.name: f.size for f in self.spec.factors}
        for f in self.spec.factors:
            _check_action(f, self.actions[f.name], None if f.parent is None else sizes[f.parent])

    def __repr__(self) -> str:
        moved = [(name, a.label) for name, a in self.actions.items() if a.label != "identity"]
        shown = ", ".join(f"{name} {label}" for name, label in moved[:4]) + (", ..." if len(moved) > 4 else "")
        return f"GroupElement({len(self.actions)} factors: {shown or 'identity'}; non-identity: {len(moved)})"

    # -- group laws -------------------------------------------------------------------------------
    def compose(self, other: GroupElement) -> GroupElement:
        """g ∘ h: act with `other` first, then with `self`."""
        if other.spec is not self.spec and other.spec.table != self.spec.table:
            raise SymmetryError("compose: the two elements belong to different specs")
        out: dict[str, FactorAction] = {}
        for f in self.spec.factors:
            a, b = self.actions[f.name], other.actions[f.name]
            if f.parent is None:
                out[f.name] = _compose_monomial(a, b)
            else:
                pa, pb = self.actions[f.parent].perm, other.actions[f.parent].perm
                ia, ib = _nested_index(pa, a.perm), _nested_index(pb, b.perm)
                _, sigma = _split_nested(ib[ia], *a.perm.shape)
                out[f.name] = FactorAction(sigma)
        return GroupElement(self.spec, out)

    def inverse(self) -> GroupElement:
        out: dict[str, FactorAction] = {}
        for f in self.spec.factors:
            a = self.actions[f.name]
            if f.parent is None:
                out[f.name] = _invert_monomial(a)
            else:
                idx = _nested_index(self.actions[f.parent].perm, a.perm)
                _, sigma = _split_nested(torch.argsort(idx), *a.perm.shape)
                out[f.name] = FactorAction(sigma)
        return GroupElement(self.spec, out)

    def is_identity(self, *, atol: float = 0.0) -> bool:
        for a in self.actions.values():
            if a.matrix is not None:
                if not torch.allclose(a.matrix, torch.eye(len(a.matrix), dtype=a.matrix.dtype), atol=atol, rtol=0):
                    return False
                continue
            n = a.perm.shape[-1]
            if not torch.equal(a.perm, torch.arange(n).expand_as(a.perm)):
                return False
            if a.coeff is not None and not torch.allclose(a.coeff, torch.ones_like(a.coeff), atol=atol, rtol=0):
                return False
        return True

    # -- action ------------------------------------------------------------------------------------
    def apply(self, state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The acted-on state dict (a new dict; inputs are not modified)."""
        self.spec.check(state_dict)
        return {k: self._apply_tensor(k, v) for k, v in state_dict.items()}

    def apply_module(self, module: nn.Module) -> nn.Module:
        """A copy of `module` carrying the acted-on state dict; `module` itself is untouched."""
        new = copy.deepcopy(module)
        new.load_state_dict(self.apply(module.state_dict()))
        return new

    def apply_to(self, key: str, t: Tensor) -> Tensor:
        """Act on one tensor laid out like `key` (e.g. a pruning mask), permutations only."""
        perm_only = GroupElement(self.spec, {k: FactorAction(a.perm) if a.matrix is None else a
                                             for k, a in self.actions.items()})
        return perm_only._apply_tensor(key, t)

    def _apply_tensor(self, key: str, t: Tensor) -> Tensor:
        for axis, entry in enumerate(self.spec.table[key]):
            if entry is None:
                continue
            for seg in entry:
                t = self._apply_segment(t, axis, seg)
        return t.clone() if all(e is None for e in self.spec.table[key]) else t

    def _apply_segment(self, t: Tensor, axis: int, seg) -> Tensor:
        length = seg.stop - seg.start
        dense = [p for p in seg.pieces if p.factor and self.actions[p.factor].matrix is not None]
        if dense:
            if len(seg.pieces) != 1:
                raise SymmetryError("a GL element can only act on an axis owned by one factor alone")
            return _apply_matrix(t, axis, seg, self.actions[dense[0].factor].matrix, dense[0].power)
        index = torch.zeros(length, dtype=torch.long)
        coeff = torch.ones(length, dtype=torch.float64)
        stride = length
        new_parent_idx = None  # the new-position grid of the previous piece
        grids = torch.meshgrid(*[torch.arange(p.size) for p in seg.pieces], indexing="ij")
        for p, g in zip(seg.pieces, grids, strict=True):
            stride //= p.size
            g = g.reshape(-1)
            if p.factor is None:
                old = g
            else:
                act = self.actions[p.factor]
                parent = self.spec.factor(p.factor).parent
                old = act.perm[new_parent_idx, g] if parent is not None else act.perm[g]
                if act.coeff is not None and p.power != 0:
                    coeff = coeff * act.coeff[g] ** p.power
            index = index + old * stride
            new_parent_idx = g
        src = t.narrow(axis, seg.start, length).index_select(axis, index.to(t.device))
        if not torch.all(coeff == 1):
            shape = [1] * t.ndim
            shape[axis] = length
            src = src * coeff.to(t.device, t.dtype).reshape(shape)
        out = t.clone()
        out.narrow(axis, seg.start, length).copy_(src)
        return out


def _apply_matrix(t: Tensor, axis: int, seg, g: Tensor, power: int) -> Tensor:
    block = t.narrow(axis, seg.start, seg.stop - seg.start).movedim(axis, -1)
    if power == 1:
        new = block @ g.to(t.device, t.dtype).T
    elif power == -1:
        new = block @ torch.linalg.inv(g).to(t.device, t.dtype)
    else:
        raise SymmetryError(f"a GL element cannot act with power {power}")
    out = t.clone()
    out.narrow(axis, seg.start, seg.stop - seg.start).copy_(new.movedim(-1, axis))
    return out


def identity(spec: Spec) -> GroupElement:
    actions = {}
    sizes = {f.name: f.size for f in spec.factors}
    for f in spec.factors:
        if f.parent is None:
            actions[f.name] = FactorAction(torch.arange(f.size))
        else:
            actions[f.name] = FactorAction(torch.arange(f.size).repeat(sizes[f.parent], 1))
    return GroupElement(spec, actions)


def sample(spec: Spec, *, generator: torch.Generator, kinds=None) -> GroupElement:
    """A random element of every admitted kind (or of `kinds` only), drawn from `generator`."""
    if not isinstance(generator, torch.Generator):
        raise SymmetryError("sample: pass generator=torch.Generator().manual_seed(seed)")
    wanted = set(KINDS if kinds is None else kinds)
    if not wanted <= set(KINDS):
        raise SymmetryError(f"sample: unknown kinds {sorted(wanted - set(KINDS))}; known: {KINDS}")
    sizes = {f.name: f.size for f in spec.factors}
    actions: dict[str, FactorAction] = {}
    for f in spec.factors:
        kinds_f = wanted & set(f.kinds)
        if f.parent is not None:
            h = sizes[f.parent]
            if "permutation" in kinds_f:
                perm = torch.stack([torch.randperm(f.size, generator=generator) for _ in range(h)])
            else:
                perm = torch.arange(f.size).repeat(h, 1)
            actions[f.name] = FactorAction(perm)
            continue
        n = f.size
        perm = torch.randperm(n, generator=generator) if "permutation" in kinds_f else torch.arange(n)
        coeff = None
        if "scale" in kinds_f:
            u = torch.rand(n, generator=generator, dtype=torch.float64)
            coeff = torch.exp((2 * u - 1) * math.log(2.0))
        if "sign" in kinds_f:
            s = torch.randint(0, 2, (n,), generator=generator).to(torch.float64) * 2 - 1
            coeff = s if coeff is None else coeff * s
        action = FactorAction(perm, coeff)
        if "gl" in kinds_f:
            x = torch.randn(n, n, generator=generator, dtype=torch.float64) * (0.3 / math.sqrt(n))
            action = FactorAction(torch.arange(n), matrix=torch.linalg.matrix_exp(x) @ action.dense())
        actions[f.name] = action
    return GroupElement(spec, actions)
