"""Counting components by path searches between sampled minima of a square deep linear network.

Minima are sampled with no regard to components (`random_minimum`). A candidate path between minima θ_a, θ_b
moves the free layers straight, W_i(t) = (1 − t) W_i^a + t W_i^b for i < l, and solves the last layer,
W_l(t) = M Q(t)⁻¹ with Q(t) = W_(l−1)(t) ⋯ W_1(t) (+ I with the skip), so it lies in the zero-loss set
exactly as long as Q(t) stays invertible on [0, 1]; that is decided without a grid:

* no skip: det W_i(t) = det W_i^a · det(I + t A) with A = (W_i^a)⁻¹(W_i^b − W_i^a) vanishes for some t ∈ (0, 1]
  iff A has a real eigenvalue λ <= −1 (t = −1/λ);
* skip, width 1: p(t) = Π_i (a_i + t d_i) must avoid −1. Between consecutive zeros of the linear factors p has
  one sign, and log |p| = Σ log |a_i + t d_i| is concave there, so on a negative stretch |p| takes values
  from its smaller end value up to its maximum (golden-section search, 100 steps), and p reaches −1 iff
  that range holds 1.

Pairs joined by such a path are merged (union-find); the clusters are the components found. Each cluster
is checked against the invariant (the component label, or the exact cell of `count_cells`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..data import Dataset
from ..data._linear import linear_teacher, scalar_data
from ..errors import ConfigError
from ..evaluate import evaluate
from ..models import build
from ._cells import _UnionFind, count_cells
from ._linear import component_label, linear_config, linear_layers, linear_minimum, random_minimum, teacher_of

__all__ = ["PathSearchCount", "count_by_path_search", "segment_stays_on_minimum"]

_GOLDEN = (math.sqrt(5) - 1) / 2


@dataclass(frozen=True)
class PathSearchCount:
    """Clusters of sampled minima joined by zero-loss paths, and how they match the invariant.

    `value`: clusters found; `labels`: number of distinct invariant labels among the samples; `consistent`:
    every cluster carries one label and every label one cluster (so no path was found between different
    labels); `max_path_loss`: the largest loss seen along `checked_paths` found paths (evaluated with the
    library's loss at `path_points` points each).
    """

    layers: int
    width: int
    skip: bool
    samples: int
    value: int
    labels: int
    consistent: bool
    pairs: int
    paths_found: int
    checked_paths: int
    max_path_loss: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def __repr__(self) -> str:
        return (f"PathSearchCount(layers={self.layers}, width={self.width}, skip={self.skip}, value={self.value}, "
                f"labels={self.labels}, consistent={self.consistent}, samples={self.samples})")


def _free_layers(samples: list[dict], n: int) -> np.ndarray:
    """(S, n, h, h) float64 array of W_1 .. W_n for every sample."""
    return np.stack([np.stack([w.numpy() for w in linear_layers(s)[:n]]) for s in samples])


def _no_skip_ok(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(P,) bool: every W_i(t) = a_i + t(b_i − a_i) invertible on [0, 1]; a, b: (P, n, h, h)."""
    rel = np.linalg.solve(a, b - a)  # (P, n, h, h) = A
    ev = np.linalg.eigvals(rel)  # (P, n, h)
    real = np.abs(ev.imag) <= 1e-12 * np.maximum(1.0, np.abs(ev.real))
    bad = real & (ev.real <= -1.0 + 1e-12)
    return ~bad.any(axis=(1, 2))


def _skip_scalar_ok(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(P,) bool: p(t) = Π_i (a_i + t d_i) avoids −1 on [0, 1]; a, b: (P, n) scalar weights."""
    d = b - a
    with np.errstate(divide="ignore", invalid="ignore"):
        roots = np.where(d != 0, -a / d, np.nan)  # (P, n) zeros of the factors
    roots = np.where((roots > 0) & (roots < 1), roots, 1.0)
    knots = np.sort(np.concatenate([np.zeros((len(a), 1)), roots, np.ones((len(a), 1))], axis=1), axis=1)
    lo, hi = knots[:, :-1], knots[:, 1:]  # (P, n + 1) stretches of constant sign (empty when lo == hi)

    def logabs(t, rows):  # Σ_i log |a_i + t d_i| for the stretches `rows` = (pair index array, t)
        with np.errstate(divide="ignore"):
            return np.log(np.abs(a[rows] + t[:, None] * d[rows])).sum(-1)

    pair = np.broadcast_to(np.arange(len(a))[:, None], lo.shape)
    mid = (lo + hi) / 2
    sign = np.prod(np.sign(a[:, None, :] + mid[..., None] * d[:, None, :]), axis=-1)  # (P, n + 1)
    live = (sign < 0) & (hi > lo)
    rows, x, y = pair[live], lo[live], hi[live]
    end_lo, end_hi = logabs(x, rows), logabs(y, rows)
    crosses = np.minimum(end_lo, end_hi) <= 0.0
    reach = crosses & (np.maximum(end_lo, end_hi) >= 0.0)  # |p| passes 1 between the two ends
    todo = crosses & ~reach  # both ends below 1: does the concave log |p| rise to 0 inside?
    r, x, y = rows[todo], x[todo], y[todo]
    for _ in range(100):  # golden-section search for the max of the concave log |p|
        c1 = y - _GOLDEN * (y - x)
        c2 = x + _GOLDEN * (y - x)
        left = logabs(c1, r) >= logabs(c2, r)
        y = np.where(left, c2, y)
        x = np.where(left, x, c1)
    reach[np.flatnonzero(todo)] = logabs((x + y) / 2, r) >= 0.0
    bad = np.zeros(len(a), dtype=bool)
    bad[rows[reach]] = True
    return ~bad


def segment_stays_on_minimum(params_a: dict, params_b: dict, *, skip: bool = False) -> bool:
    """Whether the straight move of W_1 .. W_(l−1) between two minima (last layer solved) stays at zero loss."""
    n = len(linear_layers(params_a)) - 1
    a, b = _free_layers([params_a], n), _free_layers([params_b], n)
    if not skip:
        return bool(_no_skip_ok(a, b)[0])
    if a.shape[-1] != 1:
        raise ConfigError("segment_stays_on_minimum: with the skip connection only width 1 is established")
    return bool(_skip_scalar_ok(a[:, :, 0, 0], b[:, :, 0, 0])[0])


def _bfs(adjacency: dict[int, list[int]], a: int, b: int) -> list[int]:
    """Shortest hop chain a -> b in an undirected graph (empty if none)."""
    prev, frontier = {a: a}, [a]
    while frontier and b not in prev:
        nxt = []
        for u in frontier:
            for v in adjacency.get(u, ()):
                if v not in prev:
                    prev[v] = u
                    nxt.append(v)
        frontier = nxt
    if b not in prev:
        return []
    chain = [b]
    while chain[-1] != a:
        chain.append(prev[chain[-1]])
    return chain[::-1]


def count_by_path_search(
    layers: int,
    *,
    width: int = 1,
    skip: bool = False,
    samples: int = 64,
    generator: torch.Generator,
    data: Dataset | None = None,
    checked_paths: int = 3,
    path_points: int = 9,
    spread: float = 0.75,
) -> PathSearchCount:
    """Sample `samples` minima, join pairs by zero-loss straight moves, count the clusters.

    Without skip the zero-loss set is a graph over (W_1, ..., W_(l−1)) ∈ GL_h^(l−1), so a path may move one
    layer at a time: a move of W_i between two samples' W_i is kept when W_i(t) stays invertible, the
    samples are clustered per layer and two minima are joined when every layer joins them. With the skip
    (width 1) a move shifts all of w_1 .. w_(l−1) at once and is kept when p(t) avoids −1.

    Args:
      layers: l >= 2.
      width: h; the data default to the scalar case X = Y = 1 (h = 1) or the linear teacher (h >= 2).
      skip: f = W_l (W_(l−1) ⋯ W_1 x + x); only width 1 is established.
      samples: number of sampled minima (coverage of every component is probabilistic: report it).
      generator: draws the minima.
      data: the regression data (its teacher M defines the minimum).
      checked_paths: found paths (hop chains between samples in one cluster) re-evaluated with the
        library's loss at `path_points` points per hop.
      spread: log-normal spread of the sampled layers' scales (see `random_minimum`).
    """
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 2:
        raise ConfigError(f"count_by_path_search: layers must be an int >= 2, got {layers!r}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ConfigError(f"count_by_path_search: width must be an int >= 1, got {width!r}")
    if skip and width != 1:
        raise ConfigError(f"count_by_path_search: no method is established for skip connections at width >= 2 (got "
                          f"width {width}); use width 1 or no skip")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ConfigError(f"count_by_path_search: samples must be an int >= 2, got {samples!r}")
    if data is None:
        data = scalar_data() if width == 1 else linear_teacher(width)
    teacher = teacher_of(data)
    if tuple(teacher.shape) != (width, width):
        raise ConfigError(f"count_by_path_search: the data's teacher is {tuple(teacher.shape)}, expected "
                          f"({width}, {width})")
    minima = [random_minimum(layers, teacher, generator=generator, skip=skip, spread=spread) for _ in range(samples)]
    n = layers - 1
    free = _free_layers(minima, n)  # (S, n, h, h)
    ia, ib = np.triu_indices(samples, k=1)
    if skip:
        moves = [list(range(n))]  # one move shifts every free weight
        oks = [_skip_scalar_ok(free[ia, :, 0, 0], free[ib, :, 0, 0])]
        cells = count_cells(layers, skip=True, target=float(teacher[0, 0]))
        labels = [cells.label([float(w.reshape(())) for w in linear_layers(m)]) for m in minima]
    else:
        moves = [[i] for i in range(n)]  # a move shifts one layer
        oks = [_no_skip_ok(free[ia, i : i + 1], free[ib, i : i + 1]) for i in range(n)]
        labels = [component_label(m) for m in minima]
    finds, graphs = [], []
    for ok in oks:
        uf = _UnionFind(samples)
        adjacency: dict[int, list[int]] = {}
        for i, j in zip(ia[ok].tolist(), ib[ok].tolist(), strict=True):
            uf.union(i, j)
            adjacency.setdefault(i, []).append(j)
            adjacency.setdefault(j, []).append(i)
        finds.append([uf.find(i) for i in range(samples)])
        graphs.append(adjacency)
    keys = [tuple(f[i] for f in finds) for i in range(samples)]
    clusters: dict[tuple, set] = {}
    for key, label in zip(keys, labels, strict=True):
        clusters.setdefault(key, set()).add(label)
    consistent = all(len(v) == 1 for v in clusters.values()) and len(clusters) == len(set(labels))

    model = build(linear_config(layers, width, skip=skip)).to(torch.float64)
    worst, checked = 0.0, 0
    members: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        members.setdefault(key, []).append(i)
    for group in sorted(members.values(), key=len, reverse=True):
        if checked >= checked_paths or len(group) < 2:
            break
        a, b = group[0], group[-1]
        current = [w.clone() for w in linear_layers(minima[a])[:n]]
        for move, adjacency in zip(moves, graphs, strict=True):
            chain = _bfs(adjacency, a, b)
            for v in chain[1:]:
                start = [w.clone() for w in current]
                target = linear_layers(minima[v])
                for t in np.linspace(0.0, 1.0, path_points):
                    for k in move:
                        current[k] = (1 - t) * start[k] + t * target[k].to(torch.float64)
                    theta = linear_minimum(current, teacher, skip=skip)
                    worst = max(worst, evaluate(model, data, "train", params=theta)["loss"])
        checked += 1
    pairs = len(ia) * len(oks)
    found = int(sum(int(ok.sum()) for ok in oks))
    return PathSearchCount(layers, width, bool(skip), samples, len(clusters), len(set(labels)), consistent, pairs,
                           found, checked, worst)
