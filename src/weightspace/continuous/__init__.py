"""Continuous symmetries and mode connectivity (Zhao et al. 2025): GL orbits, components, curvature, rescaling.

Deep linear networks with square full-rank layers have the zero-loss set GL_h(R)^(l−1): 2^(l−1) components,
named by the signs of det of the partial products (`component_label`), counted by the invariant, by path
searches between sampled minima and (width 1) by exact cells and grid labelling; a skip connection around
the first l − 1 layers leaves 2^(l−2) + 1 at width 1. Orbit curves γ(t) = exp(tX)·θ keep the loss while their
chord does not; the chord stays within d_max of the curve. Rescaling the hidden units of a ReLU^k network
breaks linear mode connectivity without bound in the scale m; canonical norms remove the barrier; odd
permutations carry minima between components.

Example:
  >>> from weightspace.continuous import count_components
  >>> count_components(3, skip=True).value
  3
"""

from ..counting._components import ComponentCount, count_components
from ..data import load as load_dataset
from ..data._linear import LINEAR_TEACHER, SCALAR, linear_teacher, scalar_data, teacher_matrix
from ..paths._orbit import OrbitCurve, orbit_curve, random_generators, rotation_generator
from ..paths._string import MinimumEnergyPath, minimum_energy_path
from ..plots.continuous import plot_component_counts, plot_curvature_bound, plot_orbit, plot_paths, plot_rescaling
from ._bound import OrbitReport, arc_length, chord_deviation, d_max, max_curvature, orbit_report
from ._cells import CellCount, CellPiece, count_cells
from ._gl import GLPath, gl_path, reflection, rotation_log, sample_element, sample_gl
from ._grid import GridCount, count_by_grid
from ._linear import (
    GroupPath,
    component_label,
    group_path,
    linear_config,
    linear_layers,
    linear_minimum,
    partial_products,
    random_minimum,
    singular_loss_floor,
    teacher_of,
)
from ._path_search import PathSearchCount, count_by_path_search, segment_stays_on_minimum
from ._permutation import PermutationConnection, permutation_connection
from ._rescaling import (
    RescalingBarrier,
    canonical_norm,
    homogeneity,
    homogeneous_teacher,
    rescale_units,
    rescaling_barrier,
    rescaling_factor,
    rescaling_loss,
    rescaling_midpoint_loss,
    unit_contribution,
)

__all__ = [
    "LINEAR_TEACHER",
    "SCALAR",
    "CellCount",
    "CellPiece",
    "ComponentCount",
    "GLPath",
    "GridCount",
    "GroupPath",
    "MinimumEnergyPath",
    "OrbitCurve",
    "OrbitReport",
    "PathSearchCount",
    "PermutationConnection",
    "RescalingBarrier",
    "arc_length",
    "canonical_norm",
    "chord_deviation",
    "component_label",
    "count_by_grid",
    "count_by_path_search",
    "count_cells",
    "count_components",
    "d_max",
    "gl_path",
    "group_path",
    "homogeneity",
    "homogeneous_teacher",
    "linear_config",
    "linear_layers",
    "linear_minimum",
    "linear_teacher",
    "load_dataset",
    "max_curvature",
    "minimum_energy_path",
    "orbit_curve",
    "orbit_report",
    "partial_products",
    "permutation_connection",
    "plot_component_counts",
    "plot_curvature_bound",
    "plot_orbit",
    "plot_paths",
    "plot_rescaling",
    "random_generators",
    "random_minimum",
    "reflection",
    "rescale_units",
    "rescaling_barrier",
    "rescaling_factor",
    "rescaling_loss",
    "rescaling_midpoint_loss",
    "rotation_generator",
    "rotation_log",
    "sample_element",
    "sample_gl",
    "scalar_data",
    "segment_stays_on_minimum",
    "singular_loss_floor",
    "teacher_matrix",
    "teacher_of",
    "unit_contribution",
]
