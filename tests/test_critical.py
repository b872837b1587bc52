"""Symmetry-induced critical points, as contracts (float64): embeddings preserve f, splitting preserves
criticality for every λ, the nine-segment path stays at the minimum, Brea's plateau facts against an
independently written loss and its dense Hessian (jacrev of jacrev, not weightspace.hessian), the CI-NEB
saddle, one-line errors, and the CLI equal to the library."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import grad, jacrev
from typer.testing import CliRunner

import weightspace.cli  # noqa: F401  (registers every command group)
import weightspace.cli.critical  # noqa: F401  (registers hessian, critical, saddle)
from weightspace import critical as C
from weightspace import data as D
from weightspace.cli import app
from weightspace.errors import ConfigError, SymmetryError, WeightspaceError
from weightspace.io import load_checkpoint, save_params
from weightspace.models import build, example_input
from weightspace.params import forward
from weightspace.paths import evaluate_path

DT = torch.float64
TRANSFORMER = {"name": "transformer", "input_shape": [4, 8], "num_outputs": 3, "d_model": 8, "heads": 2,
               "depth": 1, "mlp_dim": 8}


pytestmark = pytest.mark.usefixtures("one_thread")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _f(config, params, x):
    return forward(build(config).to(DT), params, x)


def _rel(a, b) -> float:
    return float((a - b).norm() / b.norm())


# -- independent oracle: a one-hidden-layer MLP loss written out by hand ---------------------------------
def _unpack(vec, d, n, p):
    w = vec[: n * d].reshape(n, d)
    b = vec[n * d: n * d + n]
    a = vec[n * d + n: n * d + n + p * n].reshape(p, n)
    c = vec[n * d + n + p * n:]
    return w, b, a, c


def _oracle_loss(vec, x, y, d, n, p):
    """mean_i ||a softplus(W x_i + b) + c − y_i||², the same model as the library's, written independently."""
    w, b, a, c = _unpack(vec, d, n, p)
    out = F.softplus(x @ w.T + b) @ a.T + c
    return ((out - y) ** 2).sum(1).mean()


def _flat(params):
    return torch.cat([params[k].reshape(-1) for k in ("layers.0.weight", "layers.0.bias", "layers.1.weight",
                                                       "layers.1.bias")])


# -- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def toy():
    """Teacher d=2, r*=2, p=1 (the permutation-saddle toy): data, θ* = the teacher, its config."""
    data = D.load("teacher", d=2, r_star=2, p=1, n_train=200, n_test=50, seed=0, dtype=DT)
    params, config = C.teacher_params(data)
    return data, params, config


@pytest.fixture(scope="module")
def width1(toy):
    """A polished width-1 student of the r*=2 teacher: a non-global critical point."""
    data = toy[0]
    torch.set_num_threads(1)
    fit, config = C.fit_student(data, 1, seed=0, adam_steps=800, lr=3e-2, lbfgs_steps=500, newton_steps=20,
                                gtol=1e-12)
    return fit, config


# -- embeddings -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("ratio", [-1.5, 0.0, 0.3, 0.5, 1.0, 2.0, 7.25])
@pytest.mark.parametrize("layer", [0, 1])
def test_split_neuron_preserves_function(layer, ratio):
    config = {"name": "mlp", "input_shape": [5], "num_outputs": 3, "widths": [4, 6], "activation": "tanh"}
    params = C.init_params(config, generator=_gen(0))
    x = torch.randn(64, 5, generator=_gen(1), dtype=DT)
    new, new_config = C.split_neuron(params, config, layer, 2, ratio)
    assert new_config["widths"][layer] == config["widths"][layer] + 1
    assert _rel(_f(new_config, new, x), _f(config, params, x)) <= 1e-12
    r = config["widths"][layer]
    w = f"layers.{layer}.weight"
    assert torch.equal(new[w][r], params[w][2]) and torch.equal(new[w][2], params[w][2])  # copy appended last
    out = f"layers.{layer + 1}.weight"
    assert torch.allclose(new[out][:, 2] + new[out][:, r], params[out][:, 2], rtol=0, atol=1e-15 * (1 + abs(ratio)))


def test_add_zero_neuron_and_expand_preserve_function():
    config = {"name": "mlp", "input_shape": [3], "num_outputs": 2, "widths": [4, 3], "activation": "softplus"}
    params = C.init_params(config, generator=_gen(2))
    x = torch.randn(64, 3, generator=_gen(3), dtype=DT)
    f0 = _f(config, params, x)
    new, cfg = C.add_zero_neuron(params, config, 1, incoming=torch.randn(5, generator=_gen(4), dtype=DT))
    assert cfg["widths"] == [4, 4] and bool((new["layers.2.weight"][:, 3] == 0).all())
    assert _rel(_f(cfg, new, x), f0) <= 1e-12
    assignment = [0, 1, None, 2, 3, 1, 1, None]
    new, cfg = C.expand(params, config, 0, assignment, ratios=[1, 0.2, None, 1, 1, 0.5, 0.3, None],
                        incoming={2: torch.randn(4, generator=_gen(5), dtype=DT)})
    assert cfg["widths"] == [8, 3]
    assert _rel(_f(cfg, new, x), f0) <= 1e-12
    new, cfg = C.expand(params, config, 1, C.expansion_assignment(3, 6, copies_of=1))  # even split in 4 copies
    assert _rel(_f(cfg, new, x), f0) <= 1e-12


def test_split_family_of_a_critical_point_stays_critical(width1):
    fit, config = width1
    assert fit.gradient_norm <= 1e-10
    data = D.load("teacher", d=2, r_star=2, p=1, n_train=200, n_test=50, seed=0, dtype=DT)
    for lam in (-2.0, -0.5, 0.0, 0.25, 0.5, 0.9, 1.0, 1.75, 3.0):
        new, cfg = C.split_neuron(fit.params, config, 0, 0, lam)
        g = C.gradient_norm(C.objective(cfg, data), new)
        assert g <= 1e-8, (lam, g)


# -- the nine-segment path (Simsek et al.) -----------------------------------------------------------------
def test_nine_segment_path_stays_at_the_global_minimum():
    data = D.load("teacher", d=2, r_star=3, p=1, n_train=300, n_test=50, seed=0, dtype=DT)
    theta, config = C.teacher_params(data)
    z_in = torch.tensor([0.7, -1.2, 0.3], dtype=DT)
    start, cfg = C.add_zero_neuron(theta, config, 0, incoming=z_in)
    vertices = C.swap_chain(start, cfg, 0, 0, 2, 3)
    assert len(vertices) == 10
    swapped = C.transposition(cfg, 0, 0, 2).apply(start)
    assert all(torch.equal(vertices[-1][k], swapped[k]) for k in start)  # ends exactly on π θ
    path = C.polygonal_chain(vertices)
    assert all(torch.equal(path(0.0)[k], start[k]) and torch.equal(path(1.0)[k], swapped[k]) for k in start)
    curve = evaluate_path(build(cfg).to(DT), path, data, points=91, split="train")
    l_min = C.objective(cfg, data)(start).item()
    assert l_min <= 1e-25
    assert max(abs(v - l_min) for v in curve.loss) <= 1e-10
    with pytest.raises(ConfigError, match="not free"):
        C.move_role(theta, config, 0, 0, 1)


# -- Brea: permutation points against an independent dense Hessian --------------------------------------------
def _independent(point, data, d, n, p):
    x, y = data.x_train, data.y_train
    vec = _flat(point.params)
    h = jacrev(jacrev(lambda v: _oracle_loss(v, x, y, d, n, p)))(vec)
    g = grad(lambda v: _oracle_loss(v, x, y, d, n, p))(vec)
    return vec, g, h, torch.linalg.eigvalsh(h)


def _plateau(n_in_block, n, p, i, j):
    """Plateau directions over the oracle's flat layout: δa_i[o] = −δa_j[o] = 1/√2."""
    cols = []
    for o in range(p):
        v = torch.zeros(n_in_block + p * n + p, dtype=DT)
        v[n_in_block + o * n + i] = 2 ** -0.5
        v[n_in_block + o * n + j] = -(2 ** -0.5)
        cols.append(v)
    return torch.stack(cols, 1)


def test_permutation_point_output_dim_1_nullity_at_least_n_next(toy, width1):
    data, theta, config = toy
    loss_fn = C.objective(config, data)
    point = C.permutation_point(loss_fn, theta, config, 0, 0, 1)
    w = point.params["layers.0.weight"]
    assert torch.equal(w[0], w[1]) and torch.equal(point.params["layers.1.weight"][:, 0],
                                                    point.params["layers.1.weight"][:, 1])
    vec, g, h, ev = _independent(point, data, 2, 2, 1)
    assert float(g.norm()) <= 1e-10
    v = _plateau(2 * 2 + 2, 2, 1, 0, 1)
    gen = _gen(7)
    for _ in range(8):  # the loss is constant on the plateau
        t = 3 * torch.randn(1, generator=gen, dtype=DT)
        assert abs(_oracle_loss(vec + v @ t, data.x_train, data.y_train, 2, 2, 1) - point.loss) <= 1e-12
    tau = 1e-8 * float(ev.abs().max())
    assert int((ev.abs() <= tau).sum()) >= 1  # n_{k+1} = p = 1 zero eigenvalue
    assert int((ev < -tau).sum()) == 1  # and a first-order saddle (this toy, pair 0,1)
    # the second construction: split the width-1 critical point with λ = 1/2 — the same point
    fit, cfg1 = width1
    split = C.permutation_point_by_split(loss_fn, fit.params, cfg1, 0, 0)
    assert split.units == (0, 1) and split.gradient_norm <= 1e-10
    assert abs(split.loss - point.loss) <= 1e-12
    assert max(float((split.params[k] - point.params[k]).abs().max()) for k in theta) <= 1e-6


def test_permutation_point_output_dim_2_quadratic_form_vanishes_on_plateau():
    data = D.load("teacher", d=2, r_star=2, p=2, n_train=200, n_test=50, seed=0, dtype=DT)
    theta, config = C.teacher_params(data)
    loss_fn = C.objective(config, data)
    point = C.permutation_point(loss_fn, theta, config, 0, 0, 1)
    vec, g, h, ev = _independent(point, data, 2, 2, 2)
    assert float(g.norm()) <= 1e-10
    v = _plateau(2 * 2 + 2, 2, 2, 0, 1)  # (n, 2)
    hnorm = float(ev.abs().max())
    quad = (v * (h @ v)).sum(0)
    assert float(quad.abs().max()) <= 1e-12 * hnorm  # flat along both plateau directions...
    gen = _gen(8)
    for _ in range(8):
        t = 3 * torch.randn(2, generator=gen, dtype=DT)
        assert abs(_oracle_loss(vec + v @ t, data.x_train, data.y_train, 2, 2, 2) - point.loss) <= 1e-12
    a = point.params["layers.1.weight"][:, 0]
    s = torch.zeros_like(vec)
    s[6:10] = torch.stack([a, -a], 1).reshape(-1)  # the split direction (a_i, a_j) ∝ (a, −a)
    assert float((h @ s).norm()) <= 1e-8 * hnorm * float(s.norm())  # ...null along the split family...
    u = torch.stack([a[1], -a[0]])
    perp = torch.zeros_like(vec)
    perp[6:10] = torch.stack([u, -u], 1).reshape(-1)
    assert float((h @ perp).norm()) >= 1e-4 * hnorm * float(perp.norm())  # ...but not across it (PAPERS.md §2)
    # derived: dim(plateau ∩ null H) = p − rank M, M = E[r σ'(w̃·x̃) x̃ᵀ] at the merged unit
    w, b, a2, c = _unpack(vec, 2, 2, 2)
    x1 = torch.cat([data.x_train, torch.ones(len(data.x_train), 1, dtype=DT)], 1)  # (N, d + 1)
    resid = F.softplus(data.x_train @ w.T + b) @ a2.T + c - data.y_train  # (N, p)
    m = resid.T @ (torch.sigmoid(x1 @ torch.cat([w[0], b[:1]]))[:, None] * x1) / len(x1)  # (p, d + 1)
    rank_m = int((torch.linalg.svdvals(m) > 1e-8 * float(m.norm())).sum())
    null_dim = 2 - int((torch.linalg.svdvals(h @ v) > 1e-8 * hnorm).sum())
    facts = C.plateau_facts(loss_fn, point)
    assert rank_m == 1 and null_dim == 2 - rank_m == facts.null_dim == 1
    assert facts.dim == 2 and facts.loss_spread <= 1e-12 and max(map(abs, facts.quadratic_forms)) <= 1e-12 * hnorm


def test_neb_ends_at_a_saddle_of_the_lowest_path(toy):
    data, theta, config = toy
    loss_fn = C.objective(config, data)
    other = C.transposition(config, 0, 0, 1).apply(theta)
    band = C.nudged_elastic_band(loss_fn, theta, other, images=9, noise=1e-2, generator=_gen(0), steps=3000)
    assert band.converged and band.climbing_gradient_norm <= 1e-6
    assert band.highest == max(range(len(band.losses)), key=band.losses.__getitem__)
    assert band.saddle.gradient_norm <= 1e-6
    assert band.saddle.index == 1  # a first-order (permutation) saddle
    pp = C.permutation_point(loss_fn, theta, config, 0, 0, 1)
    assert abs(band.saddle.loss - pp.loss) <= 1e-8  # it sits on the permutation plateau


# -- errors ---------------------------------------------------------------------------------------------------
MLP = {"name": "mlp", "input_shape": [3], "num_outputs": 1, "widths": [3], "activation": "softplus"}


@pytest.mark.parametrize("call, kind, text", [
    (lambda p: C.split_neuron(p, MLP, 0, 3, 0.5), ConfigError, "unit must be an int in"),
    (lambda p: C.split_neuron(p, MLP, 0, -1, 0.5), ConfigError, "unit must be an int in"),
    (lambda p: C.split_neuron(p, MLP, 0, 1, math.nan), ConfigError, "ratio must be a finite"),
    (lambda p: C.split_neuron(p, MLP, 0, 1, math.inf), ConfigError, "ratio must be a finite"),
    (lambda p: C.split_neuron(p, MLP, 1, 0, 0.5), ConfigError, "layer must index"),
    (lambda p: C.expand(p, MLP, 0, [0, 1]), ConfigError, "r > m"),
    (lambda p: C.expand(p, MLP, 0, [0, 1, 1, None]), ConfigError, "misses old units"),
    (lambda p: C.expand(p, MLP, 0, [0, 1, 2, 2], ratios=[1, 1, 0.5, 0.6]), ConfigError, "sum to"),
    (lambda p: C.expansion_assignment(4, 3), ConfigError, "need m >= r"),
    (lambda p: C.expansion_assignment(-1, 3), ConfigError, "r must be an int >= 0"),
    (lambda p: C.expansion_assignment(1, -2), ConfigError, "m must be an int >= 0"),
    (lambda p: C.split_neuron({}, TRANSFORMER, 0, 0, 0.5), SymmetryError, "LayerNorm"),
    (lambda p: C.split_neuron({}, TRANSFORMER, 1, 0, 0.5), SymmetryError, "attention"),
    (lambda p: C.split_neuron({}, TRANSFORMER, 2, 0, 0.5), SymmetryError, "only mlp configs"),
    (lambda p: C.permutation_point(lambda q: q["layers.0.bias"].sum(), p, MLP, 0, 1, 1), ConfigError, "two different"),
    (lambda p: C.swap_chain(p, MLP, 0, 0, 1, 1), ConfigError, "three different"),
    (lambda p: C.nudged_elastic_band(lambda q: q["layers.0.bias"].sum(), p, p, images=0), ConfigError, "images"),
])
def test_bad_input_gets_one_line_errors(call, kind, text):
    params = C.init_params(MLP, generator=_gen(0))
    with pytest.raises(kind, match=text) as err:
        call(params)
    assert isinstance(err.value, WeightspaceError) and "\n" not in str(err.value)


# -- CLI = library ----------------------------------------------------------------------------------------------
def _checkpoint(tmp_path, data, params, config):
    return save_params(params, config, tmp_path / "theta.safetensors", dataset="teacher", dataset_meta=data.meta)


def _json(args):
    result = CliRunner().invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_matches_library(tmp_path, toy):
    data, theta, config = toy
    ckpt = _checkpoint(tmp_path, data, theta, config)
    theta = load_checkpoint(ckpt).params  # the library on exactly what the CLI reads (key order included)
    loss_fn = C.objective(config, data)

    got = _json(["hessian", str(ckpt), "--plot", str(tmp_path / "spectrum.png")])
    want = C.characterize(loss_fn, theta).to_dict()
    assert {k: v for k, v in got.items() if k != "plot"} == json.loads(json.dumps(want))
    assert (tmp_path / "spectrum.png").stat().st_size > 0

    got = _json(["critical", "split", str(ckpt), "--layer", "0", "--unit", "1", "--ratio", "0.3",
                 "--out", str(tmp_path / "split.safetensors")])
    params, cfg = C.split_neuron(theta, config, 0, 1, 0.3)
    saved = load_checkpoint(tmp_path / "split.safetensors")
    assert saved.config == cfg and all(torch.equal(saved.params[k], params[k]) for k in params)
    assert got["widths"] == [3] and got["copy"] == 2 and got["relative_output_change"] <= 1e-12

    got = _json(["saddle", str(ckpt), "--layer", "0", "--units", "0,1", "--plot", str(tmp_path / "path.png")])
    want = C.permutation_saddle(theta, config, data, 0, 0, 1).to_dict()
    assert {k: v for k, v in got.items() if k != "plot"} == json.loads(json.dumps(want))
    assert got["index"] == 1 and got["gradient_norm"] <= 1e-10 and (tmp_path / "path.png").stat().st_size > 0


def test_cli_bad_input_is_one_line(tmp_path, toy):
    data, theta, config = toy
    ckpt = _checkpoint(tmp_path, data, theta, config)
    for args in (["critical", "split", str(ckpt), "--layer", "0", "--unit", "5", "--out", str(tmp_path / "o")],
                 ["critical", "split", str(ckpt), "--layer", "0", "--unit", "0", "--ratio", "nan", "--out", "o"],
                 ["saddle", str(ckpt), "--layer", "0", "--units", "0"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code != 0 and isinstance(result.exception, WeightspaceError)
        assert "\n" not in str(result.exception)


def test_example_input_of_split_config_builds():
    params = C.init_params(MLP, generator=_gen(0))
    new, cfg = C.split_neuron(params, MLP, 0, 0, 0.5)
    model = build(cfg).to(DT)
    model.load_state_dict(new)
    assert model(example_input(cfg, 3, dtype=DT)).shape == (3, 1)
