"""Training is reproducible for a fixed seed and writes a complete run directory."""

import json

import pytest
import torch

import weightspace as ws
from weightspace.errors import ConfigError, DataError

SMALL = {"name": "mlp", "widths": [16], "activation": "relu"}


def test_same_seed_gives_identical_weights_and_other_seed_differs():
    a = ws.train(SMALL, "digits", epochs=2, seed=3)
    b = ws.train(SMALL, "digits", epochs=2, seed=3)
    c = ws.train(SMALL, "digits", epochs=2, seed=4)
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_run_directory_holds_the_trajectory(tmp_path):
    r = ws.train(SMALL, "digits", epochs=2, seed=0, batch_size=256, save_every=3, out=tmp_path / "run")
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    steps = r.metrics["steps"]
    assert steps == 2 * 6
    trajectory = [f"step-{s:06d}.safetensors" for s in range(0, steps + 1, 3)]
    assert names == ["final.safetensors", "metrics.json"] + trajectory
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"] == r.metrics["test"]
    final = ws.load_checkpoint(tmp_path / "run")
    assert final.metadata["step"] == steps and final.metadata["dataset"] == "digits"
    assert all(torch.equal(final.params[k], v) for k, v in r.model.state_dict().items())
    assert ws.evaluate(ws.load(tmp_path / "run"), ws.data.load("digits"), "test") == r.metrics["test"]


@pytest.mark.parametrize("config, data, kwargs", [
    ({"name": "mlp", "widths": [8], "activation": "softplus"}, ("teacher", {"n_train": 200, "n_test": 100}),
     {"epochs": 10, "optimizer": "adam", "lr": 1e-2}),
    ({"name": "vgg", "input_shape": [1, 8, 8], "channels": [4, "M"], "norm": "batchnorm"}, ("digits", {}),
     {"epochs": 1}),
], ids=["regression", "image"])
def test_regression_and_image_models_train(config, data, kwargs):
    """Training lowers the training loss from the initial weights, and the reported metrics are the model's."""
    dataset = ws.data.load(data[0], **data[1])
    torch.manual_seed(0)
    module = ws.models.build({"input_shape": list(dataset.input_shape), "num_outputs": dataset.num_outputs,
                              **config})
    before = ws.evaluate(module, dataset, "train")["loss"]
    r = ws.train(module, dataset, **kwargs)
    assert r.metrics["train"]["loss"] < 0.7 * before
    assert r.metrics["train"] == ws.evaluate(r.model, dataset, "train")
    assert r.metrics["test"] == ws.evaluate(r.model, dataset, "test")
    if dataset.task == "regression":
        assert r.metrics["test"]["accuracy"] is None and r.metrics["test"]["error"] is None
    else:
        assert r.metrics["test"]["error"] == pytest.approx(1 - r.metrics["test"]["accuracy"])


@pytest.mark.parametrize("kwargs", [{"epochs": 0}, {"batch_size": -1}, {"optimizer": "lion"}, {"lr": float("nan")},
                                    {"schedule": "step"}])
def test_bad_hyperparameters(kwargs):
    with pytest.raises(ConfigError):
        ws.train(SMALL, "digits", **kwargs)


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown"):
        ws.train(SMALL, "imagenet")


def test_plain_modules_train_but_cannot_be_saved_as_runs(tmp_path):
    from torch import nn

    module = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    assert ws.train(module, "digits", epochs=1).metrics["config"] is None
    with pytest.raises(ConfigError, match="config"):
        ws.train(nn.Sequential(nn.Linear(64, 10)), "digits", epochs=1, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_built_module_is_left_untouched():
    """train(module) trains a deep copy: the caller's tensors stay bitwise equal, the result's moved."""
    module = ws.models.build({**SMALL, "input_shape": [64], "num_outputs": 10})
    before = {k: v.clone() for k, v in module.state_dict().items()}
    masks = {"layers.0.weight": torch.ones_like(before["layers.0.weight"]).tril()}
    r = ws.train(module, "digits", epochs=1, seed=0, masks=masks, dtype=torch.float64)
    after = module.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) and after[k].dtype == before[k].dtype for k in before)
    assert module.training  # nor its mode
    assert r.model is not module
    trained = r.model.state_dict()
    assert not any(torch.equal(trained[k].float(), before[k]) for k in before)
    assert bool((trained["layers.0.weight"][masks["layers.0.weight"] == 0] == 0).all())
