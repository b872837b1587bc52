"""Trajectories, IMP sequences and width sweeps: the machinery behind Sharma et al.'s claims."""

import json

import pytest
import torch

import weightspace as ws
from weightspace.cli import main
from weightspace.errors import ConfigError
from weightspace.experiments import connectivity as conn
from weightspace.prune import imp, magnitude_masks

SMALL = {"name": "mlp", "widths": [24, 24]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("traj")
    for seed in (0, 1):
        ws.train(SMALL, "digits", epochs=2, seed=seed, batch_size=128, save_every=6, out=root / f"r{seed}")
    return root


def test_trajectory_series(runs):
    r = conn.trajectory_barriers(runs / "r0", runs / "r1", points=5)
    assert r["checkpoints"] == ["step 0", "step 6", "step 12", "step 18", "step 24"]
    # at the last checkpoint the final permutation is the per-step one
    assert r["final_permutation"][-1] == pytest.approx(r["per_step"][-1], abs=1e-12)
    assert r["masks_permuted_with_weights"] is None


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


def test_width_sweep_resumes_without_retraining(tmp_path, monkeypatch):
    r = conn.width_sweep([8, 16], 2, tmp_path, dataset="digits", depth=1, epochs=1, points=3)
    assert [row["width"] for row in r["rows"]] == [8, 16]

    def fail(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(conn, "train", fail)
    again = conn.width_sweep([8, 16], 2, tmp_path, dataset="digits", depth=1, epochs=1, points=3)
    assert again["rows"] == r["rows"]
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
