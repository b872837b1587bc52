"""Linear connectivity modulo permutation (re-exports): `align_pair` lives in `weightspace.align`,
`linear_barrier` in `weightspace.paths`."""

from .align._pair import METHODS, align_pair
from .paths._linear_barrier import RENORMALIZE, PairBarrier, linear_barrier

__all__ = ["METHODS", "RENORMALIZE", "PairBarrier", "align_pair", "linear_barrier"]
