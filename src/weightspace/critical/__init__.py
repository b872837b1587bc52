"""Symmetry-induced critical points: embeddings, paths between permuted minima, permutation points and saddles.

Simsek et al. 2021 (splitting and zero-type neurons, the global-minima manifold and the three-segment
moves joining permuted minima) and Brea et al. 2019 (permutation points, plateaus and permutation
saddles). Everything is a pure function of parameter dicts (`state_dict` keys) and model configs;
hidden layers are indexed like `spec.permutation_factors` (MLP hidden layers from 0). Counting lives
in `weightspace.counting`, Hessians in `weightspace.hessian`.
"""

from ..paths._chain import polygonal_chain
from ..paths._neb import ElasticBand, nudged_elastic_band
from ..paths._swap import move_role, swap_chain, zero_form
from ..plots.critical import plot_band, plot_chain, plot_spectrum, plot_split_family
from ..symmetry._config import UnitLayout, layout_of
from ._embeddings import add_zero_neuron, expand, expansion_assignment, split_neuron, split_reason
from ._objective import CriticalPoint, characterize, gradient_norm, objective, one_hot_regression
from ._optimize import Fit, minimize, newton
from ._permutation import (
    PermutationPoint,
    PlateauFacts,
    permutation_point,
    permutation_point_by_split,
    plateau_directions,
    plateau_facts,
    swap_symmetric_path,
    symmetrize,
    transposition,
)
from ._saddle import PermutationSaddle, loss_curve, permutation_saddle
from ._teacher import fit_student, init_params, student_config, teacher_params

__all__ = [
    "CriticalPoint", "ElasticBand", "Fit", "PermutationPoint", "PermutationSaddle", "PlateauFacts", "UnitLayout",
    "add_zero_neuron", "characterize", "expand", "expansion_assignment", "fit_student", "gradient_norm",
    "init_params", "layout_of", "loss_curve", "minimize", "move_role", "newton", "nudged_elastic_band", "objective",
    "one_hot_regression", "permutation_point", "permutation_point_by_split", "permutation_saddle",
    "plateau_directions", "plateau_facts", "plot_band", "plot_chain", "plot_spectrum", "plot_split_family",
    "polygonal_chain", "split_neuron", "split_reason", "student_config", "swap_chain", "swap_symmetric_path",
    "symmetrize", "teacher_params", "transposition", "zero_form",
]
