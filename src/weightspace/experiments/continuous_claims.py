"""Claims of Zhao et al. 2025 (PAPERS.md §4): records of the claims registry.

zhao.orbit-constant-loss and zhao.chord-within-dmax read one orbit study, zhao.components and
zhao.skip-components one component study (`_continuous`, cached); rescaling and permutation have their own.
CPU, float64, fixed seeds. Run them with `weightspace reproduce zhao --budget quick --out DIR`.
"""

from __future__ import annotations

from pathlib import Path

from ..plots import plot_component_counts, plot_curvature_bound, save_figure
from ._continuous import component_study, orbit_study, reproduce_permutation, reproduce_rescaling, save_orbit

LINEAR = ("deep linear network f(x) = W_3 W_2 W_1 x, h = d = p = 3, linear teacher y = Mx on 64 Gaussian inputs "
          "(`linear_teacher(3, seed)`), θ a sampled zero-loss point, float64")


def _orbit_summary(study: dict) -> dict:
    return {"circle": study["circle"].to_dict(), "random_example": study["random_example"].to_dict(),
            "rows": study["rows"]}


def _constant_loss(out: Path, *, seed: int, random_orbits: int, points: int, search_points: int,
                   extra_circles: int) -> dict:
    study = orbit_study(seed, random_orbits, points, search_points, extra_circles)
    rows = study["rows"]
    chord = min(r["chord_barrier"] for r in rows)
    return {"value": max(r["curve_spread"] for r in rows),
            "measurements": {"smallest_chord_barrier": chord, **_orbit_summary(study)},
            "figures": save_orbit(study, out), "seeds": [seed],
            "construction": f"{LINEAR}. γ(t) = exp(tX)·θ for a circular generator (X skew-symmetric in one plane), "
                            f"{random_orbits} random generators on both hidden factors (X_ij ~ N(0, s²/3), "
                            f"s ∈ {{0.3, 0.6, 1}}) and {extra_circles} more circles; loss at {points} points of "
                            "each curve and of its straight chord (the chord's barrier rises: smallest_chord_barrier)."}


def _chord_dmax(out: Path, *, seed: int, random_orbits: int, points: int, search_points: int,
                extra_circles: int) -> dict:
    study = orbit_study(seed, random_orbits, points, search_points, extra_circles)
    rows = [r for r in study["rows"] if r["bound_applies"] and r["ratio"] is not None]
    save_figure(plot_curvature_bound(study["rows"]), out / "curvature_bound.png")
    return {"value": max(r["ratio"] for r in rows) if rows else None,
            "inconclusive": None if rows else "no orbit met the bound's hypotheses (κΔ ≤ 2, length ≤ π/κ)",
            "measurements": {"orbits_meeting_hypotheses": len(rows), **_orbit_summary(study)},
            "figures": ["curvature_bound.png"], "seeds": [seed],
            "construction": f"{LINEAR}. The same orbits; curvature κ(t) from the exact derivatives γ' = A_X γ, "
                            "γ'' = A_X² γ; the chord's largest distance to the curve by grid search refined with "
                            "Brent's method, divided by d_max = (1/κ)(1 − √(1 − (κΔ/2)²)) (a derived bound, equality "
                            "on circles)."}


def _components_value(rows: list[dict], skip: bool) -> tuple[int, list[dict]]:
    expected = (lambda l: 2 ** (l - 2) + 1) if skip else (lambda l: 2 ** (l - 1))
    mine = [r for r in rows if r["skip"] == skip and (r["layers"] >= 3 or not skip)]
    wrong = [r for r in mine if r["value"] != expected(r["layers"])]
    return len(wrong), mine


def _components(out: Path, *, skip: bool, seed: int, max_layers: int, sample_scale: float, mep_steps: int) -> dict:
    study = component_study(seed, max_layers, sample_scale, mep_steps)
    wrong, mine = _components_value(study["rows"], skip)
    save_figure(plot_component_counts(study["rows"]), out / "components.png")
    measurements = {"cases": len(mine), "mismatches": wrong, "rows": study["rows"]}
    if not skip:
        measurements["between_components"] = study["between_components"]
    return {"value": wrong, "measurements": measurements, "figures": ["components.png"], "seeds": [seed],
            "construction": "deep linear networks with l = 2.." + str(max_layers) + " layers; components of the "
                            "zero-loss set counted four ways, none looking the answer up: the invariant (signs of "
                            "det of the partial products), exact cells (sign strata reduced to intervals of the "
                            "product, merged across faces), path search (sampled minima joined by straight moves of "
                            "the free layers, union-find) and a voxel grid labelled by scipy.ndimage.label. "
                            + ("Width-1 model with the skip around the first l − 1 layers, W_l(W_(l−1)⋯W_1 X + X), "
                               "X = Y = 1; the expected count is 3 at l = 3 (the paper) and 2^(l−2) + 1 beyond "
                               "(derived in PAPERS.md)." if skip else
                               "Square full-rank layers of width 1, 2 and 3 without skip; expected 2^(l−1). Relaxed "
                               "paths between components are measured too: they rise at least to the loss floor "
                               "σ_min(MΣ^½)².")}


def _rescaling(out: Path, *, seed: int, ms: tuple[float, ...]) -> dict:
    res = reproduce_rescaling(out, seed=seed, ms=ms)
    rows = res["rows"]
    return {"value": max(r["midpoint_rel_error"] for r in rows),
            "measurements": {"largest_canonical_barrier": max(r["canonical_barrier"] for r in rows), **res},
            "figures": ["rescaling.png", "rescaling_path.png"], "seeds": [seed],
            "construction": "two-layer ReLU^k network (k = 1, 2), d = 3, 6 hidden units, p = 2, no biases, 64 inputs, "
                            "targets = the network's own outputs (`homogeneous_teacher(k, seed)`); every unit (or "
                            f"unit 0 alone) scaled by m ∈ {list(ms)}; the measured straight-path midpoint loss "
                            "(summed over samples) against the closed form; canonical norms then remove the barrier."}


def _permutation(out: Path, *, seed: int, mep_steps: int, images: int) -> dict:
    res = reproduce_permutation(out, seed=seed, mep_steps=mep_steps, images=images)
    return {"value": max(res["route_max_loss"], res["function_change"]), "measurements": res,
            "figures": ["permutation.png"], "seeds": [seed],
            "construction": "deep linear network, l = 3, h = 2, linear teacher; θ_b = g·θ_a with det g_1 < 0 (another "
                            "component). Swapping units 0, 1 of a factor (an odd permutation) keeps the function and "
                            "flips the label; the polar path in GL⁺ then reaches θ_b. Compared with the straight "
                            "chord and a relaxed path (string method), which must cross the loss floor."}


_ORBIT = {"smoke": {"seed": 0, "random_orbits": 1, "points": 5, "search_points": 9, "extra_circles": 0},
          "quick": {"seed": 0, "random_orbits": 12, "points": 25, "search_points": 65, "extra_circles": 3},
          "full": {"seed": 0, "random_orbits": 60, "points": 49, "search_points": 129, "extra_circles": 3}}
_COMP = {"smoke": {"seed": 0, "max_layers": 3, "sample_scale": 0.5, "mep_steps": 30},
         "quick": {"seed": 0, "max_layers": 6, "sample_scale": 1.0, "mep_steps": 300},
         "full": {"seed": 0, "max_layers": 6, "sample_scale": 4.0, "mep_steps": 1000}}

CLAIMS = [
    {"id": "zhao.components", "paper": "zhao",
     "statement": "A deep linear network with square full-rank layers has a minimum homeomorphic to GL_h(R)^(l−1): "
                  "2^(l−1) connected components, independent of the width.",
     "measures": "number of (l, width, method) cases whose component count differs from 2^(l−1)",
     "threshold": 0, "direction": "<=",
     "budgets": {b: {**v, "skip": False} for b, v in _COMP.items()}, "run": _components},
    {"id": "zhao.skip-components", "paper": "zhao",
     "statement": "Skip connections reduce the number of components: the 1-D three-layer residual model "
                  "W3(W2 W1 X + X) has 3 components instead of 4 (and, derived, 2^(l−2) + 1 for l layers).",
     "measures": "number of (l ≥ 3, method) cases whose count with the skip differs from 2^(l−2) + 1",
     "threshold": 0, "direction": "<=",
     "budgets": {b: {**v, "skip": True} for b, v in _COMP.items()}, "run": _components},
    {"id": "zhao.permutation-connects", "paper": "zhao",
     "statement": "For h ≥ 2, an odd permutation of a hidden factor moves a minimum into another component without "
                  "changing the function, so permutations connect the components.",
     "measures": "largest loss along the route (odd permutation, then the GL⁺ path) and largest output change",
     "threshold": 1e-10, "direction": "<=",
     "budgets": {"smoke": {"seed": 0, "mep_steps": 50, "images": 9},
                 "quick": {"seed": 0, "mep_steps": 1500, "images": 33},
                 "full": {"seed": 0, "mep_steps": 5000, "images": 65}},
     "run": _permutation},
    {"id": "zhao.orbit-constant-loss", "paper": "zhao",
     "statement": "Curves from a continuous symmetry, γ(t) = exp(t log g)·θ, keep the loss exactly constant while the "
                  "straight chord between their ends does not.",
     "measures": "largest loss spread along any orbit curve (mean squared error)",
     "threshold": 1e-12, "direction": "<=", "budgets": _ORBIT, "run": _constant_loss},
    {"id": "zhao.chord-within-dmax", "paper": "zhao",
     "statement": "If the curve's curvature is at most κ and its ends are Δ apart (κΔ ≤ 2), the chord stays within "
                  "d_max = (1/κ)(1 − √(1 − (κΔ/2)²)) of the curve, with equality on a circular arc (derived form).",
     "measures": "largest deviation/d_max over the orbits meeting the bound's hypotheses",
     "threshold": 1.0 + 1e-6, "direction": "<=", "budgets": _ORBIT, "run": _chord_dmax},
    {"id": "zhao.rescaling", "paper": "zhao",
     "statement": "Rescaling the hidden units of a two-layer ReLU^k network at zero loss by m (outgoing weights by "
                  "m^(−k)) keeps the function, yet the straight path's midpoint loss is "
                  "(1 − 2^(−(k+1))(1 + m^(−k))(1 + m)^k)² ‖Y‖², unbounded in m.",
     "measures": "largest relative error of the measured midpoint loss against the closed form",
     "threshold": 1e-8, "direction": "<=",
     "budgets": {"smoke": {"seed": 0, "ms": (2.0, 10.0)},
                 "quick": {"seed": 0, "ms": (1.5, 2.0, 4.0, 10.0, 30.0, 100.0)},
                 "full": {"seed": 0, "ms": (1.1, 1.5, 2.0, 4.0, 10.0, 30.0, 100.0, 300.0, 1000.0)}},
     "run": _rescaling},
]
