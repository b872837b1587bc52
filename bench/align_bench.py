"""Weight matching vs the `rebasin` package on the same model pairs, and the cost of a K-point barrier.

Usage: python bench/align_bench.py [--widths 128,512,1024,2048,4096] [--rebasin-max 4096] [--resnet]
Pairs are two independently initialised networks (seeds 0 and 1) of the same architecture; both tools
stop when a full sweep over the permutation groups improves nothing. Reported: wall time of each, the
objective Σ⟨θ_A, π(θ_B)⟩ each reaches, weightspace's time inside the assignment solver and inside the
similarity products, and evaluate_path with K points (interpolation, loss and error at each) against K
bare forward passes computing the loss on the same split.
"""

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import weightspace as ws  # noqa: E402
from _timing import median_time  # noqa: E402
from weightspace.align import _similarity, _weight_matching, weight_matching  # noqa: E402
from weightspace.align._assignment import scipy_solver  # noqa: E402
from weightspace.models import build, example_input  # noqa: E402
from weightspace.paths import evaluate_path, linear_path  # noqa: E402
from weightspace.symmetry import spec_of  # noqa: E402


def pair(config):
    torch.manual_seed(0)
    a = build(config).eval()
    torch.manual_seed(1)
    b = build(config).eval()
    return a, b


def objective(a, b):
    return sum(float((a[k].double() * b[k].double()).sum()) for k in a if a[k].is_floating_point())


def ours(a, b):
    x = example_input(a.config)
    spec = spec_of(a, x)
    sa, sb = a.state_dict(), b.state_dict()
    clock = {"solver": 0.0, "similarity": 0.0}

    def timed_solver(s):
        t = time.perf_counter()
        out = scipy_solver(s)
        clock["solver"] += time.perf_counter() - t
        return out

    real_sim = _similarity.factor_similarity

    def timed_similarity(*args, **kwargs):
        t = time.perf_counter()
        out = real_sim(*args, **kwargs)
        clock["similarity"] += time.perf_counter() - t
        return out

    _weight_matching.factor_similarity = timed_similarity
    try:
        t = time.perf_counter()
        al = weight_matching(sa, sb, spec, solver=timed_solver)
        total = time.perf_counter() - t
    finally:
        _weight_matching.factor_similarity = real_sim
    return total, objective(sa, al.apply(sb)), clock, al.iterations


def theirs(a, b):
    from rebasin import PermutationCoordinateDescent

    b2 = copy.deepcopy(b)
    x = example_input(a.config)
    t = time.perf_counter()
    PermutationCoordinateDescent(a, b2, x).rebasin()
    total = time.perf_counter() - t
    return total, objective(a.state_dict(), b2.state_dict())


def barrier_cost(split, points=25):
    data = ws.data.load("digits")
    model = build({"name": "mlp", "input_shape": [64], "num_outputs": 10, "widths": [512, 512]}).eval()
    a = model.state_dict()
    b = build(model.config).state_dict()
    x, y = data.split(split)
    t_path = median_time(lambda: evaluate_path(model, linear_path(a, b), data, points=points, split=split),
                         repeats=5)

    def bare():  # K forward passes at fixed weights, each giving the loss (no path, no bookkeeping)
        with torch.no_grad():
            for _ in range(points):
                torch.nn.functional.cross_entropy(model(x), y)

    t_bare = median_time(bare, repeats=5)
    return t_path, t_bare


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--widths", default="128,512,1024,2048,4096")
    p.add_argument("--rebasin-max", type=int, default=4096)
    p.add_argument("--resnet", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(2)
    print("| model | weightspace (s) | sweeps | in solver | in similarity | rebasin (s) | speed-up | "
          "objective ws − rebasin |")
    print("|---|---|---|---|---|---|---|---|")
    cases = [(f"MLP 64-{w}-{w}-10", {"name": "mlp", "input_shape": [64], "num_outputs": 10, "widths": [w, w]}, w)
             for w in map(int, args.widths.split(","))]
    if args.resnet:
        cases.append(("ResNet-20x4 (BN, 8x8)", {"name": "resnet20", "input_shape": [1, 8, 8], "num_outputs": 10,
                                                "width": 4}, 0))
    for label, config, w in cases:
        a, b = pair(config)
        t_ws, obj_ws, clock, sweeps = ours(a, b)
        if w <= args.rebasin_max:
            try:
                t_rb, obj_rb = theirs(a, b)
                rb, speed, gap = f"{t_rb:.2f}", f"{t_rb / t_ws:.1f}x", f"{obj_ws - obj_rb:+.4g}"
            except Exception as err:  # noqa: BLE001 - report what rebasin does on this model
                rb, speed, gap = f"fails ({type(err).__name__})", "n/a", "n/a"
        else:
            rb, speed, gap = "not run", "n/a", "n/a"
        print(f"| {label} | {t_ws:.2f} | {sweeps} | {100 * clock['solver'] / t_ws:.0f}% | "
              f"{100 * clock['similarity'] / t_ws:.0f}% | {rb} | {speed} | {gap} |", flush=True)
    print("\n| K = 25 point path, MLP 64-512-512-10 | evaluate_path (s) | 25 bare forward passes (s) | ratio |")
    print("|---|---|---|---|")
    for split in ("test", "train"):
        t_path, t_bare = barrier_cost(split)
        n = len(ws.data.load("digits").split(split)[0])
        print(f"| digits {split} split ({n} samples) | {t_path:.3f} | {t_bare:.3f} | {t_path / t_bare:.2f} |")


if __name__ == "__main__":
    main()
