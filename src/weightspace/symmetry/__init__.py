"""Symmetry groups as data: specs derived by tracing, group elements and their action."""

from ._element import FactorAction, GroupElement
from ._spec import KINDS, Factor, FixedLayer, Piece, Segment, Spec
from ._trace import spec_of

__all__ = [
    "KINDS", "Factor", "FactorAction", "FixedLayer", "GroupElement", "Piece", "Segment", "Spec", "spec_of",
]
