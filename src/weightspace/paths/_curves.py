"""Curves θ(α) in parameter space, exact at their endpoints."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from ..params import Lerp

__all__ = ["linear_path"]


def linear_path(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> Lerp:
    """θ(α) = (1 − α) θ_a + α θ_b (a callable `params.Lerp`; `evaluate_curve` fills one buffer with its points)."""
    return Lerp(a, b)
