"""Linear connectivity modulo permutation: align two networks, then measure the barrier between them.

`align_pair` dispatches to weight, activation or learned (STE) matching; `linear_barrier` evaluates
the straight path from θ_A to the aligned θ_B (optionally with BatchNorm reset or REPAIR at every
point) and returns the barrier with its whole curve.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .align import Alignment, activation_matching, learned_matching, weight_matching
from .data import Dataset
from .errors import ConfigError
from .evaluate import fit_inputs
from .models import example_input
from .params import Params, check_same_structure, first_float
from .paths import Barrier, PathCurve, evaluate_path, linear_path, repair, reset_batchnorm
from .symmetry import Spec, spec_of

__all__ = ["METHODS", "RENORMALIZE", "PairBarrier", "align_pair", "linear_barrier"]

METHODS = ("none", "weight", "activation", "ste")
RENORMALIZE = ("none", "reset-bn", "repair")


def align_pair(
    method: str,
    model: nn.Module,
    reference: Mapping[str, Tensor],
    other: Mapping[str, Tensor],
    *,
    spec: Spec | None = None,
    data: Dataset | None = None,
    generator: torch.Generator | None = None,
    max_samples: int = 2000,
    callback: Callable[[dict], None] | None = None,
) -> Alignment | None:
    """Align `other` to `reference` with `method` (none, weight, activation, ste); None for "none"."""
    if method not in METHODS:
        raise ConfigError(f"unknown alignment method {method!r}; choose one of {', '.join(METHODS)}")
    check_same_structure(reference, other)
    if method == "none":
        return None
    spec = spec if spec is not None else spec_of(model, example_input(model.config, dtype=first_float(reference).dtype))
    if method == "weight":
        return weight_matching(reference, other, spec, generator=generator)
    if data is None:
        raise ConfigError(f"{method} matching needs data: pass --dataset")
    x = fit_inputs(data.x_train[:max_samples], model).to(first_float(reference).dtype)
    if method == "activation":
        return activation_matching(model, reference, other, x, spec)
    return learned_matching(model, reference, other, fit_inputs(data.x_train, model).to(first_float(reference).dtype),
                            data.y_train, data.task, spec, generator=generator, callback=callback)



@dataclass(frozen=True)
class PairBarrier:
    """The barrier along the straight path between two (aligned) networks, and its curve."""

    barrier: Barrier
    curve: PathCurve
    alignment: Alignment | None

    def to_dict(self) -> dict:
        return {**self.barrier.to_dict(), "align": self.alignment.method if self.alignment else "none"}


def linear_barrier(
    model: nn.Module,
    reference: Mapping[str, Tensor],
    other: Mapping[str, Tensor],
    data: Dataset,
    *,
    align: str = "none",
    points: int = 25,
    split: str = "test",
    metric: str = "loss",
    definition: str = "interpolation",
    renormalize: str = "none",
    spec: Spec | None = None,
    generator: torch.Generator | None = None,
    callback: Callable[[int, int], None] | None = None,
) -> PairBarrier:
    """Barrier of θ(α) = (1 − α) θ_A + α π(θ_B), π from `align`, on `data`'s `split`."""
    if renormalize not in RENORMALIZE:
        raise ConfigError(f"unknown renormalisation {renormalize!r}; choose one of {', '.join(RENORMALIZE)}")
    alignment = align_pair(align, model, reference, other, spec=spec, data=data, generator=generator)
    b = alignment.apply(other) if alignment is not None else dict(other)
    a = dict(reference)
    prepare = None
    stats_x = fit_inputs(data.x_train[:2000], model).to(first_float(a).dtype)
    if renormalize == "reset-bn":
        def prepare(p: Params) -> Params:
            return reset_batchnorm(model, p, stats_x)
    line = linear_path(a, b)
    path = line
    if renormalize == "repair":
        spec = spec if spec is not None else spec_of(model, example_input(model.config, dtype=first_float(a).dtype))
        ends = (reset_batchnorm(model, a, stats_x), reset_batchnorm(model, b, stats_x))

        def path(alpha: float) -> Params:  # REPAIR's targets depend on α itself
            return repair(model, line(alpha), ends, alpha, stats_x, spec)
    curve = evaluate_path(model, path, data, points=points, split=split, prepare=prepare, callback=callback)
    return PairBarrier(curve.barrier(metric, definition), curve, alignment)
