"""Alignment recovers planted permutations exactly and is checked against independent solutions."""

import copy
import itertools

import pytest
import torch
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
from weightspace.errors import ArchitectureMismatch, DataError, NonFiniteError
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


def test_simplex_grid_and_identical_vertices():
    assert len(simplex_grid(3, 6)) == 28  # C(6 + 2, 2)
    data = ws.data.load("teacher", d=3, n_train=50, n_test=40).to(torch.float64)
    model = _model({"name": "mlp", "input_shape": [3], "num_outputs": 1, "widths": [5], "activation": "tanh"})
    sd = model.state_dict()
    assert simplex_barrier(model, [sd, sd, sd], data, resolution=3).value == pytest.approx(0.0, abs=1e-12)


def test_batchnorm_reset_recomputes_statistics():
    model = _model({"name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 3, "channels": [4], "norm": "batchnorm"})
    x = torch.randn(64, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    new = reset_batchnorm(model, model.state_dict(), x, batch_size=64)
    conv = model.features[0][0](x)  # the conv feeding the BatchNorm
    assert torch.allclose(new["features.0.1.running_mean"], conv.mean(dim=(0, 2, 3)), atol=1e-12)
    assert torch.allclose(new["features.0.1.running_var"], conv.var(dim=(0, 2, 3), unbiased=True), atol=1e-10)


def test_repair_matches_interpolated_statistics_at_the_first_layer():
    config = {"name": "mlp", "input_shape": [3], "num_outputs": 2, "widths": [6, 5]}
    ma, mb = _model(config, 0), _model(config, 1)
    a, b = ma.state_dict(), mb.state_dict()
    spec = spec_of(ma, example_input(ma.config, dtype=torch.float64))
    x = torch.randn(300, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    mid = repair(ma, linear_path(a, b)(0.5), (a, b), 0.5, x, spec)
    za, zb, zm = (x @ p["layers.0.weight"].T + p["layers.0.bias"] for p in (a, b, mid))
    target = 0.5 * (za.mean(0) + zb.mean(0)), 0.5 * (za.std(0, unbiased=False) + zb.std(0, unbiased=False))
    assert torch.allclose(zm.mean(0), target[0], atol=1e-10)
    assert torch.allclose(zm.std(0, unbiased=False), target[1], atol=1e-10)


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
