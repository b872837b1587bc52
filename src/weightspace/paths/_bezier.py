"""Quadratic Bezier curves between two networks and the fit of their control point (Garipov et al. 2018).

θ(t) = (1 − t)² θ_A + 2t(1 − t) θ_C + t² θ_B, t ∈ [0, 1]: θ(0) = θ_A and θ(1) = θ_B exactly, and the
control point at the midpoint θ_C = (θ_A + θ_B)/2 gives the straight line. `fit_bezier` minimises the
mean loss along the curve, E_{t ~ U(0, 1)} L(θ(t)), over θ_C with Adam, t sampled from a generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch
from torch import Tensor

from ..errors import ConfigError
from ..params import Params, check_finite, check_same_structure, combine

__all__ = ["BezierCurve", "bezier_curve", "fit_bezier"]


@dataclass(frozen=True, repr=False)
class BezierCurve:
    """θ(t) = (1 − t)² θ_A + 2t(1 − t) θ_C + t² θ_B; integer buffers are θ_A's. `losses`: the fit's history."""

    start: Mapping[str, Tensor]
    control: Mapping[str, Tensor]
    end: Mapping[str, Tensor]
    losses: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for name in ("start", "control", "end"):
            frozen = MappingProxyType({k: v.detach().clone() for k, v in getattr(self, name).items()})
            object.__setattr__(self, name, frozen)

    def __call__(self, t: float) -> Params:
        t = float(t)
        if not 0.0 <= t <= 1.0:
            raise ConfigError(f"bezier_curve: t must lie in [0, 1], got {t!r}")
        if t == 0:
            return {k: v.clone() for k, v in self.start.items()}
        if t == 1:
            return {k: v.clone() for k, v in self.end.items()}
        return _point(t, self.start, self.control, self.end)

    def __repr__(self) -> str:
        fit = f", fitted over {len(self.losses)} steps" if self.losses else ""
        return f"BezierCurve({len(self.start)} tensors{fit})"


def _point(t: float, a: Mapping[str, Tensor], c: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> Params:
    """(1 − t)² a + 2t(1 − t) c + t² b on floating tensors (differentiable in c); integer buffers are a's."""
    return combine([(1 - t) ** 2, 2 * t * (1 - t), t**2], [a, c, b])


def bezier_curve(start: Mapping[str, Tensor], control: Mapping[str, Tensor],
                 end: Mapping[str, Tensor]) -> BezierCurve:
    """The quadratic Bezier curve from `start` to `end` with control point `control` (a callable θ(t))."""
    check_same_structure(start, end, what="bezier_curve: start and end")
    check_same_structure(start, control, what="bezier_curve: start and control")
    return BezierCurve(start, control, end)


def fit_bezier(loss_fn: Callable[[Params], Tensor], start: Mapping[str, Tensor], end: Mapping[str, Tensor], *,
               control: Mapping[str, Tensor] | None = None, steps: int = 500, lr: float = 1e-2, samples: int = 4,
               generator: torch.Generator,
               callback: Callable[[dict], None] | None = None) -> BezierCurve:
    """The Bezier curve from `start` to `end` whose control point minimises mean_t L(θ(t)), t ~ U(0, 1).

    Args:
      loss_fn: L(θ) -> scalar tensor, differentiable (e.g. `paths.dataset_loss(model, data, "train")`).
      start, end: the fixed ends θ_A, θ_B.
      control: the initial θ_C (default: the midpoint, i.e. the straight line).
      steps, lr: Adam steps and learning rate on the floating tensors of θ_C.
      samples: t drawn per step; the step's loss is their mean.
      generator: the source of t (`torch.Generator().manual_seed(seed)`).
      callback: receives {"stage": "bezier", "step", "total_steps", "loss"} every 50 steps.
    Returns:
      the fitted `BezierCurve` with the per-step mean losses in `losses`.
    """
    where = "fit_bezier"
    check_same_structure(start, end, what=f"{where}: start and end")
    for name, v in (("steps", steps), ("samples", samples)):
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "steps" else 1):
            raise ConfigError(f"{where}: {name} must be an int >= {0 if name == 'steps' else 1}, got {v!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ConfigError(f"{where}: lr must be a positive finite number, got {lr!r}")
    if not isinstance(generator, torch.Generator):
        raise ConfigError(f"{where}: pass generator=torch.Generator().manual_seed(seed) to sample t")
    check_finite(start, what=f"{where}: start")
    check_finite(end, what=f"{where}: end")
    init = combine([0.5, 0.5], [start, end]) if control is None else dict(control)
    check_same_structure(start, init, what=f"{where}: start and control")
    a = {k: v.detach() for k, v in start.items()}
    b = {k: v.detach() for k, v in end.items()}
    c = {k: v.detach().clone().requires_grad_(True) for k, v in init.items() if v.is_floating_point()}
    opt = torch.optim.Adam(list(c.values()), lr=lr)
    losses = []
    for step in range(1, steps + 1):
        ts = torch.rand(samples, generator=generator, dtype=torch.float64).tolist()
        total = 0
        for t in ts:
            total = total + loss_fn(_point(t, a, c, b))
        mean = total / samples
        opt.zero_grad()
        mean.backward()
        opt.step()
        losses.append(float(mean.detach()))
        if callback is not None and step % 50 == 0:
            callback({"stage": "bezier", "step": step, "total_steps": steps, "loss": losses[-1]})
    fitted = {k: (c[k].detach().clone() if k in c else v.clone()) for k, v in init.items()}
    return BezierCurve(a, fitted, b, tuple(losses))
