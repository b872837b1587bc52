"""Extreme Hessian eigenpairs without forming H: Lanczos, implicitly restarted (ARPACK) or in two passes,
and, as the baseline, power iteration with deflation (PyHessian's method).

All see H only through products v ↦ H v (`_Operator`) and start from vectors drawn from `generator`, so
results are reproducible. Tolerances are relative. ARPACK stops when every Ritz pair's residual satisfies
||H v − λ v|| ≤ tol·max(|λ|, eps^{2/3}), which bounds the eigenvalue's error by the same amount; it keeps a
float64 basis of ncv ≥ max(2k + 1, 20) vectors, ncv·n·8 bytes.

Two-pass Lanczos (Paige 1976; Cullum & Willoughby 1985, ch. 4) keeps two Lanczos vectors in the params'
dtype. Pass 1 runs the three-term recurrence β_j q_{j+1} = H q_j − α_j q_j − β_{j−1} q_{j−1} without
reorthogonalisation and stores only α_j, β_j. Lost orthogonality makes the tridiagonal T_m repeat converged
eigenvalues (copies, counted once) and grow spurious ones ("ghosts"): an eigenvalue that is simple in T_m and
also an eigenvalue of T̂_m (T_m without its first row and column) is spurious (Cullum–Willoughby). Ritz
value θ_i with eigenvector s_i of T_m has residual ||H y_i − θ_i y_i|| ≈ β_m |s_{m,i}| (Paige), the stopping
bound: β_m |s_{m,i}| ≤ tol·max(|θ_i|, eps^{2/3}) for the k wanted values (for a value with copies, the
smallest bound). Pass 2 replays the recurrence with the stored α, β and accumulates the Ritz vectors
y_i = Σ_j s_{j,i} q_j. Memory: 2 working vectors + k accumulators in the params' dtype (plus one HVP);
products: m in pass 1, m − 1 in pass 2 (m the steps).

Power iteration stops when the Rayleigh quotient changes by |λ_t − λ_{t−1}| ≤ tol·|λ_t| between steps,
which does not bound the error (it is larger when the next eigenvalue is close: bench/hessian.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal, eigvalsh_tridiagonal
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh
from torch import Tensor

from ..errors import ConfigError
from ._functional import LossFn, _Operator, select_keys

__all__ = ["lanczos", "power_iteration", "WHICH", "METHODS", "ARPACK_BASIS_BYTES"]

WHICH = ("LA", "SA", "LM")
METHODS = ("auto", "arpack", "two-pass")
ARPACK_BASIS_BYTES = 2**28
"""method="auto" runs two-pass Lanczos when ARPACK's float64 basis, ncv·n·8 bytes, would exceed this (256 MiB:
n above about 1.6M parameters at the default ncv = 20)."""
CHECK_EVERY = 5
"""Two-pass Lanczos tests convergence every this many steps from step 2k on."""
SAME = 100
"""Eigenvalues of T_m are copies within SAME·eps·||T_m||, eps the precision of the recurrence (the params'
dtype); an eigenvalue of T_m is shared with T̂_m within SAME·eps·||T_m||, eps that of float64 (where T is
diagonalised: a spurious value's eigenvector vanishes in its first component up to rounding)."""


def _generator(generator: torch.Generator | None) -> torch.Generator:
    return generator if generator is not None else torch.Generator().manual_seed(0)


def _check_k(k: int, params: Mapping[str, Tensor], keys: Sequence[str] | None, where: str) -> int:
    """n, after checking 0 < k < n before any derivative is taken."""
    n = sum(params[key].numel() for key in select_keys(params, keys, where=where))
    if isinstance(k, bool) or not isinstance(k, int) or not 0 < k < n:
        raise ConfigError(f"{where}: k must be an int with 0 < k < n = {n}, got {k!r}; for all eigenvalues use "
                          "torch.linalg.eigvalsh(dense_hessian(...))")
    return n


def _check_tol(tol: float, where: str) -> None:
    if not tol >= 0:
        raise ConfigError(f"{where}: tol must be >= 0 (relative accuracy), got {tol!r}")


def lanczos(loss_fn: LossFn, params: Mapping[str, Tensor], k: int = 10, *, which: str = "LA",
            tol: float = 1e-6, keys: Sequence[str] | None = None, generator: torch.Generator | None = None,
            method: str = "auto", vectors: bool = True, ncv: int | None = None, maxiter: int | None = None,
            callback: Callable[[int], None] | None = None) -> tuple[Tensor, Tensor | None]:
    """k extreme eigenpairs of the Hessian by Lanczos.

    which: "LA" largest algebraic, "SA" smallest algebraic, "LM" largest magnitude. Stops when
    ||H v − λ v|| ≤ tol·max(|λ|, eps^{2/3}) for all k pairs (tol = 0: machine precision, for two-pass that of
    the params' dtype). The start vector is
    N(0, I) from `generator` (default: a fresh generator seeded 0). `callback(calls)` is told the
    running number of HVPs after each one. Products run in the params' dtype.

    method: "arpack" (implicitly restarted, `scipy.sparse.linalg.eigsh`; float64 basis of `ncv` vectors,
    `maxiter` restarts), "two-pass" (module docstring; 2 + k vectors in the params' dtype, `maxiter` Lanczos
    steps, default min(n, 30k + 300); with `vectors`, about twice the products), or "auto": two-pass when
    ARPACK's basis, ncv·n·8 bytes with ncv = max(2k + 1, 20) unless given, exceeds `ARPACK_BASIS_BYTES`
    (256 MiB), else ARPACK.

    Returns (eigenvalues (k,) float64 ascending, eigenvectors (n, k) or None if not `vectors`); eigenvectors
    are over the flattened `keys` (see `flatten`), float64 from ARPACK, the params' dtype from two-pass.
    """
    if which not in WHICH:
        raise ConfigError(f"lanczos: unknown which={which!r}; choose one of {', '.join(WHICH)}")
    if method not in METHODS:
        raise ConfigError(f"lanczos: unknown method={method!r}; choose one of {', '.join(METHODS)}")
    _check_tol(tol, "lanczos")
    n = _check_k(k, params, keys, "lanczos")
    if method == "auto":
        basis = (ncv if ncv is not None else max(2 * k + 1, 20)) * n * 8
        method = "two-pass" if basis > ARPACK_BASIS_BYTES else "arpack"
    elif method == "two-pass" and ncv is not None:
        raise ConfigError("lanczos: ncv sets ARPACK's basis size; drop it for method='two-pass' (or use 'arpack')")
    if maxiter is not None and (isinstance(maxiter, bool) or not isinstance(maxiter, int) or maxiter <= 0):
        raise ConfigError(f"lanczos: maxiter must be a positive int, got {maxiter!r}")
    op = _Operator(loss_fn, params, keys, "lanczos")
    gen = _generator(generator)
    if method == "arpack":
        return _arpack(op, k, which, tol, gen, vectors, ncv, maxiter, callback)
    return _two_pass(op, k, which, tol, gen, vectors, maxiter if maxiter is not None else min(n, 30 * k + 300),
                     callback)


def _arpack(op: _Operator, k: int, which: str, tol: float, gen: torch.Generator, vectors: bool, ncv: int | None,
            maxiter: int | None, callback: Callable[[int], None] | None) -> tuple[Tensor, Tensor | None]:
    """`eigsh` on v ↦ H v in float64."""
    v0 = torch.randn(op.n, generator=gen, dtype=torch.float64)

    def matvec(x: np.ndarray) -> np.ndarray:
        v = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64).reshape(-1)).to(op.device)
        out = op.matvec(v).to(torch.float64).cpu().numpy()
        if callback is not None:
            callback(op.calls)
        return out

    operator = LinearOperator((op.n, op.n), matvec=matvec, dtype=np.float64)
    try:
        out = eigsh(operator, k=k, which=which, tol=tol, v0=v0.numpy(), ncv=ncv, maxiter=maxiter,
                    return_eigenvectors=vectors)
    except ArpackNoConvergence as err:
        raise ConfigError(f"lanczos: ARPACK found only {len(err.eigenvalues)} of k={k} eigenpairs (which={which}) "
                          f"to tol={tol} after {op.calls} HVPs; raise maxiter or ncv, or loosen tol") from None
    vals, vecs = out if vectors else (out, None)
    order = np.argsort(vals)
    return (torch.from_numpy(vals[order].copy()),
            torch.from_numpy(vecs[:, order].copy()) if vectors else None)


def _dot(a: Tensor, b: Tensor, chunk: int = 2**16) -> float:
    """⟨a, b⟩ accumulated in float64 over chunks (float32 reductions over millions of entries lose ~1e-5)."""
    return sum(float(torch.dot(x.double(), y.double())) for x, y in zip(a.split(chunk), b.split(chunk), strict=True))


def _krylov(op: _Operator, q: Tensor, alpha: list[float], beta: list[float],
            callback: Callable[[int], None] | None) -> Iterator[Tensor]:
    """Lanczos vectors q_1 = q, q_2, … by β_j q_{j+1} = H q_j − α_j q_j − β_{j−1} q_{j−1}, in place.

    α_j = ⟨H q_j − β_{j−1} q_{j−1}, q_j⟩ and β_j = ||β_j q_{j+1}|| are appended to `alpha`, `beta` when not yet
    known, and replayed otherwise, so a second pass regenerates the first's vectors. q_{j+1} is made (one
    HVP) only when asked for; the generator ends if β_j = 0 (an invariant subspace).
    """
    q_prev = None
    j = 0
    while True:
        yield q
        w = op.matvec(q)  # (n,)
        if callback is not None:
            callback(op.calls)
        if q_prev is not None:
            w.sub_(q_prev, alpha=beta[j - 1])
        if j == len(alpha):
            alpha.append(_dot(w, q))
        w.sub_(q, alpha=alpha[j])
        if j == len(beta):
            beta.append(_dot(w, w) ** 0.5)
        if beta[j] == 0.0:
            return
        w.div_(beta[j])
        q_prev, q = q, w
        j += 1


def _good_ritz(alpha: list[float], beta: list[float], eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cullum–Willoughby's good Ritz values of T_m = tridiag(β_{1..m−1}; α_{1..m}) as (θ, bounds, s).

    Numerically equal eigenvalues of T_m (copies of a converged one) count once, with the smallest residual
    bound β_m |s_{m,i}|; a simple eigenvalue that T̂_m (rows and columns 2..m) shares is spurious and dropped.
    θ ascending; s (m, len(θ)) the matching eigenvectors of T_m.
    """
    a, b = np.asarray(alpha), np.asarray(beta[:-1])
    theta, s = eigh_tridiagonal(a, b)  # ascending; s (m, m)
    bounds = abs(beta[-1] * s[-1])
    norm = max(abs(theta[0]), abs(theta[-1]), np.finfo(np.float64).tiny)
    hat = eigvalsh_tridiagonal(a[1:], b[1:]) if len(a) > 1 else np.empty(0)
    keep = []
    for cluster in np.split(np.arange(len(theta)), np.flatnonzero(np.diff(theta) > SAME * eps * norm) + 1):
        if len(cluster) > 1:
            keep.append(cluster[np.argmin(bounds[cluster])])
        elif not (len(hat) and np.min(abs(hat - theta[cluster[0]])) <= SAME * np.finfo(np.float64).eps * norm):
            keep.append(cluster[0])
    keep = np.asarray(keep, dtype=int)
    return theta[keep], bounds[keep], s[:, keep]


def _wanted(theta: np.ndarray, k: int, which: str) -> np.ndarray:
    """Indices of the k values of θ (ascending) that `which` asks for, in ascending order of θ."""
    if which == "LA":
        return np.arange(len(theta) - k, len(theta))
    if which == "SA":
        return np.arange(k)
    return np.sort(np.argsort(abs(theta), kind="stable")[-k:])


def _two_pass(op: _Operator, k: int, which: str, tol: float, gen: torch.Generator, vectors: bool, maxiter: int,
              callback: Callable[[int], None] | None) -> tuple[Tensor, Tensor | None]:
    """Two-pass Lanczos (module docstring): pass 1 for α, β and the Ritz values, pass 2 for the Ritz vectors."""
    eps = float(torch.finfo(op.dtype).eps)
    floor = float(np.finfo(np.float64).eps) ** (2 / 3)
    tol = max(tol, eps)
    state = gen.get_state()  # pass 2 redraws q_1 rather than keep it

    def start() -> Tensor:
        q = torch.randn(op.n, generator=gen, dtype=op.dtype).to(op.device)  # (n,)
        return q.div_(_dot(q, q) ** 0.5)

    alpha: list[float] = []
    beta: list[float] = []
    result = None
    steps = enumerate(_krylov(op, start(), alpha, beta, callback))
    for m, _ in steps:  # after step m, α and β have m entries
        if m == 0 or (m < maxiter and not (m >= 2 * k and m % CHECK_EVERY == 0)):
            continue
        theta, bounds, s = _good_ritz(alpha, beta, eps)
        if len(theta) >= k:
            pick = _wanted(theta, k, which)
            if bool(np.all(bounds[pick] <= tol * np.maximum(abs(theta[pick]), floor))):
                result = theta[pick], s[:, pick]
                break
        if m >= maxiter:
            break
    else:  # β_m = 0: the Krylov space is invariant, T_m's eigenvalues are exact
        theta, bounds, s = _good_ritz(alpha, beta, eps)
        if len(theta) >= k:
            pick = _wanted(theta, k, which)
            result = theta[pick], s[:, pick]
    del steps, _  # free the working vectors before pass 2
    if result is None:
        found = len(theta)
        raise ConfigError(f"lanczos: two-pass Lanczos did not converge to k={k} eigenvalues (which={which}, "
                          f"tol={tol}) in {len(alpha)} steps ({found} distinct Ritz values); raise maxiter, "
                          f"loosen tol, or use method='arpack'")
    values, s = result
    if not vectors:
        return torch.from_numpy(values.copy()), None
    coef = torch.from_numpy(s).to(dtype=op.dtype, device=op.device)  # (m, k)
    y = torch.zeros(k, op.n, dtype=op.dtype, device=op.device)  # (k, n)
    gen.set_state(state)
    for j, q in zip(range(len(coef)), _krylov(op, start(), alpha, beta, callback), strict=False):
        y.addr_(coef[j], q)  # y_i += s_{j,i} q_j
    y.div_(torch.linalg.vector_norm(y, dim=1, keepdim=True))
    return torch.from_numpy(values.copy()), y.T.cpu()


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
