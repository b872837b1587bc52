"""Trajectories, IMP sequences and width sweeps: the machinery behind Sharma et al.'s claims."""

import contextlib
import json
import shutil
import sqlite3

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

import weightspace as ws
from weightspace.align import weight_matching
from weightspace.cli import main
from weightspace.errors import ConfigError
from weightspace.experiments import connectivity as conn
from weightspace.io import save_params
from weightspace.models import example_input
from weightspace.paths import linear_barrier
from weightspace.prune import imp, magnitude_masks
from weightspace.symmetry import spec_of

SMALL = {"name": "mlp", "widths": [24, 24]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("traj")
    for seed in (0, 1):
        ws.train(SMALL, "digits", epochs=2, seed=seed, batch_size=128, save_every=6, out=root / f"r{seed}")
    return root


def _planted_copy(run, out, seed):
    """Every checkpoint of `run` moved by one random permutation g (the same g at every step); returns g."""
    first = ws.load_checkpoint(run / "step-000000.safetensors")
    model = first.module()
    spec = spec_of(model, example_input(model.config))
    g = spec.sample(generator=torch.Generator().manual_seed(seed), kinds=("permutation",))
    out.mkdir()
    for path in sorted(run.glob("step-*.safetensors")):
        c = ws.load_checkpoint(path)
        save_params(g.apply(c.params), c.config, out / path.name, **c.metadata)
    return g, spec


def test_one_permutation_aligns_a_planted_trajectory(runs, tmp_path):
    """θ_B(t) = g θ_A(t) at every step t: the permutation found at the end is g⁻¹ exactly, it maps every
    checkpoint of B back onto A bitwise, so every aligned barrier is 0 while the naive ones are not."""
    g, spec = _planted_copy(runs / "r0", tmp_path / "planted", seed=5)
    assert not g.is_identity()
    steps = sorted((runs / "r0").glob("step-*.safetensors"))
    a = [ws.load_checkpoint(p).params for p in steps]
    b = [ws.load_checkpoint(tmp_path / "planted" / p.name).params for p in steps]
    found = weight_matching(a[-1], b[-1], spec).element
    assert found.compose(g).is_identity() and g.compose(found).is_identity()  # found = g⁻¹, exactly
    assert all(torch.equal(found.apply(bi)[k], ai[k]) for ai, bi in zip(a, b, strict=True) for k in ai)

    r = conn.trajectory_barriers(runs / "r0", tmp_path / "planted", points=5)
    assert r["checkpoints"] == ["step 0", "step 6", "step 12", "step 18", "step 24"]
    assert r["final_permutation"] == [0.0] * 5 and r["per_step"] == [0.0] * 5  # a constant path
    assert all(f <= n + 1e-9 for f, n in zip(r["final_permutation"], r["naive"], strict=True))
    assert r["naive"][-1] > 0.01  # the planted permutation really moved the trained network
    assert r["masks_permuted_with_weights"] is None


def test_final_permutation_is_no_worse_than_naive_on_a_noisy_planted_trajectory(runs, tmp_path):
    """B = g(A) + noise (1% of each tensor's spread): the end permutation still undoes g, and at every
    checkpoint the aligned barrier is at most the naive one up to float32 evaluation noise."""
    g, spec = _planted_copy(runs / "r0", tmp_path / "planted", seed=6)
    noise = torch.Generator().manual_seed(0)
    for path in sorted((tmp_path / "planted").glob("step-*.safetensors")):
        c = ws.load_checkpoint(path)
        noisy = {k: v + 1e-2 * v.std() * torch.randn(v.shape, generator=noise) for k, v in c.params.items()}
        save_params(noisy, c.config, path, **c.metadata)
    last = sorted((runs / "r0").glob("step-*.safetensors"))[-1]
    found = weight_matching(ws.load_checkpoint(last).params,
                            ws.load_checkpoint(tmp_path / "planted" / last.name).params, spec).element
    assert found.compose(g).is_identity()
    r = conn.trajectory_barriers(runs / "r0", tmp_path / "planted", points=5)
    assert all(f <= n + 1e-5 for f, n in zip(r["final_permutation"], r["naive"], strict=True))
    assert max(r["final_permutation"]) < 1e-4 and r["naive"][-1] > 0.01


def _direct_barrier(model, a, b, x, y, alphas, definition):
    """max_α L((1 − α) θ_A + α θ_B) − baseline(α), with L the mean cross-entropy computed here."""
    losses = []
    for t in alphas:
        theta = {k: (1 - t) * a[k] + t * b[k] for k in a}
        losses.append(float(F.cross_entropy(functional_call(model, theta, (x,)), y)))
    base = [(1 - t) * losses[0] + t * losses[-1] if definition == "interpolation" else (losses[0] + losses[-1]) / 2
            for t in alphas]
    return max(v - c for v, c in zip(losses, base, strict=True))


@pytest.mark.parametrize("definition", ["interpolation", "mean"])
def test_linear_barrier_value_equals_a_direct_computation(runs, definition):
    first, second = ws.load_checkpoint(runs / "r0"), ws.load_checkpoint(runs / "r1")
    model = first.module().double()
    a = {k: v.double() for k, v in first.params.items()}
    b = {k: v.double() for k, v in second.params.items()}
    data = first.dataset().to(torch.float64)
    x, y = data.x_test.reshape(len(data.x_test), -1), data.y_test
    alphas = [k / 8 for k in range(9)]
    got = linear_barrier(model, a, b, data, points=9, definition=definition)
    assert got.barrier.value == pytest.approx(_direct_barrier(model, a, b, x, y, alphas, definition), rel=1e-10,
                                              abs=1e-12)
    assert got.barrier.value > 0.01  # two seeds: a real barrier, not a trivial 0 = 0
    aligned = linear_barrier(model, a, b, data, points=9, definition=definition, align="weight")
    moved = aligned.alignment.apply(b)
    assert aligned.barrier.value == pytest.approx(_direct_barrier(model, a, moved, x, y, alphas, definition),
                                                  rel=1e-10, abs=1e-12)


def test_trajectory_cli_json_equals_library(runs, capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["connectivity", "trajectory", str(runs / "r0"), str(runs / "r1"), "--points", "5", "--plot",
              str(tmp_path / "t.png"), "--format", "json"])
    assert e.value.code == 0
    got = json.loads(capsys.readouterr().out)
    lib = conn.trajectory_barriers(runs / "r0", runs / "r1", points=5)
    assert {k: got[k] for k in lib} == lib
    assert (tmp_path / "t.png").is_file()


def test_imp_masks_are_global_magnitude_and_move_with_weights(tmp_path):
    params = {"a.weight": torch.tensor([[1.0, -5.0], [0.5, 3.0]]), "b.weight": torch.tensor([[2.0, -0.1]]),
              "a.bias": torch.tensor([0.01, 0.02])}
    masks = magnitude_masks(params, None, 0.5)
    assert set(masks) == {"a.weight", "b.weight"}  # biases are never pruned
    assert masks["a.weight"].tolist() == [[0.0, 1.0], [0.0, 1.0]] and masks["b.weight"].tolist() == [[1.0, 0.0]]
    for seed in (0, 1):
        imp(SMALL, "digits", levels=2, rate=0.5, epochs=1, seed=seed, batch_size=128, out=tmp_path / f"imp{seed}")
    level2 = ws.load_checkpoint(tmp_path / "imp0" / "level-02")
    assert abs(sum(float(m.sum()) for m in level2.masks.values()) /
               sum(m.numel() for m in level2.masks.values()) - 0.25) < 0.01
    assert all(bool((level2.params[k][m == 0] == 0).all()) for k, m in level2.masks.items())
    r = conn.trajectory_barriers(tmp_path / "imp0", tmp_path / "imp1", points=3)
    assert r["checkpoints"] == ["level 0", "level 1", "level 2"]
    assert r["masks_permuted_with_weights"] is True


def test_width_sweep_resumes_its_training_and_its_barrier_stage(tmp_path):
    r = conn.width_sweep([8, 16], 2, tmp_path, dataset="digits", depth=1, epochs=1, points=3)
    assert [row["width"] for row in r["rows"]] == [8, 16]
    records = ws.sweep.results(tmp_path)
    assert sorted(rec["task"] for rec in records) == ["train"] * 4 + ["width"] * 2
    assert [rec["result"] for rec in records if rec["task"] == "width"] == r["rows"]
    # a driver killed while it computed the barriers of width 16: its row left running, no artifacts
    cut = next(rec["key"] for rec in records if rec["task"] == "width" and rec["config"]["width"] == 16)
    with contextlib.closing(sqlite3.connect(tmp_path / "sweep.sqlite")) as db, db:
        db.execute("UPDATE jobs SET status = 'running', result = NULL WHERE key = ?", (cut,))
    shutil.rmtree(tmp_path / "jobs" / cut)
    again = conn.width_sweep([8, 16], 2, tmp_path, dataset="digits", depth=1, epochs=1, points=3)
    assert again["rows"] == r["rows"]
    with contextlib.closing(sqlite3.connect(tmp_path / "sweep.sqlite")) as db:
        attempts = dict(db.execute("SELECT key, attempts FROM jobs").fetchall())
    assert attempts == {rec["key"]: 2 if rec["key"] == cut else 1 for rec in records}  # nothing else ran again
    with pytest.raises(ConfigError):
        conn.width_sweep([8], 1, tmp_path)


def test_barrier_cli_on_batchnorm_checkpoints(tmp_path, capsys):
    """Checkpoints list integer buffers (num_batches_tracked) among their tensors: every path must cope."""
    config = {"name": "vgg", "input_shape": [1, 8, 8], "channels": [4, "M", 4]}
    for seed in (0, 1):
        ws.train(config, "digits", epochs=1, seed=seed, batch_size=128, out=tmp_path / f"v{seed}")
    results = {}
    for flag in ([], ["--reset-bn"], ["--repair"]):
        with pytest.raises(SystemExit) as e:
            main(["barrier", str(tmp_path / "v0"), str(tmp_path / "v1"), "--align", "weight", "--points", "3",
                  "--format", "json", *flag])
        assert e.value.code == 0
        results[tuple(flag)] = json.loads(capsys.readouterr().out)["values"]
    assert all(len(v) == 3 and all(x == x for x in v) for v in results.values())
    # the interpolated midpoint's collapsed statistics are recomputed
    assert results[("--reset-bn",)][1] < results[()][1]
