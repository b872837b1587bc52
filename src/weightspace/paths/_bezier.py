"""Quadratic Bezier curves between two networks and the fit of their control point (Garipov et al. 2018).

θ(t) = (1 − t)² θ_A + 2t(1 − t) θ_C + t² θ_B, t ∈ [0, 1]: θ(0) = θ_A and θ(1) = θ_B exactly, and the
control point at the midpoint θ_C = (θ_A + θ_B)/2 gives the straight line. The fit of θ_C (`fit_bezier`,
`fit_curve`) lives in `_fit.py`, with the polygonal chain's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from torch import Tensor

from ..errors import ConfigError
from ..params import Params, check_same_structure, combine

__all__ = ["BezierCurve", "bezier_curve"]


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
