"""Classifying a Hessian spectrum: Morse index, nullity and the positive count.

With threshold τ: index = #{λ < −τ}, nullity = #{|λ| ≤ τ}, positive = #{λ > τ}. The default τ is
relative to the dtype the Hessian was computed in,

    τ = √eps(dtype) · max(1, scale),   scale = max_i |λ_i| by default,

i.e. ≈ 1.5e-8 · max(1, ||H||₂) in float64 and ≈ 3.5e-4 · max(1, ||H||₂) in float32: well above
rounding in the Hessian (~eps · ||H||) yet far below curvatures one would call non-zero. The floor
of 1 makes τ absolute for Hessians of norm < 1 (scale the loss, or pass `threshold`, if that matters).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError
from ._dense import dense_hessian
from ._functional import LossFn, select_keys
from ._lanczos import lanczos

__all__ = ["Spectrum", "classify", "spectrum", "default_threshold"]


@dataclass(frozen=True, eq=False)
class Spectrum:
    """Eigenvalues (ascending, float64) of a Hessian of dimension `dim`, classified by `threshold`.

    `index` = #{λ < −τ}, `nullity` = #{|λ| ≤ τ}, `positive` = #{λ > τ}, counted over the eigenvalues
    held; when only k < dim were computed (`complete` is False) the counts are over those k.
    """

    eigenvalues: Tensor
    threshold: float
    index: int
    nullity: int
    positive: int
    dim: int

    def __post_init__(self) -> None:
        ev = self.eigenvalues
        if not isinstance(ev, Tensor) or ev.dim() != 1 or ev.dtype != torch.float64:
            raise ConfigError("Spectrum: eigenvalues must be a 1-D float64 tensor")
        if ev.numel() > 1 and not bool((ev[1:] >= ev[:-1]).all()):
            raise ConfigError("Spectrum: eigenvalues must be sorted ascending")
        if not self.dim >= ev.numel():
            raise ConfigError(f"Spectrum: dim = {self.dim} is smaller than the {ev.numel()} eigenvalues held")
        tau = self.threshold
        counts = (int((ev < -tau).sum()), int((ev.abs() <= tau).sum()), int((ev > tau).sum()))
        if counts != (self.index, self.nullity, self.positive):
            given = (self.index, self.nullity, self.positive)
            raise ConfigError(f"Spectrum: counts (index, nullity, positive) = {given} disagree with the eigenvalues "
                              f"and threshold, which give {counts}; build it with classify")

    @property
    def complete(self) -> bool:
        return self.eigenvalues.numel() == self.dim

    def __repr__(self) -> str:
        ev = self.eigenvalues
        span = f"λ ∈ [{float(ev[0]):.4g}, {float(ev[-1]):.4g}]" if ev.numel() else "no eigenvalues"
        held = f"{ev.numel()}" if self.complete else f"{ev.numel()} of {self.dim}"
        return (f"Spectrum(index={self.index}, nullity={self.nullity}, positive={self.positive}, "
                f"threshold={self.threshold:.3g}, {span}, {held} eigenvalues)")

    def to_dict(self) -> dict:
        return {"eigenvalues": self.eigenvalues.tolist(), "threshold": self.threshold, "index": self.index,
                "nullity": self.nullity, "positive": self.positive, "dim": self.dim}


def default_threshold(dtype: torch.dtype, scale: float) -> float:
    """τ = √eps(dtype) · max(1, scale)."""
    return math.sqrt(torch.finfo(dtype).eps) * max(1.0, float(scale))


def classify(eigenvalues: Tensor, *, dtype: torch.dtype | None = None, scale: float | None = None,
             threshold: float | None = None, dim: int | None = None) -> Spectrum:
    """Count λ < −τ (index), |λ| ≤ τ (nullity) and λ > τ (positive).

    τ = `threshold` if given, else √eps(dtype) · max(1, scale) with `dtype` the dtype the Hessian was
    computed in (default: the eigenvalues' dtype) and `scale` defaulting to max |λ|. `dim` is the
    Hessian's dimension when only some eigenvalues are given (default: their number).
    """
    if not isinstance(eigenvalues, Tensor) or eigenvalues.dim() != 1 or not eigenvalues.is_floating_point():
        raise ConfigError("classify: eigenvalues must be a 1-D floating tensor (e.g. torch.linalg.eigvalsh(H))")
    if not bool(torch.isfinite(eigenvalues).all()):
        raise ConfigError("classify: eigenvalues contain NaN or infinite values")
    if threshold is not None and scale is not None:
        raise ConfigError("classify: give threshold or scale, not both (threshold overrides the scale rule)")
    ev = torch.sort(eigenvalues.detach().to(torch.float64).cpu()).values
    if threshold is None:
        dtype = eigenvalues.dtype if dtype is None else dtype
        if not dtype.is_floating_point:
            raise ConfigError(f"classify: dtype must be a floating dtype, got {dtype}")
        if scale is None:
            scale = float(ev.abs().max()) if ev.numel() else 0.0
        if not scale >= 0:
            raise ConfigError(f"classify: scale must be >= 0, got {scale!r}")
        threshold = default_threshold(dtype, scale)
    threshold = float(threshold)
    if not threshold >= 0:
        raise ConfigError(f"classify: threshold must be >= 0, got {threshold!r}")
    dim = ev.numel() if dim is None else dim
    return Spectrum(eigenvalues=ev, threshold=threshold, index=int((ev < -threshold).sum()),
                    nullity=int((ev.abs() <= threshold).sum()), positive=int((ev > threshold).sum()), dim=dim)


def spectrum(loss_fn: LossFn, params: Mapping[str, Tensor], keys: Sequence[str] | None = None, *,
             dense: bool = True, k: int | None = None, threshold: float | None = None, chunk: int | None = None,
             tol: float = 1e-6, generator: torch.Generator | None = None) -> Spectrum:
    """The classified Hessian spectrum at `params`.

    dense=True: all n eigenvalues, eigvalsh of `dense_hessian`. dense=False: the k smallest
    (Lanczos "SA", enough for the index when it is < k), with the scale max |λ| from one Lanczos
    "LM" eigenvalue. The default threshold uses the params' dtype (see `classify`).
    """
    keys = select_keys(params, keys, where="spectrum")
    dtype = params[keys[0]].dtype
    if dense:
        if k is not None:
            raise ConfigError("spectrum: k is for dense=False (Lanczos); the dense spectrum has all n eigenvalues")
        h = dense_hessian(loss_fn, params, keys, chunk=chunk)
        ev = torch.linalg.eigvalsh(h.to(torch.float64))
        return classify(ev, dtype=dtype, threshold=threshold)
    if k is None:
        raise ConfigError("spectrum: dense=False needs k, the number of smallest eigenvalues to compute")
    ev, _ = lanczos(loss_fn, params, k, which="SA", tol=tol, keys=keys, generator=generator, vectors=False)
    n = sum(params[key].numel() for key in keys)
    if threshold is not None:
        return classify(ev, threshold=threshold, dim=n)
    top, _ = lanczos(loss_fn, params, 1, which="LM", tol=tol, keys=keys, generator=generator, vectors=False)
    return classify(ev, dtype=dtype, scale=float(top.abs().max()), dim=n)
