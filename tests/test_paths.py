"""Curves in weight space, as contracts (float64): every curve is exact at its endpoints, the Bezier curve
with its control point at the midpoint is the line and its fit lowers the mean loss, both minimum-energy-path
methods go around a bump the line crosses, one evaluator, and one flatten order everywhere."""

import functools
import math

import pytest
import torch

from weightspace import continuous as C
from weightspace import critical as Cr
from weightspace import data as D
from weightspace import hessian, params
from weightspace import paths as P
from weightspace.errors import ArchitectureMismatch, ConfigError
from weightspace.evaluate import evaluate, evaluation, fit_inputs
from weightspace.models import build, example_input
from weightspace.paths import _orbit as continuous_orbit
from weightspace.symmetry import spec_of

DT = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _net(seed: int, config=None) -> dict:
    config = config or {"name": "mlp", "input_shape": [3], "num_outputs": 2, "widths": [4]}
    torch.manual_seed(seed)
    p = {k: v.detach().to(DT) for k, v in build(config).state_dict().items()}
    return {**p, "counter": torch.tensor(7)}  # an integer buffer rides along


def _exact(curve, a, b) -> bool:
    at0, at1 = curve(0.0), curve(1.0)
    return all(torch.equal(at0[k], a[k]) and torch.equal(at1[k], b[k]) for k in a)


# -- endpoints exact -----------------------------------------------------------------------------------------
def test_every_curve_is_exact_at_its_endpoints():
    a, b, c = _net(0), _net(1), _net(2)
    assert _exact(P.linear_path(a, b), a, b)
    assert _exact(P.polygonal_chain([a, c, b]), a, b)
    assert _exact(P.polygonal_chain([a, c, b], knots=[0.0, 0.3, 1.0]), a, b)
    assert _exact(P.bezier_curve(a, c, b), a, b)
    mid = P.polygonal_chain([a, c, b])(0.5)  # a chain passes through its vertices
    assert all(torch.equal(mid[k], c[k]) for k in a)


def test_swap_chain_ends_exactly_on_the_permuted_point():
    data = D.load("teacher", d=2, r_star=3, p=1, n_train=50, n_test=10, seed=0, dtype=DT)
    theta, config = Cr.teacher_params(data)
    start, cfg = Cr.add_zero_neuron(theta, config, 0, incoming=torch.tensor([0.7, -1.2, 0.3], dtype=DT))
    swapped = Cr.transposition(cfg, 0, 0, 2).apply(start)
    assert _exact(P.polygonal_chain(P.swap_chain(start, cfg, 0, 0, 2, 3)), start, swapped)


def test_orbit_curve_starts_exactly_at_theta():
    model = build(C.linear_config(3, 2)).to(DT)  # a linear network: its factors admit GL
    spec = spec_of(model, example_input(model.config, dtype=DT))
    theta = {k: v.detach() for k, v in model.state_dict().items()}
    curve = P.orbit_curve(theta, spec, P.random_generators(spec, generator=_gen(0)))
    at0 = curve(0.0)
    assert all(torch.equal(at0[k], theta[k]) for k in theta)


# -- Bezier --------------------------------------------------------------------------------------------------
def test_bezier_with_the_midpoint_as_control_is_the_line():
    a, b = _net(0), _net(1)
    control = params.combine([0.5, 0.5], [a, b])
    curve, line = P.bezier_curve(a, control, b), P.linear_path(a, b)
    for t in (0.1, 0.25, 0.5, 0.8):
        ct, lt = curve(t), line(t)
        assert all(torch.allclose(ct[k], lt[k], atol=1e-14, rtol=0) for k in a if a[k].is_floating_point())
        assert torch.equal(ct["counter"], a["counter"])


def test_bezier_formula_at_a_point():
    a, b, c = _net(0), _net(1), _net(2)
    t = 0.3
    got = P.bezier_curve(a, c, b)(t)
    for k in a:
        if a[k].is_floating_point():
            want = (1 - t) ** 2 * a[k] + 2 * t * (1 - t) * c[k] + t**2 * b[k]
            assert torch.allclose(got[k], want, atol=1e-14, rtol=0)


@functools.lru_cache(maxsize=1)
def _students():
    data = D.load("teacher", d=2, r_star=2, p=1, n_train=200, n_test=20, seed=0, dtype=DT)
    fits = [Cr.fit_student(data, 3, seed=s, adam_steps=400, lbfgs_steps=50, newton_steps=0, gtol=1e-6)
            for s in (1, 2)]
    return data, fits[0][1], fits[0][0].params, fits[1][0].params


def test_fitted_bezier_has_a_lower_mean_loss_than_the_line():
    data, config, a, b = _students()
    loss_fn = P.dataset_loss(build(config).to(DT), data, "train")
    curve = P.fit_bezier(loss_fn, a, b, steps=150, lr=1e-2, samples=4, generator=_gen(0))
    assert _exact(curve, a, b)
    line = P.loss_curve(loss_fn, P.linear_path(a, b), points=41)
    fitted = P.loss_curve(loss_fn, curve, points=41)
    assert sum(fitted.loss) / 41 < sum(line.loss) / 41
    again = P.fit_bezier(loss_fn, a, b, steps=150, lr=1e-2, samples=4, generator=_gen(0))
    assert all(torch.equal(again.control[k], curve.control[k]) for k in a)  # the generator is the randomness
    with pytest.raises(ConfigError, match="generator"):
        P.fit_bezier(loss_fn, a, b, generator=None)


# -- minimum-energy paths on a 2-D landscape -----------------------------------------------------------------
def _landscape(p):
    """A double well in x with a Gaussian bump just above the straight line between the minima (±1, 0)."""
    x, y = p["w"][0], p["w"][1]
    return (x**2 - 1) ** 2 + y**2 + 2 * torch.exp(-(x**2 + (y - 0.15) ** 2) / 0.1)


_A = {"w": torch.tensor([-1.0, 0.0], dtype=DT)}
_B = {"w": torch.tensor([1.0, 0.0], dtype=DT)}


def _line_max() -> float:
    return max(P.loss_curve(_landscape, P.linear_path(_A, _B), points=201).loss)


def test_nudged_elastic_band_goes_around_the_bump():
    band = P.nudged_elastic_band(_landscape, _A, _B, images=9, steps=1500, climb_after=200, tol=1e-6,
                                 band_tol=1e-3)
    path = band.path()
    assert _exact(path, _A, _B)
    assert max(P.loss_curve(_landscape, path, points=201).loss) < 0.8 * _line_max()
    assert band.climbing_gradient_norm < 1e-3


def test_string_method_goes_around_the_bump():
    mep = P.string_method(_landscape, _A, _B, images=11, steps=400, step_size=0.05, max_move=0.05)
    assert _exact(mep.path(), _A, _B)
    assert mep.height < 0.8 * _line_max()
    assert mep.height == pytest.approx(max(P.loss_curve(_landscape, mep.path(), alphas=mep.refined_alphas).loss))
    band = P.nudged_elastic_band(_landscape, _A, _B, images=9, steps=1500, climb_after=200, tol=1e-6, band_tol=1e-3)
    assert mep.height == pytest.approx(band.losses[band.highest], abs=1e-4)  # two methods, one saddle height


def test_both_minimum_energy_path_methods_take_loss_fn_start_end():
    for method in (P.nudged_elastic_band, P.string_method):
        with pytest.raises(ConfigError, match="images"):
            method(_landscape, _A, _B, images=0)


def test_minimum_energy_path_on_a_model_is_the_string_method_on_its_dataset_loss():
    data, config, a, b = _students()
    model = build(config).to(DT)
    old = P.minimum_energy_path(model, data, a, b, images=5, steps=20)
    new = P.string_method(P.dataset_loss(model, data, "train"), a, b, images=5, steps=20)
    assert old.refined_loss == new.refined_loss
    assert all(torch.equal(p[k], q[k]) for p, q in zip(old.images, new.images, strict=True) for k in a)


# -- one evaluator -------------------------------------------------------------------------------------------
def test_evaluate_path_and_loss_curve_agree():
    data, config, a, b = _students()
    model = build(config).to(DT)
    line = P.linear_path(a, b)
    by_model = P.evaluate_path(model, line, data, points=7, split="train")
    by_loss = P.loss_curve(P.dataset_loss(model, data, "train"), line, points=7)
    assert by_model.alphas == by_loss.alphas
    assert all(math.isclose(u, v, rel_tol=1e-10) for u, v in zip(by_model.loss, by_loss.loss, strict=True))
    assert by_model.error is None and by_loss.error is None  # regression: no error
    seen = []
    curve = P.evaluate_curve(line, lambda p: (0.0, 1.0), alphas=[0.0, 0.5, 1.0], callback=lambda i, n: seen.append(i))
    assert curve.error == (1.0, 1.0, 1.0) and seen == [1, 2, 3]
    with pytest.raises(ConfigError, match="points"):
        P.evaluate_curve(line, lambda p: (0.0, None), points=1)


class _Tied(torch.nn.Module):
    """A BatchNorm (buffers) and a weight tied between two layers."""

    def __init__(self):
        super().__init__()
        self.inp = torch.nn.Linear(3, 3)
        self.norm = torch.nn.BatchNorm1d(3)
        self.out = torch.nn.Linear(3, 3)
        self.out.weight = self.inp.weight

    def forward(self, x):
        return self.out(torch.relu(self.norm(self.inp(x))))


def _moved(model, seed):
    g = _gen(seed)
    return {k: v * (1.5 + torch.rand(v.shape, generator=g, dtype=v.dtype)) if v.is_floating_point() else v
            for k, v in model.state_dict().items()}  # scaled up, so running variances stay positive


def test_loaded_computes_at_the_given_tensors_and_restores_the_module():
    model = _Tied().to(DT).eval()
    own = {k: (v, v.clone()) for k, v in model.state_dict(keep_vars=True).items()}
    p = _moved(model, 1)
    x = torch.randn(5, 3, generator=_gen(2), dtype=DT)
    with torch.no_grad(), params.loaded(model, p):
        inside = model(x)
        assert model.norm.running_var is p["norm.running_var"]
    assert torch.equal(inside, params.forward(model, p, x))  # functional_call's answer, tie included
    assert not torch.equal(inside, model(x))
    with pytest.raises(RuntimeError, match="boom"), params.loaded(model, p):
        raise RuntimeError("boom")
    with pytest.raises(ArchitectureMismatch, match="'norm.scale'"), params.loaded(model, {**p, "norm.scale": x}):
        pass  # raises after binding the keys before it
    for k, (tensor, value) in own.items():
        now = model.state_dict(keep_vars=True)[k]
        assert now is tensor and torch.equal(now, value)  # the same objects, holding their own values again


def test_one_evaluation_session_equals_separate_evaluations():
    config = {"name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 10, "channels": [4, "M", 4], "hidden": [8]}
    data = D.load("digits").to(DT)
    torch.manual_seed(0)
    model = build(config).to(DT).train()  # BatchNorm: the session must evaluate in eval mode and restore train
    a, b = model.state_dict(), _moved(model, 3)
    alphas = [0.0, 0.3, 0.7, 1.0]
    curve = P.evaluate_path(model, P.linear_path(a, b), data, alphas=alphas)
    assert model.training and all(m.training for m in model.modules())
    for alpha, loss, error in zip(alphas, curve.loss, curve.error, strict=True):
        alone = evaluate(model, data, params=params.lerp(a, b, alpha))
        assert (loss, error) == (alone["loss"], alone["error"])  # bit for bit: the buffers hold exactly lerp's values
    with evaluation(model, data, "train", max_batches=1) as measure:
        first, other, own = measure(b), measure(params.lerp(a, b, 0.5)), measure()
    assert first == evaluate(model, data, "train", params=b, max_batches=1)
    assert other == evaluate(model, data, "train", params=params.lerp(a, b, 0.5), max_batches=1)
    assert own == evaluate(model, data, "train", max_batches=1)  # None: back at the module's own tensors
    assert own != first
    assert not any(t.is_inference() for t in model.state_dict(keep_vars=True).values())  # no inference tensor left
    x, y = data.split("train")
    torch.nn.functional.cross_entropy(model(fit_inputs(x[:16], model)), y[:16]).backward()  # the model still trains
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


# -- flatten / unflatten -------------------------------------------------------------------------------------
def test_flatten_round_trip_in_the_dicts_order():
    p = {"b": torch.arange(6, dtype=DT).reshape(2, 3), "steps": torch.tensor(3), "a": torch.tensor([-1.0, 2.0],
                                                                                                     dtype=DT)}
    vec = params.flatten(p)
    assert vec.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, -1.0, 2.0]  # b before a: the dict's order, no sorting
    back = params.unflatten(vec, p)
    assert list(back) == ["b", "a"] and all(torch.equal(back[k], p[k]) for k in back)
    assert params.flatten(p, ["a"]).tolist() == [-1.0, 2.0]
    with pytest.raises(ConfigError, match="non-floating"):
        params.flatten(p, ["steps"])
    with pytest.raises(ConfigError, match="1-D vector of 8"):
        params.unflatten(torch.zeros(7, dtype=DT), p)


def test_one_flatten_everywhere():
    assert hessian.flatten is params.flatten and hessian.unflatten is params.unflatten
    assert hessian.select_keys is params.select_keys
    p = {"z": torch.randn(3, dtype=DT), "a": torch.randn(2, 2, dtype=DT)}
    assert torch.equal(continuous_orbit._flat(p), params.flatten(p))
