"""The curve fitter: the known optimum of a quadratic landscape for both kinds, exact ends, the midpoint bend is
the line, BatchNorm buffers never updated in place, curve files, and refusals (different architectures)."""

import json

import pytest
import torch

import weightspace as ws
from weightspace import paths as P
from weightspace.errors import ArchitectureMismatch, CheckpointError, ConfigError
from weightspace.evaluate import fit_inputs
from weightspace.models import build

DT = torch.float64


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _ends():
    g = _gen(0)
    shapes = {"w": (3, 2), "b": (3,)}
    a, b, m = ({k: torch.randn(s, generator=g, dtype=DT) for k, s in shapes.items()} for _ in range(3))
    return a, b, m


@pytest.mark.parametrize("kind", ["chain", "bezier"])
def test_the_fitted_bend_is_the_known_optimum_of_a_quadratic_landscape(kind):
    """L(θ) = ||θ − m||²: E_t L(θ(t)) is quadratic in the bend θ_C with minimiser
    chain: θ_C = (3/2) m − (θ_A + θ_B)/4;  bezier: θ_C = (5/2) m − (3/4)(θ_A + θ_B)."""
    a, b, m = _ends()

    def loss_fn(p):
        return sum(((p[k] - m[k]) ** 2).sum() for k in m)

    curve = P.fit_curve(loss_fn, a, b, kind=kind, steps=300, lr=0.1, samples=8, generator=_gen(1))
    wm, wab = (1.5, 0.25) if kind == "chain" else (2.5, 0.75)
    optimum = {k: wm * m[k] - wab * (a[k] + b[k]) for k in m}
    scale = max(float(v.abs().max()) for v in optimum.values())
    for k in m:  # within 2% of the optimum's size: the noise floor of t ~ U(0, 1) sampled 8 times per step
        torch.testing.assert_close(curve.bend[k], optimum[k], rtol=0, atol=0.02 * scale)
    assert all(torch.equal(curve(0.0)[k], a[k]) and torch.equal(curve(1.0)[k], b[k]) for k in a)
    line = P.FittedCurve(kind, a, ws.params.lerp(a, b, 0.5), b)  # the midpoint bend is the straight line
    for t in (0.1, 0.5, 0.8):
        for k in a:
            torch.testing.assert_close(line(t)[k], torch.lerp(a[k], b[k], t), rtol=0, atol=1e-14)


def test_fit_bezier_is_fit_curve_with_a_control_point():
    a, b, m = _ends()

    def loss_fn(p):
        return sum(((p[k] - m[k]) ** 2).sum() for k in m)

    old = P.fit_bezier(loss_fn, a, b, steps=20, generator=_gen(2))
    new = P.fit_curve(loss_fn, a, b, kind="bezier", steps=20, samples=4, schedule="constant", generator=_gen(2))
    assert all(torch.equal(old.control[k], new.bend[k]) for k in a)


def test_model_curves_fit_through_batchnorm_without_touching_its_statistics():
    config = {"name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 10, "channels": [4, "M"], "hidden": [8],
              "norm": "batchnorm"}
    data = ws.data.load("digits")
    a, b = (ws.params.state_of(build(config).to(DT)) for _ in range(2))
    model = build(config).to(DT)
    before = {k: v.clone() for k, v in a.items()}
    curve = P.fit_model_curve(model, data, a, b, kind="chain", steps=5, batch_size=32, generator=_gen(0))
    assert all(torch.equal(before[k], a[k]) for k in a)
    conv = next(k for k, v in a.items() if v.ndim == 4)
    assert not torch.allclose(curve.bend[conv], 0.5 * (a[conv] + b[conv]))  # the bend moved
    along = P.evaluate_fitted_curve(model, curve, data, points=3, split="test")
    reset = P.reset_batchnorm(model, curve(0.5), fit_inputs(data.x_train[:2000], model).to(DT))
    assert along.loss[1] == pytest.approx(ws.evaluate(model, data, "test", params=reset)["loss"], abs=1e-12)


def test_curves_between_different_architectures_are_refused():
    a, b, _ = _ends()
    wider = {**b, "w": torch.zeros(4, 2, dtype=DT)}
    with pytest.raises(ArchitectureMismatch):
        P.fit_curve(lambda p: p["w"].sum(), a, wider, generator=_gen(0))
    with pytest.raises(ConfigError, match="kind"):
        P.fit_curve(lambda p: p["w"].sum(), a, b, kind="spline", generator=_gen(0))


def test_cli_curve_file_is_what_barrier_evaluates(tmp_path, capsys):
    from weightspace.cli import main

    def run(*argv):
        with pytest.raises(SystemExit) as e:
            main([*map(str, argv)])
        out, err = capsys.readouterr()
        return e.value.code or 0, out, err

    for seed in (0, 1):
        ws.train({"name": "mlp", "widths": [8]}, "digits", epochs=1, seed=seed, out=tmp_path / f"r{seed}")
    ws.train({"name": "mlp", "widths": [6]}, "digits", epochs=1, seed=0, out=tmp_path / "narrow")
    c = tmp_path / "c.safetensors"
    code, out, err = run("curve", tmp_path / "r0", tmp_path / "r1", "--kind", "bezier", "--steps", "20",
                         "--points", "5", "--out", c, "--format", "json")
    assert code == 0, err
    fitted = json.loads(out)
    code, out, err = run("barrier", tmp_path / "r0", tmp_path / "r1", "--curve", c, "--points", "5", "--split",
                         "train", "--metric", "error", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["values"] == fitted["curve"]["error"] and json.loads(out)["kind"] == "bezier"
    a, b = ws.load_checkpoint(tmp_path / "r0").params, ws.load_checkpoint(tmp_path / "r1").params
    assert P.load_curve(c, a, b).kind == "bezier"
    with pytest.raises(ConfigError, match="other networks"):
        P.load_curve(c, b, a)
    with pytest.raises(CheckpointError, match="not a curve file"):
        P.load_curve(tmp_path / "r0", a, b)
    code, _, err = run("curve", tmp_path / "r0", tmp_path / "narrow", "--out", tmp_path / "d.safetensors")
    assert code == 2 and err.count("\n") == 1 and "architecture" in err
    assert not (tmp_path / "d.safetensors").exists()
