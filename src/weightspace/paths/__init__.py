"""Paths between networks, the barriers along them and over simplices, and renormalisation."""

from ._barrier import DEFINITIONS, Barrier, PathCurve, barrier, evaluate_path
from ._curves import linear_path
from ._renormalize import repair, reset_batchnorm
from ._simplex import SimplexBarrier, simplex_barrier, simplex_grid

__all__ = [
    "DEFINITIONS", "Barrier", "PathCurve", "SimplexBarrier", "barrier", "evaluate_path", "linear_path", "repair",
    "reset_batchnorm", "simplex_barrier", "simplex_grid",
]
