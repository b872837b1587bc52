"""Exception hierarchy: every error a user can cause is a `WeightspaceError` with a one-line message."""

__all__ = [
    "WeightspaceError",
    "ConfigError",
    "DataError",
    "CheckpointError",
    "ArchitectureMismatch",
    "NonFiniteError",
    "SymmetryError",
    "OutputError",
]


class WeightspaceError(Exception):
    """Base class: the CLI prints `str(err)` as one line and exits non-zero."""


class ConfigError(WeightspaceError, ValueError):
    """A model or run configuration is invalid (unknown model, nonsensical width, bad option)."""


class DataError(WeightspaceError, ValueError):
    """A dataset is unknown, missing, malformed or empty."""


class CheckpointError(WeightspaceError, ValueError):
    """A checkpoint is missing, truncated, not safetensors, or lacks its model config."""


class ArchitectureMismatch(WeightspaceError, ValueError):
    """Two parameter dicts do not have the same keys and shapes."""


class NonFiniteError(WeightspaceError, ValueError):
    """A tensor holds NaN or infinite values where finite ones are required."""


class SymmetryError(WeightspaceError, ValueError):
    """A symmetry spec or group element is invalid, or a layer cannot be acted on."""


class OutputError(WeightspaceError, ValueError):
    """An output is refused (an input, not a regular file, exists without --force, locked) or cannot be written."""
