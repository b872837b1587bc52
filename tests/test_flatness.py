"""Local energy: zero at σ = 0, the closed form of a linear model with squared loss reached at the 1/√N rate,
batched = one at a time, sign flips of a binary decision, the Hessian measures, and bad input."""

import itertools
import json
import math

import pytest
import torch
from torch import nn

import weightspace as ws
from weightspace.data import Dataset
from weightspace.errors import ConfigError
from weightspace.flatness import flip_energy, hessian_sharpness, local_energy
from weightspace.models import build

DT = torch.float64


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _linear_regression(n=64, d=5, p=2, seed=0):
    g = _gen(seed)
    x = torch.randn(n, d, generator=g, dtype=DT)
    y = torch.randn(n, p, generator=g, dtype=DT)
    data = Dataset("toy", "regression", x, y, x[:4], y[:4], p)
    model = nn.Linear(d, p).to(DT)
    with torch.no_grad():
        model.weight.copy_(torch.randn(p, d, generator=g, dtype=DT))
        model.bias.copy_(torch.randn(p, generator=g, dtype=DT))
    return model, data


def _closed_form(model, data, sigma):
    """E_z[L(θ(1 + σz))] − L(θ) = σ² (mean_i Σ_oj W_oj² x_ij² + Σ_o b_o²) for L = mean_i ||W x_i + b − y_i||²."""
    w, b, x = model.weight.detach(), model.bias.detach(), data.x_train
    return sigma**2 * float(((x**2) @ (w**2).T).sum(1).mean() + (b**2).sum())


def test_local_energy_converges_to_the_closed_form_at_the_inverse_square_root_rate():
    model, data = _linear_regression()
    params = ws.params.state_of(model)
    sigma = 0.3
    exact = _closed_form(model, data, sigma)
    sizes, repeats = (16, 64, 256), 10
    rmse, reported = [], []
    for n in sizes:
        errs, ses = [], []
        for r in range(repeats):
            le = local_energy(model, params, data, sigmas=[0.0, sigma], samples=n, metric="loss",
                              generator=_gen(1000 * n + r), chunk=256)
            assert le.local_energy[0] == 0.0 and le.stderr[0] == 0.0  # σ = 0: the network itself
            errs.append(le.local_energy[1] - exact)
            ses.append(le.stderr[1])
        rmse.append(math.sqrt(sum(e * e for e in errs) / repeats))
        reported.append(sum(ses) / repeats)
    logs = [(math.log(n), math.log(e)) for n, e in zip(sizes, rmse, strict=True)]
    mx, my = sum(a for a, _ in logs) / len(logs), sum(b for _, b in logs) / len(logs)
    slope = sum((a - mx) * (b - my) for a, b in logs) / sum((a - mx) ** 2 for a, _ in logs)
    assert -0.7 < slope < -0.3, (slope, rmse)
    for e, s in zip(rmse, reported, strict=True):  # the reported standard error is the actual spread
        assert 0.6 < e / s < 1.6, (rmse, reported)


def test_local_energy_is_zero_at_sigma_zero_batched_equals_one_at_a_time_and_the_model_is_untouched():
    data = ws.data.load("digits")
    model = build({"name": "mlp", "widths": [12], "input_shape": [64], "num_outputs": 10}).to(DT).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = ws.params.state_of(model)
    runs = {b: local_energy(model, params, data, sigmas=[0, 0.1, 0.5], samples=3, generator=_gen(3), chunk=4,
                            batched=b) for b in (True, False)}
    assert runs[True].local_energy[0] == 0.0
    assert runs[True].local_energy == pytest.approx(runs[False].local_energy, abs=1e-12)
    loss = local_energy(model, params, data, sigmas=[0, 0.5], samples=3, metric="loss", generator=_gen(3))
    assert abs(loss.local_energy[0]) <= 1e-12 and loss.local_energy[1] != 0
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_batchnorm_statistics_are_used_and_never_perturbed():
    config = {"name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 10, "channels": [4, "M"], "hidden": [8],
              "norm": "batchnorm"}
    model = build(config).to(DT)
    params = ws.params.state_of(model)
    params = {k: (v + 0.5 if k.endswith("running_mean") else v) for k, v in params.items()}
    data = ws.data.load("digits", dtype=DT)
    le = local_energy(model, params, data, sigmas=[0.0], samples=2, metric="loss", generator=_gen(0))
    assert le.base == pytest.approx(ws.evaluate(model, data, "train", params=params)["loss"], abs=1e-12)


def test_flipping_every_weight_of_a_two_class_linear_classifier_swaps_its_predictions():
    g = _gen(0)
    x = torch.randn(50, 3, generator=g, dtype=DT)
    y = (x[:, 0] > 0.3).long()
    data = Dataset("toy2", "classification", x, y, x[:5], y[:5], 2)
    model = nn.Linear(3, 2, bias=False).to(DT)
    params = ws.params.state_of(model)
    le = flip_energy(model, params, data, fractions=[0.0, 1.0], samples=3, generator=g)
    assert le.local_energy == pytest.approx((0.0, 1 - 2 * le.base), abs=1e-12)  # logits negate: E' = 1 − E
    assert le.stderr == pytest.approx((0.0, 0.0), abs=1e-12)
    # p = 0.5 flips exactly 3 of the 6 weights, a uniform 3-subset: the exact mean and spread over all 20 subsets
    samples = 200
    half = flip_energy(model, params, data, fractions=[0.5], samples=samples, generator=_gen(1))
    assert half.to_dict()["fractions"] == [0.5]
    w = model.weight.detach()
    rises = []
    for subset in itertools.combinations(range(6), 3):
        sign = torch.ones(6, dtype=DT)
        sign[list(subset)] = -1
        with torch.no_grad():
            wrong = ((x @ (w * sign.reshape(2, 3)).T).argmax(1) != y).double().mean()
        rises.append(float(wrong) - le.base)
    exact = torch.tensor(rises, dtype=DT)
    sd = float(exact.std(correction=0)) / math.sqrt(samples)
    assert abs(half.local_energy[0] - float(exact.mean())) <= 4 * sd, (half.local_energy, float(exact.mean()))
    assert 0.7 < half.stderr[0] / sd < 1.4, (half.stderr, sd)


def _flip_regression(magnitudes, seed=0):
    """y = w on x = I_n for a bias-free linear model with weights w = ±magnitudes: L(w) = 0, and flipping the set
    F of weights gives L = (1/n) Σ_{i∈F} (2 w_i)², a known function of which weights flipped."""
    a = torch.as_tensor(magnitudes, dtype=DT)
    n = len(a)
    w = a * torch.where(torch.rand(n, generator=_gen(seed), dtype=DT) < 0.5, -1.0, 1.0)
    x = torch.eye(n, dtype=DT)
    data = Dataset("flip", "regression", x, w[:, None].clone(), x[:2], w[:2, None].clone(), 1)
    model = nn.Linear(n, 1, bias=False).to(DT)
    with torch.no_grad():
        model.weight.copy_(w[None])
    return model, ws.params.state_of(model), data, 4 * a**2 / n  # the loss rise of flipping each weight


def test_flip_energy_flips_exactly_round_p_n_weights_in_nested_sets():
    n = 20
    model, params, data, _ = _flip_regression(torch.ones(n))  # each flip adds 4/n: δL = 4 (flip count)/n
    fractions = (0.0, 0.1, 0.3, 0.33, 0.5, 1.0)  # p n = 6.6 rounds up
    le = flip_energy(model, params, data, fractions=fractions, samples=8, metric="loss", generator=_gen(1))
    assert le.base == 0.0
    assert le.local_energy == pytest.approx(tuple(4 * round(p * n) / n for p in fractions), abs=1e-12)
    assert le.stderr == pytest.approx((0.0,) * len(fractions), abs=1e-12)  # the count never varies
    # rises 4·2^i/n identify the flipped set of a single draw: its size is round(p n), the sets nested in p
    model, params, data, _ = _flip_regression(2.0 ** (torch.arange(n, dtype=DT) / 2))
    for seed in range(5):
        one = flip_energy(model, params, data, fractions=fractions, samples=1, metric="loss", generator=_gen(seed))
        sets = []
        for rise in one.local_energy:
            code = round(rise * n / 4)
            assert abs(rise * n / 4 - code) < 1e-6
            sets.append({i for i in range(n) if code >> i & 1})
        assert [len(f) for f in sets] == [round(p * n) for p in fractions]
        assert all(a <= b for a, b in zip(sets, sets[1:], strict=False))


def test_flip_energy_draws_a_uniform_subset_mean_and_standard_error_exact():
    n, p, samples = 20, 0.3, 400
    model, params, data, c = _flip_regression(torch.linspace(0.5, 2.0, n))
    le = flip_energy(model, params, data, fractions=[p], samples=samples, metric="loss", generator=_gen(2))
    k = round(p * n)  # a uniform k-subset: E Σ_F c = k c̄, Var = k (1 − k/n) n/(n − 1) var(c)
    mean = k * float(c.mean())
    sd = math.sqrt(k * (1 - k / n) * n / (n - 1) * float(c.var(correction=0)) / samples)
    assert abs(le.local_energy[0] - mean) <= 4 * sd, (le.local_energy, mean)
    assert 0.8 < le.stderr[0] / sd < 1.25, (le.stderr, sd)


def test_hessian_measures_of_a_linear_regression_are_its_closed_forms(one_thread):
    model, data = _linear_regression(n=40, d=3, p=2)
    xt = torch.cat([data.x_train, torch.ones(40, 1, dtype=DT)], 1)
    gram = 2 * xt.T @ xt / 40  # H = gram ⊗ I_p for L = mean ||W x + b − y||²
    s = hessian_sharpness(model, ws.params.state_of(model), data, generator=_gen(0), trace_samples=64)
    assert s.top_eigenvalue == pytest.approx(float(torch.linalg.eigvalsh(gram)[-1]), rel=1e-8)
    trace = 2 * float(gram.trace())
    assert abs(s.trace - trace) < 4 * s.trace_stderr
    # Rademacher probes: Var(zᵀHz) = 2 Σ_{i≠j} H_ij² = 2 · 2 Σ_{a≠b} gram_ab² (two copies of gram)
    sd = math.sqrt(4 * float(gram.square().sum() - gram.diagonal().square().sum()))
    assert 0.7 < s.trace_stderr / (sd / math.sqrt(64)) < 1.4, (s.trace_stderr, sd)
    runs, samples = 12, 16  # the reported standard error is the spread of the estimate over seeds
    rep = [hessian_sharpness(model, ws.params.state_of(model), data, generator=_gen(100 + r), trace_samples=samples)
           for r in range(runs)]
    traces = torch.tensor([r.trace for r in rep], dtype=DT)
    reported = math.sqrt(sum(r.trace_stderr**2 for r in rep) / runs)
    spread = float(traces.std(correction=1))
    assert 0.5 < spread / reported < 2, (spread, reported)
    assert 0.5 < spread / (sd / math.sqrt(samples)) < 2, (spread, sd)
    assert 0.8 < reported / (sd / math.sqrt(samples)) < 1.25, (reported, sd)  # 12 × 15 degrees of freedom
    assert abs(float(traces.mean()) - trace) <= 4 * sd / math.sqrt(samples * runs)


@pytest.mark.parametrize("bad", [{"sigmas": [0.1, -0.1]}, {"samples": 0}, {"metric": "accuracy"}])
def test_bad_input_is_refused(bad):
    model, data = _linear_regression()
    kwargs = {"sigmas": [0.1], "samples": 2, "metric": "loss", "generator": _gen(0), **bad}
    with pytest.raises(ConfigError):
        local_energy(model, ws.params.state_of(model), data, **kwargs)
    with pytest.raises(ConfigError, match="regression"):
        local_energy(model, ws.params.state_of(model), data, sigmas=[0.1], samples=2, generator=_gen(0))
    with pytest.raises(ConfigError, match="<= 1"):
        flip_energy(model, ws.params.state_of(model), data, fractions=[1.5], samples=2, metric="loss",
                    generator=_gen(0))


def test_cli_flatness_json_equals_the_library_and_refuses_bad_input(tmp_path, capsys):
    from weightspace.cli import main

    ws.train({"name": "mlp", "widths": [8]}, "digits", epochs=1, seed=0, out=tmp_path / "a")
    with pytest.raises(SystemExit) as e:
        main(["flatness", str(tmp_path / "a"), "--sigmas", "0,0.1", "--samples", "3", "--format", "json"])
    assert (e.value.code or 0) == 0
    got = json.loads(capsys.readouterr().out)
    ckpt = ws.load_checkpoint(tmp_path / "a")
    lib = local_energy(ckpt.module(), ckpt.params, ckpt.dataset(), sigmas=[0, 0.1], samples=3, generator=_gen(0))
    assert got["sigmas"] == [0.0, 0.1] and got["local_energy"] == list(lib.local_energy)
    assert got["stderr"] == list(lib.stderr)
    for argv in (["--sigmas", "0,-0.02"], ["--samples", "0"]):
        with pytest.raises(SystemExit) as e:
            main(["flatness", str(tmp_path / "a"), *argv])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error:")
