"""The symmetry spec: one table entry per tensor axis naming the unit group (factor) acting there.

For every key of `state_dict()` the table holds one entry per axis: `None` (no unit owns this axis)
or a tuple of `Segment`s, each covering `[start, stop)` of the axis with a row-major layout of
`Piece`s. A piece of length n names the factor whose units index it (or None) and the power p
with which a unit's coefficient c multiplies it: T' = c^p · T[π], so producers carry p = +1 (or the
exponent of a homogeneous activation), consumers −p and normalisation statistics p = 0. The reverse
index (factor -> axes) is derived; sizes are read from the tensors and checked. The unit view (which
slices unit k of a factor owns, its neighbours and producing modules) is derived in `_units.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from torch import Tensor

from ..errors import SymmetryError
from . import _units
from ._element import KINDS, GroupElement, identity, sample

__all__ = ["KINDS", "Piece", "Segment", "Factor", "FixedLayer", "Spec"]


@dataclass(frozen=True)
class Piece:
    """`size` consecutive-stride indices owned by `factor` (None: not a unit axis), entering with `power`."""

    factor: str | None
    size: int
    power: int = 0


@dataclass(frozen=True)
class Segment:
    """Indices [start, stop) of an axis laid out row-major as `pieces` (Π sizes = stop − start)."""

    start: int
    stop: int
    pieces: tuple[Piece, ...]


@dataclass(frozen=True)
class Factor:
    """A group of interchangeable units: its name, size, admitted kinds and the axes it acts on.

    A factor with a `parent` (attention head dimensions) is permuted within each unit of its parent:
    its element holds one permutation of `size` per parent unit.
    """

    name: str
    size: int
    kinds: tuple[str, ...]
    axes: tuple[tuple[str, int], ...] = ()
    parent: str | None = None

    def __repr__(self) -> str:
        parent = f", parent={self.parent!r}" if self.parent else ""
        return f"Factor({self.name!r}, size={self.size}, kinds={self.kinds}{parent}, axes={len(self.axes)})"


@dataclass(frozen=True)
class FixedLayer:
    """A layer whose units are left fixed, and why."""

    name: str
    reason: str


Entry = tuple[Segment, ...] | None


@dataclass(frozen=True)
class Spec:
    """A validated symmetry table over every tensor of a state dict."""

    table: Mapping[str, tuple[Entry, ...]]
    factors: tuple[Factor, ...]
    fixed: tuple[FixedLayer, ...] = ()
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", MappingProxyType(dict(self.table)))
        object.__setattr__(self, "shapes", MappingProxyType(dict(self.shapes)))
        self._validate()
        axes: dict[str, list[tuple[str, int]]] = {f.name: [] for f in self.factors}
        for key, entries in self.table.items():
            for axis, entry in enumerate(entries):
                for name in sorted({p.factor for s in entry or () for p in s.pieces if p.factor}):
                    axes[name].append((key, axis))
        object.__setattr__(
            self, "factors", tuple(Factor(f.name, f.size, f.kinds, tuple(axes[f.name]), f.parent) for f in self.factors)
        )

    def _validate(self) -> None:
        by_name = {f.name: f for f in self.factors}
        if len(by_name) != len(self.factors):
            raise SymmetryError("spec: factor names are not unique")
        for f in self.factors:
            if f.size < 1:
                raise SymmetryError(f"spec: factor {f.name!r} has size {f.size}")
            if not set(f.kinds) <= set(KINDS):
                raise SymmetryError(f"spec: factor {f.name!r} has unknown kinds {f.kinds}")
            if f.parent is not None and f.parent not in by_name:
                raise SymmetryError(f"spec: factor {f.name!r} names an unknown parent {f.parent!r}")
        if set(self.shapes) != set(self.table):
            missing = sorted(set(self.shapes) ^ set(self.table))[:3]
            raise SymmetryError(f"spec: tensors not covered by the table: {missing}")
        for key, entries in self.table.items():
            shape = self.shapes[key]
            if len(entries) != len(shape):
                raise SymmetryError(f"spec: {key!r} has {len(shape)} axes but {len(entries)} entries")
            for axis, entry in enumerate(entries):
                self._validate_entry(key, axis, shape[axis], entry, by_name)

    @staticmethod
    def _validate_entry(key, axis, length, entry, by_name) -> None:
        if entry is None:
            return
        end = 0
        for seg in sorted(entry, key=lambda s: s.start):
            if seg.start < end or seg.stop > length or seg.start >= seg.stop:
                raise SymmetryError(f"spec: {key!r} axis {axis}: segment [{seg.start}, {seg.stop}) is out of place")
            end = seg.stop
            if math.prod(p.size for p in seg.pieces) != seg.stop - seg.start:
                raise SymmetryError(f"spec: {key!r} axis {axis}: pieces do not tile [{seg.start}, {seg.stop})")
            prev = None
            for p in seg.pieces:
                if p.factor is not None:
                    f = by_name.get(p.factor)
                    if f is None:
                        raise SymmetryError(f"spec: {key!r} axis {axis} names an unknown factor {p.factor!r}")
                    if f.size != p.size:
                        raise SymmetryError(
                            f"spec: factor {f.name!r} has size {f.size} but {key!r} axis {axis} gives {p.size}"
                        )
                    if f.parent is not None and prev != f.parent:
                        raise SymmetryError(
                            f"spec: {key!r} axis {axis}: {f.name!r} must follow its parent {f.parent!r}"
                        )
                prev = p.factor

    # -- views ---------------------------------------------------------------------------------
    def factor(self, name: str) -> Factor:
        for f in self.factors:
            if f.name == name:
                return f
        raise SymmetryError(f"spec has no factor {name!r}; factors: {[f.name for f in self.factors]}")

    @property
    def permutation_factors(self) -> tuple[Factor, ...]:
        """Factors admitting permutations, in forward order (`--layer` indexes this)."""
        return tuple(f for f in self.factors if "permutation" in f.kinds and f.parent is None)

    def check(self, params: Mapping[str, Tensor]) -> None:
        """Raise unless `params` has exactly this spec's keys and shapes."""
        if set(params) != set(self.table):
            missing = sorted(set(self.table) - set(params))[:3]
            extra = sorted(set(params) - set(self.table))[:3]
            raise SymmetryError(f"state dict does not match the spec: missing {missing}, unexpected {extra}")
        for k, v in params.items():
            if tuple(v.shape) != tuple(self.shapes[k]):
                raise SymmetryError(
                    f"state dict does not match the spec: {k!r} has shape {tuple(v.shape)}, "
                    f"expected {tuple(self.shapes[k])}"
                )

    # -- the unit view (see _units.py) ------------------------------------------------------------
    def units(self, name: str) -> _units.Units:
        """The slots unit k of factor `name` owns (get/set/vector of a unit's slices)."""
        return _units.units_of(self, name)

    def neighbours(self, name: str) -> frozenset[str]:
        """Top-level factors sharing a tensor with factor `name` (head dims count as their heads)."""
        return _units.neighbours(self, name)

    def producers(self, name: str) -> tuple[str, ...]:
        """Modules whose outputs are factor `name`'s units: `<module>.weight` axis 0 is the factor alone, power > 0."""
        return _units.producers(self, name)

    def transposition(self, name: str, i: int, j: int) -> GroupElement:
        """π_ij: the element exchanging units i and j of factor `name` (within every head for head dims)."""
        return _units.transposition(self, name, i, j)

    # -- elements --------------------------------------------------------------------------------
    def sample(self, *, generator, kinds=None) -> GroupElement:
        """A random element: uniform permutations, log-uniform scales in [0.5, 2], random signs, GL = exp(X)."""
        return sample(self, generator=generator, kinds=kinds)

    def identity(self) -> GroupElement:
        return identity(self)

    def to_dict(self) -> dict:
        """JSON-able view: factors, fixed layers and the per-axis table."""

        def entry(e):
            if e is None:
                return None
            return [
                {"start": s.start, "stop": s.stop, "pieces": [[p.factor, p.size, p.power] for p in s.pieces]}
                for s in e
            ]

        return {
            "factors": [
                {"name": f.name, "size": f.size, "kinds": list(f.kinds), "parent": f.parent,
                 "axes": [[k, a] for k, a in f.axes]}
                for f in self.factors
            ],
            "fixed": [{"name": x.name, "reason": x.reason} for x in self.fixed],
            "table": {k: [entry(e) for e in v] for k, v in self.table.items()},
        }

    def __repr__(self) -> str:
        fs = ", ".join(f"{f.name}[{f.size}]" for f in self.factors)
        return f"Spec({len(self.table)} tensors; factors: {fs}; fixed: {len(self.fixed)})"
