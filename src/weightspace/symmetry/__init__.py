"""Symmetry groups as data: specs derived by tracing, group elements and their action, the unit view."""

from ._element import KINDS, FactorAction, GroupElement
from ._spec import Factor, FixedLayer, Piece, Segment, Spec
from ._trace import spec_of
from ._units import Slot, Units

__all__ = [
    "KINDS", "Factor", "FactorAction", "FixedLayer", "GroupElement", "Piece", "Segment", "Slot", "Spec", "Units",
    "spec_of",
]
