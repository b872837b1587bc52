"""Hessian toolkit contracts: derivatives three ways (dense = stacked HVPs = autograd = finite differences),
Lanczos and power iteration against a dense eigendecomposition, Hutchinson against the exact trace,
closed forms on quadratics, spectrum classification and subspace overlaps, one-line errors."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from weightspace.errors import ConfigError, NonFiniteError
from weightspace.hessian import (
    Spectrum,
    _lanczos,
    classify,
    dense_hessian,
    flatten,
    gradient,
    hvp,
    lanczos,
    loss_of,
    null_space_overlap,
    orthonormal_basis,
    power_iteration,
    spectrum,
    trace_estimate,
    unflatten,
)
from weightspace.hessian._functional import _Operator
from weightspace.params import state_of

REL = 1e-6
DT = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _mlp(widths, batch, seed):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(widths[:-1], widths[1:], strict=False):
        layers += [nn.Linear(a, b), nn.Tanh()]
    module = nn.Sequential(*layers[:-1]).double()
    g = _gen(seed + 1)
    x = torch.randn(batch, widths[0], generator=g, dtype=DT)
    y = torch.randn(batch, widths[-1], generator=g, dtype=DT)
    return module, x, y


@pytest.fixture(scope="module")
def tiny():
    """3-5-2 tanh MLP (32 parameters) on 20 regression samples."""
    module, x, y = _mlp((3, 5, 2), 20, 0)
    loss_fn, keys = loss_of(module, x, y)
    return loss_fn, state_of(module), keys


def _with_dense(widths, batch, seed):
    """(loss_fn, params, keys, H) for a tanh MLP on `batch` regression samples, H its dense Hessian."""
    module, x, y = _mlp(widths, batch, seed)
    loss_fn, keys = loss_of(module, x, y)
    params = state_of(module)
    return loss_fn, params, keys, dense_hessian(loss_fn, params, keys)


@pytest.fixture(scope="module")
def mid():
    """10-50-50-1 tanh MLP (3,151 parameters): the dense Hessian and its eigenvalues, computed once."""
    *problem, h = _with_dense((10, 50, 50, 1), 64, 1)
    return *problem, h, torch.linalg.eigvalsh(h)


def _quadratic(seed=0):
    """L(θ) = ½ θᵀAθ + bᵀθ over θ = (W (2, 3), c (4,)), A symmetric (10 × 10)."""
    g = _gen(seed)
    m = torch.randn(10, 10, generator=g, dtype=DT)
    a = (m + m.T) / 2
    b = torch.randn(10, generator=g, dtype=DT)
    params = {"W": torch.randn(2, 3, generator=g, dtype=DT), "c": torch.randn(4, generator=g, dtype=DT)}

    def loss_fn(p):
        t = torch.cat([p["W"].reshape(-1), p["c"]])
        return 0.5 * t @ a @ t + b @ t

    return loss_fn, params, a, b


def _diag_quadratic(diag):
    """L(θ) = ½ Σ_i d_i θ_i²: Hessian diag(d)."""
    d = torch.as_tensor(diag, dtype=DT)
    return (lambda p: 0.5 * (d * p["t"] ** 2).sum()), {"t": torch.linspace(-1, 1, len(d), dtype=DT)}


def _close(a, b, rel=REL):
    scale = max(1.0, float(b.abs().max()))
    return float((a - b).abs().max()) <= rel * scale


# --- functional: flatten, loss_of, gradient, hvp ------------------------------------------------------------------

def test_flatten_unflatten_round_trip(tiny):
    _, params, keys = tiny
    vec = flatten(params, keys)
    assert vec.shape == (32,)
    back = unflatten(vec, params, keys)
    assert list(back) == list(keys)
    assert all(torch.equal(back[k], params[k]) for k in keys)


def test_loss_of_matches_formulas_and_leaves_module_alone():
    module, x, y = _mlp((3, 5, 2), 20, 0)
    before = state_of(module)
    loss_fn, keys = loss_of(module, x, y)
    params = state_of(module)
    expected = ((module(x) - y) ** 2).sum(dim=1).mean()
    assert torch.allclose(loss_fn(params), expected, rtol=1e-14, atol=0)
    labels = torch.tensor([0, 1] * 10)
    ce_fn, _ = loss_of(module, x, labels, kind="cross_entropy")
    assert torch.allclose(ce_fn(params), F.cross_entropy(module(x), labels), rtol=1e-14, atol=0)
    dense_hessian(loss_fn, params, keys)
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_loss_of_excludes_buffers():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 1)).double().eval()
    x, y = torch.randn(8, 3, dtype=DT), torch.randn(8, 1, dtype=DT)
    loss_fn, keys = loss_of(module, x, y)
    assert keys == tuple(k for k, _ in module.named_parameters())
    h = dense_hessian(loss_fn, state_of(module), keys)
    n = sum(p.numel() for p in module.parameters())
    assert h.shape == (n, n)


def test_gradient_and_hvp_of_quadratic_match_closed_form():
    loss_fn, params, a, b = _quadratic()
    t = flatten(params, ["W", "c"])
    g = gradient(loss_fn, params)
    assert torch.allclose(flatten(g, ["W", "c"]), a @ t + b, rtol=1e-12, atol=1e-12)
    v = unflatten(torch.arange(10, dtype=DT), params, ["W", "c"])
    assert torch.allclose(flatten(hvp(loss_fn, params, v), ["W", "c"]), a @ torch.arange(10, dtype=DT),
                          rtol=1e-12, atol=1e-12)
    assert torch.allclose(dense_hessian(loss_fn, params), a, rtol=1e-12, atol=1e-12)
    # a subset of keys differentiates only those, the rest held fixed: the (c, c) block
    assert torch.allclose(gradient(loss_fn, params, keys=["c"])["c"], (a @ t + b)[6:], rtol=1e-12, atol=1e-12)
    assert torch.allclose(dense_hessian(loss_fn, params, keys=["c"]), a[6:, 6:], rtol=1e-12, atol=1e-12)


def test_hvp_is_linear_in_v(tiny):
    loss_fn, params, keys = tiny
    g = _gen(3)
    u = unflatten(torch.randn(32, generator=g, dtype=DT), params, keys)
    w = unflatten(torch.randn(32, generator=g, dtype=DT), params, keys)
    combo = {k: 2.5 * u[k] - 0.75 * w[k] for k in keys}
    lhs = flatten(hvp(loss_fn, params, combo, keys), keys)
    rhs = 2.5 * flatten(hvp(loss_fn, params, u, keys), keys) - 0.75 * flatten(hvp(loss_fn, params, w, keys), keys)
    assert _close(lhs, rhs, 1e-12)


# --- dense Hessian: three independent routes ------------------------------------------------------------------------

def test_dense_hessian_equals_autograd_hessian(tiny):
    loss_fn, params, keys = tiny
    h = dense_hessian(loss_fn, params, keys)

    def flat(vec):
        return loss_fn({**params, **unflatten(vec, params, keys)})

    ref = torch.autograd.functional.hessian(flat, flatten(params, keys))
    assert h.shape == (32, 32)
    assert torch.equal(h, h.T)
    assert _close(h, ref)


def test_dense_hessian_equals_stacked_hvps(tiny):
    loss_fn, params, keys = tiny
    h = dense_hessian(loss_fn, params, keys)
    eye = torch.eye(32, dtype=DT)
    cols = torch.stack([flatten(hvp(loss_fn, params, unflatten(e, params, keys), keys), keys) for e in eye], dim=1)
    assert _close(h, cols)


def test_dense_hessian_equals_finite_differences_of_gradient(tiny):
    loss_fn, params, keys = tiny
    h = dense_hessian(loss_fn, params, keys)
    t0, step = flatten(params, keys), 1e-5

    def grad_at(vec):
        return flatten(gradient(loss_fn, {**params, **unflatten(vec, params, keys)}, keys), keys)

    fd = torch.stack([(grad_at(t0 + step * e) - grad_at(t0 - step * e)) / (2 * step)
                      for e in torch.eye(32, dtype=DT)], dim=1)
    assert _close(h, fd)


@pytest.mark.parametrize("chunk", [1, 7, 32, 1000])
def test_dense_hessian_does_not_depend_on_chunk(tiny, chunk):
    loss_fn, params, keys = tiny
    assert _close(dense_hessian(loss_fn, params, keys, chunk=chunk), dense_hessian(loss_fn, params, keys), 1e-13)


def test_dense_hessian_float32_close_to_float64():
    module, x, y = _mlp((3, 5, 2), 20, 0)
    params = state_of(module)
    loss32, keys = loss_of(module, x.float(), y.float())
    h32 = dense_hessian(loss32, {k: v.float() for k, v in params.items()}, keys)
    assert h32.dtype == torch.float32
    assert _close(h32.double(), dense_hessian(*loss_of(module, x, y)[:1], params, keys), 1e-4)


# --- Lanczos and power iteration against eigvalsh -------------------------------------------------------------------

@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_lanczos_matches_dense_eigenvalues(mid, which):
    loss_fn, params, keys, h, ev = mid
    k = 10
    vals, vecs = lanczos(loss_fn, params, k, which=which, tol=1e-6, keys=keys, generator=_gen(0))
    ref = {"LA": ev[-k:], "SA": ev[:k], "LM": ev[ev.abs().argsort()[-k:]].sort().values}[which]
    scale = float(ev.abs().max())
    assert vals.dtype == DT and vecs.shape == (h.shape[0], k)
    assert torch.equal(vals, vals.sort().values)
    assert float((vals - ref).abs().max()) <= REL * scale
    residual = torch.linalg.vector_norm(h @ vecs - vecs * vals, dim=0)  # ||H v − λ v|| per pair
    assert bool((residual <= 2e-6 * vals.abs()).all())  # ARPACK's criterion, tol·|λ|, with a margin of 2


def test_lanczos_is_reproducible(tiny):
    loss_fn, params, keys = tiny
    a = lanczos(loss_fn, params, 3, keys=keys, generator=_gen(5))
    b = lanczos(loss_fn, params, 3, keys=keys, generator=_gen(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


# --- two-pass Lanczos -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small():
    """10-24-24-1 tanh MLP (889 parameters) with its dense Hessian's eigendecomposition."""
    *problem, h = _with_dense((10, 24, 24, 1), 64, 2)
    return *problem, h, *torch.linalg.eigh(h)


@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_two_pass_matches_dense_eigenpairs_and_arpack(small, which, one_thread):
    loss_fn, params, keys, h, ev, z = small
    k = 10
    vals, vecs = lanczos(loss_fn, params, k, which=which, tol=1e-10, keys=keys, generator=_gen(0), method="two-pass")
    pick = {"LA": torch.arange(len(ev) - k, len(ev)), "SA": torch.arange(k),
            "LM": ev.abs().argsort()[-k:].sort().values}[which]
    scale = float(ev.abs().max())
    assert vals.dtype == DT and vecs.shape == (h.shape[0], k)
    assert float((vals - ev[pick]).abs().max()) <= 1e-12 * scale
    assert bool(((vecs * z[:, pick]).sum(dim=0).abs() >= 1 - 1e-6).all())  # the dense eigenvectors up to sign
    assert float(torch.linalg.vector_norm(h @ vecs - vecs * vals, dim=0).max()) <= 1e-8 * scale
    arpack, _ = lanczos(loss_fn, params, k, which=which, tol=1e-10, keys=keys, generator=_gen(0), method="arpack")
    assert float((vals - arpack).abs().max()) <= 1e-12 * scale


def _outliers(n, dtype):
    """L = ½ Σ d_i θ_i²: eigenvalues 1000, 400, 150 far above 1, 0.9 and a bulk in [0, 0.5)."""
    g = _gen(0)
    d = torch.cat([torch.tensor([1000.0, 400.0, 150.0, 1.0, 0.9], dtype=DT), 0.5 * torch.rand(n - 5, generator=g,
                                                                                                dtype=DT)])
    d = d[torch.randperm(n, generator=g)].to(dtype)
    return (lambda p: 0.5 * (d * p["t"] ** 2).sum()), {"t": torch.zeros(n, dtype=dtype)}


@pytest.mark.parametrize(("dtype", "tol", "res"), [(torch.float64, 1e-10, 1e-8), (torch.float32, 1e-4, 1e-3)])
def test_two_pass_removes_ghosts_of_outliers(dtype, tol, res, one_thread):
    loss_fn, params = _outliers(2000, dtype)
    exact = torch.tensor([0.9, 1.0, 150.0, 400.0, 1000.0], dtype=DT)
    calls = []
    vals, vecs = lanczos(loss_fn, params, 5, tol=tol, method="two-pass", callback=calls.append)
    assert bool(((vals - exact).abs() <= 10 * tol * exact).all())  # one copy of each: no ghost duplicates
    d = _Operator(loss_fn, params, None, "test").matvec(torch.ones(2000, dtype=dtype)).double()  # diag(H)
    residual = torch.linalg.vector_norm(d[:, None] * vecs.double() - vecs.double() * vals, dim=0)
    assert bool((residual <= res * vals).all())  # ||H y − θ y|| ≤ res·θ
    # the run was long enough for T_m to repeat the outliers: the Cullum–Willoughby filter did the work
    alpha, beta = [], []
    op = _Operator(loss_fn, params, None, "test")
    q = torch.randn(2000, generator=_gen(0), dtype=dtype)
    m = (calls[-1] + 1) // 2  # 2m − 1 HVPs
    for _ in zip(range(m + 1), _lanczos._krylov(op, q / q.norm(), alpha, beta, None), strict=False):
        pass
    raw = np.linalg.eigvalsh(np.diag(alpha) + np.diag(beta[:-1], 1) + np.diag(beta[:-1], -1))
    assert int((abs(raw - 1000) < 1e-2).sum()) >= 2
    good, _, _ = _lanczos._good_ritz(alpha, beta, float(torch.finfo(dtype).eps))
    assert int((abs(good - 1000) < 1e-2).sum()) == 1 and int((abs(good - 400) < 1e-2).sum()) == 1


def test_two_pass_counts_hvps_and_vectors_replay_pass_one(small, one_thread):
    loss_fn, params, keys = small[:3]
    without, with_vectors = [], []
    a, none = lanczos(loss_fn, params, 4, tol=1e-8, keys=keys, method="two-pass", vectors=False,
                      callback=without.append)
    b, vecs = lanczos(loss_fn, params, 4, tol=1e-8, keys=keys, method="two-pass", callback=with_vectors.append)
    m = len(without)
    assert none is None and torch.equal(a, b)
    assert without == list(range(1, m + 1)) and with_vectors == list(range(1, 2 * m))  # m, then m − 1 more
    assert torch.allclose(vecs.T @ vecs, torch.eye(4, dtype=DT), atol=1e-8)


def test_auto_method_follows_the_arpack_basis_size(tiny, monkeypatch):
    loss_fn, params, keys = tiny  # n = 32: ARPACK's default basis is min(n, max(2k + 1, 20)) vectors
    used = []
    monkeypatch.setattr(_lanczos, "_arpack", lambda *a: used.append("arpack") or (None, None))
    monkeypatch.setattr(_lanczos, "_two_pass", lambda *a: used.append("two-pass") or (None, None))
    for limit in (20 * 32 * 8, 20 * 32 * 8 - 1):
        monkeypatch.setattr(_lanczos, "ARPACK_BASIS_BYTES", limit)
        lanczos(loss_fn, params, 3, keys=keys)
    lanczos(loss_fn, params, 3, keys=keys, ncv=30)  # 30·n·8 bytes > the limit
    lanczos(loss_fn, params, 3, keys=keys, method="arpack")
    assert used == ["arpack", "two-pass", "two-pass", "arpack"]


_LEAN = """
import json, sys, torch
from weightspace.hessian import lanczos
from weightspace.hessian._functional import _Operator

def status(field):
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(field))

def reset():
    open("/proc/self/clear_refs", "w").write("5")
    return status("VmRSS")

torch.set_num_threads(1)
n = int(sys.argv[1])
g = torch.Generator().manual_seed(0)
d = torch.rand(n, generator=g)
d[:10] = torch.tensor([1000.0, 400.0, 150.0, 100.0, 80.0, 60.0, 50.0, 40.0, 30.0, 20.0])
loss_fn = lambda p: 0.5 * (d * p["t"] ** 2).sum()
params = {"t": torch.zeros(n)}
before = reset()
op = _Operator(loss_fn, params, None, "test")
op.matvec(torch.ones(n))
del op
hvp = status("VmHWM") - before
before = reset()
vals, vecs = lanczos(loss_fn, params, 10, tol=1e-4, method="two-pass")
print(json.dumps({"hvp": hvp, "lanczos": status("VmHWM") - before}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak RSS from /proc/self (Linux)")
def test_two_pass_memory_is_2_plus_k_vectors():
    n = 3_000_000  # float32: ARPACK's basis would be 20·n·8 = 480 MB
    # glibc returns large blocks when freed (a fixed mmap threshold), so peak RSS counts live tensors only
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run([sys.executable, "-c", _LEAN, str(n)], check=True, capture_output=True, text=True, env=env)
    peak = json.loads(out.stdout)
    assert peak["lanczos"] <= 12 * n * 4 + peak["hvp"], peak


def test_power_iteration_top3_matches_dense(mid):
    loss_fn, params, keys, h, ev = mid
    calls = []
    vals, vecs = power_iteration(loss_fn, params, 3, tol=1e-9, keys=keys, generator=_gen(0), callback=calls.append)
    ref = ev[ev.abs().argsort()[-3:]].sort().values
    assert float((vals - ref).abs().max()) <= REL * float(ev.abs().max())
    assert calls == list(range(1, len(calls) + 1))
    assert torch.allclose(vecs.T @ vecs, torch.eye(3, dtype=DT), atol=1e-12)


def test_power_iteration_zero_hessian_and_attached_params():
    vals, vecs = power_iteration(lambda p: 3 * p["a"].sum(), {"a": torch.ones(4, dtype=DT)}, 2, generator=_gen(0))
    assert torch.equal(vals, torch.zeros(2, dtype=DT)) and vecs.shape == (4, 2)
    loss_fn, params, _, _ = _quadratic()
    attached = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    assert not any(t.requires_grad for t in gradient(loss_fn, attached).values())
    assert not dense_hessian(loss_fn, attached).requires_grad


# --- Hutchinson -----------------------------------------------------------------------------------------------------

def _rademacher_sd(h):
    """The standard deviation of zᵀHz over Rademacher z: Var = 2 Σ_{i≠j} H_ij²."""
    return math.sqrt(2 * float(h.square().sum() - h.diagonal().square().sum()))


def test_hutchinson_within_standard_errors_of_exact_trace(mid):
    loss_fn, params, keys, h, _ = mid
    est = trace_estimate(loss_fn, params, samples=200, generator=_gen(0), keys=keys)
    assert est.samples == 200 and est.stderr > 0
    assert abs(est.mean - float(torch.trace(h))) <= 4 * est.stderr
    # the reported stderr is the closed form sd(zᵀHz)/√S (the sample sd of 200 draws: within ~5%)
    assert 0.8 < est.stderr / (_rademacher_sd(h) / math.sqrt(200)) < 1.25
    again = trace_estimate(loss_fn, params, samples=200, generator=_gen(0), keys=keys)
    assert (again.mean, again.stderr) == (est.mean, est.stderr)


def test_hutchinson_stderr_is_the_spread_of_the_estimate_over_seeds(tiny, one_thread):
    loss_fn, params, keys = tiny
    h = dense_hessian(loss_fn, params, keys)
    samples, runs = 16, 40
    ests = [trace_estimate(loss_fn, params, samples=samples, generator=_gen(100 + r), keys=keys)
            for r in range(runs)]
    means = torch.tensor([e.mean for e in ests], dtype=DT)
    reported = math.sqrt(sum(e.stderr**2 for e in ests) / runs)  # RMS of the reported standard errors
    spread = float(means.std(correction=1))  # the observed standard deviation of the estimate
    closed = _rademacher_sd(h) / math.sqrt(samples)
    assert 0.5 < spread / reported < 2, (spread, reported)
    assert 0.8 < reported / closed < 1.25, (reported, closed)  # 40 × 15 degrees of freedom: within ~10%
    assert 0.6 < spread / closed < 1.6, (spread, closed)
    assert abs(float(means.mean()) - float(torch.trace(h))) <= 4 * closed / math.sqrt(runs)


def test_hutchinson_exact_for_diagonal_hessian():
    loss_fn, params = _diag_quadratic([3.0, -1.0, 0.5, 2.0])
    est = trace_estimate(loss_fn, params, samples=5, generator=_gen(0), chunk=2)
    assert est.mean == pytest.approx(4.5, rel=1e-14) and est.stderr == pytest.approx(0.0, abs=1e-14)


# --- spectrum classification ----------------------------------------------------------------------------------------

DIAG = [-2.0, -1e-3, 0.0, 1e-12, -1e-12, 5e-9, 3.0, 4.0]


def test_classify_counts_constructed_diagonal():
    s = classify(torch.tensor(DIAG, dtype=DT))
    assert s.threshold == pytest.approx(math.sqrt(torch.finfo(DT).eps) * 4.0)
    assert (s.index, s.nullity, s.positive, s.dim) == (2, 4, 2, 8) and s.complete
    assert torch.equal(s.eigenvalues, torch.tensor(sorted(DIAG), dtype=DT))
    assert "index=2" in repr(s) and "nullity=4" in repr(s)
    # float32 Hessians get a looser threshold: −1e-3 becomes null
    s32 = classify(torch.tensor(DIAG, dtype=DT), dtype=torch.float32)
    assert (s32.index, s32.nullity, s32.positive) == (1, 5, 2)
    ev = torch.tensor(DIAG, dtype=DT)
    assert (classify(ev, threshold=0.0).nullity, classify(ev, scale=0.0).index) == (1, 2)


def test_spectrum_of_diagonal_quadratic_dense_and_lanczos():
    loss_fn, params = _diag_quadratic(DIAG)
    dense = spectrum(loss_fn, params)
    assert (dense.index, dense.nullity, dense.positive) == (2, 4, 2)
    sparse = spectrum(loss_fn, params, dense=False, k=6, generator=_gen(0))
    assert not sparse.complete and sparse.dim == 8
    assert (sparse.index, sparse.nullity, sparse.positive) == (2, 4, 0)
    assert sparse.threshold == pytest.approx(dense.threshold)


def test_spectrum_record_checks_its_counts():
    with pytest.raises(ConfigError, match="disagree"):
        Spectrum(eigenvalues=torch.tensor([-1.0, 1.0], dtype=DT), threshold=0.1, index=0, nullity=0, positive=2,
                 dim=2)
    with pytest.raises(ConfigError, match="sorted"):
        Spectrum(eigenvalues=torch.tensor([1.0, -1.0], dtype=DT), threshold=0.1, index=1, nullity=0, positive=1,
                 dim=2)


# --- subspaces ------------------------------------------------------------------------------------------------------

def test_orthonormal_basis_truncates_rank():
    g = _gen(0)
    a, b = torch.randn(6, generator=g, dtype=DT), torch.randn(6, generator=g, dtype=DT)
    q = orthonormal_basis(torch.stack([a, b, a + 2 * b], dim=1))
    assert q.shape == (6, 2)
    assert torch.allclose(q.T @ q, torch.eye(2, dtype=DT), atol=1e-12)
    assert orthonormal_basis(torch.zeros(6, 3, dtype=DT)).shape == (6, 0)


def test_null_space_overlap_inside_orthogonal_and_between():
    g = _gen(1)
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=DT))
    null = q[:, :3] @ torch.randn(3, 3, generator=g, dtype=DT)  # a non-orthonormal basis of span(q_0..q_2)
    inside = q[:, :3] @ torch.randn(3, 2, generator=g, dtype=DT)
    outside = q[:, 3:] @ torch.randn(5, 2, generator=g, dtype=DT)
    half = (q[:, 0] + q[:, 5])[:, None]
    overlap = null_space_overlap(null, torch.cat([inside, outside, half], dim=1))
    assert torch.allclose(overlap, torch.tensor([1, 1, 0, 0, 1 / math.sqrt(2)], dtype=DT), atol=1e-12)
    assert null_space_overlap(null, q[:, 1]).shape == ()
    assert torch.equal(null_space_overlap(torch.zeros(8, 0, dtype=DT), inside), torch.zeros(2, dtype=DT))


# --- bad input: package errors with one-line messages ---------------------------------------------------------------

def _bad_calls(loss_fn, params, keys):
    nan_params = {**params, keys[0]: params[keys[0]].clone().fill_(float("nan"))}
    return [
        (ConfigError, lambda: lanczos(loss_fn, params, 0, keys=keys)),
        (ConfigError, lambda: lanczos(loss_fn, params, 32, keys=keys)),
        (ConfigError, lambda: lanczos(loss_fn, params, 3, which="XX", keys=keys)),
        (ConfigError, lambda: lanczos(loss_fn, params, 3, keys=keys, method="dense")),
        (ConfigError, lambda: lanczos(loss_fn, params, 3, keys=keys, method="two-pass", ncv=10)),
        (ConfigError, lambda: lanczos(loss_fn, params, 3, keys=keys, maxiter=0)),
        (ConfigError, lambda: lanczos(loss_fn, params, 3, keys=keys, method="two-pass", tol=1e-12, maxiter=2)),
        (ConfigError, lambda: power_iteration(loss_fn, params, 0, keys=keys)),
        (ConfigError, lambda: dense_hessian(loss_fn, params, keys, chunk=0)),
        (ConfigError, lambda: dense_hessian(loss_fn, params, keys, chunk=-3)),
        (ConfigError, lambda: dense_hessian(lambda p: p[keys[0]] * 2, params, keys)),
        (ConfigError, lambda: gradient(lambda p: p[keys[0]].sum(dim=0), params, keys)),
        (ConfigError, lambda: trace_estimate(loss_fn, params, samples=1, generator=_gen(0), keys=keys)),
        (ConfigError, lambda: trace_estimate(loss_fn, params, samples=4, generator=_gen(0), keys=keys, chunk=0)),
        (ConfigError, lambda: gradient(loss_fn, params, keys=["nope"])),
        (ConfigError, lambda: gradient(loss_fn, params, keys=keys[0])),
        (ConfigError, lambda: hvp(loss_fn, params, {}, keys)),
        (ConfigError, lambda: classify(torch.tensor([1.0]), scale=1.0, threshold=0.1)),
        (ConfigError, lambda: spectrum(loss_fn, params, keys, dense=False)),
        (ConfigError, lambda: null_space_overlap(torch.ones(4, 1), torch.ones(5, 1))),
        (ConfigError, lambda: null_space_overlap(torch.ones(4, 1), torch.zeros(4, 1))),
        (NonFiniteError, lambda: dense_hessian(loss_fn, nan_params, keys)),
        (NonFiniteError, lambda: lanczos(loss_fn, nan_params, 3, keys=keys)),
    ]


def test_bad_input_raises_one_line_errors(tiny):
    loss_fn, params, keys = tiny
    for err, call in _bad_calls(loss_fn, params, keys):
        with pytest.raises(err) as info:
            call()
        assert "\n" not in str(info.value)


def test_loss_of_refuses_bad_kind_and_training_batchnorm():
    module = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).double()
    x, y = torch.randn(8, 3, dtype=DT), torch.randn(8, 4, dtype=DT)
    with pytest.raises(ConfigError, match="eval"):
        loss_of(module, x, y)
    with pytest.raises(ConfigError, match="kind"):
        loss_of(module.eval(), x, y, kind="hinge")
