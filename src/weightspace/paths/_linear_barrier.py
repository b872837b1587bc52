"""Linear connectivity modulo permutation: the barrier along the straight path to an aligned network.

`linear_barrier` aligns θ_B to θ_A with `weightspace.align.align_pair` (weight, activation or
learned matching), evaluates the straight path from θ_A to the aligned θ_B (optionally with BatchNorm
reset or REPAIR at every point) and returns the barrier with its whole curve.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..align import Alignment
from ..align._pair import align_pair
from ..data import Source, sample
from ..errors import ConfigError
from ..evaluate import ErrorFn, LossFn, fit_inputs
from ..models import example_for
from ..params import Params, first_float
from ..symmetry import Spec, spec_of
from ._barrier import Barrier, PathCurve, evaluate_path
from ._curves import linear_path
from ._renormalize import repair, reset_batchnorm

__all__ = ["RENORMALIZE", "PairBarrier", "linear_barrier"]

RENORMALIZE = ("none", "reset-bn", "repair")


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
    data: Source,
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
    loss_fn: str | LossFn | None = None,
    error_fn: ErrorFn | None = None,
) -> PairBarrier:
    """Barrier of θ(α) = (1 − α) θ_A + α π(θ_B), π from `align`, on `data`'s `split`.

    `data`: any source of batches (a Dataset, a pair, `data.Splits`, a DataLoader); `loss_fn`/`error_fn` as in
    `weightspace.evaluate.evaluate`.
    """
    if renormalize not in RENORMALIZE:
        raise ConfigError(f"unknown renormalisation {renormalize!r}; choose one of {', '.join(RENORMALIZE)}")
    alignment = align_pair(align, model, reference, other, spec=spec, data=data, generator=generator)
    b = alignment.apply(other) if alignment is not None else dict(other)
    a = dict(reference)
    prepare = None
    if renormalize != "none":  # BatchNorm statistics and REPAIR targets from up to 2000 training inputs
        stats_x = fit_inputs(sample(data, "train", max_samples=2000)[0], model)
        stats_x = stats_x.to(first_float(a).dtype) if stats_x.is_floating_point() else stats_x
    if renormalize == "reset-bn":
        def prepare(p: Params) -> Params:
            return reset_batchnorm(model, p, stats_x)
    line = linear_path(a, b)
    path = line
    if renormalize == "repair":
        spec = spec if spec is not None else spec_of(model, example_for(model, data, dtype=first_float(a).dtype))
        ends = (reset_batchnorm(model, a, stats_x), reset_batchnorm(model, b, stats_x))

        def path(alpha: float) -> Params:  # REPAIR's targets depend on α itself
            return repair(model, line(alpha), ends, alpha, stats_x, spec)
    curve = evaluate_path(model, path, data, points=points, split=split, prepare=prepare, callback=callback,
                          loss_fn=loss_fn, error_fn=error_fn)
    return PairBarrier(curve.barrier(metric, definition), curve, alignment)
