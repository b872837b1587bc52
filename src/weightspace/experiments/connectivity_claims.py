"""Claims of Sharma et al. 2024 (PAPERS.md §3) and the Git Re-Basin alignment it builds on: registry records.

  sharma.weak-lmc — two digits MLPs: weight matching cuts the test-loss barrier to <= 20% of the naive one
     (activation and learned (STE) matching and merging measured alongside);
  sharma.trajectory / sharma.imp — the permutation found at the end aligns every checkpoint of two training
     runs / every level of two IMP sequences (masks permuted with the weights);
  sharma.width-simplex — 3-model (simplex) barriers after alignment fall as the width grows (MNIST-1D);
  sharma.batchnorm-reset — ResNet-20 with BatchNorm: resetting BatchNorm statistics (and REPAIR) restores
     the aligned midpoint's accuracy.
Run them with `weightspace reproduce sharma --budget quick --out DIR`.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

from ..align import learned_matching, merge, weight_matching
from ..data import load
from ..evaluate import evaluate, fit_inputs
from ..models import example_input
from ..params import lerp
from ..paths import linear_barrier, repair, reset_batchnorm
from ..plots import plot_path_curves, plot_series, save_figure
from ..prune import imp as run_imp
from ..symmetry import spec_of
from ..train import train
from .connectivity import trajectory_barriers, width_sweep


def _subset(data, n: int | None):
    """The first n training and test examples (smoke budgets); all of them for None."""
    if n is None:
        return data
    return dataclasses.replace(data, x_train=data.x_train[:n], y_train=data.y_train[:n], x_test=data.x_test[:n],
                               y_test=data.y_test[:n])


def digits_pair(out: Path, *, width: int = 512, epochs: int = 20, ste_steps: int = 300) -> dict:
    data = load("digits")
    config = {"name": "mlp", "depth": 2, "width": width, "activation": "relu"}
    a, b = (train(config, data, epochs=epochs, seed=s) for s in (0, 1))
    model = a.model
    pa, pb = a.model.state_dict(), b.model.state_dict()
    spec = spec_of(model, example_input(model.config))
    results, curves = {}, {}
    for method in ("none", "weight", "activation", "ste"):
        t = time.perf_counter()
        if method == "ste":
            al = learned_matching(model, pa, pb, data.x_train, data.y_train, data.task, spec, steps=ste_steps)
            r = linear_barrier(model, pa, al.apply(pb), data)
        else:
            r = linear_barrier(model, pa, pb, data, align=method)
        err = r.curve.barrier("error").value
        results[method] = {"loss_barrier": r.barrier.value, "error_barrier": err, "seconds": time.perf_counter() - t}
        curves[method] = r.curve
    merged = merge([pa, pb], spec)
    results["merged_accuracy"] = evaluate(model, data, "test", params=merged)["accuracy"]
    results["naive_average_accuracy"] = evaluate(model, data, "test", params=lerp(pa, pb, 0.5))["accuracy"]
    results["endpoint_accuracy"] = [a.metrics["test"]["accuracy"], b.metrics["test"]["accuracy"]]
    save_figure(plot_path_curves(curves, title=f"digits MLP 64-{width}-{width}-10: alignment methods"),
                out / "digits_pair.png")
    return results


def trajectory(out: Path, *, width: int = 256, epochs: int = 10, save_every: int = 45) -> dict:
    config = {"name": "mlp", "depth": 2, "width": width}
    with tempfile.TemporaryDirectory(prefix="weightspace-trajectory-") as work:
        for seed in (0, 1):
            train(config, "digits", epochs=epochs, seed=seed, save_every=save_every, out=Path(work) / f"traj{seed}",
                  force=True)
        traj = trajectory_barriers(Path(work) / "traj0", Path(work) / "traj1", points=11)
    save_figure(plot_series(traj["checkpoints"], {k: traj[k] for k in ("naive", "per_step", "final_permutation")},
                            xlabel="checkpoint", ylabel="test loss barrier",
                            title="two digits runs: one permutation for the whole trajectory"), out / "trajectory.png")
    return traj


def imp_sequences(out: Path, *, width: int = 256, epochs: int = 10, levels: int = 4) -> dict:
    config = {"name": "mlp", "depth": 2, "width": width}
    with tempfile.TemporaryDirectory(prefix="weightspace-imp-") as work:
        for seed in (0, 1):
            run_imp(config, "digits", levels=levels, rate=0.3, rewind_epochs=1, epochs=epochs, seed=seed,
                    out=Path(work) / f"imp{seed}")
        sequence = trajectory_barriers(Path(work) / "imp0", Path(work) / "imp1", points=11)
    save_figure(plot_series(sequence["checkpoints"], {k: sequence[k] for k in ("naive", "per_step",
                                                                             "final_permutation")},
                            xlabel="IMP level (30% of the remaining weights pruned per level)",
                            ylabel="test loss barrier", title="two IMP sequences: one permutation for all levels"),
                out / "imp.png")
    return sequence


def resnet_batchnorm(out: Path, *, width: int = 4, epochs: int = 10, n_train: int | None = None) -> dict:
    data = _subset(load("digits"), n_train)
    config = {"name": "resnet20", "input_shape": [1, 8, 8], "width": width, "norm": "batchnorm"}
    a, b = (train(config, data, epochs=epochs, seed=s, lr=0.05, batch_size=64) for s in (0, 1))
    model = a.model
    pa, pb = a.model.state_dict(), b.model.state_dict()
    spec = spec_of(model, example_input(model.config))
    pb = weight_matching(pa, pb, spec).apply(pb)
    x = fit_inputs(data.x_train, model)
    mid = lerp(pa, pb, 0.5)
    return {"endpoint_accuracy": [a.metrics["test"]["accuracy"], b.metrics["test"]["accuracy"]],
            "midpoint_accuracy": evaluate(model, data, params=mid)["accuracy"],
            "midpoint_accuracy_reset_bn": evaluate(model, data, params=reset_batchnorm(model, mid, x))["accuracy"],
            "midpoint_accuracy_repair": evaluate(model, data, params=repair(
                model, mid, (reset_batchnorm(model, pa, x), reset_batchnorm(model, pb, x)), 0.5, x, spec))["accuracy"]}


def width_simplex(out: Path, *, widths: tuple[int, ...], seeds: int, epochs: int, dataset: str = "mnist1d") -> dict:
    with tempfile.TemporaryDirectory(prefix="weightspace-width-") as work:
        r = width_sweep(list(widths), seeds, work, dataset=dataset, epochs=epochs)
    series = {"2 models (aligned)": [row["barrier_2"] for row in r["rows"]],
              "2 models (naive)": [row["barrier_2_naive"] for row in r["rows"]],
              "3 models, simplex (aligned)": [row["barrier_3"] for row in r["rows"]]}
    save_figure(plot_series(list(widths), series, ylabel="test loss barrier", xlabel="width", logx=True,
                            title=f"{dataset} MLPs: barriers after weight matching vs width"), out / "width.png")
    return r


# -- the claim records ----------------------------------------------------------------------------------------
def _weak(out: Path, **budget) -> dict:
    r = digits_pair(out, **budget)
    r["ste_over_weight"] = r["ste"]["loss_barrier"] / max(r["weight"]["loss_barrier"], 1e-12)
    return {"value": r["weight"]["loss_barrier"] / r["none"]["loss_barrier"], "measurements": r,
            "figures": ["digits_pair.png"], "seeds": [0, 1],
            "construction": f"digits (sklearn, 8x8), two MLPs 64-{budget['width']}-{budget['width']}-10 (ReLU) "
                            f"trained {budget['epochs']} epochs with SGD from seeds 0 and 1; test-loss and "
                            "test-error barriers along the straight line, unaligned and after weight matching, "
                            f"activation matching and learned matching (STE, {budget['ste_steps']} steps); the "
                            "merged (aligned average) network's accuracy."}


def _sequence_value(r: dict) -> float:
    return max(f - p for f, p in zip(r["final_permutation"], r["per_step"], strict=True))


def _trajectory(out: Path, **budget) -> dict:
    r = trajectory(out, **budget)
    return {"value": _sequence_value(r), "measurements": r, "figures": ["trajectory.png"], "seeds": [0, 1],
            "construction": f"two digits MLPs 64-{budget['width']}-{budget['width']}-10 trained {budget['epochs']} "
                            f"epochs from seeds 0 and 1, a checkpoint every {budget['save_every']} steps; test-loss "
                            "barrier at every checkpoint with no alignment, with a weight-matching permutation found "
                            "per checkpoint, and with the one found at the end."}


def _imp(out: Path, **budget) -> dict:
    r = imp_sequences(out, **budget)
    return {"value": _sequence_value(r), "measurements": r, "figures": ["imp.png"], "seeds": [0, 1],
            "construction": f"two iterative-magnitude-pruning runs (digits MLP 64-{budget['width']}-{budget['width']}"
                            f"-10, {budget['levels']} levels pruning 30% of the remaining weights, rewound to epoch "
                            f"1, {budget['epochs']} epochs per level) from seeds 0 and 1; test-loss barrier per level "
                            "with the permutation of the last level (masks permuted with the weights), one per "
                            "level, and none."}


def _batchnorm(out: Path, **budget) -> dict:
    r = resnet_batchnorm(out, **budget)
    return {"value": r["midpoint_accuracy_reset_bn"] - r["midpoint_accuracy"], "measurements": r, "figures": [],
            "seeds": [0, 1],
            "construction": f"ResNet-20 (width x{budget['width']}) with BatchNorm on digits as 1x8x8 images"
                            + (f" (first {budget['n_train']} examples)" if budget.get("n_train") else "") + ", trained "
                            f"{budget['epochs']} epochs from seeds 0 and 1, aligned by weight matching; test accuracy "
                            "of the midpoint α = 0.5 as interpolated, after resetting BatchNorm statistics on training "
                            "data, and after REPAIR."}


def _width(out: Path, **budget) -> dict:
    r = width_simplex(out, **budget)
    value = r.get("spearman_3")
    reason = None
    if value is None or value != value:  # NaN: constant barriers
        value, reason = None, "Spearman's ρ is undefined (fewer than two widths or constant barriers)"
    return {"value": value, "measurements": r, "figures": ["width.png"], "seeds": list(range(budget["seeds"])),
            "inconclusive": reason,
            "construction": f"{budget.get('dataset', 'mnist1d')} MLPs 40-w-w-10 for w in {list(budget['widths'])}, "
                            f"{budget['seeds']} seeds per width, {budget['epochs']} epochs; 2-model barriers averaged "
                            "over pairs and 3-model simplex barriers (grid K = 4) over triples after weight matching, "
                            "test loss; the value is Spearman's ρ between width and the 3-model barrier."}


CLAIMS = [
    {"id": "sharma.weak-lmc", "paper": "sharma",
     "statement": "Weak linear connectivity modulo permutation: for a pair of SGD solutions some permutation (weight "
                  "matching) makes the barrier on the straight line nearly vanish.",
     "measures": "test-loss barrier after weight matching / test-loss barrier unaligned",
     "threshold": 0.2, "direction": "<=",
     "budgets": {"smoke": {"width": 32, "epochs": 2, "ste_steps": 5},
                 "quick": {"width": 512, "epochs": 20, "ste_steps": 300},
                 "full": {"width": 1024, "epochs": 40, "ste_steps": 1000}},
     "run": _weak},
    {"id": "sharma.trajectory", "paper": "sharma",
     "statement": "Simultaneous connectivity: the permutation found at the end of training aligns the whole "
                  "trajectory, giving a low barrier at every checkpoint.",
     "measures": "largest excess test-loss barrier of the final permutation over a per-checkpoint one",
     "threshold": 0.02, "direction": "<=",
     "budgets": {"smoke": {"width": 16, "epochs": 1, "save_every": 10},
                 "quick": {"width": 256, "epochs": 10, "save_every": 45},
                 "full": {"width": 512, "epochs": 40, "save_every": 45}},
     "run": _trajectory},
    {"id": "sharma.imp", "paper": "sharma",
     "statement": "Simultaneous connectivity of pruning sequences: one permutation aligns every level of two "
                  "iterative-magnitude-pruning runs.",
     "measures": "largest excess test-loss barrier of the last level's permutation over a per-level one",
     "threshold": 0.02, "direction": "<=",
     "budgets": {"smoke": {"width": 16, "epochs": 1, "levels": 1},
                 "quick": {"width": 256, "epochs": 10, "levels": 4},
                 "full": {"width": 512, "epochs": 20, "levels": 8}},
     "run": _imp},
    {"id": "sharma.width-simplex", "paper": "sharma",
     "statement": "Barriers among three networks over the 2-simplex, after alignment, fall as the width grows.",
     "measures": "Spearman's ρ between width and the aligned 3-model simplex barrier",
     "threshold": -0.8, "direction": "<=",
     "budgets": {"smoke": {"widths": (8, 16, 32), "seeds": 3, "epochs": 1},
                 "quick": {"widths": (32, 64, 128, 256, 512), "seeds": 4, "epochs": 30},
                 "full": {"widths": (32, 64, 128, 256, 512, 1024, 2048), "seeds": 8, "epochs": 60}},
     "run": _width},
    {"id": "sharma.batchnorm-reset", "paper": "sharma",
     "statement": "With BatchNorm, the aligned midpoint collapses until its BatchNorm statistics are reset (or "
                  "REPAIRed), which restores its accuracy (Git Re-Basin, the alignment Sharma et al. build on).",
     "measures": "test accuracy of the aligned midpoint after the BatchNorm reset minus before",
     "threshold": 0.05, "direction": ">=",
     "budgets": {"smoke": {"width": 1, "epochs": 1, "n_train": 128}, "quick": {"width": 4, "epochs": 10},
                 "full": {"width": 8, "epochs": 40}},
     "run": _batchnorm},
]
