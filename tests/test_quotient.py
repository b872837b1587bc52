"""Symmetry removal (Pittorino et al. 2022): the canonical form is one point per orbit of the permutation x scale
group (invariant, idempotent, same predictions, logits scaled by one positive number), alignment recovers a planted
group element, distances match their closed forms, and geodesics are unit-speed great circles on the spheres."""

import functools
import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from weightspace.cli import main
from weightspace.data import Dataset
from weightspace.errors import ArchitectureMismatch, ConfigError, SymmetryError
from weightspace.evaluate import evaluate
from weightspace.io import save_params
from weightspace.models import build, example_input
from weightspace.params import forward
from weightspace.quotient import (
    align_to,
    canonical_form,
    canonical_scale,
    function_distance,
    geodesic,
    geodesic_study,
    pairwise_distances,
    quotient_distance,
    quotient_of,
    unit_cosines,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is far faster on a shared machine

TOL = 1e-10
CONFIGS = {
    "mlp-relu": {"name": "mlp", "input_shape": [6], "num_outputs": 4, "widths": [7, 5]},
    "mlp-relu3": {"name": "mlp", "input_shape": [6], "num_outputs": 4, "widths": [7, 5], "activation": "relu_pow",
                  "power": 3},
    "vgg-bn": {"name": "vgg", "input_shape": [2, 8, 8], "num_outputs": 4, "channels": [4, "M", 5], "hidden": [6]},
    "resnet-bn": {"name": "resnet20", "input_shape": [1, 8, 8], "num_outputs": 3},
}


def _randomised(config: dict, seed: int):
    """A float64 model in eval mode with random weights, BatchNorm affine parameters and running statistics."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(config).double().eval()
        with torch.no_grad():
            for k, v in model.state_dict().items():
                if k.endswith("running_var"):
                    v.copy_(torch.rand(v.shape, dtype=v.dtype) + 0.5)
                elif k.endswith("running_mean"):
                    v.copy_(0.3 * torch.randn(v.shape, dtype=v.dtype))
                elif v.is_floating_point() and v.ndim == 1:
                    v.add_(0.3 * torch.randn(v.shape, dtype=v.dtype))
    return model


@functools.cache
def _case(name: str, seed: int = 0):
    model = _randomised(CONFIGS[name], seed)
    return model, quotient_of(model)


def _max_diff(a, b) -> float:
    return max(float((a[k] - b[k]).abs().max()) if a[k].numel() else 0.0 for k in a if a[k].is_floating_point())


@pytest.mark.parametrize("name", list(CONFIGS))
def test_canonical_form_is_one_point_per_orbit(name):
    model, q = _case(name)
    theta = model.state_dict()
    c = canonical_form(model, theta, quotient=q)
    assert _max_diff(canonical_form(model, c, quotient=q), c) <= TOL  # idempotent
    x = example_input(model.config, 64, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        y, yc = model(x), forward(model, c, x)
    assert torch.equal(y.argmax(1), yc.argmax(1))
    assert torch.allclose(yc * (y.norm() / yc.norm()), y, rtol=0, atol=TOL * float(y.abs().max()))  # one positive scale
    for s in q.spheres:  # every unit's row is a unit vector
        assert torch.allclose(s.matrix(c).norm(dim=1), torch.ones(s.size, dtype=torch.float64), atol=TOL, rtol=0)
    gen = torch.Generator().manual_seed(1)
    for _ in range(100):
        g = q.spec.sample(generator=gen)  # permutation x scale of every factor
        assert _max_diff(canonical_form(model, g.apply(theta), quotient=q), c) <= TOL


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), power=st.sampled_from([1, 2, 3]))
def test_canonical_form_invariance_on_random_networks(seed, power):
    config = {"name": "mlp", "input_shape": [5], "num_outputs": 3, "widths": [6, 4], "activation": "relu_pow",
              "power": power}
    model = _randomised(config, seed)
    q = quotient_of(model)
    g = q.spec.sample(generator=torch.Generator().manual_seed(seed))
    c = canonical_form(model, quotient=q)
    assert _max_diff(canonical_form(model, g.apply(model.state_dict()), quotient=q), c) <= TOL


def test_batchnorm_filters_are_normalised_with_the_function_kept():
    model, q = _case("vgg-bn")
    c = canonical_scale(model, quotient=q)
    for conv, bn, _ in q.norms:
        w = c[f"{conv}.weight"]
        assert torch.allclose(w.reshape(len(w), -1).norm(dim=1), torch.ones(len(w), dtype=w.dtype), atol=TOL)
        assert not torch.equal(c[f"{bn}.running_var"], model.state_dict()[f"{bn}.running_var"])
    assert dict(model.state_dict()).keys() == c.keys()


def test_dead_unit_gets_zero_outgoing_weights():
    model, q = _case("mlp-relu")
    theta = {k: v.clone() for k, v in model.state_dict().items()}
    theta["layers.0.weight"][2] = 0
    theta["layers.0.bias"][2] = 0
    c = canonical_scale(model, theta, quotient=q)
    assert torch.equal(c["layers.1.weight"][:, 2], torch.zeros(5, dtype=torch.float64))
    x = torch.randn(20, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(forward(model, theta, x).argmax(1), forward(model, c, x).argmax(1))


@pytest.mark.parametrize("name", ["mlp-relu3", "vgg-bn"])
@pytest.mark.parametrize("method", ["cosine", "weight"])
def test_alignment_recovers_a_planted_group_element(name, method):
    model, q = _case(name)
    theta = model.state_dict()
    g = q.spec.sample(generator=torch.Generator().manual_seed(7))
    ref, aligned = align_to(model, g.apply(theta), theta, method=method, quotient=q)
    assert _max_diff(aligned, ref) <= TOL
    d = quotient_distance(model, theta, g.apply(theta), method=method, quotient=q)
    assert d.normalized <= TOL and d.mean_angle <= 1e-6


def test_distances_match_their_closed_form():
    """Rotate one unit of a canonical form by a known angle φ: mean angle φ/N, normalised distance (1 − cos φ)/(2N)."""
    model, q = _case("mlp-relu")
    a = canonical_form(model, quotient=q)
    u = a["layers.0.weight"][0].clone(), a["layers.0.bias"][0].clone()
    vec = torch.cat([u[0], u[1][None]])
    other = torch.randn(vec.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    other = other - (other @ vec) * vec
    other = other / other.norm()
    phi = 0.3
    new = math.cos(phi) * vec + math.sin(phi) * other
    b = {k: v.clone() for k, v in a.items()}
    b["layers.0.weight"][0], b["layers.0.bias"][0] = new[:-1], new[-1]
    units = sum(s.size for s in q.spheres)
    for method in ("cosine", "weight"):
        d = quotient_distance(model, a, b, method=method, quotient=q)
        assert d.mean_angle == pytest.approx(phi / units, abs=1e-7)  # arccos(1 − ε) ~ 1e-8
        assert d.normalized == pytest.approx((1 - math.cos(phi)) / 2 / units, abs=1e-12)
        assert dict(zip(d.layers, d.angles, strict=True))["layers.0"] == pytest.approx(phi / 7, abs=1e-7)
    far = quotient_distance(model, a, canonical_form(_case("mlp-relu", 1)[0]), quotient=q)
    assert 0 < far.normalized <= 1 and 0 < far.mean_angle <= math.pi


def _toy_data(model, n=120) -> Dataset:
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2 * n, *model.config["input_shape"], generator=gen, dtype=torch.float64)
    teacher = _randomised(model.config, 99)
    with torch.no_grad():
        y = teacher(x).argmax(1)
    return Dataset("toy", "classification", x[:n], y[:n], x[n:], y[n:], model.config["num_outputs"])


def test_function_and_pairwise_distances():
    model, q = _case("mlp-relu")
    data = _toy_data(model)
    nets = [_case("mlp-relu", s)[0].state_dict() for s in range(3)]
    g = q.spec.sample(generator=torch.Generator().manual_seed(2))
    assert function_distance(model, nets[0], g.apply(nets[0]), data, quotient=q).disagreement == 0
    fd = function_distance(model, nets[0], nets[1], data, quotient=q)
    with torch.no_grad():
        pa, pb = forward(model, nets[0], data.x_test).argmax(1), forward(model, nets[1], data.x_test).argmax(1)
    assert fd.disagreement == pytest.approx(float((pa != pb).double().mean()))
    pw = pairwise_distances(model, nets, data=data, quotient=q)
    for metric, m in pw.matrices.items():
        assert all(m[i][i] == 0 and m[i][j] == m[j][i] for i in range(3) for j in range(3)), metric
    assert pw.matrices["disagreement"][0][1] == fd.disagreement
    assert pw.matrices["normalized"][0][1] == pytest.approx(quotient_distance(model, nets[0], nets[1]).normalized)


@pytest.mark.parametrize("name", ["mlp-relu", "vgg-bn"])
def test_geodesic_is_a_unit_speed_great_circle_on_the_spheres(name):
    model, q = _case(name)
    ref, other = align_to(model, _case(name, 1)[0].state_dict(), model.state_dict(), quotient=q)
    path = geodesic(model, ref, other, quotient=q)
    assert _max_diff(path(0.0), ref) == 0 and _max_diff(path(1.0), other) == 0
    omega = {k: torch.arccos(c) for k, c in unit_cosines(q, ref, other).items()}
    for t in (0.1, 0.37, 0.5, 0.9):
        p = path(t)
        for s in q.spheres:
            assert torch.allclose(s.matrix(p).norm(dim=1), torch.ones(s.size, dtype=torch.float64), atol=TOL, rtol=0)
        for k, c in unit_cosines(q, ref, p).items():  # the angle from the start grows linearly in t
            assert torch.allclose(torch.arccos(c), t * omega[k], atol=1e-7, rtol=0)


def test_geodesic_study_endpoints_keep_the_errors():
    model, q = _case("mlp-relu")
    other = _case("mlp-relu", 1)[0]
    data = _toy_data(model)
    study = geodesic_study(model, model.state_dict(), other.state_dict(), data, points=5, quotient=q)
    for path in ("geodesic", "linear"):
        for split in ("train", "test"):
            c = study.curves[path][split]
            assert c.error[0] == evaluate(model, data, split)["error"]  # the canonical form keeps the error
            assert c.error[-1] == evaluate(other, data, split)["error"]
    out = study.to_dict()
    assert out["barrier"] == study.barrier("geodesic").value and out["barrier_linear"] == study.barrier("linear").value


def test_unsupported_models_and_layers_are_named():
    tanh = build({"name": "mlp", "input_shape": [4], "num_outputs": 2, "widths": [3], "activation": "tanh"})
    with pytest.raises(SymmetryError, match=r"layer 'act' \(Tanh\)"):
        quotient_of(tanh)
    ln = build({"name": "vgg", "input_shape": [1, 4, 4], "num_outputs": 2, "channels": [3], "norm": "layernorm"})
    with pytest.raises(SymmetryError, match=r"'features\.0\.1' \(GroupNorm\)"):
        canonical_form(ln)
    lin = build({"name": "linear", "input_shape": [4], "num_outputs": 2, "widths": [3]})
    with pytest.raises(SymmetryError, match="model 'linear' is not supported"):
        quotient_of(lin)
    model, q = _case("mlp-relu")
    wide = build({"name": "mlp", "input_shape": [6], "num_outputs": 4, "widths": [8, 5]}).double()
    with pytest.raises(ArchitectureMismatch):
        quotient_distance(model, model.state_dict(), wide.state_dict(), quotient=q)
    with pytest.raises(ArchitectureMismatch):
        geodesic(model, model.state_dict(), wide.state_dict(), quotient=q)
    with pytest.raises(ConfigError, match="not unit vectors"):
        geodesic(model, model.state_dict(), model.state_dict(), quotient=q)


def test_cli_canonical_distance_geodesic(capsys, tmp_path):
    config = {"name": "mlp", "input_shape": [64], "num_outputs": 10, "widths": [12]}
    paths = []
    for seed in range(2):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            paths.append(save_params(build(config).state_dict(), build(config).config,
                                     tmp_path / f"n{seed}.safetensors", dataset="digits"))

    def run(*argv):
        with pytest.raises(SystemExit) as info:
            main([*map(str, argv)])
        return info.value.code or 0, *capsys.readouterr()

    code, out, err = run("canonical", paths[1], "--out", tmp_path / "c.safetensors", "--reference", paths[0],
                         "--format", "json")
    assert code == 0, err
    aligned = json.loads(out)["distance"]["normalized"]
    code, out, err = run("distance", paths[0], paths[1], tmp_path / "c.safetensors", "--format", "json")
    d = json.loads(out)["distances"]
    assert code == 0 and d["normalized"][1][2] < 1e-6 and d["disagreement"][1][2] == 0  # c is n1, on the quotient
    assert aligned > 0 and aligned == pytest.approx(d["normalized"][0][1], rel=1e-5)  # n1 to n0, as `distance` has it
    code, out, err = run("geodesic", paths[0], paths[1], "--points", "3", "--plot", tmp_path / "g.png",
                         "--format", "json")
    r = json.loads(out)
    assert code == 0 and {"barrier", "curve", "barrier_linear"} <= set(r) and (tmp_path / "g.png").is_file()
    other = save_params(build({**config, "widths": [13]}).state_dict(), {**config, "widths": [13]},
                        tmp_path / "w.safetensors", dataset="digits")
    for cmd in ("distance", "geodesic"):
        code, out, err = run(cmd, paths[0], other)
        assert code == 2 and "different model configs" in err and len(err.strip().splitlines()) == 1
