"""Alignment of networks modulo permutation: assignment, weight/activation/learned matching, merging."""

from ._activation_matching import activation_matching
from ._alignment import Alignment
from ._assignment import WarmAssignment, auction_solver, scipy_solver, solve
from ._learned_matching import learned_matching
from ._merge import align_many, merge
from ._pair import METHODS, align_pair
from ._weight_matching import weight_matching

__all__ = [
    "METHODS", "Alignment", "WarmAssignment", "activation_matching", "align_many", "align_pair", "auction_solver",
    "learned_matching", "merge", "scipy_solver", "solve", "weight_matching",
]
