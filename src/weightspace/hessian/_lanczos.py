"""Extreme Hessian eigenpairs without forming H: implicitly restarted Lanczos (ARPACK) and, as the
baseline, power iteration with deflation (PyHessian's method).

Both see H only through products v ↦ H v (`_Operator`), and both start from vectors drawn from
`generator`, so results are reproducible. Tolerances are relative: ARPACK stops when every Ritz
pair's residual satisfies ||H v − λ v|| ≤ tol·max(|λ|, eps^{2/3}) (which bounds the eigenvalue's error
by the same amount); power iteration stops when the Rayleigh quotient changes by
|λ_t − λ_{t−1}| ≤ tol·|λ_t| between steps, which does not bound the error (it is larger when the
next eigenvalue is close: bench/hessian.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh
from torch import Tensor

from ..errors import ConfigError
from ._functional import LossFn, _Operator, select_keys

__all__ = ["lanczos", "power_iteration", "WHICH"]

WHICH = ("LA", "SA", "LM")


def _generator(generator: torch.Generator | None) -> torch.Generator:
    return generator if generator is not None else torch.Generator().manual_seed(0)


def _check_k(k: int, params: Mapping[str, Tensor], keys: Sequence[str] | None, where: str) -> None:
    """0 < k < n, checked before any derivative is taken."""
    n = sum(params[key].numel() for key in select_keys(params, keys, where=where))
    if isinstance(k, bool) or not isinstance(k, int) or not 0 < k < n:
        raise ConfigError(f"{where}: k must be an int with 0 < k < n = {n}, got {k!r}; for all eigenvalues use "
                          "torch.linalg.eigvalsh(dense_hessian(...))")


def _check_tol(tol: float, where: str) -> None:
    if not tol >= 0:
        raise ConfigError(f"{where}: tol must be >= 0 (relative accuracy), got {tol!r}")


def lanczos(loss_fn: LossFn, params: Mapping[str, Tensor], k: int = 10, *, which: str = "LA",
            tol: float = 1e-6, keys: Sequence[str] | None = None, generator: torch.Generator | None = None,
            ncv: int | None = None, maxiter: int | None = None,
            callback: Callable[[int], None] | None = None) -> tuple[Tensor, Tensor]:
    """k extreme eigenpairs of the Hessian by implicitly restarted Lanczos (`scipy.sparse.linalg.eigsh`).

    which: "LA" largest algebraic, "SA" smallest algebraic, "LM" largest magnitude. Stops when
    ||H v − λ v|| ≤ tol·max(|λ|, eps^{2/3}) for all k pairs (tol = 0: machine precision). The start vector is
    N(0, I) from `generator` (default: a fresh generator seeded 0). `callback(calls)` is told the
    running number of HVPs after each one. Products run in the params' dtype, Lanczos in float64.

    Returns (eigenvalues (k,), eigenvectors (n, k)), float64, eigenvalues ascending; eigenvectors
    are over the flattened `keys` (see `flatten`).
    """
    if which not in WHICH:
        raise ConfigError(f"lanczos: unknown which={which!r}; choose one of {', '.join(WHICH)}")
    _check_tol(tol, "lanczos")
    _check_k(k, params, keys, "lanczos")
    op = _Operator(loss_fn, params, keys, "lanczos")
    v0 = torch.randn(op.n, generator=_generator(generator), dtype=torch.float64)

    def matvec(x: np.ndarray) -> np.ndarray:
        v = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64).reshape(-1)).to(op.device)
        out = op.matvec(v).to(torch.float64).cpu().numpy()
        if callback is not None:
            callback(op.calls)
        return out

    operator = LinearOperator((op.n, op.n), matvec=matvec, dtype=np.float64)
    try:
        vals, vecs = eigsh(operator, k=k, which=which, tol=tol, v0=v0.numpy(), ncv=ncv, maxiter=maxiter)
    except ArpackNoConvergence as err:
        raise ConfigError(f"lanczos: ARPACK found only {len(err.eigenvalues)} of k={k} eigenpairs (which={which}) "
                          f"to tol={tol} after {op.calls} HVPs; raise maxiter or ncv, or loosen tol") from None
    order = np.argsort(vals)
    return torch.from_numpy(vals[order].copy()), torch.from_numpy(vecs[:, order].copy())


def power_iteration(loss_fn: LossFn, params: Mapping[str, Tensor], k: int = 10, *, tol: float = 1e-6,
                    maxiter: int = 1000, keys: Sequence[str] | None = None,
                    generator: torch.Generator | None = None,
                    callback: Callable[[int], None] | None = None) -> tuple[Tensor, Tensor]:
    """k largest-magnitude eigenpairs by power iteration with deflation (Yao et al. 2020, PyHessian).

    For i = 1..k: v ~ N(0, I) from `generator`; repeat v ← P_i v/||P_i v||, λ ← vᵀ H v, v ← H v,
    with P_i projecting out the eigenvectors already found, until |λ_t − λ_{t−1}| ≤ tol·|λ_t|.
    Raises `ConfigError` if an eigenvalue needs more than `maxiter` products.

    Returns (eigenvalues (k,), eigenvectors (n, k)), float64, eigenvalues ascending.
    """
    _check_tol(tol, "power_iteration")
    if isinstance(maxiter, bool) or not isinstance(maxiter, int) or maxiter <= 0:
        raise ConfigError(f"power_iteration: maxiter must be a positive int, got {maxiter!r}")
    _check_k(k, params, keys, "power_iteration")
    op = _Operator(loss_fn, params, keys, "power_iteration")
    gen = _generator(generator)
    found = torch.empty(op.n, 0, dtype=torch.float64, device=op.device)  # (n, i) orthonormal
    values: list[float] = []
    for i in range(k):
        v = torch.randn(op.n, generator=gen, dtype=torch.float64).to(op.device)
        lam = None
        for _ in range(maxiter):
            v = v - found @ (found.T @ v)
            v = v / torch.linalg.vector_norm(v)
            hv = op.matvec(v).to(torch.float64)
            if callback is not None:
                callback(op.calls)
            if not bool(hv.any()):  # H v = 0: v is an eigenvector with eigenvalue 0
                lam = 0.0
                break
            lam_new = float(v @ hv)
            done = lam is not None and abs(lam_new - lam) <= tol * abs(lam_new)
            lam, v = lam_new, hv
            if done:
                break
        else:
            raise ConfigError(f"power_iteration: eigenvalue {i + 1} of k={k} did not settle to tol={tol} in "
                              f"maxiter={maxiter} HVPs (last λ = {lam:.6g}); raise maxiter or use lanczos")
        v = v - found @ (found.T @ v)
        found = torch.cat([found, (v / torch.linalg.vector_norm(v))[:, None]], dim=1)
        values.append(lam)
    vals = torch.tensor(values, dtype=torch.float64)
    order = torch.argsort(vals)
    return vals[order], found[:, order].cpu()
