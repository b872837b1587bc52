"""weightspace: neural-network loss landscapes modulo weight-space symmetry.

Symmetry groups are derived from a model as data (`spec_of`), act exactly on parameter dicts, and
drive alignment, barriers, critical-point constructions and counts.
"""

from . import align, connectivity, continuous, counting, data, hessian, models, paths
from .errors import (
    ArchitectureMismatch,
    CheckpointError,
    ConfigError,
    DataError,
    NonFiniteError,
    SymmetryError,
    WeightspaceError,
)
from .evaluate import evaluate
from .io import Checkpoint, load, load_checkpoint, save, save_params
from .symmetry import GroupElement, Spec, spec_of
from .train import TrainResult, train

__version__ = "0.1.0"

__all__ = [
    "ArchitectureMismatch", "Checkpoint", "CheckpointError", "ConfigError", "DataError", "GroupElement",
    "NonFiniteError", "Spec", "SymmetryError", "TrainResult", "WeightspaceError", "align", "connectivity",
    "continuous", "counting", "data", "evaluate", "hessian", "load", "load_checkpoint", "models", "paths", "save",
    "save_params", "spec_of", "train",
]
