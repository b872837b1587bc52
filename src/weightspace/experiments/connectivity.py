"""Sharma et al. 2024: weak, simultaneous and strong linear connectivity modulo permutation.

`trajectory_barriers`: two training runs (or two IMP sequences) compared checkpoint by checkpoint
under three alignments — the permutation found at the end, one found per checkpoint, and none.
`width_sweep`: 2-model and 3-model (simplex) barriers after weight matching, as width grows.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from .._files import write_json
from ..align import align_many, weight_matching
from ..data import load as load_data
from ..errors import ConfigError
from ..io import load_checkpoint
from ..models import example_input
from ..paths import evaluate_path, linear_path, simplex_barrier
from ..sweep import run_jobs
from ..symmetry import spec_of
from ..train import train

__all__ = ["trajectory_barriers", "width_sweep", "train_run"]

_STEP = re.compile(r"^(step|level)-(\d+)(\.safetensors)?$")


def _sequence(run: Path) -> dict[str, Path]:
    """{label: checkpoint} for step-NNNNNN.safetensors files or level-NN run directories."""
    out = {}
    for p in sorted(run.iterdir()):
        m = _STEP.match(p.name)
        if m:
            out[f"{m.group(1)} {int(m.group(2))}"] = p / "final.safetensors" if p.is_dir() else p
    return out


def trajectory_barriers(
    run_a: str | os.PathLike,
    run_b: str | os.PathLike,
    *,
    dataset: str | None = None,
    points: int = 11,
    split: str = "test",
    callback: Callable[[int, int], None] | None = None,
) -> dict:
    """Barrier at every shared checkpoint with the final permutation, per-checkpoint permutations, and none."""
    seq_a, seq_b = _sequence(Path(run_a)), _sequence(Path(run_b))
    labels = [k for k in seq_a if k in seq_b]
    if not labels:
        raise ConfigError(f"{run_a} and {run_b} share no step-*.safetensors checkpoints or level-* runs "
                          "(train with --save-every, or run IMP)")
    ckpts = [(load_checkpoint(seq_a[k]), load_checkpoint(seq_b[k])) for k in labels]
    first = ckpts[0][0]
    model = first.module()
    data = first.dataset(dataset)
    spec = spec_of(model, example_input(model.config))
    final = weight_matching(ckpts[-1][0].params, ckpts[-1][1].params, spec)
    series: dict[str, list[float]] = {"final_permutation": [], "per_step": [], "naive": []}
    masks_consistent = True
    for i, (a, b) in enumerate(ckpts):
        per_step = weight_matching(a.params, b.params, spec)
        for name, moved in (("final_permutation", final.apply(b.params)), ("per_step", per_step.apply(b.params)),
                            ("naive", b.params)):
            curve = evaluate_path(model, linear_path(a.params, moved), data, points=points, split=split)
            series[name].append(curve.barrier("loss").value)
        if b.masks:  # a pruned network's mask moves with its weights
            aligned = final.apply(b.params)
            for k, m in b.masks.items():
                moved_mask = final.element.apply_to(k, m)
                masks_consistent &= bool((aligned[k][moved_mask == 0] == 0).all())
        if callback is not None:
            callback(i + 1, len(ckpts))
    return {"checkpoints": labels, **series, "split": split, "points": points,
            "masks_permuted_with_weights": masks_consistent if any(b.masks for _, b in ckpts) else None}


def train_run(config: dict, dataset: str, seed: int, epochs: int, out: str) -> str:
    """Train one run unless its run directory is already complete (resumable sweeps)."""
    if not (Path(out) / "final.safetensors").is_file():
        train(config, dataset, epochs=epochs, seed=seed, out=out)
    return out


def width_sweep(
    widths: list[int],
    seeds: int,
    out: str | os.PathLike,
    *,
    dataset: str = "mnist1d",
    depth: int = 2,
    epochs: int = 30,
    points: int = 11,
    resolution: int = 4,
    executor: str = "local",
    callback: Callable[[str, dict], None] | None = None,
) -> dict:
    """Mean 2-model (all seed pairs) and 3-model (simplex, all seed triples) test-loss barriers after weight
    matching, as width grows; Spearman's ρ between width and each barrier."""
    if seeds < 2 or not widths:
        raise ConfigError("width sweep needs at least two seeds and one width")
    root = Path(out)
    jobs = [{"config": {"name": "mlp", "depth": depth, "width": w}, "dataset": dataset, "seed": s,
             "epochs": epochs, "out": str(root / "runs" / f"w{w}-s{s}")} for w in widths for s in range(seeds)]
    run_jobs(train_run, jobs, executor=executor,
             callback=(lambda i, n: callback("train", {"step": i, "total_steps": n})) if callback else None)
    data = load_data(dataset)
    rows = []
    for w in widths:
        nets = [load_checkpoint(root / "runs" / f"w{w}-s{s}") for s in range(seeds)]
        model = nets[0].module()
        spec = spec_of(model, example_input(model.config))
        pair, naive = [], []
        for i in range(seeds):
            for j in range(i + 1, seeds):
                a, b = nets[i].params, nets[j].params
                aligned = weight_matching(a, b, spec).apply(b)
                pair.append(evaluate_path(model, linear_path(a, aligned), data, points=points).barrier().value)
                naive.append(evaluate_path(model, linear_path(a, b), data, points=points).barrier().value)
        row = {"width": w, "barrier_2": float(np.mean(pair)), "barrier_2_std": float(np.std(pair)),
               "barrier_2_naive": float(np.mean(naive)),
               "test_accuracy": float(np.mean([model_accuracy(n) for n in nets]))}
        if seeds >= 3:  # every triple of seeds, each aligned to its first network
            b3, b3_naive = [], []
            for trio in itertools.combinations(range(seeds), 3):
                triple = [nets[i].params for i in trio]
                aligned = [al.apply(t) for al, t in zip(align_many(triple, spec), triple, strict=True)]
                b3.append(simplex_barrier(model, aligned, data, resolution=resolution).value)
                b3_naive.append(simplex_barrier(model, triple, data, resolution=resolution).value)
            row["barrier_3"], row["barrier_3_std"] = float(np.mean(b3)), float(np.std(b3))
            row["barrier_3_naive"] = float(np.mean(b3_naive))
        rows.append(row)
        write_json(root / "results.json", {"rows": rows, "dataset": dataset, "depth": depth, "seeds": seeds,
                                           "epochs": epochs})
        if callback is not None:
            callback("barriers", {"step": len(rows), "total_steps": len(widths)})
    result = {"rows": rows, "dataset": dataset, "depth": depth, "seeds": seeds, "epochs": epochs}
    if len(widths) >= 3:
        result["spearman_2"] = float(spearmanr([r["width"] for r in rows], [r["barrier_2"] for r in rows])[0])
        if seeds >= 3:
            result["spearman_3"] = float(spearmanr([r["width"] for r in rows], [r["barrier_3"] for r in rows])[0])
    write_json(root / "results.json", result)
    return result


def model_accuracy(ckpt) -> float:
    """Test accuracy recorded when the run finished (metrics.json beside the checkpoint)."""
    metrics = Path(ckpt.path).parent / "metrics.json"
    return json.loads(metrics.read_text())["test"]["accuracy"] if metrics.is_file() else float("nan")
