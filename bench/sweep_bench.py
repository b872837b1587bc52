"""Sweep executors on the workload sweeps run: 8 small training jobs (an MLP 64-128-128-10 on digits, 15 epochs).

Compared, each on a fresh sweep folder: the floor (the 8 `weightspace.train` calls in a plain loop, no store),
`sweep run --workers 1` (in the driver: the store's cost over the floor), `--workers 2` (a local process pool:
the throughput ratio over sequential, target >= 1.6x on 2 cores, ideal 2x) and `--executor ray --workers 2` (a
local Ray instance: its per-job overhead over the local pool, start-up included and excluded).

Run: PYTHONPATH=src python bench/sweep_bench.py  (prints a Markdown table for bench/RESULTS.md)
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import weightspace as ws

JOBS = 8
GRID = {"seed": list(range(JOBS))}
FIXED = {"model": "mlp", "depth": 2, "width": 128, "dataset": "digits", "epochs": 15}
MODEL = {"name": "mlp", "depth": 2, "width": 128}


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    spec = {"task": "train", "grid": GRID, "fixed": FIXED}
    ws.train(MODEL, "digits", epochs=1)  # warm: the data cached, the training code imported
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        floor = timed(lambda: [ws.train(MODEL, "digits", epochs=FIXED["epochs"], seed=s) for s in GRID["seed"]])
        seq = timed(lambda: ws.sweep.run(spec, root / "seq", workers=1))
        pool = timed(lambda: ws.sweep.run(spec, root / "pool", workers=2))
        import ray

        ray_start = timed(lambda: (ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False),
                                   ray.shutdown()))
        on_ray = timed(lambda: ws.sweep.run(spec, root / "ray", executor="ray", workers=2))
    cores = os.cpu_count()
    print(f"| variant ({JOBS} jobs, {cores} cores) | wall (s) | per job (s) | vs sequential |")
    print("|---|---|---|---|")
    for name, t in (("plain loop of train() (floor)", floor), ("sweep run --workers 1", seq),
                     ("sweep run --workers 2 (local pool)", pool), ("sweep run --executor ray --workers 2", on_ray)):
        print(f"| {name} | {t:.1f} | {t / JOBS:.2f} | {seq / t:.2f}x |")
    print()
    print(f"- throughput, local --workers 2 over sequential: {seq / pool:.2f}x (target >= 1.6x, ideal 2x)")
    print(f"- store and bookkeeping per job (sequential sweep over the plain loop): {(seq - floor) / JOBS:+.3f} s")
    print(f"- Ray over the local pool per job: {(on_ray - pool) / JOBS:+.2f} s with Ray's start-up "
          f"({ray_start:.1f} s to start and stop a local instance), {(on_ray - ray_start - pool) / JOBS:+.2f} s "
          "without it")


if __name__ == "__main__":
    main()
