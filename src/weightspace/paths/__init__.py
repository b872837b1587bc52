"""Every curve in weight space, the one evaluator along a curve, barriers, simplices and renormalisation.

Curves θ(α), α ∈ [0, 1], exact at their endpoints: the line (`linear_path`), polygonal chains
(`polygonal_chain`), quadratic Bezier curves (`bezier_curve`, `fit_bezier`), chains with one fitted bend
and Bezier curves from one fitter (`fit_curve`, `fit_model_curve`, `evaluate_fitted_curve`; curve files:
`save_curve`, `load_curve`), minimum-energy paths
(`nudged_elastic_band`, `string_method`; both take `loss_fn, start, end`), orbit curves of a continuous
symmetry (`orbit_curve`) and the swap chain between permuted minima (`move_role`, `swap_chain`,
`zero_form`). `evaluate_curve` measures any of them at K points (`evaluate_path` on a model and data,
`loss_curve` on an objective); `linear_barrier` and the studies of Sharma et al. build on them.
"""

from ._barrier import DEFINITIONS, Barrier, PathCurve, barrier, evaluate_curve, evaluate_path, loss_curve
from ._bezier import BezierCurve, bezier_curve
from ._chain import polygonal_chain
from ._curve_file import curve_fingerprint, load_curve, save_curve
from ._curves import linear_path
from ._fit import (
    CURVE_KINDS,
    FittedCurve,
    evaluate_fitted_curve,
    fit_bezier,
    fit_curve,
    fit_model_curve,
    minibatch_loss,
)
from ._linear_barrier import RENORMALIZE, PairBarrier, linear_barrier
from ._neb import ElasticBand, nudged_elastic_band
from ._orbit import OrbitCurve, orbit_curve, random_generators, rotation_generator
from ._renormalize import repair, reset_batchnorm
from ._simplex import SimplexBarrier, simplex_barrier, simplex_grid
from ._string import MinimumEnergyPath, dataset_loss, minimum_energy_path, string_method
from ._studies import trajectory_barriers, width_barriers, width_sweep
from ._swap import move_role, swap_chain, zero_form

__all__ = [
    "CURVE_KINDS", "DEFINITIONS", "FittedCurve", "curve_fingerprint", "evaluate_fitted_curve", "fit_curve",
    "fit_model_curve", "load_curve", "minibatch_loss", "save_curve",
    "RENORMALIZE", "Barrier", "BezierCurve", "ElasticBand", "MinimumEnergyPath", "OrbitCurve",
    "PairBarrier", "PathCurve", "SimplexBarrier", "barrier", "bezier_curve", "dataset_loss", "evaluate_curve",
    "evaluate_path", "fit_bezier", "linear_barrier", "linear_path", "loss_curve", "minimum_energy_path",
    "move_role", "nudged_elastic_band", "orbit_curve", "polygonal_chain", "random_generators", "repair",
    "reset_batchnorm", "rotation_generator", "simplex_barrier", "simplex_grid", "string_method", "swap_chain",
    "trajectory_barriers", "width_barriers", "width_sweep", "zero_form",
]
