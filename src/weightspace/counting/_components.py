"""The number of connected components of a deep linear network's zero-loss set, as an exact closed form.

Without skip connections (square layers of any width h): 2^(l−1). The label (sign det P_1, ..., sign det
P_(l−1)) of `component_label` is constant on components, each label class is one GL⁺^(l−1) orbit (hence
connected), and a reflection R on factor i alone (W_i ↦ R W_i, W_(i+1) ↦ W_(i+1) R⁻¹) flips coordinate i
alone, so all 2^(l−1) labels occur. With the skip connection around the first l − 1 layers at width 1:
2^(l−2) + 1 (the star-shaped piece {p > −1} plus one piece per sign pattern of w_1 .. w_(l−1) with an odd
number of negatives; `count_cells` enumerates the cells and agrees for small l). Both are exact integers at
any depth (docs/continuous.md). With the skip at width >= 2 no method is established and the call is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["ComponentCount", "count_components"]

METHOD_INVARIANT = ("closed form 2^(l-1): one component per sign pattern of det W_i...W_1 (i < l), each a connected "
                    "GL+ orbit")
METHOD_CELLS = ("closed form 2^(l-2) + 1: the star-shaped piece p = w_1...w_(l-1) > -1 plus one piece per sign pattern "
                "with an odd number of negatives")

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


def count_components(layers: int, *, skip: bool = False, width: int = 1) -> ComponentCount:
    """Connected components of the zero-loss set of the square deep linear network with `layers` layers, exactly.

    2^(l−1) without skip (any width), 2^(l−2) + 1 with the skip at width 1 (module docstring).

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
        return ComponentCount(layers, width, True, 2 ** (layers - 2) + 1, METHOD_CELLS)
    return ComponentCount(layers, width, False, 2 ** (layers - 1), METHOD_INVARIANT)
