"""Approximate linear mode connectivity from curvature: the chord of an orbit curve against d_max.

If a curve γ has curvature at most κ, length at most π/κ, and ends Δ apart with κΔ <= 2, it lies in the
lens of circular arcs of radius 1/κ through its ends, so every point of the chord is within

    d_max = (1/κ) (1 − √(1 − (κΔ/2)²)) = (κΔ²/4) / (1 + √(1 − (κΔ/2)²)) ≈ κΔ²/8

of the curve (the sagitta), with equality for a circular arc (X skew-symmetric in one plane) **(derived;
checked numerically)**. The measured deviation is max over chord points c(s) of min over t ∈ [0, 1] of
‖c(s) − γ(t)‖: grid searches refined by bounded Brent minimisation in s and t. The loss on the chord then
differs from the minimum by at most C_L · d_max for a loss Lipschitz with constant C_L near the curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import torch
from torch import nn

from ..data import Dataset
from ..errors import ConfigError
from ..paths import Barrier, evaluate_path, linear_path
from ..paths._orbit import OrbitCurve, _flat

__all__ = ["OrbitReport", "arc_length", "chord_deviation", "d_max", "max_curvature", "orbit_report"]

_TOL = 1e-12


def d_max(kappa: float, delta: float) -> float:
    """The sagitta (1/κ)(1 − √(1 − (κΔ/2)²)) of a chord of length Δ in a circle of curvature κ (needs κΔ <= 2)."""
    if not (math.isfinite(kappa) and math.isfinite(delta)) or kappa < 0 or delta < 0:
        raise ConfigError(f"d_max: needs finite κ >= 0 and Δ >= 0, got κ={kappa!r}, Δ={delta!r}")
    u = kappa * delta / 2
    if u > 1 + 1e-12:
        raise ConfigError(f"d_max: the bound needs κΔ <= 2, got κΔ = {2 * u:.4g}")
    u = min(u, 1.0)
    return (kappa * delta**2 / 4) / (1 + math.sqrt(1 - u * u))


def _check_points(where: str, points) -> int:
    if isinstance(points, bool) or not isinstance(points, int) or points < 3:
        raise ConfigError(f"{where}: points must be an int >= 3, got {points!r}")
    return points


def max_curvature(curve: OrbitCurve, *, points: int = 65) -> tuple[float, float]:
    """(κ_max, t*) over t ∈ [0, 1]: the best of `points` grid values, refined by bounded Brent search."""
    ts = np.linspace(0.0, 1.0, _check_points("max_curvature", points))
    ks = np.array([curve.curvature(float(t)) for t in ts])
    j = int(np.argmax(ks))
    lo, hi = ts[max(j - 1, 0)], ts[min(j + 1, len(ts) - 1)]
    res = scipy.optimize.minimize_scalar(lambda t: -curve.curvature(float(t)), bounds=(lo, hi), method="bounded",
                                         options={"xatol": _TOL})
    if -res.fun > ks[j]:
        return float(-res.fun), float(res.x)
    return float(ks[j]), float(ts[j])


def arc_length(curve: OrbitCurve, *, points: int = 65) -> float:
    """∫_0^1 ‖γ'(t)‖ dt by Simpson's rule on `points` (odd) nodes."""
    points = _check_points("arc_length", points) | 1
    ts = np.linspace(0.0, 1.0, points)
    speeds = np.array([curve.speed(float(t)) for t in ts])
    w = np.ones(points)
    w[1:-1:2], w[2:-1:2] = 4, 2
    return float((w * speeds).sum() / (3 * (points - 1)))


def chord_deviation(curve: OrbitCurve, *, points: int = 65) -> tuple[float, float]:
    """(max_s min_t ‖c(s) − γ(t)‖, s*) for the chord c(s) = (1 − s) γ(0) + s γ(1), s, t ∈ [0, 1]."""
    points = _check_points("chord_deviation", points)
    ts = np.linspace(0.0, 1.0, 4 * points + 1)
    grid = torch.stack([_flat(curve(float(t))) for t in ts]).numpy()  # (T, D)
    start, end = grid[0], grid[-1]

    def gamma(t: float) -> np.ndarray:
        return _flat(curve(float(t))).numpy()

    def distance(s: float) -> float:
        c = (1 - s) * start + s * end
        d2 = ((grid - c) ** 2).sum(1)
        k = int(np.argmin(d2))
        lo, hi = ts[max(k - 1, 0)], ts[min(k + 1, len(ts) - 1)]
        res = scipy.optimize.minimize_scalar(lambda t: float(((gamma(t) - c) ** 2).sum()), bounds=(lo, hi),
                                             method="bounded", options={"xatol": _TOL})
        return math.sqrt(max(min(float(res.fun), float(d2[k])), 0.0))

    ss = np.linspace(0.0, 1.0, points)
    ds = np.array([distance(float(s)) for s in ss])
    j = int(np.argmax(ds))
    lo, hi = ss[max(j - 1, 0)], ss[min(j + 1, len(ss) - 1)]
    res = scipy.optimize.minimize_scalar(lambda s: -distance(float(s)), bounds=(lo, hi), method="bounded",
                                         options={"xatol": _TOL})
    if -res.fun > ds[j]:
        return float(-res.fun), float(res.x)
    return float(ds[j]), float(ss[j])


@dataclass(frozen=True)
class OrbitReport:
    """Loss along γ and along its chord, the curve's curvature, and the chord's deviation against d_max.

    `bound_applies`: κ_max Δ <= 2 and κ_max · length <= π (the lens lemma's hypotheses); `d_max` is None
    when κ_max Δ > 2.
    """

    split: str
    t: tuple[float, ...]
    loss_curve: tuple[float, ...]
    loss_chord: tuple[float, ...]
    curvature: tuple[float, ...]
    kappa_max: float
    t_kappa_max: float
    delta: float
    length: float
    deviation: float
    s_deviation: float
    d_max: float | None
    bound_applies: bool
    curve_barrier: Barrier
    chord_barrier: Barrier

    @property
    def curve_spread(self) -> float:
        """max − min of the loss along γ (0 up to roundoff: the symmetry keeps the loss)."""
        return max(self.loss_curve) - min(self.loss_curve)

    def to_dict(self) -> dict:
        return {
            "split": self.split, "t": list(self.t), "loss_curve": list(self.loss_curve),
            "loss_chord": list(self.loss_chord), "curve_spread": self.curve_spread,
            "curve_barrier": self.curve_barrier.value, "chord_barrier": self.chord_barrier.value,
            "curvature": list(self.curvature), "kappa_max": self.kappa_max, "t_kappa_max": self.t_kappa_max,
            "delta": self.delta, "length": self.length, "deviation": self.deviation, "s_deviation": self.s_deviation,
            "d_max": self.d_max, "bound_applies": self.bound_applies,
        }

    def __repr__(self) -> str:
        bound = f"{self.d_max:.4g}" if self.d_max is not None else "n/a"
        return (f"OrbitReport(curve spread {self.curve_spread:.3g}, chord barrier {self.chord_barrier.value:.4g}, "
                f"κ_max {self.kappa_max:.4g}, Δ {self.delta:.4g}, deviation {self.deviation:.4g} <= d_max {bound})")


def orbit_report(model: nn.Module, curve: OrbitCurve, data: Dataset, *, points: int = 25, split: str = "train",
                 search_points: int = 65) -> OrbitReport:
    """Evaluate γ and its chord at `points` values of t ∈ [0, 1]; curvature, Δ, length, deviation and d_max.

    Args:
      model: the architecture of `curve.params` (evaluated with `functional_call`, not modified).
      curve: the orbit γ(t) = exp(tX)·θ.
      data: the dataset whose `split` defines the loss.
      points: evaluation points on the curve and the chord.
      search_points: grid sizes of the curvature maximisation and the deviation search.
    """
    points = _check_points("orbit_report", points)
    ts = np.linspace(0.0, 1.0, points).tolist()
    on_curve = evaluate_path(model, curve, data, alphas=ts, split=split)
    on_chord = evaluate_path(model, linear_path(curve(0.0), curve(1.0)), data, alphas=ts, split=split)
    kappas = tuple(curve.curvature(t) for t in ts)
    kappa, t_kappa = max_curvature(curve, points=search_points)
    kappa = max(kappa, max(kappas))
    delta = float((_flat(curve(1.0)) - _flat(curve(0.0))).norm())
    length = arc_length(curve, points=search_points)
    deviation, s_dev = chord_deviation(curve, points=search_points)
    bound = d_max(kappa, delta) if kappa * delta <= 2 else None
    applies = bound is not None and kappa * length <= math.pi * (1 + 1e-9)
    return OrbitReport(split, tuple(ts), on_curve.loss, on_chord.loss, kappas, kappa, t_kappa, delta, length,
                       deviation, s_dev, bound, applies, on_curve.barrier("loss"), on_chord.barrier("loss"))
