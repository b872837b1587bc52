"""Alignment recovers planted permutations exactly and is checked against independent solutions."""

import copy
import itertools
import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

import weightspace as ws
from weightspace.align import (
    WarmAssignment,
    activation_matching,
    align_many,
    auction_solver,
    learned_matching,
    merge,
    scipy_solver,
    weight_matching,
)
from weightspace.align._similarity import SimilarityCache, factor_similarity, objective, without
from weightspace.errors import ArchitectureMismatch, ConfigError, DataError, NonFiniteError
from weightspace.models import build, example_input
from weightspace.paths import (
    barrier,
    evaluate_path,
    linear_path,
    repair,
    reset_batchnorm,
    simplex_barrier,
    simplex_grid,
)
from weightspace.symmetry import FactorAction, GroupElement, spec_of

PLANTED = {
    "mlp": {"name": "mlp", "input_shape": [6], "num_outputs": 3, "widths": [12, 10]},
    "vgg-bn": {"name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 4, "channels": [6, "M", 8], "hidden": [7]},
    "resnet20": {"name": "resnet20", "input_shape": [1, 8, 8], "num_outputs": 3, "width": 1},
    "transformer": {"name": "transformer", "input_shape": [12], "num_outputs": 3, "seq_len": 4, "token_dim": 3,
                    "d_model": 8, "heads": 2, "depth": 2, "mlp_dim": 10},
}


def _model(config, seed=0):
    torch.manual_seed(seed)
    model = build(config).double().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2)
    return model


def _equal(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", list(PLANTED))
def test_weight_matching_undoes_a_planted_permutation(name):
    model = _model(PLANTED[name])
    x = example_input(model.config, dtype=torch.float64)
    spec = spec_of(model, x)
    sd = model.state_dict()
    moved = spec.sample(generator=torch.Generator().manual_seed(7), kinds=("permutation",)).apply(sd)
    assert not _equal(moved, sd)
    assert _equal(weight_matching(sd, moved, spec).apply(moved), sd)


def test_hand_written_attention_heads_are_matched():
    from test_symmetry import HandWrittenAttention

    torch.manual_seed(0)
    model = HandWrittenAttention().double()
    x = torch.randn(50, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    spec = spec_of(model, x[:2])
    sd = model.state_dict()
    moved = spec.sample(generator=torch.Generator().manual_seed(3), kinds=("permutation",)).apply(sd)
    assert _equal(weight_matching(sd, moved, spec).apply(moved), sd)
    assert _equal(activation_matching(model, sd, moved, x, spec).apply(moved), sd)


@pytest.mark.parametrize("name", ["mlp", "vgg-bn", "transformer"])
def test_activation_matching_undoes_a_planted_permutation(name):
    model = _model(PLANTED[name])
    x = example_input(model.config, batch=200, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    spec = spec_of(model, x[:2])
    sd = model.state_dict()
    moved = spec.sample(generator=torch.Generator().manual_seed(8), kinds=("permutation",)).apply(sd)
    assert _equal(activation_matching(model, sd, moved, x, spec).apply(moved), sd)


def _relu_preactivations(params, x, depth):
    """The pre-activations W_l h_{l-1} + b_l of the first `depth` layers of a ReLU MLP, computed here."""
    out, h = [], x
    for i in range(depth):
        z = h @ params[f"layers.{i}.weight"].T + params[f"layers.{i}.bias"]
        out.append(z)
        h = z.relu()
    return out


def _scales(n, gen, low=0.2, high=5.0):
    """n per-unit scales log-uniform in [low, high]."""
    u = torch.rand(n, generator=gen, dtype=torch.float64)
    return torch.exp(math.log(low) + u * (math.log(high) - math.log(low)))


def _assignment(s):
    return torch.as_tensor(linear_sum_assignment(s.numpy(), maximize=True)[1])


def test_activation_matching_undoes_a_planted_permutation_times_large_scales():
    """B = (π, c)·A with positive per-unit scales c in [0.2, 5] on a ReLU MLP: unit π⁻¹(i) of B is c·(unit i of A),
    so correlation recovers π⁻¹ exactly while covariance and dot-product matching (computed here) miss it."""
    config = {"name": "mlp", "input_shape": [3], "num_outputs": 2, "widths": [8, 6]}
    model = _model(config)
    spec = spec_of(model, example_input(model.config, dtype=torch.float64))
    sd = model.state_dict()
    gen = torch.Generator().manual_seed(3)
    planted = {f.name: FactorAction(torch.randperm(f.size, generator=gen), _scales(f.size, gen)) for f in spec.factors}
    assert all(float(a.coeff.max() / a.coeff.min()) > 5 for a in planted.values())
    moved = GroupElement(spec, planted).apply(sd)
    x = torch.randn(200, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    found = activation_matching(model, sd, moved, x, spec).element
    wanted = [torch.argsort(planted[f.name].perm) for f in spec.factors]  # the inverse of the planted permutation
    assert all(torch.equal(found.actions[f.name].perm, w) for f, w in zip(spec.factors, wanted, strict=True))
    za, zb = _relu_preactivations(sd, x, 2), _relu_preactivations(moved, x, 2)
    cov = [_assignment((a - a.mean(0)).T @ (b - b.mean(0))) for a, b in zip(za, zb, strict=True)]
    dot = [_assignment(a.T @ b) for a, b in zip(za, zb, strict=True)]
    assert not any(torch.equal(p, w) for p, w in zip(cov, wanted, strict=True))  # scale-sensitive: both layers miss
    assert not all(torch.equal(p, w) for p, w in zip(dot, wanted, strict=True))


@pytest.mark.parametrize("seed", [1, 3, 5])
def test_activation_matching_maximises_the_summed_correlation_by_brute_force(seed):
    """Two different width-4 ReLU MLPs, B carrying per-unit scales in [0.2, 5]: each factor's permutation is the
    maximiser of Σ_i corr(z_A,i, z_B,π(i)) over all 4! permutations (numpy's corrcoef), which the covariance
    maximiser is not for at least one factor."""
    config = {"name": "mlp", "input_shape": [3], "num_outputs": 2, "widths": [4, 4]}
    model = _model(config, seed)
    spec = spec_of(model, example_input(model.config, dtype=torch.float64))
    a = model.state_dict()
    gen = torch.Generator().manual_seed(seed)
    scale = GroupElement(spec, {f.name: FactorAction(torch.arange(f.size), _scales(f.size, gen)) for f in spec.factors})
    b = scale.apply(_model(config, seed + 100).state_dict())
    x = torch.randn(200, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    found = activation_matching(model, a, b, x, spec).element
    za, zb = _relu_preactivations(a, x, 2), _relu_preactivations(b, x, 2)
    cov_differs = []
    for f, ua, ub in zip(spec.factors, za, zb, strict=True):
        joint = np.concatenate([ua.numpy(), ub.numpy()], axis=1).T
        corr, cov = np.corrcoef(joint)[:4, 4:], np.cov(joint)[:4, 4:]
        perms = list(itertools.permutations(range(4)))
        by_corr = sorted(perms, key=lambda p: -sum(corr[i, p[i]] for i in range(4)))
        best = sum(corr[i, by_corr[0][i]] for i in range(4))
        assert best > sum(corr[i, by_corr[1][i]] for i in range(4)) + 1e-6  # a unique maximiser
        assert tuple(found.actions[f.name].perm.tolist()) == by_corr[0]
        cov_differs.append(max(perms, key=lambda p: sum(cov[i, p[i]] for i in range(4))) != by_corr[0])
    assert any(cov_differs)


def _pair(widths, seed=0):
    config = {"name": "mlp", "input_shape": [3], "num_outputs": 2, "widths": widths}
    a, b = _model(config, seed).state_dict(), _model(config, seed + 100).state_dict()
    spec = spec_of(_model(config), example_input(_model(config).config, dtype=torch.float64))
    return a, b, spec


def _brute_force(a, b, spec):
    """max over every combination of permutations of every factor (small widths only)."""
    names = [f.name for f in spec.factors]
    best = -float("inf")
    for perms in itertools.product(*(itertools.permutations(range(f.size)) for f in spec.factors)):
        g = GroupElement(spec, {n: FactorAction(torch.tensor(p)) for n, p in zip(names, perms, strict=True)})
        best = max(best, objective([(a, b)], g))
    return best


@pytest.mark.parametrize("seed", range(4))
def test_one_group_equals_brute_force(seed):
    a, b, spec = _pair([6], seed)
    assert objective([(a, b)], weight_matching(a, b, spec).element) == pytest.approx(_brute_force(a, b, spec),
                                                                                     rel=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_several_groups_between_identity_and_brute_force(seed):
    a, b, spec = _pair([4, 3], seed)
    found = objective([(a, b)], weight_matching(a, b, spec).element)
    assert objective([(a, b)], spec.identity()) <= found + 1e-12
    assert found <= _brute_force(a, b, spec) + 1e-12


def test_at_least_rebasins_objective_on_mlps():
    from rebasin import PermutationCoordinateDescent

    for seed in range(3):
        config = {"name": "mlp", "input_shape": [8], "num_outputs": 4, "widths": [32, 24]}
        ma, mb = _model(config, seed), _model(config, seed + 50)
        x = example_input(ma.config, dtype=torch.float64)
        spec = spec_of(ma, x)
        a, b = ma.state_dict(), mb.state_dict()
        ours = objective([(a, b)], weight_matching(a, b, spec).element)
        mb_rb = copy.deepcopy(mb)
        PermutationCoordinateDescent(ma, mb_rb, x).rebasin()
        theirs = sum(float((a[k] * mb_rb.state_dict()[k]).sum()) for k in a)
        assert ours >= theirs - 1e-9


def test_auction_path_runs_the_same_algorithm():
    gen = torch.Generator().manual_seed(0)
    for n in (1, 2, 7, 40):
        s = torch.randn(n, n, generator=gen, dtype=torch.float64)
        assert torch.equal(auction_solver(s), scipy_solver(s))
    a, b, spec = _pair([9, 7])
    assert _equal(weight_matching(a, b, spec, solver=auction_solver).apply(b), weight_matching(a, b, spec).apply(b))


def test_one_permutation_for_many_pairs():
    config = PLANTED["mlp"]
    trajectory = [_model(config, s).state_dict() for s in range(3)]
    spec = spec_of(_model(config), example_input(_model(config).config, dtype=torch.float64))
    g = spec.sample(generator=torch.Generator().manual_seed(3), kinds=("permutation",))
    moved = [g.apply(t) for t in trajectory]
    alignment = weight_matching(trajectory, moved, spec)
    assert all(_equal(alignment.apply(m), t) for m, t in zip(moved, trajectory, strict=True))


def test_merge_and_align_many():
    config = PLANTED["mlp"]
    model = _model(config)
    spec = spec_of(model, example_input(model.config, dtype=torch.float64))
    a = model.state_dict()
    assert all(torch.allclose(v, a[k], rtol=0, atol=1e-15) for k, v in merge([a, a], spec).items())
    g = spec.sample(generator=torch.Generator().manual_seed(4), kinds=("permutation",))
    h = spec.sample(generator=torch.Generator().manual_seed(5), kinds=("permutation",))
    nets = [a, g.apply(a), h.apply(a)]
    for reference in (0, "mean"):
        aligned = [al.apply(n) for al, n in zip(align_many(nets, spec, reference=reference), nets, strict=True)]
        assert all(_equal(x, aligned[0]) for x in aligned)


def test_merge_aligns_before_averaging():
    """merge([a, g·a]) = a exactly; weighted merge = Σ w_i (θ_i aligned by weight matching to θ_0);
    align=False is the plain weighted average."""
    config = {"name": "mlp", "input_shape": [3], "num_outputs": 2, "widths": [6, 5]}
    model = _model(config)
    spec = spec_of(model, example_input(model.config, dtype=torch.float64))
    a, b, c = (_model(config, s).state_dict() for s in (0, 1, 2))
    ga = spec.sample(generator=torch.Generator().manual_seed(6), kinds=("permutation",)).apply(a)
    assert not _equal(ga, a)
    assert _equal(merge([a, ga], spec), a)
    aligned = weight_matching(a, b, spec).apply(b)
    assert not _equal(aligned, b)
    merged = merge([a, b], spec, weights=[0.25, 0.75])
    assert merged.keys() == a.keys()
    for k in a:
        torch.testing.assert_close(merged[k], 0.25 * a[k] + 0.75 * aligned[k], rtol=0, atol=1e-15)
    plain = merge([a, b], spec, weights=[0.25, 0.75], align=False)
    for k in a:
        torch.testing.assert_close(plain[k], 0.25 * a[k] + 0.75 * b[k], rtol=0, atol=1e-15)
    assert not all(torch.allclose(plain[k], merged[k], rtol=0, atol=1e-6) for k in a)
    mean = merge([a, b, c], spec, align=False)
    for k in a:
        torch.testing.assert_close(mean[k], (a[k] + b[k] + c[k]) / 3, rtol=0, atol=1e-15)


def test_bad_input():
    a, b, spec = _pair([4])
    other, _, _ = _pair([5])
    with pytest.raises(ArchitectureMismatch, match="different"):
        weight_matching(a, other, spec)
    nan = {k: v.clone() for k, v in b.items()}
    nan["layers.0.weight"][0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="NaN"):
        weight_matching(a, nan, spec)
    model = _model({"name": "mlp", "input_shape": [3], "num_outputs": 2, "widths": [4]})
    with pytest.raises(DataError, match="empty"):
        activation_matching(model, a, b, torch.zeros(0, 3, dtype=torch.float64), spec)


def test_barrier_definitions_and_exact_endpoints():
    alphas = [0.0, 0.25, 0.5, 0.75, 1.0]
    values = [1.0, 2.0, 2.5, 3.0, 3.0]
    assert barrier(alphas, values).value == pytest.approx(max(v - (1 - a) * 1 - a * 3 for a, v in
                                                              zip(alphas, values, strict=True)))
    assert barrier(alphas, values, definition="mean").value == pytest.approx(1.0)
    a, b, _ = _pair([4])
    path = linear_path(a, b)
    assert _equal(path(0.0), a) and _equal(path(1.0), b)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_barrier_refuses_a_value_that_is_not_finite(bad):
    """A max that skipped the NaN would report 1 at α = 0.25 for a path that diverged at α = 0.5."""
    with pytest.raises(NonFiniteError, match=r"not finite at α = 0\.5"):
        barrier([0.0, 0.25, 0.5, 0.75, 1.0], [1.0, 2.0, bad, 1.5, 1.0])


@pytest.mark.parametrize("alphas", [[0.0, 1.0, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0], [0.0, 0.75, 0.25, 1.0]])
def test_barrier_refuses_alphas_that_do_not_increase(alphas):
    with pytest.raises(ConfigError, match="increase strictly"):
        barrier(alphas, [1.0, 9.0, 1.0, 1.0])


def test_simplex_grid_and_identical_vertices():
    assert len(simplex_grid(3, 6)) == 28  # C(6 + 2, 2)
    data = ws.data.load("teacher", d=3, n_train=50, n_test=40).to(torch.float64)
    model = _model({"name": "mlp", "input_shape": [3], "num_outputs": 1, "widths": [5], "activation": "tanh"})
    sd = model.state_dict()
    assert simplex_barrier(model, [sd, sd, sd], data, resolution=3).value == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("vertices", [2, 3, 4])
def test_simplex_grid_is_the_barycentric_lattice(vertices):
    """Every point is a non-negative weight vector of multiples of 1/K summing to 1, each lattice point once:
    C(K + n − 1, n − 1) points (C(K + 2, 2) for a triangle)."""
    for k in range(1, 7):
        grid = simplex_grid(vertices, k)
        assert len(grid) == math.comb(k + vertices - 1, vertices - 1)
        assert all(len(w) == vertices and min(w) >= 0 and sum(w) == pytest.approx(1, abs=1e-12) for w in grid)
        counts = {tuple(round(x * k) for x in w) for w in grid}
        assert all(math.isclose(x * k, round(x * k), abs_tol=1e-12) for w in grid for x in w)
        assert counts == {c for c in itertools.product(range(k + 1), repeat=vertices) if sum(c) == k}


def test_simplex_barrier_of_three_networks_equals_a_direct_computation():
    """max over the grid of L(Σ w_i θ_i) − Σ w_i L(θ_i), with L the mean test ||f(x) − y||² computed here."""
    data = ws.data.load("teacher", d=3, n_train=50, n_test=40).to(torch.float64)
    config = {"name": "mlp", "input_shape": [3], "num_outputs": 1, "widths": [5], "activation": "tanh"}
    model = _model(config)
    nets = [_model(config, s).state_dict() for s in (0, 1, 2)]

    def loss(params):
        out = torch.func.functional_call(model, params, (data.x_test,))
        return float(((out - data.y_test) ** 2).sum(1).mean())

    vertex = [loss(n) for n in nets]
    assert len({round(v, 6) for v in vertex}) == 3  # different vertices: the barycentric weighting matters
    k = 4
    expected = {}
    for ks in itertools.product(range(k + 1), repeat=3):
        if sum(ks) == k:
            w = [i / k for i in ks]
            point = {name: sum(wi * n[name] for wi, n in zip(w, nets, strict=True)) for name in nets[0]}
            expected[ks] = loss(point) - sum(wi * v for wi, v in zip(w, vertex, strict=True))
    result = simplex_barrier(model, nets, data, resolution=k)
    got = {tuple(round(x * k) for x in w): v for w, v in result.grid}
    assert got.keys() == expected.keys()
    assert all(got[ks] == pytest.approx(expected[ks], rel=1e-10, abs=1e-12) for ks in expected)
    best = max(expected, key=expected.get)
    assert result.value == pytest.approx(expected[best], rel=1e-10)
    assert result.value > 1e-3 and min(best) > 0  # a real barrier, inside the triangle
    assert result.weights == pytest.approx([i / k for i in best])


def test_batchnorm_reset_recomputes_statistics():
    model = _model({"name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 3, "channels": [4], "norm": "batchnorm"})
    x = torch.randn(64, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    new = reset_batchnorm(model, model.state_dict(), x, batch_size=64)
    conv = model.features[0][0](x)  # the conv feeding the BatchNorm
    assert torch.allclose(new["features.0.1.running_mean"], conv.mean(dim=(0, 2, 3)), atol=1e-12)
    assert torch.allclose(new["features.0.1.running_var"], conv.var(dim=(0, 2, 3), unbiased=True), atol=1e-10)


def test_repair_matches_interpolated_statistics_at_every_hidden_layer():
    """At α = 0.3 every hidden layer's pre-activations (forward pass computed here, through the REPAIRed earlier
    layers) have per-unit mean and population std (1 − α)·stat_A + α·stat_B; the output layer is untouched."""
    config = {"name": "mlp", "input_shape": [3], "num_outputs": 2, "widths": [6, 5, 4]}
    ma, mb = _model(config, 0), _model(config, 1)
    a, b = ma.state_dict(), mb.state_dict()
    spec = spec_of(ma, example_input(ma.config, dtype=torch.float64))
    x = torch.randn(300, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    alpha = 0.3
    interpolated = {k: (1 - alpha) * a[k] + alpha * b[k] for k in a}
    fixed = repair(ma, interpolated, (a, b), alpha, x, spec)
    za, zb, zi, zf = (_relu_preactivations(p, x, 3) for p in (a, b, interpolated, fixed))
    for layer in range(3):
        mean = (1 - alpha) * za[layer].mean(0) + alpha * zb[layer].mean(0)
        std = (1 - alpha) * za[layer].std(0, unbiased=False) + alpha * zb[layer].std(0, unbiased=False)
        torch.testing.assert_close(zf[layer].mean(0), mean, rtol=0, atol=1e-10)
        torch.testing.assert_close(zf[layer].std(0, unbiased=False), std, rtol=0, atol=1e-10)
        assert not torch.allclose(zi[layer].std(0, unbiased=False), std, rtol=0, atol=1e-3)  # REPAIR had work
        swapped = alpha * za[layer].std(0, unbiased=False) + (1 - alpha) * zb[layer].std(0, unbiased=False)
        assert not torch.allclose(swapped, std, rtol=0, atol=1e-3)  # α and 1 − α are told apart
    assert torch.equal(fixed["layers.3.weight"], interpolated["layers.3.weight"])
    assert torch.equal(fixed["layers.3.bias"], interpolated["layers.3.bias"])


def test_repair_refuses_a_producing_layer_without_a_bias():
    """Without a bias the units' means cannot be shifted: REPAIR names the layer instead of skipping it."""
    config = {"name": "mlp", "input_shape": [3], "num_outputs": 2, "widths": [4], "bias": False}
    ma, mb = _model(config, 0), _model(config, 1)
    a, b = ma.state_dict(), mb.state_dict()
    spec = spec_of(ma, example_input(ma.config, dtype=torch.float64))
    x = torch.randn(50, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match="'layers.0' produces hidden units but has no bias"):
        repair(ma, {k: (a[k] + b[k]) / 2 for k in a}, (a, b), 0.5, x, spec)


def test_learned_matching_keeps_a_planted_permutation():
    """A fixed point: with θ_B = g θ_A the start g⁻¹ makes the midpoint θ_A itself, and the STE steps must not
    leave it (that learned matching moves at all is checked on a pair where weight matching is not optimal)."""
    model = _model(PLANTED["mlp"])
    spec = spec_of(model, example_input(model.config, dtype=torch.float64))
    sd = model.state_dict()
    moved = spec.sample(generator=torch.Generator().manual_seed(9), kinds=("permutation",)).apply(sd)
    x = torch.randn(256, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = model(x).argmax(1)
    alignment = learned_matching(model, sd, moved, x, y, "classification", spec, steps=5, batch_size=64)
    assert _equal(alignment.apply(moved), sd)


def _midpoint_loss(model, a, b, x, y):
    """The objective learned matching minimises: mean ||f(½(θ_A + θ_B); x) − y||², computed here."""
    out = torch.func.functional_call(model, {k: 0.5 * (a[k] + b[k]) for k in a}, (x,))
    return float(((out - y.reshape(out.shape)) ** 2).sum(1).mean())


def test_learned_matching_improves_on_weight_matching_where_it_is_not_optimal():
    """Two teacher-student networks (seeds 5, 105) whose weight-matching permutation is not the midpoint-loss
    optimum (brute force over all 4! permutations): the STE loop moves away from its weight-matching start to
    a permutation with a clearly lower midpoint loss."""
    data = ws.data.load("teacher", d=3, n_train=64, n_test=16).to(torch.float64)
    x, y = data.x_train, data.y_train
    config = {"name": "mlp", "widths": [4], "activation": "relu"}
    nets = [ws.train(config, data, epochs=20, seed=s, dtype=torch.float64, optimizer="adam", lr=1e-2, batch_size=16)
            for s in (5, 105)]
    model = nets[0].model
    a, b = (n.model.state_dict() for n in nets)
    spec = spec_of(model, example_input(model.config, dtype=torch.float64))
    (factor,) = spec.factors
    start = weight_matching(a, b, spec)
    start_loss = _midpoint_loss(model, a, start.apply(b), x, y)
    optimum = min(_midpoint_loss(model, a, GroupElement(spec, {factor.name: FactorAction(torch.tensor(p))}).apply(b),
                                 x, y) for p in itertools.permutations(range(4)))
    assert optimum < start_loss - 0.02  # weight matching's permutation is not the midpoint optimum here
    learned = learned_matching(model, a, b, x, y, "regression", spec, steps=30, lr=1e-2, batch_size=64)
    assert not torch.equal(learned.element.actions[factor.name].perm, start.element.actions[factor.name].perm)
    assert _midpoint_loss(model, a, learned.apply(b), x, y) < start_loss - 0.01
    assert learned.method == "ste" and learned.iterations == 30


def test_path_evaluation_costs_one_forward_pass_per_point():
    data = ws.data.load("digits")
    model = build({"name": "mlp", "input_shape": [64], "num_outputs": 10, "widths": [8]})
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    a = model.state_dict()
    evaluate_path(model, linear_path(a, a), data, points=7)
    assert len(calls) == 7


@pytest.mark.parametrize("config", [{"name": "mlp", "widths": [32, 16]},
                                    {"name": "vgg", "input_shape": [1, 8, 8], "channels": [8, "M", 8], "hidden": [16]}],
                         ids=["mlp", "vgg-bn"])
def test_trained_model_and_its_permuted_copy_align_back(config):
    model = ws.train(config, "digits", epochs=1, batch_size=128, seed=0).model
    x = example_input(model.config)
    spec = spec_of(model, x)
    sd = model.state_dict()
    moved = spec.sample(generator=torch.Generator().manual_seed(11), kinds=("permutation",)).apply(sd)
    assert _equal(weight_matching(sd, moved, spec).apply(moved), sd)
    data = ws.data.load("digits")
    xs = data.x_train[:300].reshape(300, *model.config["input_shape"])
    assert _equal(activation_matching(model, sd, moved, xs, spec).apply(moved), sd)


def test_activation_matching_of_attention_heads_and_output_projection():
    from test_symmetry import AttentionMLP

    torch.manual_seed(0)
    model = AttentionMLP().double()
    x = torch.randn(100, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    spec = spec_of(model, x[:2])
    assert "attn.out_proj" in {f.name for f in spec.factors}
    sd = model.state_dict()
    moved = spec.sample(generator=torch.Generator().manual_seed(4), kinds=("permutation",)).apply(sd)
    assert _equal(activation_matching(model, sd, moved, x, spec).apply(moved), sd)


def _trained_digits_mlp(seed):
    """64-32-32-10 trained as the benchmark trains its pairs (Adam lr 1e-3, batch 128), 2 epochs."""
    data = ws.data.load("digits")
    x, y = data.split("train")
    torch.manual_seed(seed)
    model = build({"name": "mlp", "input_shape": [64], "num_outputs": 10, "widths": [32, 32]})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(2):
        for idx in torch.randperm(len(x), generator=gen).split(128):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval().state_dict()


def test_accelerated_weight_matching_reaches_the_plain_objective_on_a_trained_pair():
    """Warm-started assignments and incremental similarities reach the plain algorithm's objective (or beat it)."""
    a, b = _trained_digits_mlp(0), _trained_digits_mlp(1)
    spec = spec_of(build({"name": "mlp", "input_shape": [64], "num_outputs": 10, "widths": [32, 32]}),
                   torch.zeros(1, 64))
    plain = weight_matching(a, b, spec, solver=scipy_solver, incremental=False)
    warm = WarmAssignment()
    fast = weight_matching(a, b, spec, solver=warm)  # the default: warm-started, incremental
    assert plain.iterations >= 3  # a real descent, not one sweep
    assert warm.stats["warm"] >= 2  # the potentials were used
    assert fast.objective[-1] >= plain.objective[-1] - 1e-9 * abs(plain.objective[-1])
    assert objective([(a, b)], fast.element) == pytest.approx(fast.objective[-1], rel=1e-12)


def test_incremental_similarity_equals_the_full_product():
    model = _model(PLANTED["resnet20"])
    spec = spec_of(model, example_input(model.config))
    a = model.state_dict()
    b = _model(PLANTED["resnet20"], seed=1).state_dict()
    cache = SimilarityCache(max_fraction=1.0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):  # move every factor, then compare every factor's similarity with a fresh product
        element = spec.sample(generator=gen, kinds=("permutation",))
        for f in spec.permutation_factors:
            if f.parent is None:
                others = without(element, {f.name})
                fresh = factor_similarity(spec, f.name, [(a, b)], others)
                torch.testing.assert_close(cache(spec, f.name, [(a, b)], others), fresh, rtol=1e-10, atol=1e-10)
