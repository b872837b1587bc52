"""The mathematics behind the claim modules zero_neuron, permutation_plateau, curve_bound and multilayer_saddle."""

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from weightspace.continuous import (
    linear_config,
    linear_teacher,
    orbit_curve,
    random_minimum,
    rotation_generator,
    teacher_of,
)
from weightspace.critical import gradient_norm, objective, symmetrize, teacher_params, transposition
from weightspace.data import load
from weightspace.experiments import curve_bound, multilayer_saddle, permutation_plateau, zero_neuron
from weightspace.hessian import loss_of
from weightspace.params import forward
from weightspace.paths import loss_curve, polygonal_chain
from weightspace.symmetry._config import model_for, spec_for

DT = torch.float64
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def teacher3():
    data = load("teacher", d=2, r_star=3, p=1, n_train=60, n_test=10, seed=0, dtype=DT)
    theta, config = teacher_params(data)
    return data, theta, config


@pytest.mark.parametrize("claim", [*zero_neuron.CLAIMS, *permutation_plateau.CLAIMS, *curve_bound.CLAIMS,
                                   *multilayer_saddle.CLAIMS])
def test_claim_records_follow_the_contract(claim):
    assert set(claim) == {"id", "paper", "statement", "measures", "threshold", "direction", "budgets", "run"}
    assert claim["id"].startswith(claim["paper"] + ".") and claim["direction"] in ("<=", ">=")
    assert set(claim["budgets"]) == {"smoke", "quick", "full"} and callable(claim["run"])


@settings(max_examples=5)
@given(st.lists(st.floats(-2, 2), min_size=6, max_size=6))
def test_zero_neuron_gradient_is_the_residual_correlation_and_vanishes_at_zero_residual(teacher3, w):
    data, theta, config = teacher3
    incoming = torch.tensor(w, dtype=DT).reshape(2, 3)  # two zero-type units' (w_z, b_z)
    norms, auto, formula = zero_neuron.zero_neuron_gradients(theta, config, data, incoming)
    assert max(norms) <= 1e-12 and float(auto.abs().max()) <= 1e-12 and float(formula.abs().max()) <= 1e-12
    # r ≠ 0: the teacher with a shifted output bias; ∂L/∂a_z = 2 E[r σ(w_z·x + b_z)] = 2 δ E[σ] ≠ 0
    shifted = {**theta, "layers.1.bias": theta["layers.1.bias"] + 0.1}
    norms, auto, formula = zero_neuron.zero_neuron_gradients(shifted, config, data, incoming)
    torch.testing.assert_close(auto, formula, rtol=1e-12, atol=1e-15)
    x = data.x_train.to(DT)
    sigma = torch.nn.functional.softplus(x @ incoming[:, :-1].T + incoming[:, -1])  # (N, 2)
    torch.testing.assert_close(formula, 2 * 0.1 * sigma.mean(0)[:, None], rtol=1e-10, atol=0)
    assert float(formula.abs().min()) > 0


def test_permute_units_is_the_spec_group_action(teacher3):
    _, theta, config = teacher3
    moved = permutation_plateau.permute_units(theta, config, 0, [1, 0, 2])
    expected = transposition(config, 0, 0, 1).apply(theta)
    assert all(torch.equal(moved[k], expected[k]) for k in theta)


def test_every_permutation_is_reached_on_the_plateau_at_equal_loss(teacher3):
    data, theta, config = teacher3
    loss_fn = objective(config, data)
    point = symmetrize(theta, config, 0, 0, 1)  # units 0 and 1 coincide: a point of Fix(π_01)
    level = float(loss_fn(point))
    x = data.x_train.to(DT)
    model = model_for(config)
    for perm in itertools.permutations(range(3)):
        route, moves = permutation_plateau.plateau_route(point, config, 0, 0, 1, perm)
        target = permutation_plateau.permute_units(point, config, 0, perm)
        assert all(torch.equal(route[-1][k], target[k]) for k in theta)
        curve = loss_curve(loss_fn, polygonal_chain(route), points=4 * len(route))
        assert max(abs(v - level) for v in curve.loss) <= 1e-12
        assert moves <= 4 and len(route) == 3 + 3 * moves
        end = permutation_plateau.permute_units(theta, config, 0, perm)  # the planted minimum, permuted
        torch.testing.assert_close(forward(model, end, x), forward(model, theta, x), rtol=0, atol=1e-14)
        assert float(loss_fn(end)) <= 1e-28 and gradient_norm(loss_fn, end) <= 1e-12


def test_curvature_bound_holds_on_a_circular_orbit():
    data = linear_teacher(3, seed=0, n_train=32, n_test=8)
    config = linear_config(3, 3)
    spec = spec_for(config)
    x, y = data.split("train")
    loss_fn, _ = loss_of(model_for(config), x.to(DT), y.to(DT))
    theta = random_minimum(3, teacher_of(data), generator=torch.Generator().manual_seed(0))
    gen = rotation_generator(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), 1.0)
    curve = orbit_curve(theta, spec, {spec.factors[0].name: gen})
    r = curve_bound.lipschitz_bound(loss_fn, curve, points=5, search_points=17)
    assert r["bound_applies"] and r["loss_min"] <= 1e-24
    assert math.isclose(r["deviation"], r["d_max"], rel_tol=1e-6)  # a circle attains the sagitta
    for row in r["rows"]:
        assert row["distance"] <= r["d_max"] * (1 + 1e-9) and abs(row["curve_excess"]) <= 1e-20
        assert row["excess"] <= r["C_L"] * row["distance"] + 1e-14 <= r["bound"] + 1e-14
    assert max(row["excess"] for row in r["rows"]) > 0  # the chord leaves the minimum


def test_planted_two_layer_teacher_is_an_exact_minimum_and_digits_pca_is_whitened():
    data, config, teacher = multilayer_saddle.two_layer_teacher([2, 2], d=2, n_train=40, seed=0)
    loss_fn = objective(config, data)
    assert float(loss_fn(teacher)) == 0.0 and gradient_norm(loss_fn, teacher) == 0.0
    digits = multilayer_saddle.digits_pca(5, 100)
    x = digits.x_train
    assert x.shape == (100, 5) and digits.y_train.shape == (100, 10)
    torch.testing.assert_close(x.T @ x / len(x), torch.eye(5, dtype=DT), rtol=0, atol=1e-10)
