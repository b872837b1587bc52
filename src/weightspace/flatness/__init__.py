"""Flatness of a minimiser (Pittorino et al. 2022): local energy under multiplicative Gaussian noise,
its binary-network twin under sign flips, and the Hessian's trace and top eigenvalue for comparison.

`local_energy(model, params, data, sigmas=..., samples=N, generator=g)` -> `LocalEnergy`;
`flip_energy(..., fractions=...)` for binary networks; `hessian_sharpness(...)` -> `Sharpness`.
"""

from ._local_energy import METRICS, LocalEnergy, flip_energy, local_energy
from ._sharpness import Sharpness, hessian_sharpness

__all__ = ["METRICS", "LocalEnergy", "Sharpness", "flip_energy", "hessian_sharpness", "local_energy"]
