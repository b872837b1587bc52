"""The result record of every alignment method."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from torch import Tensor

from ..params import Params
from ..symmetry import GroupElement

__all__ = ["Alignment"]


@dataclass(frozen=True)
class Alignment:
    """A group element moving the second network(s) onto the reference, with its objective history."""

    element: GroupElement
    method: str
    objective: tuple[float, ...] = ()
    iterations: int = 0

    def apply(self, params: Mapping[str, Tensor]) -> Params:
        """The aligned copy of `params`."""
        return self.element.apply(params)

    def __repr__(self) -> str:
        last = f"{self.objective[-1]:.6g}" if self.objective else "n/a"
        return f"Alignment({self.method}, iterations={self.iterations}, objective={last})"
