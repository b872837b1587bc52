"""Sharma et al. 2024 drivers: read runs from disk, train width sweeps, write results.

The studies themselves are `weightspace.paths.trajectory_barriers` and `weightspace.paths.width_sweep`;
this module finds checkpoints in run directories, trains (resumably) the runs of a width sweep and
writes its `results.json`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

from .._files import write_json
from ..data import load as load_data
from ..errors import ConfigError
from ..io import load_checkpoint
from ..models import normalize_config
from ..paths import _studies
from ..sweep import run_jobs
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


def train_run(config: dict, dataset: str, seed: int, epochs: int, out: str) -> str:
    """Train one run unless its run directory is already complete (resumable sweeps); a complete run trained
    with other settings (model, dataset, seed, epochs: read from its metrics.json) is refused. An incomplete
    one is trained again from scratch."""
    run = Path(out)
    if not (run / "final.safetensors").is_file():
        train(config, dataset, epochs=epochs, seed=seed, out=out, force=True)
        return out
    try:
        recorded = json.loads((run / "metrics.json").read_text())
        stored = recorded["config"]
        settings = (recorded["dataset"], recorded["seed"], recorded["hyperparameters"]["epochs"])
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"{run} holds a run whose settings cannot be read (metrics.json); remove it or choose "
                          "another --out") from None
    wanted = normalize_config({**config, "input_shape": stored.get("input_shape"),
                               "num_outputs": stored.get("num_outputs")})
    if wanted != stored or settings != (dataset, seed, epochs):
        raise ConfigError(f"{run} was trained with other settings (model {stored}, dataset {settings[0]}, seed "
                          f"{settings[1]}, epochs {settings[2]}); use another --out or remove it to retrain")
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
    """Train `seeds` MLPs per width under `out/runs` (resumable), then `weightspace.paths.width_sweep` on
    them; `out/results.json` is rewritten after every width."""
    if seeds < 2 or not widths:
        raise ConfigError("width sweep needs at least two seeds and one width")
    root = Path(out)
    jobs = [{"config": {"name": "mlp", "depth": depth, "width": w}, "dataset": dataset, "seed": s,
             "epochs": epochs, "out": str(root / "runs" / f"w{w}-s{s}")} for w in widths for s in range(seeds)]
    run_jobs(train_run, jobs, executor=executor,
             callback=(lambda i, n: callback("train", {"step": i, "total_steps": n})) if callback else None)
    meta = {"dataset": dataset, "depth": depth, "seeds": seeds, "epochs": epochs}
    rows: list[dict] = []

    def network(width: int, seed: int):
        ckpt = load_checkpoint(root / "runs" / f"w{width}-s{seed}")
        return ckpt.module(), ckpt.params

    def progress(stage: str, event: dict) -> None:
        rows.append(event["row"])
        write_json(root / "results.json", {"rows": rows, **meta})
        if callback is not None:
            callback(stage, {k: v for k, v in event.items() if k != "row"})

    result = _studies.width_sweep(widths, seeds, network, load_data(dataset), points=points, resolution=resolution,
                                  callback=progress)
    result = {"rows": result["rows"], **meta, **{k: v for k, v in result.items() if k != "rows"}}
    write_json(root / "results.json", result)
    return result
