"""Claim brea.multilayer-saddle: permutation points of a multilayer network include first-order saddles.

Brea et al. 2019 show permutation saddles of index 1 on a multilayer network. The earlier attempt
(`critical_claims.digits`: PCA-10 digits, 10-6-6-10 tanh, weight decay 1e-3) found only saddles of index
4 to 7. Here the claim is retried closer to the paper: no weight decay, students trained to
||∇L|| <= 1e-10 (Adam, L-BFGS, Newton) on (a) a two-hidden-layer teacher (the student as wide as the
teacher and one unit wider per layer: over-parameterised) and (b) digits (inputs projected on their
top principal components, a subset of the training set, squared loss on one-hot targets). Every setting
tried is reported. Where the student is as wide as the teacher, the teacher itself is the (planted, exact)
minimum. At each minimum θ the permutation point of units i, j of hidden layer k is the
minimum of L on Fix(π_ij) reached from (θ + π_ij θ)/2 (`critical.permutation_point`); its dense
Hessian spectrum gives the index. Value: the number of converged permutation points (||∇L|| <= 1e-8
at the point and at its minimum) with index exactly 1 — the claim needs at least one.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Mapping
from pathlib import Path

import torch

from ..critical import characterize, init_params, minimize, objective, one_hot_regression, permutation_point
from ..data import Dataset, load
from ..models import normalize_config
from ..params import forward
from ..plots import new_figure, save_figure
from ..symmetry._config import model_for

__all__ = ["CLAIMS", "digits_pca", "run", "two_layer_teacher"]

DT = torch.float64
GTOL = 1e-8


def two_layer_teacher(widths: list[int], *, d: int, n_train: int, seed: int,
                      activation: str = "softplus") -> tuple[Dataset, dict, dict]:
    """(data, config, θ*): Gaussian inputs (`load("teacher")`'s) labelled by a random MLP θ* with hidden `widths`."""
    config = normalize_config({"name": "mlp", "input_shape": [d], "num_outputs": 1, "widths": widths,
                               "activation": activation})
    teacher = init_params(config, generator=torch.Generator().manual_seed(10_000 + seed), scale=1.5)
    base = load("teacher", d=d, r_star=1, p=1, n_train=n_train, n_test=10, seed=seed, dtype=DT)
    model = model_for(config)
    with torch.no_grad():
        y_train, y_test = forward(model, teacher, base.x_train), forward(model, teacher, base.x_test)
    data = Dataset(name="teacher-2layer", task="regression", x_train=base.x_train, y_train=y_train,
                   x_test=base.x_test, y_test=y_test, num_outputs=1,
                   meta={"source": f"MLP teacher, hidden widths {widths}, {activation}", "seed": seed})
    return data, config, teacher


def digits_pca(k: int, n_train: int) -> Dataset:
    """The first `n_train` digits training images projected on their top-k principal components, whitened;
    squared-loss regression on one-hot targets (`one_hot_regression`)."""
    raw = load("digits", dtype=DT)
    x = raw.x_train.reshape(len(raw.x_train), -1)[:n_train]  # (n, 64)
    mean = x.mean(0)
    _, s, vt = torch.linalg.svd(x - mean, full_matrices=False)
    proj = vt[:k].T / (s[:k] / len(x) ** 0.5)  # (64, k)

    def tr(z: torch.Tensor) -> torch.Tensor:
        return (z.reshape(len(z), -1) - mean) @ proj

    pca = dataclasses.replace(raw, name=f"digits-pca{k}", x_train=tr(raw.x_train[:n_train]),
                              y_train=raw.y_train[:n_train], x_test=tr(raw.x_test),
                              meta={**raw.meta, "pca": k, "n_train": n_train})
    return one_hot_regression(pca)


def _setting(s: Mapping) -> tuple[Dataset, dict, str, dict | None]:
    """(data, config, name, planted minimum or None) of one setting."""
    planted = None
    if s["task"] == "teacher":
        data, _, teacher = two_layer_teacher(s["teacher_widths"], d=s["d"], n_train=s["n_train"], seed=s["seed"])
        config = normalize_config({"name": "mlp", "input_shape": [s["d"]], "num_outputs": 1, "widths": s["widths"],
                                   "activation": "softplus"})
        if s.get("planted"):
            planted = teacher
            name = f"teacher {s['teacher_widths']} (planted minimum)"
        else:
            name = f"teacher {s['teacher_widths']} → student {s['widths']}"
    else:
        data = digits_pca(s["pca"], s["n_train"])
        config = normalize_config({"name": "mlp", "input_shape": [s["pca"]], "num_outputs": 10,
                                   "widths": s["widths"], "activation": s["activation"]})
        name = f"digits PCA-{s['pca']}, {s['n_train']} samples, {s['widths']} {s['activation']}"
    return data, config, name, planted


def run(out: Path, *, settings: list[dict], max_pairs: int, fit_steps: Mapping | None = None,
        point_steps: Mapping | None = None) -> dict:
    """Every setting: train a minimum, then the permutation points of up to `max_pairs` pairs per hidden layer."""
    t0 = time.perf_counter()
    fit_steps = {"adam_steps": 3000, "lbfgs_steps": 3000, "newton_steps": 40, **(fit_steps or {})}
    point_steps = {"lbfgs_steps": 2000, "newton_steps": 40, **(point_steps or {})}
    results, seeds = [], set()
    for s in settings:
        t1 = time.perf_counter()
        data, config, name, planted = _setting(s)
        seeds.add(s["seed"])
        loss_fn = objective(config, data)
        start = planted if planted is not None else init_params(config, generator=torch.Generator().manual_seed(
            s["seed"]))
        fit = minimize(loss_fn, start, gtol=1e-10, **(fit_steps if planted is None else {"adam_steps": 0}))
        base = characterize(loss_fn, fit.params)
        rows = []
        for layer, width in enumerate(config["widths"]):
            for i, j in list(itertools.combinations(range(width), 2))[:max_pairs]:
                pp = permutation_point(loss_fn, fit.params, config, layer, i, j, gtol=1e-10, **point_steps)
                cp = characterize(loss_fn, pp.params)
                rows.append({"layer": layer, "units": [i, j], "loss": pp.loss, "excess": pp.loss - base.loss,
                             "gradient_norm": pp.gradient_norm, "index": cp.index, "nullity": cp.nullity,
                             "converged": pp.gradient_norm <= GTOL and base.gradient_norm <= GTOL,
                             "smallest_eigenvalues": cp.spectrum.eigenvalues[:4].tolist()})
        conv = [r for r in rows if r["converged"]]
        results.append({"name": name, "setting": dict(s), "parameters": sum(v.numel() for v in fit.params.values()),
                        "minimum": {"loss": base.loss, "gradient_norm": base.gradient_norm, "index": base.index,
                                    "nullity": base.nullity, "fit": fit.to_dict()},
                        "points": rows, "converged": len(conv),
                        "index_histogram": {str(k): sum(r["index"] == k for r in conv)
                                            for k in sorted({r["index"] for r in conv})},
                        "index_1": sum(r["index"] == 1 for r in conv), "seconds": time.perf_counter() - t1})
    fig = new_figure(11, 4.2)
    ax_i, ax_l = fig.subplots(1, 2)
    for x, res in enumerate(results):
        pts = res["points"]
        jit = [x + 0.3 * (k / max(len(pts) - 1, 1) - 0.5) for k in range(len(pts))]
        colours = ["tab:blue" if r["converged"] else "tab:gray" for r in pts]
        ax_i.scatter(jit, [r["index"] for r in pts], c=colours, s=14)
        ax_l.scatter(jit, [max(r["excess"], 1e-18) for r in pts], c=colours, s=14)
    for ax in (ax_i, ax_l):
        ax.set_xticks(range(len(results)), [r["name"] for r in results], rotation=30, ha="right", fontsize=6)
        ax.grid(alpha=0.3)
    ax_i.axhline(1, color="tab:red", ls="--", lw=0.8, label="index 1 (first-order saddle)")
    ax_i.set_ylabel("Morse index of the permutation point")
    ax_i.legend(fontsize=8)
    ax_l.set_yscale("log")
    ax_l.set_ylabel("L(θ_pp) − L(θ) (grey: not converged)")
    fig.suptitle("permutation points of multilayer networks, no weight decay")
    save_figure(fig, out / "multilayer_saddle.png")
    total = sum(r["index_1"] for r in results)
    converged = sum(r["converged"] for r in results)
    best_min = min(r["minimum"]["gradient_norm"] for r in results)
    best_point = min((p["gradient_norm"] for r in results for p in r["points"]), default=float("nan"))
    return {
        "value": total,
        "measurements": {"settings": results, "index_1_points": total, "converged_points": converged,
                         "smallest_gradient_norm_at_a_minimum": best_min,
                         "smallest_gradient_norm_at_a_permutation_point": best_point,
                         "seconds": time.perf_counter() - t0},
        "figures": ["multilayer_saddle.png"],
        "seeds": sorted(seeds),
        "construction": ("No weight decay, float64. Settings: " + "; ".join(r["name"] for r in results) + ". Each "
                         "student is trained from init_params(seed) by Adam, L-BFGS and Newton to ||∇L|| <= 1e-10 "
                         f"({fit_steps}); at the minimum, the permutation points of up to {max_pairs} pairs of units "
                         "per hidden layer (constrained minimum on Fix(π_ij), permutation_point) and their dense "
                         "Hessian spectra (index: eigenvalues below −√eps·max|λ|). Teacher settings: inputs N(0, I), "
                         "targets from a random softplus MLP (weights N(0, 1.5²/fan_in)). Digits: the first n "
                         "training images projected on their top principal components (whitened), squared loss on "
                         f"one-hot targets. Converged: ||∇L|| <= {GTOL:g} at the point and at its minimum."),
        "inconclusive": None if converged else (
            f"no permutation point converged to ||∇L|| <= {GTOL:g} (smallest ||∇L||: {best_min:.2g} at a minimum, "
            f"{best_point:.2g} at a permutation point); indices at non-critical points are not Morse indices"),
    }


CLAIMS = [
    {
        "id": "brea.multilayer-saddle",
        "paper": "brea",
        "statement": "In a multilayer network some permutation points are first-order saddles (permutation saddles) on "
                     "the path between a minimum and its permuted copy.",
        "measures": "number of converged permutation points (||∇L|| <= 1e-8) of multilayer students without weight "
                    "decay whose Hessian index is exactly 1, over every setting tried",
        "threshold": 1,
        "direction": ">=",
        "budgets": {
            "smoke": {"settings": [{"task": "teacher", "teacher_widths": [2, 2], "widths": [2, 2], "d": 2,
                                    "n_train": 100, "seed": 0, "planted": True}],
                      "max_pairs": 1, "point_steps": {"lbfgs_steps": 100, "newton_steps": 5}},
            "quick": {"settings": [
                {"task": "teacher", "teacher_widths": [2, 2], "widths": [2, 2], "d": 3, "n_train": 300, "seed": 0,
                 "planted": True},
                {"task": "teacher", "teacher_widths": [2, 2], "widths": [3, 3], "d": 3, "n_train": 300, "seed": 0},
                {"task": "digits", "pca": 8, "n_train": 300, "widths": [6, 6], "activation": "tanh", "seed": 0},
            ], "max_pairs": 2, "fit_steps": {"adam_steps": 2000, "lbfgs_steps": 2000, "newton_steps": 30},
                "point_steps": {"lbfgs_steps": 800, "newton_steps": 20}},
            "full": {"settings": [
                *({"task": "teacher", "teacher_widths": w, "widths": w, "d": 3, "n_train": 1000, "seed": s,
                   "planted": True} for w in ([2, 2], [3, 3]) for s in range(3)),
                *({"task": "teacher", "teacher_widths": tw, "widths": w, "d": 3, "n_train": 1000, "seed": s}
                  for tw, w in (([2, 2], [3, 3]), ([3, 3], [4, 4]), ([3, 3], [5, 5])) for s in range(3)),
                *({"task": "digits", "pca": k, "n_train": n, "widths": w, "activation": a, "seed": 0}
                  for k, n, w in ((8, 300, [6, 6]), (10, 1437, [6, 6]), (10, 1437, [10, 10]), (16, 1437, [8, 8]))
                  for a in ("tanh", "softplus")),
            ], "max_pairs": 45, "fit_steps": {"adam_steps": 5000, "lbfgs_steps": 20000, "newton_steps": 80},
                "point_steps": {"lbfgs_steps": 10000, "newton_steps": 80}},
        },
        "run": run,
    },
]
