"""The cost of a K-point barrier against its floor, K bare forward passes computing the loss.

Usage: python bench/barrier_bench.py [--points 25] [--repeats 41] [--width 512] [--threads 2]

Model: digits MLP 64-w-w-10 (two seeded initialisations as the endpoints: the cost does not depend on
the weights). `evaluate_path(model, linear_path(a, b), data, points=K)` computes loss and error at K
evenly spaced α on the split; the floor is K forward passes of the bare module at fixed weights, each
followed by the cross-entropy (no path, no bookkeeping). Also timed: the loop a user would write by hand
for the same curve (θ(α) lerped into a second module's own parameters, forward, loss and error: no
library code, the floor of any path evaluation), and building the K points θ(α) alone
(`linear_path(a, b).points`). The bare passes run under `torch.no_grad`, as the issue's and a user's
loop would; the same passes under `torch.inference_mode` (the cheapest grad mode, which `evaluate_path` and
the hand loop use) are a second, stricter floor. Timings interleave the variants round-robin; ratios are the
median over rounds of each round's ratio, which cancels drift in the machine's speed between rounds.
"""

import argparse
import statistics
import time

import torch

import weightspace as ws
from weightspace.models import build
from weightspace.paths import evaluate_path, linear_path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--points", type=int, default=25)
    p.add_argument("--repeats", type=int, default=41)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    k = args.points
    data = ws.data.load("digits")
    config = {"name": "mlp", "input_shape": [64], "num_outputs": 10, "widths": [args.width, args.width]}
    torch.manual_seed(0)
    model = build(config).eval()
    torch.manual_seed(1)
    a, b = model.state_dict(), build(config).state_dict()
    alphas = torch.linspace(0, 1, k, dtype=torch.float64).tolist()
    hand = build(config).eval()  # its own parameters receive each θ(α) in the hand-written loop
    print(f"| split | samples | evaluate_path, K={k} (ms) | hand-written loop (ms) | {k} bare forward passes (ms) | "
          f"evaluate_path / bare | hand loop / bare | bare under inference_mode / bare | {k} points θ(α) alone (ms) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for split in ("test", "train"):
        x, y = data.split(split)

        def path(split=split):
            evaluate_path(model, linear_path(a, b), data, points=k, split=split)

        def by_hand(x=x, y=y):
            with torch.inference_mode():
                own = dict(hand.named_parameters())
                for t in alphas:
                    for name, param in own.items():
                        torch.lerp(a[name], b[name], t, out=param)
                    out = hand(x)
                    float(torch.nn.functional.cross_entropy(out, y))
                    int((out.argmax(-1) != y).sum())

        def bare(x=x, y=y, mode=torch.no_grad):
            with mode():
                for _ in range(k):
                    float(torch.nn.functional.cross_entropy(model(x), y))

        def bare_inference(x=x, y=y):
            bare(x, y, torch.inference_mode)

        def points():
            for _ in linear_path(a, b).points(alphas):
                pass

        fns = {"path": path, "hand": by_hand, "bare": bare, "inference": bare_inference, "lerp": points}
        times = {n: [] for n in fns}
        for f in fns.values():
            f()  # warm-up
        for _ in range(args.repeats):
            for n, f in fns.items():
                t = time.perf_counter()
                f()
                times[n].append(time.perf_counter() - t)
        med = {n: statistics.median(v) * 1e3 for n, v in times.items()}
        ratio = {n: statistics.median(t / u for t, u in zip(times[n], times["bare"], strict=True))
                 for n in ("path", "hand", "inference")}
        print(f"| digits {split} | {len(x)} | {med['path']:.1f} | {med['hand']:.1f} | {med['bare']:.1f} | "
              f"{ratio['path']:.3f} | {ratio['hand']:.3f} | {ratio['inference']:.3f} | {med['lerp']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
