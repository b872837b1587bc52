"""The unit view of a spec: which slices of which tensors unit k of a factor owns.

Wherever factor f's piece appears in a segment of an axis, unit k owns the indices of that segment
whose f-coordinate (row-major over the segment's pieces) is k. Such a place is a `Slot`; the power p
of f's piece there says how the unit's coefficient c enters, T' = c^p · T[π]: p > 0 its *incoming*
weights (the rows producing it), p < 0 its *outgoing* weights (the columns consuming it), p = 0
weights it is permuted with but not scaled by (normalisation statistics, a convolution before a
BatchNorm). For an MLP hidden layer l: `layers.l.weight[k, :]`, `layers.l.bias[k]` (in) and
`layers.{l+1}.weight[:, k]` (out); the output bias belongs to no unit. Unit k's slice of a slot is
the tensor with the axis replaced by the segment's other pieces, moved to the front (absent when f
owns the segment alone, i.e. `t.select(axis, start + k)`). Everything is read from the spec's table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..errors import ConfigError, SymmetryError
from ._element import FactorAction, GroupElement

if TYPE_CHECKING:
    from ..params import Params
    from ._spec import Segment, Spec

__all__ = ["SIDES", "Slot", "Units", "neighbours", "producers", "transposition", "unit_matrix", "units_of"]

SIDES = ("in", "out", "stats", "all")


def _lead_first(t: Tensor, axis: int, seg: Segment, lead: tuple[int, ...]) -> Tensor:
    """The segment with its pieces unfolded, pieces `lead` first: (lead sizes..., other pieces..., other axes...)."""
    block = t.narrow(axis, seg.start, seg.stop - seg.start).movedim(axis, 0)
    block = block.reshape(*(p.size for p in seg.pieces), *block.shape[1:])
    return block.movedim(tuple(lead), tuple(range(len(lead))))


def unit_matrix(t: Tensor, axis: int, seg: Segment, lead: tuple[int, ...]) -> Tensor:
    """View the segment's pieces `lead` (consecutive piece indices) as rows: (Π sizes of lead, rest)."""
    return _lead_first(t, axis, seg, lead).reshape(math.prod(seg.pieces[i].size for i in lead), -1)


@dataclass(frozen=True)
class Slot:
    """Piece `position` of segment `segment` of axis `axis` of tensor `key`: where a factor's units live.

    `label` names the slot in the dicts of `Units.get`/`set`: the tensor key, or the key with the axis
    and segment where the factor has several slots on one tensor (attention's packed q, k, v).
    """

    key: str
    axis: int
    segment: Segment
    position: int
    label: str

    @property
    def start(self) -> int:
        return self.segment.start

    @property
    def stop(self) -> int:
        return self.segment.stop

    @property
    def power(self) -> int:
        return self.segment.pieces[self.position].power

    @property
    def incoming(self) -> bool:
        return self.power > 0

    @property
    def alone(self) -> bool:
        """The factor owns the segment alone: unit k's slice is `t.select(axis, start + k)`."""
        return len(self.segment.pieces) == 1

    def block(self, t: Tensor) -> Tensor:
        """(n, other pieces..., other axes...): entry k is unit k's slice."""
        return _lead_first(t, self.axis, self.segment, (self.position,))

    def put(self, t: Tensor, unit: int, value: Tensor) -> Tensor:
        """A new tensor: `t` with unit `unit`'s slice replaced by `value` (shaped like `block(t)[unit]`)."""
        sizes = [p.size for p in self.segment.pieces]
        index = (self.start + torch.arange(self.stop - self.start)).reshape(sizes).movedim(self.position, 0)[unit]
        rest = [s for a, s in enumerate(t.shape) if a != self.axis]
        want = (*index.shape, *rest)
        if tuple(value.shape) != want:
            raise ConfigError(f"Units.set: {self.label!r} expects a slice of shape {want}, got {tuple(value.shape)}")
        v = value.to(t.device, t.dtype).reshape(index.numel(), *rest).movedim(0, self.axis)
        return t.index_copy(self.axis, index.reshape(-1).to(t.device), v)


def _side(slots: tuple[Slot, ...], side: str) -> tuple[Slot, ...]:
    if side == "in":
        return tuple(s for s in slots if s.power > 0)
    if side == "out":
        return tuple(s for s in slots if s.power < 0)
    if side == "stats":
        return tuple(s for s in slots if s.power == 0)
    if side == "all":
        return slots
    raise ConfigError(f"side must be one of {', '.join(SIDES)}, got {side!r}")


@dataclass(frozen=True)
class Units:
    """The units of factor `factor` (size n) and the slots they own; every method is pure."""

    factor: str
    size: int
    slots: tuple[Slot, ...]

    @property
    def incoming(self) -> tuple[Slot, ...]:
        return _side(self.slots, "in")

    @property
    def outgoing(self) -> tuple[Slot, ...]:
        return _side(self.slots, "out")

    @property
    def stats(self) -> tuple[Slot, ...]:
        return _side(self.slots, "stats")

    def _unit(self, unit, where: str) -> int:
        if isinstance(unit, bool) or not isinstance(unit, int) or not 0 <= unit < self.size:
            raise ConfigError(f"{where}: unit must be an int in [0, {self.size}) ({self.factor!r} has {self.size} "
                              f"units), got {unit!r}")
        return unit

    def get(self, params: Mapping[str, Tensor], unit: int, side: str = "all") -> dict[str, Tensor]:
        """{label: unit `unit`'s slice} on `side`: "in" (w_k, b_k), "out" (a_k), "stats" or "all" (copies)."""
        unit = self._unit(unit, "Units.get")
        return {s.label: s.block(params[s.key])[unit].clone() for s in _side(self.slots, side)}

    def set(self, params: Mapping[str, Tensor], unit: int, values: Mapping[str, Tensor]) -> Params:
        """A new dict with unit `unit`'s slices replaced by `values` ({label: slice}); other tensors shared."""
        unit = self._unit(unit, "Units.set")
        by_label = {s.label: s for s in self.slots}
        unknown = sorted(set(values) - set(by_label))
        if unknown:
            raise ConfigError(f"Units.set: {unknown[:3]} are not slots of {self.factor!r}; slots: {sorted(by_label)}")
        out = dict(params)
        for label, v in values.items():
            s = by_label[label]
            out[s.key] = s.put(out[s.key], unit, v)
        return out

    def vector(self, params: Mapping[str, Tensor], unit: int, side: str) -> Tensor:
        """The unit's slices on `side` raveled and concatenated in slot order, e.g. (w_k, b_k) of shape (d + 1,)."""
        return torch.cat([v.reshape(-1) for v in self.get(params, unit, side).values()])

    def unvector(self, params: Mapping[str, Tensor], vec: Tensor, side: str, where: str = "unvector"
                 ) -> dict[str, Tensor]:
        """The inverse of `vector`: {label: slice} shaped like the unit's slices."""
        slots = _side(self.slots, side)
        shapes = [s.block(params[s.key]).shape[1:] for s in slots]
        sizes = [math.prod(sh) for sh in shapes]
        if not isinstance(vec, Tensor) or vec.dim() != 1 or vec.numel() != sum(sizes):
            got = f"shape {tuple(vec.shape)}" if isinstance(vec, Tensor) else type(vec).__name__
            names = ", ".join(f"{s.label}{list(sh)}" for s, sh in zip(slots, shapes, strict=True))
            raise ConfigError(f"{where}: expected a 1-D tensor of {sum(sizes)} {side}coming weights ({names}), "
                              f"got {got}")
        parts = torch.split(vec, sizes)
        return {s.label: p.reshape(sh) for s, p, sh in zip(slots, parts, shapes, strict=True)}

    def matrix(self, params: Mapping[str, Tensor], side: str) -> Tensor:
        """(n, d): row k is `vector(params, k, side)`."""
        return torch.cat([s.block(params[s.key]).reshape(self.size, -1) for s in _side(self.slots, side)], dim=1)


def units_of(spec: Spec, name: str) -> Units:
    """The unit view of factor `name`: one slot per segment piece it owns, in table order."""
    f = spec.factor(name)
    found = []
    for key, axis in f.axes:
        for seg in spec.table[key][axis] or ():
            found += [(key, axis, seg, i) for i, p in enumerate(seg.pieces) if p.factor == name]
    keys = [key for key, *_ in found]

    def label(key, axis, seg, i) -> str:
        return key if keys.count(key) == 1 else f"{key}[axis {axis}, {seg.start}:{seg.stop}, piece {i}]"

    slots = tuple(Slot(key, axis, seg, i, label(key, axis, seg, i)) for key, axis, seg, i in found)
    return Units(name, f.size, slots)


def _top(spec: Spec, name: str) -> str:
    return spec.factor(name).parent or name


def neighbours(spec: Spec, name: str) -> frozenset[str]:
    """Top-level factors other than `name`'s sharing a tensor with it (head dims count as their heads)."""
    top = _top(spec, name)
    keys = {k for f in spec.factors if (f.parent or f.name) == top for k, _ in f.axes}
    found = {_top(spec, p.factor) for k in keys for e in spec.table[k] if e for s in e for p in s.pieces if p.factor}
    return frozenset(found - {top})


def producers(spec: Spec, name: str) -> tuple[str, ...]:
    """Modules m whose `m.weight` axis 0 is owned by factor `name` alone with power > 0: their outputs are its units."""
    out = []
    for key, axis in spec.factor(name).axes:
        entry = spec.table[key][axis]
        if axis != 0 or not key.endswith(".weight") or len(entry) != 1 or len(entry[0].pieces) != 1:
            continue
        if entry[0].pieces[0].power > 0:
            out.append(key[: -len(".weight")])
    return tuple(out)


def transposition(spec: Spec, name: str, i: int, j: int) -> GroupElement:
    """π_ij: units i and j of factor `name` exchanged (within every head for head dims), identity elsewhere."""
    f = spec.factor(name)
    for u in (i, j):
        if isinstance(u, bool) or not isinstance(u, int) or not 0 <= u < f.size:
            raise ConfigError(f"transposition: units must be ints in [0, {f.size}) ({name!r}), got {i!r}, {j!r}")
    if "permutation" not in f.kinds:
        raise SymmetryError(f"transposition: factor {name!r} admits no permutation (kinds {f.kinds})")
    actions = dict(spec.identity().actions)
    perm = actions[name].perm.clone()
    perm[..., i], perm[..., j] = j, i
    actions[name] = FactorAction(perm)
    return GroupElement(spec, actions)
