"""Symmetry removal (Pittorino et al. 2022): canonical forms on a product of spheres, distances and geodesics.

`quotient_of(model)` lists the spheres of a zoo model (ReLU / ReLU^k MLPs, VGG and ResNet-20 with BatchNorm,
binary MLPs); `canonical_form` picks one representative per orbit of the permutation x scale group
(x sign for binary networks); `align_to` removes permutations against a reference (per-unit cosine or
weight matching); `quotient_distance`, `function_distance`, `hamming_distance` and `pairwise_distances`
measure on the quotient; `geodesic` interpolates unit by unit along great circles and `geodesic_study`
evaluates error and loss along it and along the straight line; `binary_local_energy` flips weights.
"""

from ._align import METHODS, align_to
from ._binary import BinaryLocalEnergy, binary_local_energy
from ._canonical import canonical_form, canonical_order, canonical_scale
from ._distance import (
    FunctionDistance,
    PairwiseDistances,
    QuotientDistance,
    function_distance,
    hamming_distance,
    pairwise_distances,
    quotient_distance,
    unit_cosines,
)
from ._geodesic import PATHS, GeodesicStudy, geodesic, geodesic_study
from ._structure import KINDS, SUPPORTED, Quotient, Sphere, quotient_of

__all__ = [
    "KINDS", "METHODS", "PATHS", "SUPPORTED", "BinaryLocalEnergy", "FunctionDistance", "GeodesicStudy",
    "PairwiseDistances", "Quotient", "QuotientDistance", "Sphere", "align_to", "binary_local_energy",
    "canonical_form", "canonical_order", "canonical_scale", "function_distance", "geodesic", "geodesic_study",
    "hamming_distance", "pairwise_distances", "quotient_distance", "quotient_of", "unit_cosines",
]
