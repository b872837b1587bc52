"""Resolve a trace's axis state into a `Spec`, in named phases called in order by `resolve`.

Exponents: values on an axis scale as c^e when a unit's coefficient is c, with e = 1 for a layer's
output, e = degree · e(input) after a homogeneous activation and e = 0 for what BatchNorm normalises
away. A parameter axis registered as producer carries power +e, as consumer −e, as statistic 0. A
group admits scale/sign/GL only where every tie it takes part in agrees on these powers.
"""

from __future__ import annotations

from ._axes import NOT_SCALABLE, Axis, AxisState, find
from ._spec import KINDS, Factor, FixedLayer, Piece, Segment, Spec

__all__ = ["resolve"]

_SIGN = {"out": 1, "in": -1, "stat": 0}


def _exponent(v: Axis, memo: dict) -> int:
    """e(v): values on v scale as c^e(v) when a unit's coefficient is c (0 for BatchNorm inputs)."""
    if v in memo:
        return memo[v]
    if v.derived is not None:
        degree, u = v.derived
        e = degree * _exponent(u, memo)
    else:
        e = 0 if v.forced_zero else 1
    memo[v] = e
    return e


def merge_repeated_axes(st: AxisState) -> tuple[list, list]:
    """A parameter axis reached twice (a module called twice, tied weights) carries one permutation.

    Returns the registrations, one per axis segment, and the pairs of (axis, role) whose powers must agree.
    """
    seen: dict = {}
    power_ties = []
    for r in st.regs:
        k = (r.key, r.axis, r.start, r.stop)
        if k not in seen:
            seen[k] = r
            continue
        other = seen[k]
        if [s for _, s in other.pieces] != [s for _, s in r.pieces]:
            for v, _ in other.pieces + r.pieces:
                if v is not None:
                    st.fix_var(v, f"{r.key} is used twice with different layouts")
            continue
        for (a, _), (b, _) in zip(other.pieces, r.pieces, strict=True):
            if a is not None and b is not None:
                st.union(a, b, r.key)
                power_ties.append(((a, other.role), (b, r.role)))
            elif a is not None or b is not None:
                st.fix_var(a or b, f"{r.key} is used twice, once as units and once not")
    return list(seen.values()), power_ties


def fix_unlisted(st: AxisState, regs: list, shapes: dict) -> None:
    """A tensor outside the state dict (a non-persistent buffer) cannot be acted on: its axes stay put."""
    for r in regs:
        if r.key not in shapes or r.axis >= len(shapes[r.key]):
            for v, _ in r.pieces:
                if v is not None:
                    st.fix_var(v, f"{r.key} is not in the state dict")


def restrict_by_exponents(st: AxisState, power_ties: list, memo: dict) -> None:
    """Groups whose tied axes scale with different powers admit no scale, sign or GL."""
    for v in st.vars:
        if v.forced_zero and _exponent(v, memo) != 0:
            st.remove(v, NOT_SCALABLE)
    for a, b in st.ties:
        if _exponent(a, memo) != _exponent(b, memo):
            st.remove(a, NOT_SCALABLE)
    for (a, ra), (b, rb) in power_ties:
        if _SIGN[ra] * _exponent(a, memo) != _SIGN[rb] * _exponent(b, memo):
            st.remove(a, NOT_SCALABLE)


def group_members(st: AxisState) -> dict[Axis, list[Axis]]:
    members: dict[Axis, list[Axis]] = {}
    for v in st.vars:
        members.setdefault(find(v), []).append(v)
    return members


def settle_heads(st: AxisState, members: dict) -> None:
    """An axis split into heads and fixed as a whole fixes its heads; head dims follow their heads."""
    for root in list(members):
        if root.split is not None and root.fixed is not None:
            for v, _ in root.split:
                st.fix_var(v, root.fixed)
    for root in members:
        if root.nested_in is not None and find(root.nested_in).fixed and root.fixed is None:
            root.fixed = "its attention heads are fixed"


def refine_heads(st: AxisState, regs: list) -> None:
    """Axes split into heads are registered as (heads, dims) pieces; dims read before or without their
    heads (a reshape interleaving them) fix the heads."""
    for r in regs:
        r.pieces = tuple(st.refine(r.pieces))
        prev = None
        for v, _ in r.pieces:
            root = find(v) if v is not None else None
            if root is not None and root.nested_in is not None and prev is not find(root.nested_in):
                st.fix_var(root.nested_in, f"{r.key}: attention head dimensions are read apart from their heads")
            prev = root


def collect_powers(st: AxisState, regs: list, memo: dict) -> dict[Axis, list]:
    """Per group, the (power, pieces on that axis) of every parameter axis it acts on."""
    powers: dict[Axis, list] = {}
    for r in regs:
        for v, _ in r.pieces:
            if v is not None:
                powers.setdefault(find(v), []).append((_SIGN[r.role] * _exponent(v, memo), len(r.pieces)))
    return powers


def name_factors(members: dict, powers: dict) -> tuple[dict[Axis, str], list[Factor]]:
    """One factor per free group with units, named after its first layer, in forward order; its kinds."""
    names: dict[Axis, str] = {}
    used: set[str] = set()
    free = [r for r in sorted(members, key=lambda r: (r.nested_in is not None, r.order))
            if r.fixed is None and r.split is None and r in powers and any(v.unit for v in members[r])]
    for root in free:  # heads are named before the dims nested in them
        if root.nested_in is not None and find(root.nested_in) not in names:
            continue
        first = min((v for v in members[root] if v.unit), key=lambda v: v.order)
        base = first.name_hint or first.birth
        name, i = base, 1
        while name in used:
            i += 1
            name = f"{base}#{i}"
        used.add(name)
        names[root] = name
    factors = []
    for root in sorted(names, key=lambda r: r.order):
        kinds = [k for k in KINDS if k not in root.removed]
        ps = powers[root]
        if all(p == 0 for p, _ in ps):
            kinds = [k for k in kinds if k not in NOT_SCALABLE]
        if "gl" in kinds and (any(abs(p) != 1 or n != 1 for p, n in ps) or not {"scale", "sign"} <= set(kinds)):
            kinds.remove("gl")
        parent = names[find(root.nested_in)] if root.nested_in is not None else None
        factors.append(Factor(name=names[root], size=root.size, kinds=tuple(kinds), parent=parent))
    return names, factors


def build_table(regs: list, names: dict, shapes: dict, aliases: dict, memo: dict) -> dict:
    """The per-axis table; a tied tensor's every state-dict key gets its canonical key's entries."""
    table: dict[str, list] = {k: [None] * len(s) for k, s in shapes.items()}
    grouped: dict[tuple[str, int], list[Segment]] = {}
    for r in regs:
        if r.key not in table or r.axis >= len(table[r.key]):
            continue
        pieces = []
        for v, size in r.pieces:
            root = find(v) if v is not None else None
            if root in names:
                pieces.append(Piece(names[root], size, _SIGN[r.role] * _exponent(v, memo)))
            else:
                pieces.append(Piece(None, size, 0))
        if all(p.factor is None for p in pieces):
            continue
        grouped.setdefault((r.key, r.axis), []).append(Segment(r.start, r.stop, tuple(pieces)))
    for (key, axis), segs in grouped.items():
        table[key][axis] = tuple(sorted(segs, key=lambda s: s.start))
    for key, canonical in aliases.items():
        if key in table and canonical in table:
            table[key] = list(table[canonical])
    return {k: tuple(v) for k, v in table.items()}


def report_fixed(st: AxisState, members: dict) -> list[FixedLayer]:
    """Each layer whose units were fixed by something the tracer could not follow, once, with the reason."""
    fixed, reported = [], set()
    for root, reason in st.fixes:
        r = find(root)
        units = sorted((v for v in members.get(r, []) if v.unit), key=lambda v: v.order)
        if not units:
            continue
        name = units[0].name_hint or units[0].birth
        if name not in reported:
            reported.add(name)
            fixed.append(FixedLayer(name, reason))
    return fixed


def resolve(st: AxisState, shapes: dict[str, tuple[int, ...]]) -> Spec:
    regs, power_ties = merge_repeated_axes(st)
    fix_unlisted(st, regs, shapes)
    memo: dict = {}
    restrict_by_exponents(st, power_ties, memo)
    refine_heads(st, regs)
    members = group_members(st)
    settle_heads(st, members)
    powers = collect_powers(st, regs, memo)
    names, factors = name_factors(members, powers)
    table = build_table(regs, names, shapes, st.aliases, memo)
    fixed = report_fixed(st, members)
    return Spec(table=table, factors=tuple(factors), fixed=tuple(fixed), shapes=shapes)
