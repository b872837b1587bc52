"""Verdicts from a measured value, a threshold and a direction: never written by hand."""

from __future__ import annotations

import math
import numbers

from ..errors import ConfigError

__all__ = ["HOLDS", "FAILS", "INCONCLUSIVE", "VERDICTS", "verdict"]

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
VERDICTS = (FAILS, INCONCLUSIVE, HOLDS)  # report order within a section


def verdict(value: float | None, threshold: float, direction: str, inconclusive: str | None = None) -> str:
    """'holds' iff value ≤ threshold (direction '<=') or value ≥ threshold ('>='); 'inconclusive' when a
    reason is given or the value is None or not finite; 'does not hold' otherwise."""
    if direction not in ("<=", ">="):
        raise ConfigError(f"direction must be '<=' or '>=', not {direction!r}")
    if inconclusive or value is None:
        return INCONCLUSIVE
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"a claim's value must be a number or None, not {type(value).__name__}")
    if not math.isfinite(value):
        return INCONCLUSIVE
    holds = value <= threshold if direction == "<=" else value >= threshold
    return HOLDS if holds else FAILS
