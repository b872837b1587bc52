"""Hidden units as data: the slices of a parameter dict that one unit of a permutation group owns.

A unit k of a group (a `Factor` of the spec) owns, on every axis the spec assigns to the group, the
slice at index k: on axes entering with power p > 0 its *incoming* weights (w_k, b_k: the rows that
produce it), on axes with p < 0 its *outgoing* weights (a_k: the columns that consume it). For an MLP
hidden layer l these are `layers.l.weight[k, :]`, `layers.l.bias[k]` and `layers.{l+1}.weight[:, k]`.
The output bias belongs to no unit. Everything here reads the spec table; nothing is hard-coded per
architecture, but only axes that one group owns whole (a single piece) can be edited unit by unit.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ConfigError, SymmetryError
from ..models import build, example_input, normalize_config
from ..params import Params
from ..symmetry import FactorAction, GroupElement, Spec, spec_of

__all__ = [
    "Slot", "UnitLayout", "check_config", "check_ratio", "check_unit", "layout_of", "model_for", "spec_for", "swap",
]


@dataclass(frozen=True)
class Slot:
    """One axis a group owns: tensor `key`, its `axis`, and the `power` the unit enters with (+ in, − out)."""

    key: str
    axis: int
    power: int

    @property
    def incoming(self) -> bool:
        return self.power > 0


@dataclass(frozen=True)
class UnitLayout:
    """The group (hidden layer) `layer` of a spec: its factor name, size and the slots its units own."""

    layer: int
    factor: str
    size: int
    slots: tuple[Slot, ...]

    @property
    def incoming(self) -> tuple[Slot, ...]:
        return tuple(s for s in self.slots if s.power > 0)

    @property
    def outgoing(self) -> tuple[Slot, ...]:
        return tuple(s for s in self.slots if s.power < 0)

    def get(self, params: Mapping[str, Tensor], unit: int, side: str) -> dict[str, Tensor]:
        """{key: the unit's slice} for `side` "in" (incoming: w_k, b_k) or "out" (outgoing: a_k)."""
        slots = self.incoming if side == "in" else self.outgoing
        return {s.key: params[s.key].select(s.axis, unit).clone() for s in slots}

    def set(self, params: Mapping[str, Tensor], unit: int, values: Mapping[str, Tensor]) -> Params:
        """A new dict with the unit's slices replaced by `values` ({key: slice}); other tensors shared."""
        out = dict(params)
        by_key = {s.key: s for s in self.slots}
        for key, v in values.items():
            s = by_key[key]
            t = out[key].clone()
            t.select(s.axis, unit).copy_(v)
            out[key] = t
        return out

    def vector(self, params: Mapping[str, Tensor], unit: int, side: str) -> Tensor:
        """The unit's slices on `side` raveled and concatenated in slot order, e.g. (w_k, b_k) of shape (d + 1,)."""
        return torch.cat([v.reshape(-1) for v in self.get(params, unit, side).values()])

    def unvector(self, params: Mapping[str, Tensor], vec: Tensor, side: str, where: str) -> dict[str, Tensor]:
        """The inverse of `vector`: {key: slice} shaped like the unit's slices."""
        slots = self.incoming if side == "in" else self.outgoing
        shapes = [params[s.key].select(s.axis, 0).shape for s in slots]
        sizes = [math.prod(sh) for sh in shapes]
        if not isinstance(vec, Tensor) or vec.dim() != 1 or vec.numel() != sum(sizes):
            got = f"shape {tuple(vec.shape)}" if isinstance(vec, Tensor) else type(vec).__name__
            names = ", ".join(f"{s.key}{list(sh)}" for s, sh in zip(slots, shapes, strict=True))
            raise ConfigError(f"{where}: expected a 1-D tensor of {sum(sizes)} {side}coming weights ({names}), "
                              f"got {got}")
        parts = torch.split(vec, sizes)
        return {s.key: p.reshape(sh) for s, p, sh in zip(slots, parts, shapes, strict=True)}


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


def _axis_power(spec: Spec, key: str, axis: int, factor: str, where: str) -> int:
    entry = spec.table[key][axis]
    if entry is None or len(entry) != 1 or len(entry[0].pieces) != 1 or entry[0].pieces[0].factor != factor:
        raise SymmetryError(f"{where}: axis {axis} of {key!r} is shared by several groups or flattened with other "
                            f"axes; units of {factor!r} cannot be edited one by one there")
    return entry[0].pieces[0].power


def layout_of(config: Mapping, layer: int, *, where: str, spec: Spec | None = None) -> UnitLayout:
    """The unit layout of `spec.permutation_factors[layer]` (hidden layer `layer` of an MLP, counted from 0)."""
    spec = spec_for(config) if spec is None else spec
    groups = spec.permutation_factors
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < len(groups):
        names = ", ".join(f"{i}: {f.name}[{f.size}]" for i, f in enumerate(groups)) or "none"
        raise ConfigError(f"{where}: layer must index the model's permutation groups ({names}), got {layer!r}")
    f = groups[layer]
    slots = tuple(Slot(key, axis, _axis_power(spec, key, axis, f.name, where)) for key, axis in f.axes)
    if not any(s.power < 0 for s in slots):
        raise SymmetryError(f"{where}: group {f.name!r} has no outgoing weights in the spec")
    return UnitLayout(layer, f.name, f.size, slots)


def swap(spec: Spec, layer: int, i: int, j: int) -> GroupElement:
    """The transposition π_ij of units i and j of `spec.permutation_factors[layer]`, identity elsewhere."""
    f = spec.permutation_factors[layer]
    perm = torch.arange(f.size)
    perm[i], perm[j] = j, i
    actions = dict(spec.identity().actions)
    actions[f.name] = FactorAction(perm)
    return GroupElement(spec, actions)


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
