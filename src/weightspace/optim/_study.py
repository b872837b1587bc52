"""Minimisers of different flatness (Pittorino et al. 2022, section 5 of the founding papers): named training
settings and a resumable sweep over settings x seeds.

Each setting names an optimiser and its hyperparameters for `weightspace.train`; the sweep trains one run
directory per (setting, seed) through `weightspace.sweep.run_jobs` (local or Ray) and skips runs that are
already finished, so an interrupted sweep resumes without losing them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from ..errors import ConfigError

__all__ = ["SETTINGS", "train_minimiser", "train_minimisers"]

SETTINGS: Mapping[str, Mapping] = MappingProxyType({
    "sgd-small-batch": {"optimizer": "sgd", "batch_size": 16, "lr": 0.05},
    "sgd-large-batch": {"optimizer": "sgd", "batch_size": 512, "lr": 0.05},
    "sgd-small-lr": {"optimizer": "sgd", "batch_size": 64, "lr": 0.005},
    "sgd-large-lr": {"optimizer": "sgd", "batch_size": 64, "lr": 0.2},
    "adam": {"optimizer": "adam", "batch_size": 64, "lr": 1e-3},
    "sam": {"optimizer": "sam", "batch_size": 64, "lr": 0.05, "optimizer_options": {"rho": 0.05}},
    "entropy-sgd": {"optimizer": "entropy-sgd", "batch_size": 64, "lr": 1.0, "momentum": 0.0,
                    "optimizer_options": {"inner_lr": 0.2, "langevin_steps": 5, "gamma": 0.5, "noise": 1e-4}},
    "replicated-sgd": {"optimizer": "replicated-sgd", "batch_size": 64, "lr": 0.3, "momentum": 0.0,
                       "optimizer_options": {"replicas": 3, "gamma": 0.5, "gamma_growth": 1e-3}},
})


def _setting(name: str | Mapping) -> dict:
    if isinstance(name, Mapping):
        return dict(name)
    if name not in SETTINGS:
        raise ConfigError(f"unknown training setting {name!r}; choose one of {', '.join(SETTINGS)} or pass a dict "
                          "of train() options")
    s = dict(SETTINGS[name])
    if "optimizer_options" in s:
        s["optimizer_options"] = dict(s["optimizer_options"])
    return s


def train_minimiser(setting: str | Mapping, model: dict, data, *, seed: int, epochs: int = 20,
                    out: str | os.PathLike | None = None, **overrides):
    """`weightspace.train` with the named `setting` (a key of `SETTINGS` or a dict of train options) for `seed`;
    `overrides` replace the setting's options. Returns the `TrainResult`."""
    from ..train import train

    options = {**_setting(setting), **overrides}
    if "seed" in options.get("optimizer_options", {}):
        raise ConfigError("train_minimiser: the optimiser's noise seed is derived from seed; do not set it")
    if options["optimizer"] in ("entropy-sgd", "replicated-sgd"):
        options["optimizer_options"] = {**options.get("optimizer_options", {}), "seed": seed}
    return train(model, data, seed=seed, epochs=epochs, out=out, **options)


def _job(setting, model, data, seed, epochs, out, overrides) -> str:
    run = Path(out)
    if not (run / "final.safetensors").is_file():
        train_minimiser(setting, model, data, seed=seed, epochs=epochs, out=run, force=True, **overrides)
    return str(run)


def train_minimisers(settings: Sequence[str], seeds: Sequence[int], model: dict, data: str, out: str | os.PathLike,
                     *, epochs: int = 20, executor: str = "local",
                     callback: Callable[[int, int], None] | None = None, **overrides) -> dict[str, list[str]]:
    """Train every (setting, seed) into `out/<setting>/seed-<s>` (finished runs are kept) and return the run
    directories per setting. `data` is a dataset name (each job loads it, so jobs stay small for Ray)."""
    from ..sweep import run_jobs

    for s in settings:
        _setting(s)
    jobs = [{"setting": s, "model": model, "data": data, "seed": seed, "epochs": epochs,
             "out": str(Path(out) / s / f"seed-{seed}"), "overrides": overrides} for s in settings for seed in seeds]
    runs = run_jobs(_job, jobs, executor=executor, callback=callback)
    grouped: dict[str, list[str]] = {s: [] for s in settings}
    for job, run in zip(jobs, runs, strict=True):
        grouped[job["setting"]].append(run)
    return grouped
