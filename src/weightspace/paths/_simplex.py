"""Barriers over the simplex spanned by three or more networks.

On the grid of barycentric weights w (multiples of 1/K), the barrier is
max_w L(Σ_i w_i θ_i) − Σ_i w_i L(θ_i): the excess over the barycentric interpolation of the vertex losses.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from torch import Tensor, nn

from ..data import Dataset
from ..errors import ConfigError
from ..evaluate import evaluate
from ..params import check_same_structure, combine

__all__ = ["SimplexBarrier", "simplex_grid", "simplex_barrier"]


@dataclass(frozen=True)
class SimplexBarrier:
    value: float
    weights: tuple[float, ...]
    metric: str
    split: str
    grid: tuple[tuple[tuple[float, ...], float], ...]

    def __repr__(self) -> str:
        where = ", ".join(f"{w:.2f}" for w in self.weights)
        return f"SimplexBarrier({self.metric}/{self.split}: {self.value:.4g} at w=({where}), {len(self.grid)} points)"


def simplex_grid(vertices: int, resolution: int) -> list[tuple[float, ...]]:
    """All barycentric weights (k_1, ..., k_n)/K with Σ k_i = K."""
    if vertices < 2 or resolution < 1:
        raise ConfigError("simplex_grid: need at least 2 vertices and resolution >= 1")
    out = []
    for ks in itertools.product(range(resolution + 1), repeat=vertices - 1):
        if sum(ks) <= resolution:
            out.append(tuple(k / resolution for k in (*ks, resolution - sum(ks))))
    return out


def simplex_barrier(
    model: nn.Module,
    networks: Sequence[Mapping[str, Tensor]],
    data: Dataset,
    *,
    resolution: int = 6,
    split: str = "test",
    metric: str = "loss",
    callback: Callable[[int, int], None] | None = None,
) -> SimplexBarrier:
    """Barrier over the simplex of `networks` on a grid of resolution K (one forward pass per point)."""
    if len(networks) < 3:
        raise ConfigError(f"simplex_barrier needs at least three networks, got {len(networks)}")
    if metric not in ("loss", "error") or (metric == "error" and data.task == "regression"):
        raise ConfigError(f"simplex_barrier: metric {metric!r} is not defined for this task")
    for net in networks[1:]:
        check_same_structure(networks[0], net)
    grid = simplex_grid(len(networks), resolution)
    vertex = [evaluate(model, data, split, params=dict(n))[metric] for n in networks]
    values = []
    for i, w in enumerate(grid):
        value = evaluate(model, data, split, params=combine(list(w), list(networks)))[metric]
        values.append((w, value - sum(wi * vi for wi, vi in zip(w, vertex, strict=True))))
        if callback is not None:
            callback(i + 1, len(grid))
    best = max(values, key=lambda t: t[1])
    return SimplexBarrier(float(best[1]), best[0], metric, split, tuple(values))
