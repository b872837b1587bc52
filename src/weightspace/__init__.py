"""weightspace: neural-network loss landscapes modulo weight-space symmetry.

Symmetry groups are derived from a model as data (`spec_of`), act exactly on parameter dicts, and
drive alignment, barriers, critical-point constructions and counts.

Submodules and names load on first use (PEP 562), so `import weightspace` imports neither torch nor
matplotlib and changes no global state; `weightspace.counting` and the CLI's `--help` stay light.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_SUBMODULES = ("align", "connectivity",  # connectivity: re-exports kept for one release
               "continuous", "counting", "data", "flatness", "hessian", "models", "optim", "paths", "plots",
               "quotient", "sweep")
_NAMES = {
    "ArchitectureMismatch": "errors", "CheckpointError": "errors", "ConfigError": "errors", "DataError": "errors",
    "NonFiniteError": "errors", "SymmetryError": "errors", "WeightspaceError": "errors",
    "evaluate": "evaluate",
    "Checkpoint": "io", "load": "io", "load_checkpoint": "io", "save": "io", "save_params": "io",
    "GroupElement": "symmetry", "Spec": "symmetry", "spec_of": "symmetry",
    "TrainResult": "train", "train": "train",
}

__all__ = [
    "ArchitectureMismatch", "Checkpoint", "CheckpointError", "ConfigError", "DataError", "GroupElement",
    "NonFiniteError", "Spec", "SymmetryError", "TrainResult", "WeightspaceError", "align",
    "continuous", "counting", "data", "evaluate", "flatness", "hessian", "load", "load_checkpoint", "models", "optim",
    "paths", "plots", "quotient", "save", "save_params", "spec_of", "sweep", "train",
]

if TYPE_CHECKING:
    from . import align, continuous, counting, data, flatness, hessian, models, optim, paths, plots, quotient, sweep
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


def __getattr__(name: str):
    """Import a submodule, or the module defining a top-level name, on first access."""
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _NAMES:
        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The package's module type: `train` and `evaluate` name functions, not the submodules of that name.

    Importing `weightspace.train` (the module) binds it on the package; the function keeps the name.
    """

    def __setattr__(self, name: str, value) -> None:
        if name in _NAMES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
