"""The number of connected components of a deep linear network's zero-loss set, computed by a named method.

Without skip connections (square layers of any width h): the invariant. The label (sign det P_1, ...,
sign det P_(l−1)) of `component_label` is constant on components and each label class is one GL⁺^(l−1) orbit
(hence connected); the count is the number of label values, found by flipping each coordinate alone with
a reflection R on its factor (W_i ↦ R W_i, W_(i+1) ↦ W_(i+1) R⁻¹) on a concrete minimum and multiplying the
number of values each coordinate takes. With the skip connection at width 1: exact cell counting
(`count_cells`). With the skip at width >= 2 no method is established and the call is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data._linear import teacher_matrix
from ..errors import ConfigError
from ._cells import count_cells
from ._gl import reflection
from ._linear import component_label, linear_layers, random_minimum

__all__ = ["ComponentCount", "count_components"]

METHOD_INVARIANT = ("invariant: signs of det of the l-1 partial products W_i...W_1, each flipped alone by a "
                    "reflection on its hidden factor; every label class is one GL+^(l-1) orbit")
METHOD_CELLS = ("exact cells: sign strata of (w_1..w_l), each reduced to intervals of p = w_1...w_(l-1), "
                "merged across the faces w_i = 0 where the zero-loss set crosses")


@dataclass(frozen=True)
class ComponentCount:
    """`value` components of the zero-loss set, found by `method`."""

    layers: int
    width: int
    skip: bool
    value: int
    method: str

    def to_dict(self) -> dict:
        """{"value", "method"}: the CLI's JSON."""
        return {"value": self.value, "method": self.method}

    def __repr__(self) -> str:
        return f"ComponentCount(layers={self.layers}, width={self.width}, skip={self.skip}, value={self.value})"


def _invariant_count(layers: int, width: int) -> int:
    """Π_i (number of values label coordinate i takes when factor i alone is reflected)."""
    theta = random_minimum(layers, teacher_matrix(width), generator=torch.Generator().manual_seed(0))
    base = component_label(theta)
    r = reflection(width)
    count = 1
    for i in range(layers - 1):
        ws = [w.clone() for w in linear_layers(theta)]
        ws[i] = r @ ws[i]
        ws[i + 1] = ws[i + 1] @ r  # R⁻¹ = R
        flipped = component_label({f"layers.{j}.weight": w for j, w in enumerate(ws)})
        changed = [j for j in range(layers - 1) if flipped[j] != base[j]]
        if changed != [i]:
            raise RuntimeError(f"reflection on factor {i} changed label coordinates {changed}")  # pragma: no cover
        count *= len({base[i], flipped[i]})
    return count


def count_components(layers: int, *, skip: bool = False, width: int = 1) -> ComponentCount:
    """Connected components of the zero-loss set of the square deep linear network with `layers` layers.

    Args:
      layers: l >= 2 weight matrices.
      skip: the skip connection around the first l − 1 layers, f = W_l (W_(l−1) ⋯ W_1 x + x).
      width: h = d = p (square layers).

    Raises:
      ConfigError: l < 2, width < 1, or skip with width >= 2 (no method established).
    """
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 2:
        raise ConfigError(f"count_components: layers must be an int >= 2 (at least one hidden layer), got {layers!r}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ConfigError(f"count_components: width must be an int >= 1, got {width!r}")
    if skip:
        if width != 1:
            raise ConfigError(f"count_components: no method is established for skip connections at width >= 2 "
                              f"(got width {width}); only the scalar case width 1 is solved: drop --skip or use "
                              f"--width 1")
        return ComponentCount(layers, width, True, count_cells(layers, skip=True).value, METHOD_CELLS)
    return ComponentCount(layers, width, False, _invariant_count(layers, width), METHOD_INVARIANT)
