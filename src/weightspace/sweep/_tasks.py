"""The built-in tasks: `train` (a run directory), `barrier` (the linear barrier between two trained runs
after alignment) and `width` (one width's row of Sharma et al.'s width study over its trained seeds).

Each takes `(config, artifacts)` and returns a JSON-able dict; torch is imported when a job runs.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ._jobs import Job, task

__all__ = ["BARRIER_KEYS", "TRAIN_KEYS", "WIDTH_KEYS"]

_MODEL_KEYS = ("model", "depth", "width", "widths", "activation", "norm", "config")
_HYPER = {"epochs": 20, "batch_size": 64, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0,
          "schedule": "cosine", "seed": 0, "save_every": 0}
TRAIN_KEYS = (*_MODEL_KEYS, "dataset", *_HYPER)
BARRIER_KEYS = (*(k for k in TRAIN_KEYS if k != "seed"), "seeds", "method", "points", "split")
WIDTH_KEYS = ("width", "seeds", "dataset", "depth", "epochs", "points", "resolution")


def _model(config: dict) -> dict:
    """The model config of `weightspace train`'s options: --model, --depth, --width, ..., --config (extra keys)."""
    extra = config.get("config", {})
    if not isinstance(extra, dict):
        raise ConfigError(f"train: config must be a table of extra model keys, got {extra!r}")
    model = {"name": config.get("model", "mlp"), **extra}
    model.update({k: config[k] for k in ("depth", "width", "widths", "activation", "norm") if k in config})
    return model


@task("train", takes=TRAIN_KEYS)
def train_task(config: dict, artifacts: Path) -> dict:
    """`weightspace train` with these options into `artifacts`; the result is its metrics."""
    from ..train import train

    hyper = {k: config.get(k, v) for k, v in _HYPER.items()}
    hyper["save_every"] = hyper["save_every"] or None
    return train(_model(config), config.get("dataset", "digits"), **hyper, out=artifacts).metrics


def _seed_pair(config: dict) -> list[int]:
    seeds = config.get("seeds")
    if not (isinstance(seeds, list) and len(seeds) == 2 and all(isinstance(s, int) for s in seeds)):
        raise ConfigError(f"barrier: seeds must be a pair of integers [a, b], got {seeds!r}")
    return seeds


def _barrier_needs(config: dict) -> list[Job]:
    base = {k: v for k, v in config.items() if k in TRAIN_KEYS}
    return [Job("train", {**base, "seed": s}) for s in _seed_pair(config)]


@task("barrier", takes=BARRIER_KEYS, needs=_barrier_needs)
def barrier_task(config: dict, artifacts: Path, *, inputs: list[Path]) -> dict:
    """Train the runs `seeds` = [a, b] (jobs of their own), align b to a with `method` (none, weight,
    activation, ste) and return the barrier record of the straight path between them."""
    from ..data import load
    from ..io import load_checkpoint
    from ..paths import linear_barrier

    a, b = (load_checkpoint(p / "final.safetensors") for p in inputs)
    pair = linear_barrier(a.module(), a.params, b.params, load(config.get("dataset", "digits")),
                          align=config.get("method", "weight"), points=config.get("points", 11),
                          split=config.get("split", "test"))
    return {**pair.to_dict(), "seeds": config["seeds"]}


def _width_needs(config: dict) -> list[Job]:
    seeds = config.get("seeds", 3)
    if not isinstance(seeds, int) or seeds < 2:
        raise ConfigError(f"width: seeds must be an integer >= 2, got {seeds!r}")
    width = config.get("width")
    if not isinstance(width, int) or width < 1:
        raise ConfigError(f"width: width must be a positive integer, got {width!r}")
    return [Job("train", {"model": "mlp", "depth": config.get("depth", 2), "width": width,
                          "dataset": config.get("dataset", "mnist1d"), "epochs": config.get("epochs", 30),
                          "seed": s}) for s in range(seeds)]


@task("width", takes=WIDTH_KEYS, needs=_width_needs)
def width_task(config: dict, artifacts: Path, *, inputs: list[Path]) -> dict:
    """Sharma et al.'s width study at one width: `weightspace.paths.width_row` over its `seeds` trained MLPs."""
    from ..data import load
    from ..io import load_checkpoint
    from ..paths._studies import width_row

    ckpts = [load_checkpoint(p / "final.safetensors") for p in inputs]
    return width_row(config["width"], ckpts[0].module(), [c.params for c in ckpts],
                     load(config.get("dataset", "mnist1d")), points=config.get("points", 11),
                     resolution=config.get("resolution", 4))
