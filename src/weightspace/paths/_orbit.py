"""Orbit curves of a continuous symmetry: γ(t) = exp(tX)·θ, with exact velocity and acceleration.

A generator X = (X_f)_f assigns a matrix to some factors of a spec: a dense X_f (n × n) on factors admitting
"gl" (acting by G = exp(tX_f): producers T ↦ G T, consumers T ↦ T G⁻¹), or a diagonal X_f on factors
admitting only "scale" (unit j scaled by e^(t x_j) with the spec's power, e.g. c and c^(−k) for ReLU^k).
The induced action on parameters is linear, θ ↦ ρ(g) θ, and ρ(exp(tX)) = exp(t A_X) with A_X the Lie
algebra action: A_X T = X T on a producer axis, −T X on a consumer axis, p · x_j T_j for a scale power p,
summed over the axes of every tensor. Hence γ'(t) = A_X γ(t) and γ''(t) = A_X² γ(t) exactly, and

    κ(t) = √(‖γ'‖² ‖γ''‖² − ⟨γ', γ''⟩²) / ‖γ'‖³.

Every loss is invariant along γ: L(γ(t)) = L(θ).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch
from torch import Tensor

from ..errors import SymmetryError
from ..params import Params, flatten
from ..symmetry import FactorAction, GroupElement, Spec

__all__ = ["OrbitCurve", "orbit_curve", "random_generators", "rotation_generator"]


def _kind(spec: Spec, name: str, x: Tensor) -> str:
    f = spec.factor(name)
    if "gl" in f.kinds and f.parent is None:
        return "gl"
    if "scale" in f.kinds and f.parent is None:
        if bool((x - torch.diag(torch.diagonal(x))).abs().max() > 0):
            raise SymmetryError(f"orbit_curve: factor {name!r} admits only rescaling (kinds {f.kinds}); its generator "
                                f"must be diagonal")
        return "scale"
    raise SymmetryError(f"orbit_curve: factor {name!r} admits no continuous action (kinds {f.kinds}); "
                        f"give generators for factors admitting gl or scale")


def _check_generators(spec: Spec, generators: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, str]]:
    if not isinstance(generators, Mapping) or not generators:
        raise SymmetryError("orbit_curve: generators must be a non-empty dict {factor name: X (n, n)}")
    names = [f.name for f in spec.factors]
    out, kinds = {}, {}
    for name, x in generators.items():
        if name not in names:
            raise SymmetryError(f"orbit_curve: unknown factor {name!r}; the spec's factors are {names}")
        n = spec.factor(name).size
        if not isinstance(x, Tensor) or tuple(x.shape) != (n, n):
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise SymmetryError(f"orbit_curve: generator for factor {name!r} has shape {got}, expected ({n}, {n}) "
                                f"(the factor has {n} units)")
        x = x.detach().to(torch.float64)
        if not bool(torch.isfinite(x).all()):
            raise SymmetryError(f"orbit_curve: generator for factor {name!r} has NaN or infinite entries")
        out[name] = x
        kinds[name] = _kind(spec, name, x)
    return out, kinds


@dataclass(frozen=True, repr=False)
class OrbitCurve:
    """γ(t) = exp(tX)·θ for the generators X (float64), t real; γ(0) = θ exactly."""

    spec: Spec
    params: Mapping[str, Tensor]
    generators: Mapping[str, Tensor]
    kinds: Mapping[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType({k: v.detach().clone() for k, v in self.params.items()}))
        object.__setattr__(self, "generators", MappingProxyType(dict(self.generators)))
        object.__setattr__(self, "kinds", MappingProxyType(dict(self.kinds)))

    def element(self, t: float) -> GroupElement:
        """exp(tX) as a group element of the spec."""
        actions = dict(self.spec.identity().actions)
        for name, x in self.generators.items():
            n = x.shape[0]
            if self.kinds[name] == "gl":
                actions[name] = FactorAction(torch.arange(n), matrix=torch.linalg.matrix_exp(t * x))
            else:
                actions[name] = FactorAction(torch.arange(n), coeff=torch.exp(t * torch.diagonal(x)))
        return GroupElement(self.spec, actions)

    def __call__(self, t: float) -> Params:
        if t == 0:
            return {k: v.clone() for k, v in self.params.items()}
        return self.element(t).apply(self.params)

    def tangent(self, params: Mapping[str, Tensor]) -> Params:
        """A_X θ: the Lie algebra action of the generators on a parameter dict (float64)."""
        out: Params = {}
        for key, value in params.items():
            value = value.detach().to(torch.float64)
            d = torch.zeros_like(value)
            for axis, entry in enumerate(self.spec.table[key]):
                for seg in entry or ():
                    owned = [p for p in seg.pieces if p.factor in self.generators]
                    if not owned:
                        continue
                    if len(seg.pieces) != 1:
                        raise SymmetryError(f"orbit_curve: factor {owned[0].factor!r} shares an axis of {key!r} with "
                                            f"other factors; a continuous action needs an axis owned alone")
                    piece = seg.pieces[0]
                    x = self.generators[piece.factor]
                    length = seg.stop - seg.start
                    block = value.narrow(axis, seg.start, length).movedim(axis, -1)  # (..., n)
                    if self.kinds[piece.factor] == "gl":
                        if piece.power == 1:
                            new = block @ x.T
                        elif piece.power == -1:
                            new = -block @ x
                        else:
                            raise SymmetryError(f"orbit_curve: a GL factor cannot act with power {piece.power}")
                    else:
                        new = block * (piece.power * torch.diagonal(x))
                    d.narrow(axis, seg.start, length).add_(new.movedim(-1, axis))
            out[key] = d
        return out

    def velocity(self, t: float) -> Params:
        """γ'(t) = A_X γ(t)."""
        return self.tangent(self(t))

    def acceleration(self, t: float) -> Params:
        """γ''(t) = A_X² γ(t)."""
        return self.tangent(self.tangent(self(t)))

    def curvature(self, t: float) -> float:
        """κ(t) = √(‖γ'‖²‖γ''‖² − ⟨γ', γ''⟩²) / ‖γ'‖³ (0 where γ' = 0 would divide by zero: raises)."""
        g = self(t)
        v = _flat(self.tangent(g))
        a = _flat(self.tangent(self.tangent(g)))
        vv, aa, va = float(v @ v), float(a @ a), float(v @ a)
        if vv == 0:
            raise SymmetryError("orbit_curve: the generators fix θ (γ' = 0), so the orbit is a point")
        return math.sqrt(max(vv * aa - va * va, 0.0)) / vv**1.5

    def speed(self, t: float) -> float:
        """‖γ'(t)‖."""
        return float(_flat(self.velocity(t)).norm())

    def __repr__(self) -> str:
        gens = ", ".join(f"{k}: {self.kinds[k]} {tuple(v.shape)}" for k, v in self.generators.items())
        return f"OrbitCurve({gens})"


def _flat(params: Mapping[str, Tensor]) -> Tensor:
    """`weightspace.params.flatten` (every floating tensor, the dict's order) as one float64 vector."""
    return flatten(params).to(torch.float64)


def orbit_curve(params: Mapping[str, Tensor], spec: Spec, generators: Mapping[str, Tensor]) -> OrbitCurve:
    """γ(t) = exp(tX)·θ for generators {factor name: X (n, n)}; factors not named stay fixed.

    Raises:
      SymmetryError: unknown factor, wrong shape, a factor without a continuous action, or params that do
        not match the spec.
    """
    spec.check(params)
    gens, kinds = _check_generators(spec, generators)
    return OrbitCurve(spec, params, gens, kinds)


def rotation_generator(u: Tensor, v: Tensor, angle: float) -> Tensor:
    """X = angle · (v uᵀ − u vᵀ) for orthonormalised u, v: exp(tX) rotates the (u, v) plane by t·angle.

    On a linear network's factor this makes γ an exact circle in parameter space.
    """
    u = u.detach().to(torch.float64).reshape(-1)
    v = v.detach().to(torch.float64).reshape(-1)
    if u.shape != v.shape or u.numel() < 2:
        raise SymmetryError(f"rotation_generator: u and v must be vectors of one length >= 2, got {tuple(u.shape)} "
                            f"and {tuple(v.shape)}")
    if float(u.norm()) == 0:
        raise SymmetryError("rotation_generator: u is zero")
    u = u / u.norm()
    v = v - (v @ u) * u
    if float(v.norm()) < 1e-12:
        raise SymmetryError("rotation_generator: u and v are parallel; they span no plane")
    v = v / v.norm()
    return float(angle) * (torch.outer(v, u) - torch.outer(u, v))


def random_generators(spec: Spec, *, generator: torch.Generator, scale: float = 0.3) -> dict[str, Tensor]:
    """X_f ~ N(0, scale²/n) entrywise on every factor admitting "gl" (float64)."""
    if not isinstance(generator, torch.Generator):
        raise SymmetryError("random_generators: pass generator=torch.Generator().manual_seed(seed)")
    out = {f.name: torch.randn(f.size, f.size, generator=generator, dtype=torch.float64) * (scale / math.sqrt(f.size))
           for f in spec.factors if "gl" in f.kinds and f.parent is None}
    if not out:
        raise SymmetryError("random_generators: no factor of this spec admits GL (only linear networks do); "
                            "pass diagonal generators for rescaling instead")
    return out
