"""Checkpoints round-trip exactly and refuse bad files with one-line errors, leaving nothing half-written."""

import json
import os

import pytest
import torch

import weightspace as ws
from weightspace.errors import CheckpointError, ConfigError, NonFiniteError
from weightspace.models import build, example_input

CONFIGS = [
    {"name": "mlp", "input_shape": [5], "num_outputs": 3, "widths": [7, 6], "activation": "tanh"},
    {"name": "linear", "input_shape": [4], "num_outputs": 2, "widths": [4, 4], "skip": True},
    {"name": "vgg", "input_shape": [1, 8, 8], "num_outputs": 4, "channels": [4, "M", 6], "norm": "batchnorm"},
    {"name": "resnet20", "input_shape": [1, 8, 8], "num_outputs": 3, "width": 1, "norm": "layernorm"},
    {"name": "transformer", "input_shape": [12], "num_outputs": 3, "seq_len": 4, "token_dim": 3, "d_model": 8,
     "heads": 2},
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c["name"])
def test_every_zoo_model_round_trips(tmp_path, config):
    torch.manual_seed(0)
    model = build(config).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_()
    x = example_input(model.config, batch=3, generator=torch.Generator().manual_seed(1))
    path = ws.save(model, tmp_path / "m.safetensors", dataset="digits", seed=3, step=7)
    loaded = ws.load(path)
    assert torch.equal(loaded(x), model(x))
    ckpt = ws.load_checkpoint(path)
    assert ckpt.metadata == {"dataset": "digits", "seed": 3, "step": 7}
    assert ckpt.config == model.config
    # a loaded module, modified, saves again
    with torch.no_grad():
        next(loaded.parameters()).add_(1.0)
    ws.save(loaded, tmp_path / "again.safetensors")
    assert torch.equal(ws.load(tmp_path / "again.safetensors")(x), loaded(x))


def test_run_directory_means_its_final_checkpoint(tmp_path):
    model = build(CONFIGS[0])
    (tmp_path / "run").mkdir()
    ws.save(model, tmp_path / "run" / "final.safetensors")
    assert ws.load_checkpoint(tmp_path / "run").path.name == "final.safetensors"
    with pytest.raises(CheckpointError, match="no final.safetensors"):
        ws.load_checkpoint(tmp_path)


def _saved(tmp_path):
    return ws.save(build(CONFIGS[0]), tmp_path / "m.safetensors")


def test_truncated_file_is_refused(tmp_path):
    path = _saved(tmp_path)
    data = path.read_bytes()
    for cut in (4, 40, len(data) - 3):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated|too short|not a safetensors"):
            ws.load(path)


def test_non_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(b"\x80\x04\x95 this is a pickle, not safetensors" * 4)
    with pytest.raises(CheckpointError, match="not a safetensors"):
        ws.load(path)


def test_missing_config_and_unknown_model_are_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="without a weightspace model config"):
        ws.load(tmp_path / "plain.safetensors")
    ws.save_params({"w": torch.zeros(2)}, {"name": "nonsense"}, tmp_path / "bad.safetensors")
    with pytest.raises(ConfigError, match="nonsense"):
        ws.load(tmp_path / "bad.safetensors")


def test_nan_weights_are_refused_and_nothing_is_left_behind(tmp_path):
    model = build(CONFIGS[0])
    with torch.no_grad():
        model.layers[0].weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="layers.0.weight"):
        ws.save(model, tmp_path / "nan.safetensors")
    assert os.listdir(tmp_path) == []
    # a file written by someone else with NaNs is refused on load
    from safetensors.torch import save_file

    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(sd, str(tmp_path / "nan.safetensors"),
              metadata={"format": "weightspace/1", "config": json.dumps(model.config), "metadata": "{}"})
    with pytest.raises(NonFiniteError, match="NaN"):
        ws.load(tmp_path / "nan.safetensors")


def test_float64_checkpoints_keep_their_precision(tmp_path):
    model = build(CONFIGS[0]).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    ws.save(model, tmp_path / "m.safetensors")
    loaded = ws.load(tmp_path / "m.safetensors")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="LOUD SKIP: no /dev/full (not Linux)")
def test_writes_never_replace_a_device_and_a_full_disk_names_the_target(tmp_path, monkeypatch):
    import stat

    from safetensors import SafetensorError

    from weightspace.errors import OutputError

    model = build(CONFIGS[0])
    link = tmp_path / "full.safetensors"
    link.symlink_to("/dev/full")
    for target in ("/dev/full", link):
        with pytest.raises(OutputError, match="not a regular file"):
            ws.save(model, target)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode) and link.is_symlink()

    def full_disk(tensors, filename, metadata=None):
        raise SafetensorError("No space left on device (os error 28)")

    monkeypatch.setattr("weightspace.io.save_file", full_disk)
    with pytest.raises(OutputError, match=r"could not write .*m\.safetensors: no space left") as err:
        ws.save(model, tmp_path / "m.safetensors")
    assert ".tmp" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.safetensors"]


def test_header_fields_that_are_not_json_objects_are_refused(tmp_path):
    from safetensors.torch import save_file

    model = build(CONFIGS[0])
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    for config, message in (("{oops", "config field of its header is not JSON"), ("3", "not a JSON object")):
        save_file(sd, str(tmp_path / "c.safetensors"), metadata={"format": "weightspace/1", "config": config})
        with pytest.raises(CheckpointError, match=message):
            ws.load_checkpoint(tmp_path / "c.safetensors")


def test_run_lock_is_exclusive_and_a_leftover_file_is_taken(tmp_path):
    """Two holders never coexist (the flock, not the file, is the lock); a killed writer's file is reused."""
    from weightspace._files import RunLock
    from weightspace.errors import OutputError

    (tmp_path / ".lock").write_text("999999 elsewhere\n")  # left by a writer that died: nobody holds it
    first, second = RunLock(tmp_path), RunLock(tmp_path)
    first.acquire()
    assert (tmp_path / ".lock").read_text().split()[0] == str(os.getpid())
    with pytest.raises(OutputError, match=f"process {os.getpid()}"):
        second.acquire()
    first.release()
    assert not (tmp_path / ".lock").exists()
    with second:
        with pytest.raises(OutputError):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / ".lock").exists()


def test_safetensors_whose_header_length_starts_with_0x80_is_not_taken_for_a_pickle(tmp_path):
    """A safetensors file begins with its header's length (8 bytes, little-endian): 0x80 there is not a pickle."""
    import struct

    from safetensors.torch import save_file

    for pad in range(300):  # some metadata length puts 0x80 in the first byte
        path = tmp_path / f"m{pad}.safetensors"
        save_file({"w": torch.ones(2)}, str(path), metadata={"pad": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    else:
        pytest.fail("no padding gave a header length starting with 0x80")
    assert struct.unpack("<Q", path.read_bytes()[:8])[0] % 256 == 0x80
    ckpt = ws.load_checkpoint(path)
    assert ckpt.kind == "safetensors state dict" and torch.equal(ckpt.params["w"], torch.ones(2))
