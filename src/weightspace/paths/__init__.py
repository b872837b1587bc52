"""Paths between networks and the barriers along them."""

from ._barrier import DEFINITIONS, Barrier, PathCurve, barrier, evaluate_path
from ._curves import linear_path

__all__ = ["DEFINITIONS", "Barrier", "PathCurve", "barrier", "evaluate_path", "linear_path"]
