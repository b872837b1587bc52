"""Exact connected components of the zero-loss set of a width-1 deep linear network, with or without skip.

With scalar weights w ∈ R^l and one sample X ≠ 0, Y ≠ 0, the zero-loss set of f = w_l (w_(l−1) ⋯ w_1 + s) X
(s = 1 with the skip connection around the first l − 1 layers, s = 0 without) is the algebraic set

    Z = {w ∈ R^l : w_l (p + s) = c},    p = w_1 ⋯ w_(l−1),  c = Y / X.

Cells: split R^l into the 3^l sign strata τ = sign(w) ∈ {−1, 0, 1}^l. In an open orthant (no zero among
w_1 .. w_(l−1)) the point is fixed by p and by any point of the connected fibre {w : w_1 ⋯ w_(l−1) = p}
(a hyperplane in log coordinates), with w_l = c/(p + s); so Z ∩ orthant is one connected piece per interval
of p ∈ sign(τ_1 ⋯ τ_(l−1)) · (0, ∞), cut at the pole p = −s, on which sign(c/(p + s)) = τ_l. On a face (some
w_i = 0, i < l) p = 0 and Z asks w_l = c/s: one connected piece when s ≠ 0 and sign(c/s) = τ_l, none
otherwise; w_l = 0 is never on Z. Crossings: a face piece lies in the closure of an orthant piece exactly
when their signs agree off the face's zeros and the orthant's p-interval ends at 0; a face lies in the
closure of a face with fewer zeros. Merging pieces across these crossings (union-find over a finite
partition into connected pieces) gives the components exactly: 2^(l−1) without skip, 2^(l−2) + 1 with.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError, SymmetryError

__all__ = ["CellCount", "CellPiece", "count_cells"]


@dataclass(frozen=True)
class CellPiece:
    """One connected piece of Z in the sign stratum `signs`; `interval` = its open p-range (None on a face)."""

    signs: tuple[int, ...]
    interval: tuple[float, float] | None

    def contains(self, w: Sequence[float]) -> bool:
        """Whether the point w (assumed on Z) lies in this piece."""
        if tuple(_sign(v) for v in w) != self.signs:
            return False
        if self.interval is None:
            return True
        p = math.prod(w[:-1])
        return self.interval[0] < p < self.interval[1]


def _sign(v: float) -> int:
    return (v > 0) - (v < 0)


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        self.parent[self.find(i)] = self.find(j)


@dataclass(frozen=True)
class CellCount:
    """Components of Z = {w_l (w_1 ⋯ w_(l−1) + s) = c}: `value`, its `pieces` and each piece's `component`."""

    layers: int
    skip: bool
    target: float
    value: int
    pieces: tuple[CellPiece, ...]
    component: tuple[int, ...]

    def label(self, w: Sequence[float], *, atol: float = 1e-9) -> int:
        """The component index (0 .. value − 1) of a zero-loss point w.

        Raises:
          SymmetryError: w has the wrong length or is not on Z within `atol` (relative).
        """
        w = [float(v) for v in w]
        if len(w) != self.layers:
            raise SymmetryError(f"CellCount.label: expected {self.layers} scalar weights, got {len(w)}")
        s = 1.0 if self.skip else 0.0
        residual = w[-1] * (math.prod(w[:-1]) + s) - self.target
        if abs(residual) > atol * max(1.0, abs(self.target)):
            raise SymmetryError(f"CellCount.label: w is not on the zero-loss set (residual {residual:.3g})")
        for piece, comp in zip(self.pieces, self.component, strict=True):
            if piece.contains(w):
                return comp
        raise SymmetryError("CellCount.label: w lies on no piece (it sits on the pole p = −s)")

    def __repr__(self) -> str:
        return (f"CellCount(layers={self.layers}, skip={self.skip}, value={self.value}, "
                f"pieces={len(self.pieces)})")


def _orthant_intervals(pi: int, s: float) -> list[tuple[float, float]]:
    """The open p-intervals of sign `pi`, cut at the pole p = −s."""
    lo, hi = (0.0, math.inf) if pi > 0 else (-math.inf, 0.0)
    if lo < -s < hi:
        return [(lo, -s), (-s, hi)]
    return [(lo, hi)]


def _inside(a: float, b: float) -> float:
    """A point of the open interval (a, b)."""
    if math.isinf(a) and math.isinf(b):
        return 0.0
    if math.isinf(a):
        return b - 1.0
    if math.isinf(b):
        return a + 1.0
    return (a + b) / 2


def count_cells(layers: int, *, skip: bool = False, target: float = 1.0) -> CellCount:
    """Exact components of the zero-loss set of the width-1 linear network (c = Y/X = `target`).

    Args:
      layers: l >= 2 scalar weights.
      skip: the skip connection around the first l − 1 layers, f = w_l (w_(l−1) ⋯ w_1 X + X).
      target: c = Y / X, nonzero.
    """
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 2:
        raise ConfigError(f"count_cells: layers must be an int >= 2, got {layers!r}")
    if not isinstance(target, int | float) or target == 0 or not math.isfinite(target):
        raise ConfigError(f"count_cells: target c = Y/X must be a finite nonzero number, got {target!r}")
    c, s, n = float(target), (1.0 if skip else 0.0), layers - 1
    pieces: list[CellPiece] = []
    for tau in itertools.product((-1, 0, 1), repeat=layers):
        if tau[-1] == 0:
            continue  # w_l = 0 gives w_l (p + s) = 0 != c
        zeros = [i for i in range(n) if tau[i] == 0]
        if zeros:
            if s != 0 and _sign(c / s) == tau[-1]:
                pieces.append(CellPiece(tau, None))
            continue
        for a, b in _orthant_intervals(math.prod(tau[:n]), s):
            if _sign(c / (_inside(a, b) + s)) == tau[-1]:
                pieces.append(CellPiece(tau, (a, b)))
    uf = _UnionFind(len(pieces))
    for i, face in enumerate(pieces):
        if face.interval is not None:
            continue
        zero_set = {k for k in range(n) if face.signs[k] == 0}
        for j, other in enumerate(pieces):
            if j == i:
                continue
            agree = all(other.signs[k] == face.signs[k] for k in range(layers) if k not in zero_set)
            if not agree:
                continue
            if other.interval is not None:
                if 0.0 in other.interval:  # the orthant piece reaches p -> 0, hence this face
                    uf.union(i, j)
            elif {k for k in range(n) if other.signs[k] == 0} > zero_set:
                uf.union(i, j)
    roots: dict[int, int] = {}
    component = tuple(roots.setdefault(uf.find(i), len(roots)) for i in range(len(pieces)))
    return CellCount(layers, bool(skip), c, len(roots), tuple(pieces), component)
