"""Minimisers of different flatness (Pittorino et al. 2022, section 5 of the founding papers): named training
settings and a resumable sweep over settings x seeds.

Each setting names an optimiser and its hyperparameters for `weightspace.train`. A grid of settings x seeds
is a sweep (`weightspace.sweep`): the study registers a task that calls `train_minimiser` per cell, so an
interrupted grid resumes without losing finished runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType

from ..errors import ConfigError

__all__ = ["SETTINGS", "train_minimiser"]

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
