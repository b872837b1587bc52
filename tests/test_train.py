"""Training is reproducible for a fixed seed, writes a complete run directory, locks it and resumes exactly."""

import hashlib
import importlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import weightspace as ws
from weightspace.cli import main
from weightspace.errors import ConfigError, DataError, OutputError

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
    trajectory = [f"step-{s:06d}.{kind}" for s in range(0, steps + 1, 3) for kind in ("safetensors", "state.pt")]
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


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resuming_from_any_step_checkpoint_gives_bitwise_the_same_run(tmp_path, optimizer, one_thread):
    """Steps 8 and 12 removed (12 ends an epoch of 6 steps, 8 is mid-epoch): resuming from step 4 redraws the
    same data order and optimizer moments, so weights and loss history are bitwise those of one run."""
    kw = {"epochs": 2, "batch_size": 256, "save_every": 4, "seed": 1, "optimizer": optimizer, "lr": 0.01}
    whole = ws.train(SMALL, "digits", **kw)
    run = tmp_path / "run"
    ws.train(SMALL, "digits", out=run, **kw)
    for p in run.iterdir():
        if p.name in ("final.safetensors", "metrics.json") or p.name.startswith(("step-000008", "step-000012")):
            p.unlink()
    (run / "step-000008.safetensors").write_bytes(b"cut short")  # a checkpoint without its state: discarded
    resumed = ws.train(SMALL, "digits", out=run, resume=True, **kw)
    assert _equal(whole.model.state_dict(), resumed.model.state_dict())
    assert resumed.metrics["history"] == whole.metrics["history"]
    assert ws.load_checkpoint(run / "step-000008.safetensors").metadata["step"] == 8
    before = _digests(run)
    assert "final.safetensors" in before and "metrics.json" in before
    with pytest.raises(ConfigError, match="other settings"):  # a finished run resumed with other settings
        ws.train(SMALL, "digits", out=run, resume=True, **{**kw, "lr": 0.02})
    assert _digests(run) == before  # refused before anything was removed: final weights and metrics kept


def _digests(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_run_folder_is_refused_unless_forced_and_forcing_leaves_no_old_steps(tmp_path):
    run = tmp_path / "run"
    ws.train(SMALL, "digits", epochs=1, batch_size=256, save_every=2, out=run)
    with pytest.raises(OutputError, match="--force"):
        ws.train(SMALL, "digits", epochs=1, batch_size=256, seed=1, out=run)
    (run / "notes.txt").write_text("mine")
    ws.train(SMALL, "digits", epochs=1, batch_size=256, seed=1, save_every=3, out=run, force=True)
    names = sorted(p.name for p in run.iterdir())
    steps = [f"step-{s:06d}.{k}" for s in (0, 3, 6) for k in ("safetensors", "state.pt")]
    assert names == sorted(["final.safetensors", "metrics.json", "notes.txt", *steps])
    assert ws.load_checkpoint(run).metadata["seed"] == 1


def test_a_failed_run_leaves_no_folder(tmp_path):
    with pytest.raises(ws.errors.NonFiniteError):
        ws.train(SMALL, "digits", epochs=1, lr=1e30, save_every=1, out=tmp_path / "new" / "run")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_run_resumes_to_identical_weights_and_its_lock_refuses_a_second_writer(tmp_path, capsys,
                                                                                       one_thread):
    run = tmp_path / "run"
    args = ["train", "--depth", "1", "--width", "32", "--epochs", "4", "--batch-size", "64", "--save-every", "5",
            "--seed", "3", "--out", str(run), "--format", "json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from weightspace.cli import main; main(sys.argv[1:])",
                             *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (run / "step-000005.state.pt").exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no step checkpoint within 120 s"
            time.sleep(0.002)
        proc.send_signal(signal.SIGSTOP)  # frozen mid-run, holding the lock
        with pytest.raises(SystemExit) as second:
            main(args)
        err = capsys.readouterr().err
        assert second.value.code == 2 and f"process {proc.pid}" in err and len(err.splitlines()) == 1
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    assert not (run / "final.safetensors").exists() and (run / ".lock").exists()  # killed mid-run, lock stale
    with pytest.raises(SystemExit) as resumed:
        main([*args, "--resume"])
    assert resumed.value.code == 0, capsys.readouterr().err
    whole = ws.train({"name": "mlp", "depth": 1, "width": 32}, "digits", epochs=4, batch_size=64, seed=3)
    assert _equal(ws.load_checkpoint(run).params, whole.model.state_dict())
    assert not (run / ".lock").exists()


def test_the_memory_check_uses_the_memory_of_the_device_it_trains_on(monkeypatch):
    """Host RAM bounds a CPU run only: a CUDA run is checked against the GPU's memory (here: larger)."""
    train_mod = importlib.import_module("weightspace.train")  # the module, not the function it exports

    config = {"name": "mlp", "widths": [64], "input_shape": [64], "num_outputs": 10}
    monkeypatch.setattr(train_mod, "_physical_memory", lambda: 1024)  # 1 KiB of RAM
    with pytest.raises(ConfigError, match="this machine's"):
        train_mod._check_memory(config, torch.float32, "sgd", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2**40, 2**40))
    train_mod._check_memory(config, torch.float32, "sgd", "cuda")  # fits the GPU: not refused
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (512, 1024))
    with pytest.raises(ConfigError, match="the cuda:0 device's"):
        train_mod._check_memory(config, torch.float32, "sgd", "cuda:0")
