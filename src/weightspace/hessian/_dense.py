"""The dense Hessian, assembled from Hessian-vector products with the basis vectors.

H = [H e_1, …, H e_n], computed `chunk` columns at a time with `vmap` (memory ∝ chunk · cost of one
HVP, plus the n × n result), then symmetrised: H ← (H + Hᵀ)/2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ..errors import ConfigError
from ._functional import LossFn, _Operator

__all__ = ["dense_hessian", "DEFAULT_CHUNK"]

DEFAULT_CHUNK = 256


MAX_DENSE_BYTES = 8 * 2**30


def dense_hessian(loss_fn: LossFn, params: Mapping[str, Tensor], keys: Sequence[str] | None = None, *,
                  chunk: int | None = None) -> Tensor:
    """H_ij = ∂²L/∂θ_i∂θ_j over the flattened `keys` (see `flatten`), shape (n, n), in the params' dtype.

    `chunk` bounds how many columns are computed at once (default `DEFAULT_CHUNK` = 256, or n if
    smaller); the result is symmetrised exactly.
    """
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk <= 0):
        raise ConfigError(f"dense_hessian: chunk must be a positive int (columns per vmap), got {chunk!r}")
    op = _Operator(loss_fn, params, keys, "dense_hessian")
    n = op.n
    need = 2 * n * n * op.dtype.itemsize  # H and its transpose while symmetrising
    if need > MAX_DENSE_BYTES:
        raise ConfigError(f"dense_hessian: {n:,} parameters need {need / 2**30:.0f} GiB for the dense Hessian "
                          f"(limit {MAX_DENSE_BYTES / 2**30:.0f} GiB); use Lanczos for the extreme eigenvalues "
                          "(--top K / lanczos(...))")
    step = min(n, chunk if chunk is not None else DEFAULT_CHUNK)
    h = torch.empty(n, n, dtype=op.dtype, device=op.device)  # (n, n)
    for start in range(0, n, step):
        stop = min(n, start + step)
        rows = torch.arange(stop - start, device=op.device)
        basis = torch.zeros(stop - start, n, dtype=op.dtype, device=op.device)  # (c, n)
        basis[rows, rows + start] = 1
        h[start:stop] = op.matmat(basis)  # rows H e_i = columns, H symmetric
    sym = h + h.T  # peak memory 2 n² entries
    del h
    return sym.mul_(0.5)
