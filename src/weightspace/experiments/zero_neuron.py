"""Claim simsek.zero-neuron-residual: a zero-type neuron keeps criticality only where the residual vanishes.

Simsek et al. 2021: appending a unit z with a_z = 0 and arbitrary incoming (w_z, b_z) preserves f, and the
only gradient it can create is on its outgoing weight (∂L/∂(w_z, b_z) carries the factor a_z = 0):

    ∂L/∂a_z = (2/N) Σ_i r_i σ(w_z·x_i + b_z) = 2 E[r σ(w_z·x + b_z)],   r = f(x) − y,

for L = mean_i ||f(x_i) − y_i||². At a global minimum (r = 0) it vanishes for every (w_z, b_z); at a
critical point with r ≠ 0 (a width r* − 1 student of a width-r* teacher) it vanishes only on the
hypersurface E[r σ(w_z·x + b_z)] = 0 — e.g. on the incoming vectors of the student's own units, where
adding z is a split with λ = 1 — so generic incoming vectors break criticality.

Measured (float64, teacher–student data, d = 2, r* = 3, softplus): ||∇L|| of the width-(m+1) network
after adding z with `incoming` random (w_z, b_z) ~ N(0, I), at the teacher (L = 0) and at a polished
width-(r* − 1) student; the autograd gradient against the formula. Value: the largest ||∇L|| at the
minima divided by the smallest at the non-zero-residual critical points (<= 1e-6: zero at r = 0,
clearly non-zero at r ≠ 0).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from ..critical import add_zero_neuron, fit_student, gradient_norm, objective, teacher_params
from ..data import Dataset, load
from ..evaluate import fit_inputs
from ..hessian import gradient
from ..params import forward, tree_norm
from ..plots import new_figure, save_figure
from ..symmetry._config import layout_of, model_for

__all__ = ["CLAIMS", "residual_correlation", "run", "zero_neuron_gradients"]

DT = torch.float64


def residual_correlation(params: Mapping[str, Tensor], config: Mapping, data: Dataset,
                         incoming: Tensor) -> Tensor:
    """2 E[r σ(w_z·x + b_z)] over `data`'s training split, r = f(θ; x) − y, per row (w_z, b_z) of `incoming`.

    `incoming` has shape (K, d + 1); the result (K, p).
    """
    model = model_for(config)
    x, y = data.split("train")
    x = fit_inputs(x, model).to(DT).flatten(1)  # (N, d)
    with torch.no_grad():
        r = forward(model, params, x) - y.to(DT)  # (N, p)
    incoming = incoming.to(DT)
    s = model.act(x @ incoming[:, :-1].T + incoming[:, -1])  # (N, K)
    return 2 * s.T @ r / len(x)


def zero_neuron_gradients(params: Mapping[str, Tensor], config: Mapping, data: Dataset,
                          incoming: Tensor) -> tuple[list[float], Tensor, Tensor]:
    """Add a zero-type unit to hidden layer 0 with each row of `incoming` (K, d + 1) in turn.

    Returns (||∇L|| of each width-(m+1) network, the autograd ∂L/∂a_z (K, p), `residual_correlation` (K, p)).
    """
    new, cfg = add_zero_neuron(params, config, 0, incoming=incoming[0])
    loss_fn = objective(cfg, data)
    lay = layout_of(cfg, 0, where="zero_neuron_gradients")
    z = cfg["widths"][0] - 1  # the new unit is the last one
    norms, auto = [], []
    for v in incoming:
        point = lay.set(new, z, lay.unvector(new, v.to(DT), "in"))
        grad = gradient(loss_fn, point)
        norms.append(float(tree_norm(grad)))
        auto.append(torch.cat([t.reshape(-1) for t in lay.get(grad, z, "out").values()]))
    return norms, torch.stack(auto), residual_correlation(params, config, data, incoming)


def _points(data: Dataset, seed: int, fit_steps: dict) -> list[tuple[str, dict, dict, float]]:
    """[(kind, params, config, ||∇L||)]: the teacher (r = 0) and the width-(r* − 1) student (r ≠ 0)."""
    teacher, cfg = teacher_params(data)
    for init in (seed, seed + 100, seed + 200):  # a few starts: keep the first that converges
        fit, cfg2 = fit_student(data, data.meta["teacher"]["r_star"] - 1, seed=init, **fit_steps)
        if fit.converged:
            break
    return [("minimum", teacher, cfg, gradient_norm(objective(cfg, data), teacher)),
            ("critical", fit.params, cfg2, fit.gradient_norm)]


def run(out: Path, *, seeds: list[int], incoming: int, n_train: int, r_star: int = 3, d: int = 2,
        fit_steps: Mapping | None = None) -> dict:
    """Per data seed: gradient norms after adding zero-type units at the teacher and at a non-global critical point."""
    t0 = time.perf_counter()
    fit_steps = dict(fit_steps or {})
    rows, worst_formula = [], 0.0
    norms: dict[str, list[float]] = {"minimum": [], "critical": []}
    for seed in seeds:
        data = load("teacher", d=d, r_star=r_star, p=1, n_train=n_train, n_test=10, seed=seed, dtype=DT)
        g = torch.Generator().manual_seed(1000 + seed)
        vectors = torch.randn(incoming, d + 1, generator=g, dtype=DT)  # (K, d + 1) random (w_z, b_z)
        for kind, params, cfg, base_grad in _points(data, seed, fit_steps):
            loss = float(objective(cfg, data)(params))
            gn, auto, formula = zero_neuron_gradients(params, cfg, data, vectors)
            worst_formula = max(worst_formula, float((auto - formula).abs().max()))
            own_vectors = torch.cat([params["layers.0.weight"], params["layers.0.bias"][:, None]], dim=1)
            own = zero_neuron_gradients(params, cfg, data, own_vectors)[0]
            norms[kind] += gn
            rows.append({"seed": seed, "kind": kind, "width": cfg["widths"][0], "loss": loss,
                         "gradient_norm_before": base_grad, "gradient_norms": gn, "max": max(gn), "min": min(gn),
                         "on_own_units": own})
    max_min = max(norms["minimum"])
    min_crit = min(norms["critical"])
    fig = new_figure(6.4, 3.8)
    ax = fig.subplots()
    for x, (kind, label) in enumerate((("minimum", "global minimum (r = 0): teacher"),
                                       ("critical", f"critical point, r ≠ 0: width {r_star - 1} student"))):
        ys = [max(v, 1e-20) for v in norms[kind]]
        ax.scatter([x + 0.3 * (k / max(len(ys) - 1, 1) - 0.5) for k in range(len(ys))], ys, s=10, label=label)
    ax.set_xticks([0, 1], ["r = 0", "r ≠ 0"])
    ax.set_yscale("log")
    ax.set_ylabel("||∇L|| after adding a zero-type unit")
    ax.set_title(f"{incoming} random incoming (w_z, b_z) per point, seeds {seeds}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, out / "zero_neuron_gradients.png")
    converged = all(r["gradient_norm_before"] <= 1e-8 for r in rows)
    return {
        "value": max_min / min_crit if min_crit > 0 else None,
        "measurements": {"rows": rows, "max_gradient_norm_at_minima": max_min,
                         "min_gradient_norm_at_nonzero_residual": min_crit,
                         "max_autograd_minus_formula": worst_formula, "all_start_points_critical": converged,
                         "seconds": time.perf_counter() - t0},
        "figures": ["zero_neuron_gradients.png"],
        "seeds": list(seeds),
        "construction": (f"Teacher–student data (d = {d}, r* = {r_star}, p = 1, softplus, {n_train} Gaussian inputs, "
                         f"data seeds {list(seeds)}), float64. Start points: the teacher itself (a global minimum, "
                         f"L = 0) and a width-{r_star - 1} student trained to ||∇L|| <= 1e-10 (Adam, L-BFGS, Newton: a "
                         f"critical point with non-zero residual). At each, {incoming} zero-type units (a_z = 0, "
                         "(w_z, b_z) ~ N(0, I)) are added one at a time (add_zero_neuron) and ||∇L|| of the wider "
                         "network is measured by autograd; ∂L/∂a_z is checked against 2 E[r σ(w_z·x + b_z)]. Value = "
                         "max ||∇L|| at the minima / min ||∇L|| at the r ≠ 0 points."),
        "inconclusive": None if converged else "a start point is not critical (||∇L|| > 1e-8 before adding z)",
    }


CLAIMS = [
    {
        "id": "simsek.zero-neuron-residual",
        "paper": "simsek",
        "statement": "A zero-type neuron (zero outgoing weight, arbitrary incoming weights) added to a critical point "
                     "keeps it critical only where the residual vanishes, i.e. at global minima.",
        "measures": "max ||∇L|| over random zero-type units added at global minima (r = 0) divided by min ||∇L|| over "
                    "random zero-type units added at critical points with r ≠ 0 (dimensionless)",
        "threshold": 1e-6,
        "direction": "<=",
        "budgets": {
            "smoke": {"seeds": [0], "incoming": 4, "n_train": 200,
                      "fit_steps": {"adam_steps": 200, "lbfgs_steps": 300, "newton_steps": 10}},
            "quick": {"seeds": [0, 1, 2], "incoming": 64, "n_train": 1000, "fit_steps": {"adam_steps": 1000}},
            "full": {"seeds": list(range(10)), "incoming": 256, "n_train": 2000},
        },
        "run": run,
    },
]
