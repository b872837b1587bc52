"""Sweep executors on the workload sweeps run: 8 small training jobs (an MLP 40-256-256-10 on MNIST-1D, 30
epochs: the runs of `weightspace connectivity width`), each variant a fresh command as a user starts it.

Compared, each on a fresh sweep folder and from a cold interpreter (imports, data loading and worker start-up
included): the floor (one `python` process calling `weightspace.train` 8 times in a loop, no store),
`weightspace sweep run --workers 1` (jobs in the driver: the store's cost over the floor), `--workers 2` (a
local process pool: the throughput ratio over sequential, target >= 1.6x on 2 cores, ideal 2x) and
`--executor ray --workers 2` (a local Ray instance: its per-job overhead over the local pool, Ray's start-up
included). Variants run round-robin, `--repeats` times; the table gives medians.

Run: .venv/bin/python bench/sweep_bench.py --repeats 3  (prints a Markdown table for bench/RESULTS.md)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOBS = 8
FIXED = {"model": "mlp", "depth": 2, "width": 256, "dataset": "mnist1d", "epochs": 30}
CONFIG = f"""task = "train"
[grid]
seed = {list(range(JOBS))}
[fixed]
""" + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in FIXED.items())
FLOOR = ("import weightspace as ws\n"
         f"for s in range({JOBS}):\n"
         f"    ws.train({{'name': 'mlp', 'depth': 2, 'width': 256}}, 'mnist1d', epochs={FIXED['epochs']}, seed=s)\n")
CLI = [str(Path(sys.executable).with_name("weightspace"))]


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "sweep.toml").write_text(CONFIG)
        run = [*CLI, "sweep", "run", str(root / "sweep.toml"), "--out"]
        variants = {
            "plain loop of train() (floor)": lambda d: [sys.executable, "-c", FLOOR],
            "sweep run --workers 1": lambda d: [*run, str(d), "--workers", "1"],
            "sweep run --workers 2 (local pool)": lambda d: [*run, str(d), "--workers", "2"],
            "sweep run --executor ray --workers 2": lambda d: [*run, str(d), "--executor", "ray", "--workers", "2"],
        }
        timed([sys.executable, "-c", FLOOR.replace(f"range({JOBS})", "range(1)")])  # the data cache on disk
        times: dict[str, list[float]] = {name: [] for name in variants}
        for r in range(args.repeats):
            for i, (name, cmd) in enumerate(variants.items()):
                folder = root / f"run-{r}-{i}"
                times[name].append(timed(cmd(folder)))
                shutil.rmtree(folder, ignore_errors=True)
                print(f"repeat {r + 1}: {name}: {times[name][-1]:.1f} s", file=sys.stderr, flush=True)
    med = {name: statistics.median(t) for name, t in times.items()}
    floor, seq, pool, on_ray = med.values()
    load = os.getloadavg()[0]
    print(f"{JOBS} jobs, {os.cpu_count()} cores, medians of {args.repeats}, load average {load:.1f} at the end\n")
    print("| variant | wall (s) | per job (s) | vs sequential sweep |")
    print("|---|---|---|---|")
    for name, t in med.items():
        print(f"| {name} | {t:.1f} | {t / JOBS:.2f} | {seq / t:.2f}x |")
    print()
    print(f"- throughput, local --workers 2 over sequential: {seq / pool:.2f}x (target >= 1.6x, ideal 2x)")
    print(f"- store and bookkeeping per job (sequential sweep over the plain loop): {(seq - floor) / JOBS:+.3f} s")
    print(f"- Ray over the local pool per job, Ray's start and stop included: {(on_ray - pool) / JOBS:+.2f} s")


if __name__ == "__main__":
    main()
