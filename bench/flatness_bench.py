"""Flatness and fitted curves on trained networks: what they cost.

Usage: python bench/flatness_bench.py [--draws 8,32,128] [--repeats 3]  (two Markdown tables).

1. Local energy (training error, 5 values of σ) of a trained MLP vs the number of draws N: batched
   (`local_energy`, perturbed networks stacked and vmapped 32 at a time), one at a time through the library
   (`batched=False`), and the loop a user would otherwise write (deepcopy the model, perturb it in place,
   evaluate it). The floor is the forward passes themselves: N·5 + 1 evaluations of the unperturbed network.
2. Fitting a chain with one bend (1000 Adam steps, minibatch 128, one t per step) vs training one endpoint
   network (20 epochs of SGD, batch 64), on the same MLP and data, with the error barriers of both paths.
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
from weightspace.evaluate import fit_inputs  # noqa: E402
from weightspace.flatness import local_energy  # noqa: E402

CASES = {
    "digits, MLP 64-512-512-10": ("digits", {"name": "mlp", "widths": [512, 512]}),
    "MNIST-1D, MLP 40-256-256-10": ("mnist1d", {"name": "mlp", "widths": [256, 256]}),
}
SIGMAS = [0.0, 0.05, 0.1, 0.15, 0.2]


def user_loop(model, data, draws):
    """Deepcopy, perturb in place, evaluate: the loop people write."""
    gen = torch.Generator().manual_seed(0)
    base = ws.evaluate(model, data, "train")["error"]
    rises = []
    for _ in range(draws):
        z = {k: torch.randn(p.shape, generator=gen) for k, p in model.named_parameters()}
        for s in SIGMAS:
            net = copy.deepcopy(model)
            with torch.no_grad():
                for k, p in net.named_parameters():
                    p.mul_(1 + s * z[k])
            rises.append(ws.evaluate(net, data, "train")["error"] - base)
    return rises


def floor(model, data, draws):
    x = fit_inputs(data.x_train, model)
    with torch.no_grad():
        for _ in range(draws * len(SIGMAS) + 1):
            model(x).argmax(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", default="8,32,128")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    draws = [int(d) for d in args.draws.split(",")]
    torch.set_num_threads(2)
    trained = {}
    for label, (name, config) in CASES.items():
        data = ws.data.load(name)
        t0 = time.perf_counter()
        a = ws.train(config, data, epochs=20, batch_size=64, seed=0)
        t_train = time.perf_counter() - t0
        trained[label] = (data, a, t_train)

    print("| dataset, model | draws N | networks | batched (s) | one at a time (s) | user loop (s) | floor (s) | "
          "user loop / batched | batched / floor |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, (data, a, _) in trained.items():
        model, params = a.model, ws.params.state_of(a.model)
        for n in draws:
            def run(batched, n=n, model=model, params=params, data=data):
                return local_energy(model, params, data, sigmas=SIGMAS, samples=n, batched=batched,
                                    generator=torch.Generator().manual_seed(0))
            t_b = median_time(lambda: run(True), repeats=args.repeats)
            t_s = median_time(lambda: run(False), repeats=args.repeats)
            t_u = median_time(lambda n=n, model=model, data=data: user_loop(model, data, n), repeats=args.repeats)
            t_f = median_time(lambda n=n, model=model, data=data: floor(model, data, n), repeats=args.repeats)
            print(f"| {label} | {n} | {n * len(SIGMAS) + 1} | {t_b:.2f} | {t_s:.2f} | {t_u:.2f} | {t_f:.2f} | "
                  f"{t_u / t_b:.2f} | {t_b / t_f:.2f} |")

    print()
    print("| dataset, model | train one endpoint, 20 epochs (s) | fit chain, 1000 steps (s) | fit / train | "
          "train error barrier: line | fitted chain |")
    print("|---|---|---|---|---|---|")
    for label, (data, a, t_train) in trained.items():
        name, config = CASES[label]
        b = ws.train(config, data, epochs=20, batch_size=64, seed=1)
        pa, pb = ws.params.state_of(a.model), ws.params.state_of(b.model)
        t0 = time.perf_counter()
        curve = ws.paths.fit_model_curve(a.model, data, pa, pb, kind="chain", steps=1000, lr=0.01, batch_size=128,
                                         generator=torch.Generator().manual_seed(0))
        t_fit = time.perf_counter() - t0
        along = ws.paths.evaluate_fitted_curve(a.model, curve, data, points=21)
        line = ws.paths.evaluate_path(a.model, ws.paths.linear_path(pa, pb), data, points=21, split="train")
        print(f"| {label} | {t_train:.2f} | {t_fit:.2f} | {t_fit / t_train:.2f} | "
              f"{100 * line.barrier('error').value:.1f} pts | {100 * along.barrier('error').value:.1f} pts |")


if __name__ == "__main__":
    main()
