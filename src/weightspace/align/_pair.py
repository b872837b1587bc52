"""Align one network to another by a named method: none, weight, activation or learned (STE) matching."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from ..data import Dataset, Source, sample
from ..errors import ConfigError
from ..evaluate import fit_inputs
from ..models import example_for
from ..params import check_same_structure, first_float
from ..symmetry import Spec, spec_of
from ._activation_matching import activation_matching
from ._alignment import Alignment
from ._learned_matching import learned_matching
from ._weight_matching import weight_matching

__all__ = ["METHODS", "align_pair"]

METHODS = ("none", "weight", "activation", "ste")


def align_pair(
    method: str,
    model: nn.Module,
    reference: Mapping[str, Tensor],
    other: Mapping[str, Tensor],
    *,
    spec: Spec | None = None,
    data: Source | None = None,
    generator: torch.Generator | None = None,
    max_samples: int = 2000,
    callback: Callable[[dict], None] | None = None,
) -> Alignment | None:
    """Align `other` to `reference` with `method` (none, weight, activation, ste); None for "none".

    `data` (activation and ste matching): any source of batches (`weightspace.data.iter_batches`); activation
    matching reads the first `max_samples` training samples, learned matching the whole training split.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown alignment method {method!r}; choose one of {', '.join(METHODS)}")
    check_same_structure(reference, other)
    if method == "none":
        return None
    spec = spec if spec is not None else spec_of(model, example_for(model, data, dtype=first_float(reference).dtype))
    if method == "weight":
        return weight_matching(reference, other, spec, generator=generator)
    if data is None:
        raise ConfigError(f"{method} matching needs data: pass --dataset")
    dtype = first_float(reference).dtype
    if method == "activation":
        x, _ = sample(data, "train", max_samples=max_samples)
        return activation_matching(model, reference, other, _cast(fit_inputs(x, model), dtype), spec)
    if isinstance(data, Dataset):
        x, y, task = data.x_train, data.y_train, data.task
    else:
        x, y = sample(data, "train", max_samples=None)
        task = None
    return learned_matching(model, reference, other, _cast(fit_inputs(x, model), dtype), y, task, spec,
                            generator=generator, callback=callback)


def _cast(x: Tensor, dtype: torch.dtype) -> Tensor:
    return x.to(dtype) if x.is_floating_point() else x
