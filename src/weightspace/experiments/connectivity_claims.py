"""Reproduce the connectivity claims (Git Re-Basin; Sharma et al. 2024) in one command.

    python -m weightspace.experiments.connectivity_claims --out docs/results/connectivity

Claims, hardware (2 CPU cores) and sizes are stated in the README this writes next to results.json:
  1. digits MLPs 64-512-512-10, seeds 0/1: weight matching cuts the test-loss barrier to <= 20% of
     the naive one and the error barrier to <= 2 points; learned matching (STE) reaches <= 1.1x the
     weight-matching barrier; merging the aligned pair keeps a useful accuracy.
  2. two training runs: the permutation found at the end aligns every checkpoint (barrier <= naive + 0.01);
     the same for two IMP sequences (one permutation for all sparsity levels, masks permuted with weights).
  3. ResNet-20x4 with BatchNorm on digits as 8x8 images: resetting BatchNorm statistics raises the
     aligned midpoint's accuracy; REPAIR at least matches it.
The width sweep (claim 4) is `weightspace connectivity width`, run separately.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from .._files import write_json
from ..align import learned_matching, merge, weight_matching
from ..data import load
from ..evaluate import evaluate, fit_inputs
from ..models import example_input
from ..params import lerp
from ..paths import linear_barrier, repair, reset_batchnorm
from ..plots import plot_path_curves, plot_series, save_figure
from ..prune import imp
from ..symmetry import spec_of
from ..train import train
from .connectivity import trajectory_barriers


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def digits_pair(out: Path) -> dict:
    data = load("digits")
    config = {"name": "mlp", "depth": 2, "width": 512, "activation": "relu"}
    a, b = (train(config, data, epochs=20, seed=s) for s in (0, 1))
    model = a.model
    pa, pb = a.model.state_dict(), b.model.state_dict()
    spec = spec_of(model, example_input(model.config))
    results, curves = {}, {}
    for method in ("none", "weight", "activation", "ste"):
        t = time.perf_counter()
        if method == "ste":
            al = learned_matching(model, pa, pb, data.x_train, data.y_train, data.task, spec, steps=300)
            r = linear_barrier(model, pa, al.apply(pb), data)
        else:
            r = linear_barrier(model, pa, pb, data, align=method)
        err = r.curve.barrier("error").value
        results[method] = {"loss_barrier": r.barrier.value, "error_barrier": err, "seconds": time.perf_counter() - t}
        curves[method] = r.curve
        _log(f"digits pair, align={method}: loss barrier {r.barrier.value:.4f}, error barrier {err:.4f}")
    merged = merge([pa, pb], spec)
    results["merged_accuracy"] = evaluate(model, data, "test", params=merged)["accuracy"]
    results["naive_average_accuracy"] = evaluate(model, data, "test", params=lerp(pa, pb, 0.5))["accuracy"]
    results["endpoint_accuracy"] = [a.metrics["test"]["accuracy"], b.metrics["test"]["accuracy"]]
    save_figure(plot_path_curves(curves, title="digits MLP 64-512-512-10: alignment methods"),
                out / "digits_pair.png")
    return results


def trajectories(out: Path, work: Path) -> dict:
    config = {"name": "mlp", "depth": 2, "width": 256}
    for seed in (0, 1):
        train(config, "digits", epochs=10, seed=seed, save_every=45, out=work / f"traj{seed}", force=True)
    traj = trajectory_barriers(work / "traj0", work / "traj1", points=11)
    save_figure(plot_series(traj["checkpoints"], {k: traj[k] for k in ("naive", "per_step", "final_permutation")},
                            xlabel="checkpoint", ylabel="test loss barrier",
                            title="two digits runs: one permutation for the whole trajectory"), out / "trajectory.png")
    for seed in (0, 1):
        imp(config, "digits", levels=4, rate=0.3, rewind_epochs=1, epochs=10, seed=seed, out=work / f"imp{seed}")
    sequence = trajectory_barriers(work / "imp0", work / "imp1", points=11)
    save_figure(plot_series(sequence["checkpoints"], {k: sequence[k] for k in ("naive", "per_step",
                                                                             "final_permutation")},
                            xlabel="IMP level (30% of the remaining weights pruned per level)",
                            ylabel="test loss barrier", title="two IMP sequences: one permutation for all levels"),
                out / "imp.png")
    return {"trajectory": traj, "imp": sequence}


def resnet_batchnorm(out: Path) -> dict:
    data = load("digits")
    config = {"name": "resnet20", "input_shape": [1, 8, 8], "width": 4, "norm": "batchnorm"}
    a, b = (train(config, data, epochs=10, seed=s, lr=0.05, batch_size=64) for s in (0, 1))
    model = a.model
    pa, pb = a.model.state_dict(), b.model.state_dict()
    spec = spec_of(model, example_input(model.config))
    pb = weight_matching(pa, pb, spec).apply(pb)
    x = fit_inputs(data.x_train, model)
    mid = lerp(pa, pb, 0.5)
    res = {"endpoint_accuracy": [a.metrics["test"]["accuracy"], b.metrics["test"]["accuracy"]],
           "midpoint_accuracy": evaluate(model, data, params=mid)["accuracy"],
           "midpoint_accuracy_reset_bn": evaluate(model, data, params=reset_batchnorm(model, mid, x))["accuracy"],
           "midpoint_accuracy_repair": evaluate(model, data, params=repair(
               model, mid, (reset_batchnorm(model, pa, x), reset_batchnorm(model, pb, x)), 0.5, x, spec))["accuracy"]}
    _log(f"ResNet-20x4 midpoint accuracy: {res}")
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("docs/results/connectivity"))
    p.add_argument("--work", type=Path, default=Path("out/connectivity"), help="Folder for run directories.")
    args = p.parse_args()
    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    results = {"digits_pair": digits_pair(args.out)}
    results.update(trajectories(args.out, args.work))
    results["resnet20x4_batchnorm"] = resnet_batchnorm(args.out)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "unknown"
    results["meta"] = {"command": "python -m weightspace.experiments.connectivity_claims --out " + str(args.out),
                       "commit": commit, "seconds": time.perf_counter() - t, "torch": torch.__version__}
    write_json(args.out / "results.json", results)
    print(json.dumps({k: v for k, v in results.items() if k != "meta"}, indent=1)[:4000])


if __name__ == "__main__":
    main()
