"""Claim zhao.curvature-bound: along the chord of a curve inside a minimum, L − L_min <= C_L · d_max.

Zhao et al. 2025 (derived form, PAPERS.md section 4): a curve γ of constant loss L_min (an orbit
γ(t) = exp(tX)·θ of a continuous symmetry) with curvature at most κ, length at most π/κ and ends Δ apart
(κΔ <= 2) keeps its chord c(s) = (1 − s) γ(0) + s γ(1) within d_max = (1/κ)(1 − √(1 − (κΔ/2)²)); if L is
C_L-Lipschitz on the region between chord and curve, then for every s

    L(c(s)) − L_min <= C_L ‖c(s) − γ(t*(s))‖ <= C_L · d_max,     γ(t*(s)) the curve point nearest c(s).

C_L is estimated, not assumed: the largest ||∇L|| sampled on the segments [γ(t*(s)), c(s)] (by the
mean value theorem these segments are all the bound uses). κ, Δ, d_max and the measured deviation come
from `weightspace.continuous`. Value: max over curves and chord points of (L(c(s)) − L_min)/(C_L · d_max),
<= 1 where the bound holds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import scipy.optimize
import torch
from torch import Tensor

from ..continuous import (
    arc_length,
    d_max,
    homogeneous_teacher,
    linear_config,
    linear_teacher,
    max_curvature,
    orbit_curve,
    random_generators,
    random_minimum,
    rotation_generator,
    teacher_of,
)
from ..critical import init_params, minimize, objective
from ..hessian import gradient, loss_of
from ..models import normalize_config
from ..params import flatten, lerp, tree_norm
from ..paths import OrbitCurve
from ..plots import new_figure, save_figure
from ..symmetry._config import model_for, spec_for

__all__ = ["CLAIMS", "lipschitz_bound", "run"]

DT = torch.float64


def _nearest(curve: OrbitCurve, c: Tensor, grid: Tensor, ts: np.ndarray) -> float:
    """t* = argmin_t ‖c − γ(t)‖ over [0, 1]: the best grid value refined by bounded Brent search."""
    k = int(torch.argmin(((grid - c) ** 2).sum(1)))
    lo, hi = ts[max(k - 1, 0)], ts[min(k + 1, len(ts) - 1)]
    res = scipy.optimize.minimize_scalar(lambda t: float(((flatten(curve(float(t))) - c) ** 2).sum()),
                                         bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
    best = float(((grid[k] - c) ** 2).sum())
    return float(res.x) if res.fun < best else float(ts[k])


def lipschitz_bound(loss_fn: Callable[[Mapping[str, Tensor]], Tensor], curve: OrbitCurve, *, points: int = 17,
                    samples: int = 5, search_points: int = 65) -> dict:
    """The bound L(c(s)) − L_min <= C_L · d_max measured on the chord of `curve` at `points` values of s.

    Returns κ_max, Δ, length, d_max (None unless κΔ <= 2), whether the lens hypotheses hold (also
    κ·length <= π), the largest chord-to-curve distance over the chord points (`deviation`), C_L (max
    ||∇L|| at `samples` points on each segment from the nearest curve point to the chord point), and
    per s: L(c(s)) − L_min, L(γ(t*)) − L_min and the distance d(s) to the curve.
    """
    theta = dict(curve.params)
    l_min = float(loss_fn(theta))
    start, end = curve(0.0), curve(1.0)
    kappa, _ = max_curvature(curve, points=search_points)
    delta = float((flatten(end) - flatten(start)).norm())
    length = arc_length(curve, points=search_points)
    bound_d = d_max(kappa, delta) if kappa * delta <= 2 else None
    applies = bound_d is not None and kappa * length <= math.pi * (1 + 1e-9)
    ts = np.linspace(0.0, 1.0, 4 * search_points + 1)
    grid = torch.stack([flatten(curve(float(t))) for t in ts])  # (T, D)
    lip, rows = 0.0, []
    for s in np.linspace(0.0, 1.0, points):
        c = lerp(start, end, float(s))
        t_star = _nearest(curve, flatten(c), grid, ts)
        g = curve(t_star)
        for u in np.linspace(0.0, 1.0, samples):
            lip = max(lip, float(tree_norm(gradient(loss_fn, lerp(g, c, float(u))))))
        with torch.no_grad():
            rows.append({"s": float(s), "t_nearest": t_star, "excess": float(loss_fn(c)) - l_min,
                         "curve_excess": float(loss_fn(g)) - l_min,
                         "distance": float((flatten(c) - flatten(g)).norm())})
    return {"loss_min": l_min, "kappa_max": kappa, "delta": delta, "length": length, "d_max": bound_d,
            "bound_applies": applies, "deviation": max(row["distance"] for row in rows), "C_L": lip,
            "bound": None if bound_d is None else lip * bound_d, "rows": rows}


def _linear_curves(seed: int, scales: list[float]) -> list[tuple[str, Callable, OrbitCurve]]:
    """A zero-loss point of a 3-layer width-3 linear network: one circular orbit and random GL orbits."""
    data = linear_teacher(3, seed=seed, n_train=64, n_test=64)
    config = linear_config(3, 3)
    model = model_for(config)
    spec = spec_for(config)
    x, y = data.split("train")
    loss_fn, _ = loss_of(model, x.to(DT), y.to(DT))
    theta = random_minimum(3, teacher_of(data), generator=torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(500 + seed)
    circle = rotation_generator(torch.randn(3, generator=g, dtype=DT), torch.randn(3, generator=g, dtype=DT), 1.0)
    out = [(f"linear seed {seed}: circle", loss_fn, orbit_curve(theta, spec, {spec.factors[0].name: circle}))]
    for scale in scales:
        gens = random_generators(spec, generator=torch.Generator().manual_seed(600 + seed), scale=scale)
        out.append((f"linear seed {seed}: GL, scale {scale}", loss_fn, orbit_curve(theta, spec, gens)))
    return out


def _relu_curves(seed: int, scale: float, fit_steps: dict) -> list[tuple[str, Callable, OrbitCurve]]:
    """Two-layer ReLU: rescaling orbits at a planted teacher (width 6, L = 0) and a fitted width-3 student (L > 0)."""
    _, teacher, data = homogeneous_teacher(1, d=3, width=6, p=2, seed=seed, n_train=200)
    config = normalize_config({"name": "mlp", "input_shape": [3], "num_outputs": 2, "widths": [6],
                               "activation": "relu_pow", "power": 1, "bias": False})
    narrow = {**config, "widths": [3]}
    fit = minimize(objective(narrow, data), init_params(narrow, generator=torch.Generator().manual_seed(seed)),
                   **{"adam_steps": 2000, "lbfgs_steps": 1000, "newton_steps": 0, **fit_steps})
    out = []
    for name, params, cfg in (("teacher, width 6 (L = 0)", teacher, config),
                              ("fitted width 3 (L > 0)", fit.params, narrow)):
        spec = spec_for(cfg)
        factor = spec.permutation_factors[0]
        g = torch.Generator().manual_seed(700 + seed)
        x = torch.diag(scale * torch.randn(factor.size, generator=g, dtype=DT))  # (n, n) diagonal: rescaling
        out.append((f"relu seed {seed}: {name}, rescaling", objective(cfg, data), orbit_curve(params, spec,
                                                                                             {factor.name: x})))
    return out


def run(out: Path, *, seeds: list[int], gl_scales: list[float], relu_scale: float | None, points: int,
        search_points: int = 65, fit_steps: Mapping | None = None) -> dict:
    """Every curve: the chord's excess loss against C_L · d_max; value = the largest ratio over applicable curves."""
    t0 = time.perf_counter()
    curves = []
    for seed in seeds:
        curves += _linear_curves(seed, gl_scales)
        if relu_scale is not None:
            curves += _relu_curves(seed, relu_scale, dict(fit_steps or {}))
    results, ratios = [], []
    for name, loss_fn, curve in curves:
        r = lipschitz_bound(loss_fn, curve, points=points, search_points=search_points)
        r["name"] = name
        if r["bound_applies"] and r["bound"] > 0:
            r["max_ratio"] = max(max(row["excess"], row["curve_excess"]) for row in r["rows"]) / r["bound"]
            ratios.append(r["max_ratio"])
        else:
            r["max_ratio"] = None
        results.append(r)
    fig = new_figure(11, 3.8)
    ax_s, ax_r = fig.subplots(1, 2)
    main = max((r for r in results if r["max_ratio"] is not None), key=lambda r: r["max_ratio"], default=None)
    if main is not None:
        s = [row["s"] for row in main["rows"]]
        ax_s.plot(s, [row["excess"] for row in main["rows"]], marker=".", label="L(c(s)) − L_min (chord)")
        ax_s.plot(s, [main["C_L"] * row["distance"] for row in main["rows"]], marker=".",
                  label="C_L · dist(c(s), γ)")
        ax_s.axhline(main["bound"], color="black", ls="--", lw=0.8, label="C_L · d_max")
        ax_s.set_title(main["name"], fontsize=9)
    ax_s.set_xlabel("chord parameter s")
    ax_s.set_ylabel("loss above the minimum")
    ax_s.legend(fontsize=8)
    names = [r["name"] for r in results]
    ax_r.scatter(range(len(results)), [r["max_ratio"] if r["max_ratio"] is not None else float("nan")
                                       for r in results])
    ax_r.axhline(1.0, color="tab:red", ls="--", lw=0.8, label="bound (ratio 1)")
    ax_r.set_xticks(range(len(results)), names, rotation=60, ha="right", fontsize=6)
    ax_r.set_ylabel("max (L − L_min) / (C_L · d_max)")
    ax_r.legend(fontsize=8)
    for ax in (ax_s, ax_r):
        ax.grid(alpha=0.3)
    save_figure(fig, out / "curvature_bound_lipschitz.png")
    skipped = [r["name"] for r in results if r["max_ratio"] is None]
    return {
        "value": max(ratios) if ratios else None,
        "measurements": {"curves": results, "skipped_curves": skipped, "seconds": time.perf_counter() - t0},
        "figures": ["curvature_bound_lipschitz.png"],
        "seeds": list(seeds),
        "construction": ("Curves of constant loss from continuous symmetries, float64: (a) a zero-loss point of a "
                         "3-layer width-3 linear network on linear-teacher data (64 samples): one circular orbit "
                         f"(rotation by angle 1 in a random plane of the first factor) and random GL orbits (scales "
                         f"{list(gl_scales)}); (b) a bias-free two-layer ReLU teacher (d = 3, width 6, p = 2, 200 "
                         "samples, homogeneous_teacher; left out when relu_scale is None): rescaling orbits "
                         f"exp(t diag(x))·θ, x ~ N(0, {relu_scale}²), at the teacher (L = 0) and at a width-3 student "
                         "fitted by Adam + L-BFGS (L > 0). "
                         f"Seeds {list(seeds)}. Per curve: κ_max, Δ, length (continuous.max_curvature, "
                         f"arc_length), d_max; at {points} chord points the nearest curve point (grid + Brent) and "
                         "||∇L|| at 5 points of the segment between them; C_L = the largest. Curves violating κΔ <= 2 "
                         "or κ·length <= π are listed and left out of the value."),
        "inconclusive": None if ratios else "no curve satisfies the lens hypotheses (κΔ <= 2, κ·length <= π)",
    }


CLAIMS = [
    {
        "id": "zhao.curvature-bound",
        "paper": "zhao",
        "statement": "For a curve of constant loss through a minimum with curvature at most κ and ends Δ apart, the "
                     "loss on its chord exceeds the minimum by at most C_L · d_max, d_max = (1/κ)(1 − √(1 − (κΔ/2)²)), "
                     "C_L "
                     "a Lipschitz constant of the loss near the curve.",
        "measures": "max over curves and chord points of (L(c(s)) − L_min) / (C_L · d_max), C_L the largest sampled "
                    "gradient norm between chord and curve (dimensionless)",
        "threshold": 1.0,
        "direction": "<=",
        "budgets": {
            "smoke": {"seeds": [0], "gl_scales": [0.3], "relu_scale": None, "points": 5, "search_points": 17},
            "quick": {"seeds": [0, 1], "gl_scales": [0.3, 0.6], "relu_scale": 0.5, "points": 17},
            "full": {"seeds": list(range(5)), "gl_scales": [0.2, 0.4, 0.6, 0.8], "relu_scale": 0.5, "points": 33,
                     "search_points": 129},
        },
        "run": run,
    },
]
