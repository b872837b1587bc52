"""Weight matching vs the `rebasin` package on trained pairs (and on freshly initialised ones).

Usage: python bench/align_bench.py [--widths 512,1024,2048,4096] [--resnet] [--init-widths 512,2048]
                                   [--cache out/align_pairs] [--repeats 3] [--threads 2]

Trained pairs (the workload users run): digits MLPs 64-h-h-10 trained with Adam (lr 1e-3, 3 epochs,
batch 128) from seeds 0 and 1, and ResNet-20x4 (BatchNorm) on digits as 8x8 images (Adam, 5 epochs,
batch 128); trained weights are cached under --cache (rerun: no training). Random-initialisation
pairs (seeds 0 and 1) form a second table. In one process, per pair, one after the other:
  weightspace            — `weight_matching` as shipped (on CPU: `WarmAssignment`, SciPy on matrices reduced
                           by each factor's previous dual potentials; similarities updated where other
                           factors moved, `incremental=True`);
  weightspace, every similarity recomputed — `incremental=False`;
  weightspace, unaccelerated — `solver=scipy_solver, incremental=False`;
  rebasin         — `PermutationCoordinateDescent(...).rebasin()`.
All stop when a full sweep improves nothing; spec derivation / graph building is included in each time.
Reported per tool: wall time, sweeps, assignment problems (warm-started / all), time in the
assignment solver and in similarity products, and the objective Σ⟨θ_A, π(θ_B)⟩.
"""

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import weightspace as ws  # noqa: E402
from weightspace.align import _assignment, _similarity, _weight_matching, weight_matching  # noqa: E402
from weightspace.models import build, example_input  # noqa: E402
from weightspace.symmetry import spec_of  # noqa: E402


def mlp(w):
    return {"name": "mlp", "input_shape": [64], "num_outputs": 10, "widths": [w, w]}


RESNET = {"name": "resnet20", "input_shape": [1, 8, 8], "num_outputs": 10, "width": 4}


def train(config, seed, epochs):
    """Adam lr 1e-3, batch 128, `epochs` epochs on the digits train split, from seed `seed`."""
    data = ws.data.load("digits", image=config["name"] != "mlp")
    x, y = data.split("train")
    torch.manual_seed(seed)
    model = build(config)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(128):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def pair(config, trained, cache: Path, epochs):
    if not trained:
        out = []
        for seed in (0, 1):
            torch.manual_seed(seed)
            out.append(build(config).eval())
        return out
    out = []
    for seed in (0, 1):
        tag = "resnet20x4" if config["name"] != "mlp" else f"mlp{config['widths'][0]}"
        path = cache / f"{tag}_seed{seed}_e{epochs}.pt"
        if path.exists():
            model = build(config).eval()
            model.load_state_dict(torch.load(path))
        else:
            model = train(config, seed, epochs)
            cache.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(model.state_dict(), tmp)
            tmp.replace(path)
        out.append(model)
    return out


def objective(a, b):
    return sum(float((a[k].double() * b[k].double()).sum()) for k in a if a[k].is_floating_point())


class Clock:
    """Time spent in the assignment solver and in similarity products, by patching the hot functions."""

    def __init__(self):
        self.t = {"solver": 0.0, "products": 0.0}

    def wrap(self, obj, attr, slot):
        real = getattr(obj, attr)

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self.t[slot] += time.perf_counter() - t

        setattr(obj, attr, timed)
        return real


def ours(a, b, variant: str):
    """variant: "default" (as shipped: WarmAssignment, incremental similarities), "full" (WarmAssignment, every
    similarity recomputed), "scipy" (unaccelerated: SciPy from zero duals, every similarity recomputed)."""
    clock = Clock()
    patched = [(_weight_matching, "factor_similarity"), (_similarity.SimilarityCache, "__call__"),
               (_assignment.WarmAssignment, "__call__"), (_assignment, "scipy_solver")]
    reals = [clock.wrap(o, n, "solver" if "solver" in n or o is _assignment.WarmAssignment else "products")
             for o, n in patched]
    scipy_calls = [0]

    def counted(s):
        scipy_calls[0] += 1
        return _assignment.scipy_solver(s)

    warm = _assignment.WarmAssignment()
    try:
        t = time.perf_counter()
        spec = spec_of(a, example_input(a.config))
        sa, sb = a.state_dict(), b.state_dict()
        al = weight_matching(sa, sb, spec, solver=counted if variant == "scipy" else warm,
                             incremental=variant == "default")
        total = time.perf_counter() - t
    finally:
        for (o, n), real in zip(patched, reals, strict=True):
            setattr(o, n, real)
    counts = ({"solved": scipy_calls[0]} if variant == "scipy"
              else {"warm": warm.stats["warm"], "solved": warm.stats["solved"]})
    return {"time": total, "objective": objective(sa, al.apply(sb)), "sweeps": al.iterations, "counts": counts,
            **clock.t}


def theirs(a, b):
    from rebasin import PermutationCoordinateDescent

    b2 = copy.deepcopy(b)
    x = example_input(a.config)
    t = time.perf_counter()
    PermutationCoordinateDescent(a, b2, x).rebasin()
    total = time.perf_counter() - t
    return {"time": total, "objective": objective(a.state_dict(), b2.state_dict())}


def fmt_counts(c):
    return f"{c.get('warm', 0)}/{c['solved']}"


def median_run(runs: list[dict]) -> dict:
    """The run of median wall time, with the medians of the timed parts."""
    if "error" in runs[0]:
        return runs[0]
    mid = sorted(runs, key=lambda r: r["time"])[len(runs) // 2]
    return {**mid, **{k: statistics.median(r[k] for r in runs) for k in ("solver", "products") if k in mid}}


def table(cases, trained, cache, epochs, rebasin_max, repeats):
    print("| model | tool | time (s) | sweeps | assignments warm/all | in solver (s) | in products (s) | "
          "objective | rebasin / tool |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, config, w in cases:
        a, b = pair(config, trained, cache, epochs if config["name"] == "mlp" else 5)
        variants = {"weightspace": "default", "weightspace, every similarity recomputed": "full",
                    "weightspace, unaccelerated (SciPy from zero duals, every similarity recomputed)": "scipy"}
        runs: dict[str, list[dict]] = {tool: [] for tool in [*variants, "rebasin"]}
        for _ in range(repeats):  # round-robin, so a load spike hits every tool alike
            for tool, variant in variants.items():
                runs[tool].append(ours(a, b, variant))
            if w <= rebasin_max:
                try:
                    runs["rebasin"].append(theirs(a, b))
                except Exception as err:  # noqa: BLE001 - report what rebasin does on this model
                    runs["rebasin"] = [{"error": type(err).__name__}]
        rows = {tool: median_run(r) for tool, r in runs.items() if r}
        rb = rows.get("rebasin", {}).get("time")
        for tool, r in rows.items():
            if "error" in r:
                print(f"| {label} | {tool} | fails ({r['error']}) | | | | | | |")
                continue
            extra = (f"{r['sweeps']} | {fmt_counts(r['counts'])} | {r['solver']:.2f} | {r['products']:.2f}"
                     if "sweeps" in r else "– | – | – | –")
            ratio = f"{rb / r['time']:.2f}x" if rb is not None else "n/a"
            print(f"| {label} | {tool} | {r['time']:.2f} | {extra} | {r['objective']:.6g} | {ratio} |", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--widths", default="512,1024,2048,4096")
    p.add_argument("--init-widths", default="512,2048")
    p.add_argument("--rebasin-max", type=int, default=4096)
    p.add_argument("--resnet", action="store_true")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--cache", default="out/align_pairs")
    p.add_argument("--repeats", type=int, default=3, help="runs per tool and pair, round-robin; medians reported")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cache = Path(args.cache)
    t0 = time.perf_counter()
    ours(*pair(mlp(16), False, cache, 0), "default")  # warm-up: first fx trace, first SciPy call
    theirs(*pair(mlp(16), False, cache, 0))
    cases = [(f"MLP 64-{w}-{w}-10", mlp(w), w) for w in map(int, args.widths.split(",")) if w]
    if args.resnet:
        cases.append(("ResNet-20x4 (BN, 8x8)", RESNET, 0))
    print("### Trained pairs\n")
    table(cases, True, cache, args.epochs, args.rebasin_max, args.repeats)
    init = [(f"MLP 64-{w}-{w}-10", mlp(w), w) for w in map(int, args.init_widths.split(",")) if w]
    if args.resnet:
        init.append(("ResNet-20x4 (BN, 8x8)", RESNET, 0))
    print("\n### Freshly initialised pairs\n")
    table(init, False, cache, args.epochs, args.rebasin_max, args.repeats)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
