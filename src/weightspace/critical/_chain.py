"""Re-export: polygonal chains live in `weightspace.paths._chain`, the swap chain in `weightspace.paths._swap`."""

from ..paths._chain import polygonal_chain
from ..paths._swap import move_role, swap_chain, zero_form

__all__ = ["move_role", "polygonal_chain", "swap_chain", "zero_form"]
