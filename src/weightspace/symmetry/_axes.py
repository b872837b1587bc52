"""Axis state of a trace: union-find over candidate unit groups and the parameter axes they own.

Every tensor dimension in the traced graph is labelled by a tuple of pieces (axis, size), row-major:
an `Axis` is a candidate unit group (a union-find node), None a batch/spatial/sequence axis. A label
is a list of such dims, a `TupleLabel` for tuple-valued nodes, or None for non-tensors. Rules create
axes for layer outputs, register which parameter axes they own (`Registration`), tie axes that must
carry one permutation (`union`), restrict the kinds a group admits (`remove`) and fix groups they
cannot follow (`fix_var`, with a reason).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

STRUCTURAL = ("network output", "token indices")  # fixed by the architecture, not reported
NOT_SCALABLE = frozenset({"scale", "sign", "gl"})  # the kinds lost by anything but a homogeneous map

__all__ = ["NOT_SCALABLE", "STRUCTURAL", "Axis", "AxisState", "Registration", "TupleLabel", "Unsupported", "find",
           "shape_of"]


class Unsupported(Exception):
    """An operation the tracer cannot follow: the axes it touches are fixed and reported."""


class Axis:
    """A candidate unit group for one tensor dimension (union-find node)."""

    __slots__ = ("parent", "size", "birth", "order", "unit", "fixed", "removed", "derived",
                 "forced_zero", "nested_in", "name_hint", "split")

    def __init__(self, size, birth, order, *, unit=False, derived=None, nested_in=None, name_hint=None):
        self.parent = self
        self.size = size
        self.birth = birth
        self.order = order
        self.unit = unit
        self.fixed: str | None = None
        self.removed: set[str] = set()
        self.derived = derived  # (degree, axis) when this axis = act(axis)
        self.forced_zero = False  # fed into BatchNorm: its values are normalised away
        self.nested_in = nested_in
        self.name_hint = name_hint
        self.split: tuple | None = None  # ((heads axis, H), (dims axis, d)) once a reshape splits this axis


def find(v: Axis) -> Axis:
    while v.parent is not v:
        v.parent = v.parent.parent
        v = v.parent
    return v


@dataclass(frozen=True)
class TupleLabel:
    """Label of a tuple-valued node (e.g. MultiheadAttention's (output, weights))."""

    items: tuple


@dataclass
class Registration:
    key: str
    axis: int
    start: int
    stop: int
    pieces: tuple  # ((Axis | None, size), ...)
    role: str  # "out" | "in" | "stat"


def shape_of(node) -> tuple[int, ...] | None:
    """The traced shape of a tensor-valued fx node (None for anything else)."""
    meta = node.meta.get("tensor_meta")
    if meta is None or not hasattr(meta, "shape"):
        return None
    return tuple(meta.shape)


@dataclass
class AxisState:
    """Axes, parameter registrations, exponent ties and reported fixes of one trace."""

    aliases: dict = field(default_factory=dict)  # state-dict key -> canonical key of the same tensor
    vars: list = field(default_factory=list)
    regs: list = field(default_factory=list)
    ties: list = field(default_factory=list)  # (a, b): exponents must agree
    fixes: list = field(default_factory=list)  # (axis, reason) reported
    labels: dict = field(default_factory=dict)
    modules: dict = field(default_factory=dict)

    # -- union-find -----------------------------------------------------------------------------
    def new_var(self, size, birth, **kw) -> Axis:
        v = Axis(size, birth, len(self.vars), **kw)
        self.vars.append(v)
        return v

    def union(self, a: Axis, b: Axis, where: str) -> None:
        ra, rb = find(a), find(b)
        if ra is rb:
            return
        if ra.size != rb.size:
            self.fix_var(ra, f"{where} ties axes of sizes {ra.size} and {rb.size}")
            self.fix_var(rb, f"{where} ties axes of sizes {ra.size} and {rb.size}")
        if (ra.nested_in is None) != (rb.nested_in is None):
            self.fix_var(ra, f"{where} ties attention head dimensions to other units")
            self.fix_var(rb, f"{where} ties attention head dimensions to other units")
        if rb.order < ra.order:
            ra, rb = rb, ra
        rb.parent = ra
        ra.fixed = ra.fixed or rb.fixed
        ra.removed |= rb.removed
        ra.unit = ra.unit or rb.unit
        if rb.split is not None:
            if ra.split is None:
                ra.split = rb.split
            elif [n for _, n in ra.split] != [n for _, n in rb.split]:
                self.fix_var(ra, f"{where} ties axes split into heads of different sizes")
            else:
                for (x, _), (y, _) in zip(ra.split, rb.split, strict=True):
                    self.union(x, y, where)
        if ra.nested_in is not None and rb.nested_in is not None:
            self.union(ra.nested_in, rb.nested_in, where)

    def fix_var(self, v: Axis, reason: str) -> None:
        r = find(v)
        if r.fixed is None:
            r.fixed = reason
            if reason not in STRUCTURAL:
                self.fixes.append((r, reason))

    def remove(self, v: Axis, kinds) -> None:
        """The units of v's group no longer admit `kinds`."""
        find(v).removed |= set(kinds)

    # -- labels ---------------------------------------------------------------------------------
    def label(self, arg):
        return self.labels.get(arg) if hasattr(arg, "op") else None

    def vars_in(self, label) -> list[Axis]:
        out = []
        if isinstance(label, TupleLabel):
            for lab in label.items:
                out += self.vars_in(lab)
            return out
        if isinstance(label, list):
            for dim in label:
                for var, _ in dim:
                    if var is not None:
                        out.append(var)
        return out

    def fix_label(self, label, reason: str) -> None:
        for v in self.vars_in(label):
            self.fix_var(v, reason)

    def fixed_var(self, size, reason, where="reshape", *, report: bool = False) -> Axis:
        """A fresh axis fixed for `reason`; `report`: it holds a layer's own units, listed in `spec.fixed`."""
        v = self.new_var(size, where, unit=report)
        if report:
            self.fix_var(v, reason)
        else:
            v.fixed = reason
        return v

    def fresh_fixed(self, meta, reason, where, *, report: bool = False):
        """A label for a value of traced metadata `meta` whose every non-batch axis is fixed."""
        if hasattr(meta, "shape"):
            return [((None, s),) if i == 0 else ((self.fixed_var(s, reason, where, report=report), s),)
                    for i, s in enumerate(meta.shape)]
        if isinstance(meta, tuple | list):
            return TupleLabel(tuple(self.fresh_fixed(m, reason, where, report=report) for m in meta))
        return None

    # -- parameters -----------------------------------------------------------------------------
    def register(self, key, axis, dim, role, start=0, stop=None):
        size = math.prod(s for _, s in dim)
        key = self.aliases.get(key, key)
        self.regs.append(Registration(key, axis, start, size if stop is None else stop, tuple(dim), role))

    # -- axes split into heads ------------------------------------------------------------------
    def refine(self, pieces) -> list:
        """Pieces with every split axis replaced by its (heads, dims) pieces."""
        out = []
        for v, n in pieces:
            r = find(v) if v is not None else None
            out += self.refine(list(r.split)) if r is not None and r.split is not None else [(v, n)]
        return out

    def split_var(self, v: Axis, a: int, b: int) -> tuple:
        """Split a unit axis of size a·b into a heads axis (a) and a per-head dims axis (b), row-major."""
        r = find(v)
        base = r.name_hint or r.birth
        heads = self.new_var(a, r.birth, unit=True, name_hint=f"{base}.heads")
        dims = self.new_var(b, r.birth, unit=True, nested_in=heads, name_hint=f"{base}.dims")
        for w in (heads, dims):
            self.remove(w, NOT_SCALABLE)
        r.split = ((heads, a), (dims, b))
        return r.split

    # -- ties between dims ----------------------------------------------------------------------
    def tie(self, da, db, where) -> None:
        """Two dims that must carry one permutation (a contraction, shared input columns)."""
        if [n for _, n in da] != [n for _, n in db] or any(
            (a is None) != (b is None) for (a, _), (b, _) in zip(da, db, strict=True)
        ):
            for v in self.vars_in([da, db]):
                self.fix_var(v, f"{where}: ties a unit axis to a different axis")
            return
        for (a, _), (b, _) in zip(da, db, strict=True):
            if a is not None:
                self.union(a, b, where)

    def broadcast(self, labels, where, *, record_ties=False, verb="combined with") -> list:
        """Elementwise combination of broadcastable labels: equal dims tied, size-1 dims broadcast."""
        n = max(len(lab) for lab in labels)
        padded = [[((None, 1),)] * (n - len(lab)) + list(lab) for lab in labels]
        out = []
        for dims in zip(*padded, strict=True):
            size = max(math.prod(s for _, s in d) for d in dims)
            wide = [d for d in dims if math.prod(s for _, s in d) == size]
            narrow = [d for d in dims if math.prod(s for _, s in d) != size]
            first = wide[0]
            ok = all(math.prod(s for _, s in d) == 1 and not self.vars_in([d]) for d in narrow)
            for d in wide[1:]:
                ok = ok and [s for _, s in d] == [s for _, s in first] and all(
                    (p is None) == (q is None) for (p, _), (q, _) in zip(d, first, strict=True))
            if not ok:
                for v in self.vars_in(list(dims)):
                    self.fix_var(v, f"{where}: a unit axis is {verb} a broadcast or non-unit axis")
                out.append(first)
                continue
            for d in wide[1:]:
                for (p, _), (q, _) in zip(first, d, strict=True):
                    if p is not None:
                        self.union(p, q, where)
                        if record_ties:
                            self.ties.append((p, q))
            out.append(first)
        return out
