"""Sharma et al. 2024 drivers: read runs from disk, train width sweeps, write results.

The studies themselves are `weightspace.paths.trajectory_barriers` and `weightspace.paths.width_sweep`;
this module finds checkpoints in run directories and runs the width study as a sweep
(`weightspace.sweep`: the `train` and `width` tasks) that writes its `results.json`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from .. import sweep
from .._files import write_json
from ..errors import ConfigError, WeightspaceError
from ..io import load_checkpoint
from ..paths import _studies
from ..sweep import Sweep

__all__ = ["trajectory_barriers", "width_sweep"]

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
    """`weightspace.paths.trajectory_barriers` over the checkpoints two run directories share."""
    seq_a, seq_b = _sequence(Path(run_a)), _sequence(Path(run_b))
    labels = [k for k in seq_a if k in seq_b]
    if not labels:
        raise ConfigError(f"{run_a} and {run_b} share no step-*.safetensors checkpoints or level-* runs "
                          "(train with --save-every, or run IMP)")
    ckpts = [(load_checkpoint(seq_a[k]), load_checkpoint(seq_b[k])) for k in labels]
    first = ckpts[0][0]
    return _studies.trajectory_barriers(first.module(), [(a.params, b.params) for a, b in ckpts],
                                        first.dataset(dataset), labels=labels, masks=[b.masks for _, b in ckpts],
                                        points=points, split=split, callback=callback)


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
    workers: int = 1,
    address: str | None = None,
    callback: Callable[[str, dict], None] | None = None,
) -> dict:
    """Sharma et al.'s width study as a sweep in `out`: the `width` task at every width, each needing its
    `seeds` trained MLPs (`train` jobs). Both stages resume from the store; `out/results.json` holds the rows
    and Spearman's ρ (`weightspace.paths.width_summary`)."""
    if seeds < 2 or not widths:
        raise ConfigError("width sweep needs at least two seeds and one width")
    study = Sweep("width", grid={"width": list(widths)},
                  fixed={"seeds": seeds, "dataset": dataset, "depth": depth, "epochs": epochs, "points": points,
                         "resolution": resolution})
    records = sweep.run(study, out, executor=executor, workers=workers, address=address,
                        callback=(lambda e: callback("jobs", {"step": e["done"] + e["failed"],
                                                              "total_steps": e["total"]})) if callback else None)
    rows = [r for r in records if r["task"] == "width"]
    failed = next((r for r in records if r["status"] != "done"), None)
    if failed is not None:
        raise WeightspaceError(f"width study: job {failed['key']} ({failed['task']}, {failed['config']}) "
                               f"{failed['status']}: {failed['error']}")
    result = _studies.width_summary([r["result"] for r in rows], seeds)
    result = {"rows": result["rows"], "dataset": dataset, "depth": depth, "seeds": seeds, "epochs": epochs,
              **{k: v for k, v in result.items() if k != "rows"}}
    write_json(Path(out) / "results.json", result)
    return result
