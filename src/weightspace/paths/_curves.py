"""Curves θ(α) in parameter space, exact at their endpoints."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import Tensor

from ..params import Params, check_same_structure, lerp

__all__ = ["linear_path"]


def linear_path(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> Callable[[float], Params]:
    """θ(α) = (1 − α) θ_a + α θ_b."""
    check_same_structure(a, b)
    return lambda alpha: lerp(a, b, alpha)
