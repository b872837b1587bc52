"""Permutation points (Brea et al. 2019): where two units of a layer coincide, and the plateau they open.

For units i, j of hidden layer k, π_ij exchanges their incoming and outgoing weights. Its fixed set

    Fix(π_ij) = {θ : θ = π_ij θ} = {(w_i, b_i) = (w_j, b_j), a_i = a_j}

holds the *permutation points*. Two constructions, which give the same points:

  * constrained: the minimum of L restricted to Fix(π_ij), found as the minimum of L(S θ) with
    S θ = (θ + π_ij θ)/2 the projection onto Fix (then θ_pp = S θ*). Since L is π_ij-invariant, ∇L at a
    fixed point is itself fixed, so a critical point of L on Fix is a critical point of L (symmetric
    criticality); the gradient at θ_pp is the one the optimiser drove to ~0;
  * by splitting: a critical point of the width-(n−1) loss split with λ = 1/2 (`split_neuron`); Fix(π_ij)
    is a copy of the width-(n−1) weight space, unit i carrying a_i + a_j.

The plateau through θ_pp is {(w_i, b_i) = (w_j, b_j), a_i + a_j fixed}: the n_{k+1} directions
δa_i = −δa_j = u (u ∈ ℝ^{n_{k+1}}) leave f unchanged, so L is exactly constant on it and vᵀ H v = 0 for
each plateau direction v. Whether H v = 0 (a *null* direction, as Brea's count n_{k+1} assumes) is a
separate question. At θ(u) (a_i = a + u, a_j = a − u) the residual r is unchanged, so the only non-zero
gradient is on the incoming weights, ±2 uᵀM with M = E[r σ'(w̃·x̃) x̃ᵀ] (n_{k+1} × (fan-in + 1)); hence
H v_u = 0 iff uᵀM = 0. Criticality of θ_pp gives aᵀM = 0 (so the split direction u ∥ a is always
null), and dim(plateau ∩ null H) = n_{k+1} − rank M ≥ max(1, n_{k+1} − fan-in − 1) (**derived**; measured
by `plateau_facts` as `null_dim`). Brea's count n_{k+1} holds iff M = 0 — always when n_{k+1} = 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError
from ..hessian import LossFn, dense_hessian
from ..params import Params, check_finite, flatten, select_keys, unflatten
from ..paths._chain import polygonal_chain
from ..symmetry import GroupElement
from ..symmetry._config import UnitLayout, check_config, check_unit, layout_of, spec_for
from ._embeddings import split_neuron
from ._objective import gradient_norm
from ._optimize import Fit, minimize

__all__ = [
    "PermutationPoint", "PlateauFacts", "permutation_point", "permutation_point_by_split", "plateau_directions",
    "plateau_facts", "swap_symmetric_path", "symmetrize", "transposition",
]


def transposition(config: Mapping, layer: int, i: int, j: int) -> GroupElement:
    """π_ij: the group element exchanging units i and j of `spec.permutation_factors[layer]`."""
    where = "transposition"
    config = check_config(config, where)
    spec = spec_for(config)
    lay = layout_of(config, layer, where=where, spec=spec)
    _check_pair(lay, i, j, where)
    return spec.transposition(lay.factor, i, j)


def _check_pair(lay: UnitLayout, i: int, j: int, where: str) -> None:
    check_unit(i, lay.size, where, "i")
    check_unit(j, lay.size, where, "j")
    if i == j:
        raise ConfigError(f"{where}: i and j are both {i}; a permutation point needs two different units")


def _symmetrizer(lay: UnitLayout, i: int, j: int) -> Callable[[Mapping[str, Tensor]], Params]:
    perm = torch.arange(lay.size)
    perm[i], perm[j] = j, i
    keys = {s.key: s.axis for s in lay.slots}

    def sym(params: Mapping[str, Tensor]) -> Params:
        out = dict(params)
        for key, axis in keys.items():
            t = params[key]
            out[key] = 0.5 * (t + t.index_select(axis, perm))  # slices i and j equal exactly (+ commutes)
        return out

    return sym


def symmetrize(params: Mapping[str, Tensor], config: Mapping, layer: int, i: int, j: int) -> Params:
    """S θ = (θ + π_ij θ)/2, the orthogonal projection onto Fix(π_ij); units i and j of the result coincide exactly."""
    where = "symmetrize"
    config = check_config(config, where)
    lay = layout_of(config, layer, where=where)
    _check_pair(lay, i, j, where)
    return _symmetrizer(lay, i, j)(params)


@dataclass(frozen=True, eq=False)
class PermutationPoint:
    """A point θ_pp ∈ Fix(π_ij) of layer `layer`, its construction, L(θ_pp), ||∇L(θ_pp)|| and the optimiser's fit."""

    params: Params
    config: dict
    layer: int
    units: tuple[int, int]
    construction: str
    loss: float
    gradient_norm: float
    fit: Fit | None = None

    def __repr__(self) -> str:
        return (f"PermutationPoint(layer {self.layer}, units {self.units}, {self.construction}: loss={self.loss:.6g}, "
                f"|grad|={self.gradient_norm:.3g})")

    def to_dict(self) -> dict:
        return {"layer": self.layer, "units": list(self.units), "construction": self.construction, "loss": self.loss,
                "gradient_norm": self.gradient_norm, "fit": None if self.fit is None else self.fit.to_dict()}


def _point(loss_fn: LossFn, params: Params, config, layer, units, construction, fit) -> PermutationPoint:
    with torch.no_grad():
        loss = float(loss_fn(params))
    return PermutationPoint(params=params, config=config, layer=layer, units=units, construction=construction,
                            loss=loss, gradient_norm=gradient_norm(loss_fn, params), fit=fit)


def permutation_point(loss_fn: LossFn, params: Mapping[str, Tensor], config: Mapping, layer: int, i: int, j: int, *,
                      adam_steps: int = 0, lr: float = 1e-2, lbfgs_steps: int = 2000, newton_steps: int = 40,
                      gtol: float = 1e-12) -> PermutationPoint:
    """The minimum of L on Fix(π_ij) reached from S θ: minimise L(S θ) (Adam, L-BFGS, Newton), return S θ*.

    Starting from a minimum θ, S θ is the midpoint of θ and its permuted copy, the natural start. The
    result is a critical point of L (symmetric criticality); its ||∇L|| is measured and stored.
    """
    where = "permutation_point"
    config = check_config(config, where)
    lay = layout_of(config, layer, where=where)
    _check_pair(lay, i, j, where)
    check_finite(params, what=f"{where}: params")
    sym = _symmetrizer(lay, i, j)
    fit = minimize(lambda p: loss_fn(sym(p)), sym(params), adam_steps=adam_steps, lr=lr, lbfgs_steps=lbfgs_steps,
                   newton_steps=newton_steps, gtol=gtol)
    return _point(loss_fn, sym(fit.params), config, layer, (i, j), "constrained", fit)


def permutation_point_by_split(loss_fn: LossFn, params: Mapping[str, Tensor], config: Mapping, layer: int,
                               unit: int) -> PermutationPoint:
    """Split `unit` of a width-(n−1) point with λ = 1/2: units (unit, n−1) of the width-n result coincide exactly.

    `loss_fn` is the width-n loss (e.g. `objective(new_config, data)`); a width-(n−1) critical point gives
    a critical point.
    """
    new, new_config = split_neuron(params, config, layer, unit, 0.5)
    n = new_config["widths"][layer]  # split_neuron accepts mlp configs only
    return _point(loss_fn, new, new_config, layer, (unit, n - 1), "split", None)


def swap_symmetric_path(params: Mapping[str, Tensor], point: PermutationPoint) -> Callable[[float], Params]:
    """θ(α): the chain θ → θ_pp → π_ij θ, symmetric under π_ij (L(α) = L(1 − α)) since π_ij θ_pp = θ_pp."""
    other = transposition(point.config, point.layer, *point.units).apply(dict(params))
    return polygonal_chain([dict(params), point.params, other])


def plateau_directions(params: Mapping[str, Tensor], config: Mapping, layer: int, i: int, j: int, *,
                       keys=None) -> Tensor:
    """The n_{k+1} unit vectors v_o (δa_i[o] = +1/√2, δa_j[o] = −1/√2) spanning the plateau, shape (n, n_{k+1}).

    Vectors are flat over `keys` (default: every floating tensor, the order of `hessian.flatten`).
    """
    where = "plateau_directions"
    config = check_config(config, where)
    lay = layout_of(config, layer, where=where)
    _check_pair(lay, i, j, where)
    keys = select_keys(params, keys, where=where)
    zero = {k: torch.zeros_like(params[k]) for k in keys}
    sizes = {s.key: params[s.key].select(s.axis, i).numel() for s in lay.outgoing}
    cols = []
    for s in lay.outgoing:
        if s.key not in zero:
            continue
        for o in range(sizes[s.key]):
            d = dict(zero)
            t = torch.zeros_like(params[s.key])
            t.select(s.axis, i).reshape(-1)[o] = 2 ** -0.5
            t.select(s.axis, j).reshape(-1)[o] = -(2 ** -0.5)
            d[s.key] = t
            cols.append(flatten(d, keys))
    return torch.stack(cols, dim=1)  # (n, n_{k+1})


@dataclass(frozen=True)
class PlateauFacts:
    """Brea's plateau measured at θ_pp: loss spread on it, vᵀHv and ||Hv|| per plateau direction, split direction.

    `null_dim` = dim(plateau ∩ null H) = q − rank(H V) (singular values of H V above 1e-8·||H|| count),
    q = `dim` = n_{k+1}: the plateau directions along which the point stays critical.
    """

    dim: int
    loss_spread: float
    radius: float
    quadratic_forms: tuple[float, ...]
    hv_norms: tuple[float, ...]
    split_direction_hv: float
    hessian_norm: float
    null_dim: int

    def to_dict(self) -> dict:
        return {"dim": self.dim, "null_dim": self.null_dim, "loss_spread": self.loss_spread, "radius": self.radius,
                "quadratic_forms": list(self.quadratic_forms), "hv_norms": list(self.hv_norms),
                "split_direction_hv": self.split_direction_hv, "hessian_norm": self.hessian_norm}


def plateau_facts(loss_fn: LossFn, point: PermutationPoint, *, radius: float = 1.0, samples: int = 9,
                  generator: torch.Generator | None = None, hessian: Tensor | None = None) -> PlateauFacts:
    """Measure the plateau at `point`: max |L(θ_pp + t v) − L(θ_pp)| over `samples` random plateau points
    (t v, ||t v|| ≤ `radius`), the quadratic forms v_oᵀ H v_o, ||H v_o|| and ||H s|| for the split direction
    s ∝ (δa_i, δa_j) = (a, −a). `hessian` may pass a precomputed dense H (over every floating tensor)."""
    params = point.params
    v = plateau_directions(params, point.config, point.layer, *point.units)  # (n, q)
    keys = select_keys(params, None, where="plateau_facts")
    h = dense_hessian(loss_fn, params, keys) if hessian is None else hessian  # (n, n)
    hv = h @ v  # (n, q)
    quad = (v * hv).sum(0)  # (q,)
    lay = layout_of(point.config, point.layer, where="plateau_facts")
    i, j = point.units
    a = {s.key: params[s.key].select(s.axis, i) for s in lay.outgoing}
    split = {k: torch.zeros_like(params[k]) for k in keys}
    for s in lay.outgoing:
        t = torch.zeros_like(params[s.key])
        t.select(s.axis, i).copy_(a[s.key])
        t.select(s.axis, j).copy_(-a[s.key])
        split[s.key] = t
    sv = flatten(split, keys)
    sv = sv / sv.norm().clamp_min(1e-300)
    g = torch.Generator().manual_seed(0) if generator is None else generator
    base = float(loss_fn(params))
    spread = 0.0
    x0 = flatten(params, keys)
    with torch.no_grad():
        for _ in range(samples):
            c = torch.randn(v.shape[1], generator=g, dtype=torch.float64)
            c = c / c.norm() * radius * float(torch.rand((), generator=g, dtype=torch.float64))
            p = {**params, **unflatten(x0 + v.to(x0.dtype) @ c.to(x0.dtype), params, keys)}
            spread = max(spread, abs(float(loss_fn(p)) - base))
    hnorm = float(torch.linalg.matrix_norm(h, ord=2))
    sing = torch.linalg.svdvals(hv)  # (q,) v has orthonormal columns
    null_dim = v.shape[1] - int((sing > 1e-8 * max(hnorm, 1e-300)).sum())
    return PlateauFacts(dim=v.shape[1], loss_spread=spread, radius=radius, quadratic_forms=tuple(quad.tolist()),
                        hv_norms=tuple(hv.norm(dim=0).tolist()), split_direction_hv=float((h @ sv).norm()),
                        hessian_norm=hnorm, null_dim=null_dim)
