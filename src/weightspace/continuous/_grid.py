"""Grid labelling of the width-1 zero-loss set: a tolerance-free cross-check of the exact cell count.

On the grid [−R, R]^l with N points per axis, F(w) = w_l (w_1 ⋯ w_(l−1) + s) − c is evaluated at every node;
a voxel is marked when F changes sign (or vanishes) among its 2^l corners, so by continuity it holds a point
of Z = {F = 0}. Marked voxels touching by a face, edge or corner are joined (`scipy.ndimage.label` with full
connectivity) and the clusters counted. The count equals the number of components of Z in R^l when the
box cuts no component in two (true here for R >= 1.5: {p > −1} is star-shaped about 0 in the box and each
{p < −1} piece is convex in log coordinates) and the grid is finer than the gaps between components.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.ndimage

from ..errors import ConfigError

__all__ = ["GridCount", "count_by_grid"]

_MAX_NODES = 40_000_000


@dataclass(frozen=True)
class GridCount:
    """Clusters of marked voxels (`value`) on an N^l grid over [−radius, radius]^l."""

    layers: int
    skip: bool
    points: int
    radius: float
    value: int
    marked: int

    @property
    def spacing(self) -> float:
        return 2 * self.radius / (self.points - 1)

    def __repr__(self) -> str:
        return (f"GridCount(layers={self.layers}, skip={self.skip}, value={self.value}, "
                f"grid={self.points}^{self.layers} on ±{self.radius})")


def _sign_grid(layers: int, points: int, radius: float, s: float, c: float) -> np.ndarray:
    """sign F at every node, int8 of shape (N,)*l; computed one w_1-slab at a time (N^(l−1) floats)."""
    axis = np.linspace(-radius, radius, points)
    rest = np.ones(())
    for _ in range(layers - 2):  # w_2 ⋯ w_(l−1) on the middle axes
        rest = np.multiply.outer(rest, axis)
    rest = rest[..., None]  # (N,)*(l−2) + (1,)
    wl = axis.reshape((1,) * (layers - 2) + (points,))  # w_l on the last axis
    out = np.empty((points,) * layers, dtype=np.int8)
    for i, w1 in enumerate(axis):
        out[i] = np.sign(wl * (w1 * rest + s) - c).astype(np.int8)
    return out


def count_by_grid(layers: int, *, skip: bool = False, points: int = 101, radius: float = 2.0,
                  target: float = 1.0) -> GridCount:
    """Count the clusters of voxels of [−radius, radius]^l that hold a zero of F (see the module docstring)."""
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 2:
        raise ConfigError(f"count_by_grid: layers must be an int >= 2, got {layers!r}")
    if isinstance(points, bool) or not isinstance(points, int) or points < 3:
        raise ConfigError(f"count_by_grid: points must be an int >= 3, got {points!r}")
    if points**layers > _MAX_NODES:
        raise ConfigError(f"count_by_grid: {points}^{layers} nodes exceed {_MAX_NODES:,}; use fewer points")
    if not (isinstance(radius, int | float) and radius > 0 and math.isfinite(radius)):
        raise ConfigError(f"count_by_grid: radius must be a positive number, got {radius!r}")
    if not isinstance(target, int | float) or target == 0:
        raise ConfigError(f"count_by_grid: target must be a nonzero number, got {target!r}")
    signs = _sign_grid(layers, points, float(radius), 1.0 if skip else 0.0, float(target))
    lo, hi = signs, signs
    for axis in range(layers):  # min and max over the 2^l corners of each voxel
        a = [slice(None)] * layers
        b = [slice(None)] * layers
        a[axis], b[axis] = slice(None, -1), slice(1, None)
        lo = np.minimum(lo[tuple(a)], lo[tuple(b)])
        hi = np.maximum(hi[tuple(a)], hi[tuple(b)])
    marked = (lo <= 0) & (hi >= 0)
    _, value = scipy.ndimage.label(marked, structure=np.ones((3,) * layers, dtype=bool))
    return GridCount(layers, bool(skip), points, float(radius), int(value), int(marked.sum()))
