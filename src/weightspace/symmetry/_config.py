"""Config helpers for the critical package: the model and spec of a config, unit layouts by layer index.

The unit view itself (which slices unit k of a factor owns) is the spec's: `Spec.units(name)`,
see `weightspace.symmetry._units`. Here a hidden layer is addressed by its index in
`spec.permutation_factors` (MLP hidden layers from 0), the CLI's convenience, and only factors that
own whole axes alone can be edited unit by unit (splitting and chains change or move whole rows).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping

import torch
from torch import nn

from ..errors import ConfigError, SymmetryError
from ..models import build, example_input, normalize_config
from ._spec import Spec
from ._trace import spec_of
from ._units import Slot, Units

__all__ = [
    "Slot", "UnitLayout", "check_config", "check_ratio", "check_unit", "layout_of", "model_for", "spec_for",
]

UnitLayout = Units  # the name the critical package has used for a factor's unit view


def model_for(config: Mapping) -> nn.Module:
    """The (float64) module of `config`, used as the function f(θ; x) = functional_call(module, θ, x).

    Its own initial weights are never used; they are drawn inside `fork_rng` so the global RNG is untouched.
    """
    with torch.random.fork_rng(devices=[]):
        return build(config).to(torch.float64).eval()


def spec_for(config: Mapping) -> Spec:
    """The symmetry spec of `config`'s model, traced on an example input (cached per config)."""
    return _spec_cached(json.dumps(normalize_config(config), sort_keys=True))


@functools.lru_cache(maxsize=64)
def _spec_cached(text: str) -> Spec:
    with torch.random.fork_rng(devices=[]):
        model = build(json.loads(text))
    return spec_of(model, example_input(model.config, generator=torch.Generator().manual_seed(0)))


def layout_of(config: Mapping, layer: int, *, where: str, spec: Spec | None = None) -> Units:
    """`spec.units(...)` of `spec.permutation_factors[layer]` (hidden layer `layer` of an MLP, counted from 0).

    Refused unless the factor owns every one of its axes whole and alone, and has outgoing weights.
    """
    spec = spec_for(config) if spec is None else spec
    groups = spec.permutation_factors
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < len(groups):
        names = ", ".join(f"{i}: {f.name}[{f.size}]" for i, f in enumerate(groups)) or "none"
        raise ConfigError(f"{where}: layer must index the model's permutation groups ({names}), got {layer!r}")
    units = spec.units(groups[layer].name)
    for s in units.slots:
        if not s.alone or len(spec.table[s.key][s.axis]) != 1 or (s.start, s.stop) != (0, spec.shapes[s.key][s.axis]):
            raise SymmetryError(f"{where}: axis {s.axis} of {s.key!r} is shared by several groups or flattened with "
                                f"other axes; units of {units.factor!r} cannot be edited one by one there")
    if not units.outgoing:
        raise SymmetryError(f"{where}: group {units.factor!r} has no outgoing weights in the spec")
    return units


def check_unit(unit, size: int, where: str, name: str = "unit") -> int:
    """`unit` as an int in [0, size), else a one-line ConfigError."""
    if isinstance(unit, bool) or not isinstance(unit, int) or not 0 <= unit < size:
        raise ConfigError(f"{where}: {name} must be an int in [0, {size}) (the layer has {size} units), got {unit!r}")
    return unit


def check_ratio(ratio, where: str) -> float:
    """`ratio` as a finite float, else a one-line ConfigError."""
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not math.isfinite(ratio):
        raise ConfigError(f"{where}: ratio must be a finite number (any real λ keeps the function), got {ratio!r}")
    return float(ratio)


def check_config(config, where: str) -> dict:
    """The normalised model config, or a one-line ConfigError."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"{where}: config must be a model config dict, got {type(config).__name__}")
    return normalize_config(config)
