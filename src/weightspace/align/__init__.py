"""Alignment of networks modulo permutation: assignment, weight/activation/learned matching."""

from ._alignment import Alignment
from ._assignment import auction_solver, scipy_solver, solve
from ._weight_matching import weight_matching

__all__ = ["Alignment", "auction_solver", "scipy_solver", "solve", "weight_matching"]
