"""Rescaling failures of linear mode connectivity for homogeneous activations, and their removal.

For σ(cz) = c^k σ(z) (ReLU^k), scaling hidden unit j's incoming weights by m and its outgoing weights by
m^(−k) keeps the function. Along the straight path θ(α) = (1 − α) θ + α θ' between a zero-loss θ and the
rescaled θ', each scaled unit's term a_j σ(w_j x) is multiplied by

    c(α) = ((1 − α) + α m^(−k)) ((1 − α) + α m)^k,

so with Y_J = Σ_(j∈J) a_j σ(w_j X) the contribution of the scaled units and the loss summed over samples,
L(θ(α)) = (1 − c(α))² ‖Y_J‖²; at α = 1/2, c = 2^(−(k+1)) (1 + m^(−k)) (1 + m)^k, which grows like m^k
(Zhao et al. 2025). With every unit scaled and no output bias, Y_J = Y. The library's criterion is a
mean over samples: summed = n · mean. Rescaling each unit to a canonical norm (incoming weights of unit
norm, the scale pushed into the outgoing weights) maps θ and θ' to the same point: no barrier is left.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .. import data as data_mod
from ..data import Dataset
from ..errors import ConfigError, SymmetryError
from ..evaluate import evaluate
from ..models import build, example_input
from ..params import Params, first_float, forward, lerp
from ..symmetry import FactorAction, GroupElement, Spec, spec_of

__all__ = [
    "RescalingBarrier", "canonical_norm", "homogeneity", "homogeneous_teacher", "rescale_units", "rescaling_barrier",
    "rescaling_factor", "rescaling_loss", "rescaling_midpoint_loss", "unit_contribution",
]


def _check_km(where: str, k, m) -> tuple[int, float]:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"{where}: k must be an int >= 1 (the degree of homogeneity), got {k!r}")
    if isinstance(m, bool) or not isinstance(m, int | float) or not math.isfinite(m) or m <= 0:
        raise ConfigError(f"{where}: m must be a positive number (the scale), got {m!r}")
    return k, float(m)


def rescaling_factor(alpha: float, k: int, m: float) -> float:
    """c(α) = ((1 − α) + α m^(−k)) ((1 − α) + α m)^k: the factor on a scaled unit's term along the line."""
    k, m = _check_km("rescaling_factor", k, m)
    return ((1 - alpha) + alpha * m ** (-k)) * ((1 - alpha) + alpha * m) ** k


def rescaling_loss(alpha: float, k: int, m: float, y_norm_sq: float) -> float:
    """Summed squared loss (1 − c(α))² ‖Y_J‖² at θ(α) on the line from a zero-loss θ to its rescaled copy."""
    return (1 - rescaling_factor(alpha, k, m)) ** 2 * float(y_norm_sq)


def rescaling_midpoint_loss(k: int, m: float, y_norm_sq: float) -> float:
    """(1 − 2^(−(k+1)) (1 + m^(−k)) (1 + m)^k)² ‖Y‖²: the summed loss at the midpoint (Zhao et al. 2025)."""
    k, m = _check_km("rescaling_midpoint_loss", k, m)
    return (1 - 2.0 ** (-(k + 1)) * (1 + m ** (-k)) * (1 + m) ** k) ** 2 * float(y_norm_sq)


def _scale_factor(spec: Spec, factor: str | None) -> str:
    names = [f.name for f in spec.factors if "scale" in f.kinds and f.parent is None]
    if factor is None:
        if len(names) != 1:
            raise ConfigError(f"pass factor=...: the spec has {len(names)} factors admitting scale: {names}")
        return names[0]
    if factor not in names:
        raise SymmetryError(f"factor {factor!r} does not admit rescaling; factors admitting scale: {names}")
    return factor


def homogeneity(spec: Spec, factor: str | None = None) -> int:
    """k: the power −k with which a scaled unit's outgoing weights enter (1 for ReLU, k for ReLU^k)."""
    factor = _scale_factor(spec, factor)
    powers = [s.power for s in spec.units(factor).outgoing]
    if not powers:
        raise SymmetryError(f"homogeneity: factor {factor!r} has no outgoing weights")
    return -min(powers)


def _unit_mask(n: int, units: Sequence[int] | None) -> Tensor:
    mask = torch.zeros(n, dtype=torch.bool)
    if units is None:
        mask[:] = True
        return mask
    idx = list(units)
    if not idx or any(isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < n for j in idx):
        raise ConfigError(f"units must be a non-empty list of unit indices in [0, {n}), got {units!r}")
    mask[idx] = True
    return mask


def rescale_units(params: Mapping[str, Tensor], spec: Spec, m: float, *, factor: str | None = None,
                  units: Sequence[int] | None = None) -> Params:
    """θ' with units J (default all) of `factor` scaled: incoming × m, outgoing × m^(−k) — the same function."""
    _check_km("rescale_units", 1, m)
    factor = _scale_factor(spec, factor)
    n = spec.factor(factor).size
    coeff = torch.where(_unit_mask(n, units), float(m), 1.0).to(torch.float64)
    actions = dict(spec.identity().actions)
    actions[factor] = FactorAction(torch.arange(n), coeff=coeff)
    return GroupElement(spec, actions).apply(params)


def canonical_norm(params: Mapping[str, Tensor], spec: Spec, *, factor: str | None = None) -> Params:
    """Each unit of `factor` rescaled so its incoming weights (all producer axes) have unit norm."""
    factor = _scale_factor(spec, factor)
    units = spec.units(factor)
    powers = {s.power for s in units.incoming}
    if len(powers) != 1:
        raise SymmetryError(f"canonical_norm: factor {factor!r} needs incoming weights entering with one power, "
                            f"got powers {sorted(powers)}")
    (power,) = powers
    n = units.size
    sq = (units.matrix(params, "in").to(torch.float64) ** 2).sum(1)  # (n,)
    norm = sq.sqrt()
    coeff = torch.where(norm > 0, norm.clamp_min(1e-300) ** (-1.0 / power), torch.ones_like(norm))
    actions = dict(spec.identity().actions)
    actions[factor] = FactorAction(torch.arange(n), coeff=coeff)
    return GroupElement(spec, actions).apply(params)


def unit_contribution(model: nn.Module, params: Mapping[str, Tensor], spec: Spec, x: Tensor, *,
                      factor: str | None = None, units: Sequence[int] | None = None) -> Tensor:
    """Y_J = f_θ(x) − f_θ(x) with the outgoing weights of units J zeroed: Σ_(j∈J) a_j σ(w_j x), (N, p)."""
    factor = _scale_factor(spec, factor)
    view = spec.units(factor)
    mask = _unit_mask(view.size, units)
    zero = {k: torch.zeros_like(v) for k, v in view.get(params, 0, "out").items()}
    cut = dict(params)
    for j in torch.nonzero(mask).flatten().tolist():
        cut = view.set(cut, j, zero)
    with torch.no_grad():
        return forward(model, params, x) - forward(model, cut, x)


def homogeneous_teacher(k: int, *, d: int = 3, width: int = 6, p: int = 2, seed: int = 0, n_train: int = 64,
                        n_test: int = 64) -> tuple[nn.Module, Params, Dataset]:
    """A two-layer ReLU^k network without biases and data it fits exactly: (model, θ, data), float64.

    θ: W_1 (width, d) and W_2 (p, width) Gaussian with variance 1/fan-in from `torch.Generator().manual_seed(seed)`;
    inputs from `data.load("teacher", ...)`; targets y = f_θ(x), so L(θ) = 0 up to roundoff.
    """
    _check_km("homogeneous_teacher", k, 1.0)
    config = {"name": "mlp", "input_shape": [d], "num_outputs": p, "widths": [width], "activation": "relu_pow",
              "power": k, "bias": False}
    model = build(config).to(torch.float64)
    g = torch.Generator().manual_seed(seed)
    theta = {"layers.0.weight": torch.randn(width, d, generator=g, dtype=torch.float64) / math.sqrt(d),
             "layers.1.weight": torch.randn(p, width, generator=g, dtype=torch.float64) / math.sqrt(width)}
    base = data_mod.load("teacher", seed=seed, dtype=torch.float64, d=d, p=p, n_train=n_train, n_test=n_test)
    with torch.no_grad():
        y_train, y_test = forward(model, theta, base.x_train), forward(model, theta, base.x_test)
    options = {"k": k, "d": d, "width": width, "p": p, "seed": seed, "n_train": n_train, "n_test": n_test}
    data = Dataset(name="homogeneous-teacher", task="regression", x_train=base.x_train, y_train=y_train,
                   x_test=base.x_test, y_test=y_test, num_outputs=p,
                   meta={"source": "two-layer ReLU^k network, bias-free", "seed": seed, "options": options})
    return model, theta, data


@dataclass(frozen=True)
class RescalingBarrier:
    """Summed loss along θ → θ' (units J scaled by m) against the closed form, and after canonical norms."""

    k: int
    m: float
    units: tuple[int, ...] | None
    y_norm_sq: float
    alphas: tuple[float, ...]
    loss: tuple[float, ...]
    closed_form: tuple[float, ...]
    midpoint: float
    midpoint_closed_form: float
    canonical_loss: tuple[float, ...]

    @property
    def midpoint_rel_error(self) -> float:
        return abs(self.midpoint - self.midpoint_closed_form) / max(abs(self.midpoint_closed_form), 1e-300)

    @property
    def canonical_barrier(self) -> float:
        """The largest summed loss along the line between the canonical forms of θ and θ'."""
        return max(self.canonical_loss)

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["units"] = None if self.units is None else list(self.units)
        d.update(alphas=list(self.alphas), loss=list(self.loss), closed_form=list(self.closed_form),
                 canonical_loss=list(self.canonical_loss), midpoint_rel_error=self.midpoint_rel_error,
                 canonical_barrier=self.canonical_barrier)
        return d

    def __repr__(self) -> str:
        return (f"RescalingBarrier(k={self.k}, m={self.m:g}, midpoint {self.midpoint:.6g} vs closed form "
                f"{self.midpoint_closed_form:.6g}, canonical barrier {self.canonical_barrier:.3g})")


def rescaling_barrier(model: nn.Module, params: Mapping[str, Tensor], data: Dataset, m: float, *,
                      units: Sequence[int] | None = None, factor: str | None = None, points: int = 11,
                      split: str = "train") -> RescalingBarrier:
    """Measure the summed loss along θ → θ' = rescale(θ) and between their canonical forms (θ at zero loss).

    The closed form (1 − c(α))² ‖Y_J‖² uses Y_J = `unit_contribution` on the split's inputs.
    """
    if isinstance(points, bool) or not isinstance(points, int) or points < 3 or points % 2 == 0:
        raise ConfigError(f"rescaling_barrier: points must be an odd int >= 3 (α = 1/2 included), got {points!r}")
    x, _ = data.split(split)
    spec = spec_of(model, example_input(model.config, dtype=first_float(params).dtype))
    factor = _scale_factor(spec, factor)
    k = homogeneity(spec, factor)
    n = len(x)
    scaled = rescale_units(params, spec, m, factor=factor, units=units)
    y_j = unit_contribution(model, params, spec, x.to(first_float(params).dtype), factor=factor, units=units)
    y_norm_sq = float((y_j.to(torch.float64) ** 2).sum())
    alphas = tuple(float(a) for a in torch.linspace(0, 1, points, dtype=torch.float64))
    summed = tuple(n * evaluate(model, data, split, params=lerp(params, scaled, a))["loss"] for a in alphas)
    closed = tuple(rescaling_loss(a, k, m, y_norm_sq) for a in alphas)
    ca, cb = canonical_norm(params, spec, factor=factor), canonical_norm(scaled, spec, factor=factor)
    canon = tuple(n * evaluate(model, data, split, params=lerp(ca, cb, a))["loss"] for a in alphas)
    mid = points // 2
    return RescalingBarrier(k, float(m), None if units is None else tuple(units), y_norm_sq, alphas, summed, closed,
                            summed[mid], rescaling_loss(0.5, k, m, y_norm_sq), canon)
