"""The cost of a K-point barrier against its floor, K bare forward passes computing the loss.

Usage: python bench/barrier_bench.py [--points 25] [--repeats 41] [--width 512] [--threads 2]
                                     [--splits test train] [--runs 1] [--threshold 1.2]

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

The ratio also moves between processes (memory placement, the neighbours' load on a shared VM) by more than
within one. `--runs N` measures N times, each in a fresh process, one after the other, and judges the median
of the N runs' ratios against `--threshold` on the first split, with a 90% bootstrap interval of that median
(`scipy.stats.bootstrap`, percentile method).
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from scipy.stats import bootstrap

import weightspace as ws
from weightspace.models import build
from weightspace.paths import evaluate_path, linear_path


def measure(split: str, data, args) -> dict:
    """One split's medians (ms) and per-round ratio medians, in this process."""
    k = args.points
    config = {"name": "mlp", "input_shape": [64], "num_outputs": 10, "widths": [args.width, args.width]}
    torch.manual_seed(0)
    model = build(config).eval()
    torch.manual_seed(1)
    a, b = model.state_dict(), build(config).state_dict()
    alphas = torch.linspace(0, 1, k, dtype=torch.float64).tolist()
    hand = build(config).eval()  # its own parameters receive each θ(α) in the hand-written loop
    x, y = data.split(split)

    def path():
        evaluate_path(model, linear_path(a, b), data, points=k, split=split)

    def by_hand():
        with torch.inference_mode():
            own = dict(hand.named_parameters())
            for t in alphas:
                for name, param in own.items():
                    torch.lerp(a[name], b[name], t, out=param)
                out = hand(x)
                float(torch.nn.functional.cross_entropy(out, y))
                int((out.argmax(-1) != y).sum())

    def bare(mode=torch.no_grad):
        with mode():
            for _ in range(k):
                float(torch.nn.functional.cross_entropy(model(x), y))

    def bare_inference():
        bare(torch.inference_mode)

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
    row = {n: statistics.median(times[n]) * 1e3 for n in ("path", "hand", "bare", "lerp")}
    for n in ("path", "hand", "inference"):
        row[f"{n}_ratio"] = statistics.median(t / u for t, u in zip(times[n], times["bare"], strict=True))
    return {"split": split, "samples": len(x), **row}


def table_row(run: str, r: dict) -> str:
    return (f"| {run}digits {r['split']} | {r['samples']} | {r['path']:.1f} | {r['hand']:.1f} | {r['bare']:.1f} | "
            f"{r['path_ratio']:.3f} | {r['hand_ratio']:.3f} | {r['inference_ratio']:.3f} | {r['lerp']:.1f} |")


def series(args) -> None:
    """`--runs` fresh processes; their rows, then the median ratio per split and the verdict on the first."""
    child = [sys.executable, __file__, "--child", "--points", str(args.points), "--repeats", str(args.repeats),
             "--width", str(args.width), "--threads", str(args.threads), "--splits", *args.splits]
    runs = []
    for i in range(args.runs):
        out = subprocess.run(child, check=True, stdout=subprocess.PIPE, text=True).stdout
        runs.append(json.loads(out))
        for r in runs[-1]:
            print(table_row(f"{i + 1} | ", r), flush=True)
    for j, split in enumerate(args.splits):
        path, hand = (np.array([run[j][f"{n}_ratio"] for run in runs]) for n in ("path", "hand"))
        median = np.median(path)
        low, high = bootstrap((path,), np.median, confidence_level=0.9, method="percentile",
                              random_state=0).confidence_interval
        print(f"\ndigits {split}, median of {args.runs} runs: evaluate_path / bare {median:.3f} (90% interval "
              f"{low:.3f}–{high:.3f}; ≤ {args.threshold} in {int((path <= args.threshold).sum())} of {args.runs}); "
              f"hand loop / bare {np.median(hand):.3f}")
        if j == 0:
            verdict = "met" if median <= args.threshold else "not met"
            print(f"Verdict (median evaluate_path / bare on digits {split}, width {args.width}, K = {args.points}, "
                  f"threshold {args.threshold}): {verdict}: {median:.3f}")

def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--points", type=int, default=25)
    p.add_argument("--repeats", type=int, default=41)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--splits", nargs="+", choices=("test", "train"), default=["test", "train"])
    p.add_argument("--runs", type=int, default=1, help="fresh processes, judged by their median")
    p.add_argument("--threshold", type=float, default=1.2)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if not args.child:
        k, run = args.points, "run | " if args.runs > 1 else ""
        print(f"| {run}split | samples | evaluate_path, K={k} (ms) | hand-written loop (ms) | {k} bare passes (ms) | "
              f"evaluate_path / bare | hand loop / bare | bare under inference_mode / bare | "
              f"{k} points θ(α) alone (ms) |")
        print("|---" * (10 if args.runs > 1 else 9) + "|")
        if args.runs > 1:
            series(args)
            return
    torch.set_num_threads(args.threads)
    data = ws.data.load("digits")
    rows = (measure(split, data, args) for split in args.splits)
    if args.child:
        print(json.dumps(list(rows)))
        return
    for row in rows:
        print(table_row("", row), flush=True)

if __name__ == "__main__":
    main()
