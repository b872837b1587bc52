"""Polygonal chains: the piecewise-linear curve through a list of vertices, exact at every vertex."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from torch import Tensor

from ..errors import ConfigError
from ..params import Params, check_same_structure, lerp

__all__ = ["polygonal_chain"]


def polygonal_chain(vertices: Sequence[Mapping[str, Tensor]], *,
                    knots: Sequence[float] | None = None) -> Callable[[float], Params]:
    """θ(α) through `vertices` θ_0, ..., θ_K: on [t_k, t_{k+1}] the line from θ_k to θ_{k+1}.

    `knots` t_0 = 0 < t_1 < ... < t_K = 1 default to k/K (equal time per segment). θ(0) = θ_0 and
    θ(1) = θ_K exactly; the callable fits `weightspace.paths.evaluate_path`.
    """
    verts = [dict(v) for v in vertices]
    if len(verts) < 2:
        raise ConfigError(f"polygonal_chain: need at least 2 vertices, got {len(verts)}")
    for v in verts[1:]:
        check_same_structure(verts[0], v, what="polygonal_chain vertices")
    n = len(verts) - 1
    t = [k / n for k in range(n + 1)] if knots is None else [float(k) for k in knots]
    if len(t) != n + 1 or t[0] != 0.0 or t[-1] != 1.0 or any(b <= a for a, b in zip(t, t[1:], strict=False)):
        raise ConfigError(f"polygonal_chain: knots must increase strictly from 0 to 1, one per vertex ({n + 1}), "
                          f"got {knots!r}")

    def path(alpha: float) -> Params:
        alpha = float(alpha)
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"polygonal_chain: α must lie in [0, 1], got {alpha!r}")
        k = next((i for i in range(n) if alpha < t[i + 1]), n - 1)
        local = (alpha - t[k]) / (t[k + 1] - t[k])
        return lerp(verts[k], verts[k + 1], min(max(local, 0.0), 1.0))

    return path
