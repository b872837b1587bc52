"""Subspaces of weight space: orthonormal bases and how much of a direction lies in a span.

Used to ask whether symmetry tangents lie in the Hessian's null space: for an orthonormal basis Q of
span(V), the overlap of t is ||Q Qᵀ t|| / ||t|| ∈ [0, 1] (1: t ∈ span V; 0: t ⊥ span V).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import ConfigError

__all__ = ["orthonormal_basis", "null_space_overlap"]


def _matrix(x: Tensor, where: str, name: str) -> Tensor:
    if not isinstance(x, Tensor) or x.dim() not in (1, 2) or not x.is_floating_point():
        got = f"shape {tuple(x.shape)}, dtype {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
        raise ConfigError(f"{where}: {name} must be a floating (n,) or (n, m) tensor of column vectors, got {got}")
    if not bool(torch.isfinite(x).all()):
        raise ConfigError(f"{where}: {name} contains NaN or infinite values")
    x = x if x.dim() == 2 else x[:, None]
    return x.to(torch.promote_types(x.dtype, torch.float64))


def orthonormal_basis(vectors: Tensor, *, rtol: float | None = None) -> Tensor:
    """An orthonormal basis Q of the column span of `vectors` (n, m), shape (n, r), float64.

    Rank-truncated SVD (more reliable than unpivoted QR for nearly dependent columns): V = U S Wᵀ,
    Q = the columns of U with σ_i > rtol·σ_max, rtol defaulting to max(n, m)·eps(dtype).
    """
    eps = torch.finfo(vectors.dtype).eps if isinstance(vectors, Tensor) and vectors.is_floating_point() else 0.0
    v = _matrix(vectors, "orthonormal_basis", "vectors")  # (n, m)
    n, m = v.shape
    if m == 0:
        return v.new_zeros(n, 0)
    rtol = max(n, m) * eps if rtol is None else rtol
    if not rtol >= 0:
        raise ConfigError(f"orthonormal_basis: rtol must be >= 0, got {rtol!r}")
    u, s, _ = torch.linalg.svd(v, full_matrices=False)  # u (n, min(n, m)), s descending
    if s.numel() == 0 or float(s[0]) == 0.0:
        return v.new_zeros(n, 0)
    return u[:, s > rtol * s[0]]


def null_space_overlap(eigenvectors_null: Tensor, tangents: Tensor) -> Tensor:
    """||P t_j|| / ||t_j|| for each column t_j of `tangents` (n, t), P the projector onto span(eigenvectors_null).

    `eigenvectors_null` (n, z) need not be orthonormal (a basis is taken with `orthonormal_basis`).
    Returns shape (t,) float64 (a 0-d tensor for a single (n,) tangent).
    """
    single = isinstance(tangents, Tensor) and tangents.dim() == 1
    q = orthonormal_basis(eigenvectors_null)  # (n, r)
    t = _matrix(tangents, "null_space_overlap", "tangents")  # (n, t)
    if t.shape[0] != q.shape[0]:
        raise ConfigError(f"null_space_overlap: eigenvectors have {q.shape[0]} rows but tangents have {t.shape[0]}; "
                          "both must be flat vectors over the same keys (see flatten)")
    norms = torch.linalg.vector_norm(t, dim=0)  # (t,)
    zero = torch.nonzero(norms == 0).flatten().tolist()
    if zero:
        raise ConfigError(f"null_space_overlap: tangent columns {zero[:5]} are zero; drop them (their overlap is "
                          "undefined)")
    overlap = torch.linalg.vector_norm(q.T @ t.to(q.dtype), dim=0) / norms  # (t,)
    overlap = overlap.clamp(max=1.0)
    return overlap[0] if single else overlap
