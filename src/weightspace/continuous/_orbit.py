"""Re-export: orbit curves live in `weightspace.paths._orbit`."""

from ..paths._orbit import (
    OrbitCurve,
    _flat,  # noqa: F401 (kept for callers of the old private helper)
    orbit_curve,
    random_generators,
    rotation_generator,
)

__all__ = ["OrbitCurve", "orbit_curve", "random_generators", "rotation_generator"]
