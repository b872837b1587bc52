"""The CLI is a thin shell: its JSON equals what the library returns; bad input is one line and exit 2."""

import json
import struct
from pathlib import Path

import pytest
import torch

import weightspace as ws
from weightspace.cli import main
from weightspace.models import build, example_input


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code or 0, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--format", "json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "a"
    ws.train({"name": "mlp", "widths": [16]}, "digits", epochs=1, seed=0, out=out)
    return out


def test_train_json_equals_library(capsys, tmp_path):
    got = run_json(capsys, "train", "--model", "mlp", "--depth", "1", "--width", "16", "--activation", "tanh",
                   "--dataset", "digits", "--epochs", "1", "--seed", "2", "--out", str(tmp_path / "r"))
    lib = ws.train({"name": "mlp", "depth": 1, "width": 16, "activation": "tanh"}, "digits", epochs=1, seed=2)
    assert got["test"] == lib.metrics["test"] and got["train"] == lib.metrics["train"]
    assert (tmp_path / "r" / "final.safetensors").is_file()


def test_eval_info_spec_json_equal_library(capsys, run_dir):
    model = ws.load(run_dir)
    assert run_json(capsys, "eval", str(run_dir), "--split", "test") == ws.evaluate(model, ws.data.load("digits"))
    assert run_json(capsys, "eval", str(run_dir / "final.safetensors"), "--dataset", "digits", "--split",
                    "train") == ws.evaluate(model, ws.data.load("digits"), "train")
    info = run_json(capsys, "info", str(run_dir))
    assert info["config"] == model.config and info["parameters"] == 64 * 16 + 16 + 16 * 10 + 10
    spec = ws.spec_of(model, example_input(model.config))
    assert run_json(capsys, "spec", str(run_dir)) == json.loads(json.dumps(spec.to_dict()))


def test_count_json(capsys):
    assert run_json(capsys, "count", "T", "--r-star", "3", "--m", "5") == {"value": ws.counting.T(3, 5)}


def test_demo_json(capsys, tmp_path):
    got = run_json(capsys, "demo", "--out", str(tmp_path), "--epochs", "1", "--points", "3")
    assert {"accuracy", "barrier", "barrier_weight", "barrier_activation", "plot", "curves"} <= set(got)
    naive = got["curves"]["naive"]["loss"]
    assert got["barrier"] == pytest.approx(max(v - (1 - a) * naive[0] - a * naive[-1]
                                               for a, v in zip(got["curves"]["naive"]["alphas"], naive, strict=True)))
    assert (tmp_path / "demo.png").stat().st_size > 1000


def _one_line_error(code, out, err, pattern):
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert pattern in err


def test_bad_checkpoints(capsys, tmp_path, run_dir):
    data = (run_dir / "final.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    _one_line_error(*run(capsys, "eval", str(tmp_path / "cut.safetensors")), "truncated")
    (tmp_path / "junk.safetensors").write_bytes(b"junk" * 10)
    _one_line_error(*run(capsys, "info", str(tmp_path / "junk.safetensors")), "not a safetensors")
    _one_line_error(*run(capsys, "eval", str(tmp_path / "missing.safetensors")), "not found")
    model = build({"name": "mlp", "input_shape": [64], "num_outputs": 10, "widths": [4]})
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd["layers.0.weight"][0, 0] = float("nan")
    from safetensors.torch import save_file

    save_file(sd, str(tmp_path / "nan.safetensors"),
              metadata={"format": "weightspace/1", "config": json.dumps(model.config), "metadata": "{}"})
    _one_line_error(*run(capsys, "eval", str(tmp_path / "nan.safetensors"), "--dataset", "digits"), "NaN")


def test_bad_names_and_missing_data(capsys, tmp_path, run_dir, monkeypatch):
    _one_line_error(*run(capsys, "train", "--model", "perceptron", "--out", str(tmp_path / "x")), "perceptron")
    _one_line_error(*run(capsys, "train", "--dataset", "imagenet", "--out", str(tmp_path / "y")), "imagenet")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    monkeypatch.delenv("WEIGHTSPACE_DATA", raising=False)
    _one_line_error(*run(capsys, "eval", str(run_dir), "--dataset", "mnist"), "train-images-idx3-ubyte")


def test_debug_shows_traceback(monkeypatch, tmp_path):
    monkeypatch.setenv("WEIGHTSPACE_DEBUG", "1")
    with pytest.raises(ws.CheckpointError):
        main(["info", str(tmp_path / "missing.safetensors")])



def test_hessian_of_a_batchnorm_checkpoint_differentiates_parameters_only(capsys, tmp_path):
    ws.train({"name": "vgg", "input_shape": [1, 8, 8], "channels": [2, "M"]}, "digits", epochs=1, out=tmp_path / "v")
    got = run_json(capsys, "hessian", str(tmp_path / "v"), "--top", "2")
    n = sum(v.numel() for k, v in ws.load(tmp_path / "v").named_parameters())
    assert got["dim"] == n  # BatchNorm running statistics are held fixed, not differentiated
    two_pass = run_json(capsys, "hessian", str(tmp_path / "v"), "--top", "2", "--method", "two-pass")
    assert two_pass["eigenvalues"] == pytest.approx(got["eigenvalues"], rel=1e-5, abs=1e-8)
    _one_line_error(*run(capsys, "hessian", str(tmp_path / "v"), "--top", "2", "--method", "dense"), "method")


RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


def _is_checkpoint(path: Path) -> bool:
    with open(path, "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    return "config" in header.get("__metadata__", {})


@pytest.mark.parametrize("path", sorted(RESULTS.rglob("*.safetensors")), ids=lambda p: p.name)
def test_eval_works_on_every_committed_result(capsys, path):
    """Every checkpoint under docs/results evaluates on its recorded dataset; other safetensors files
    (orbit generators) are refused in one line."""
    if not _is_checkpoint(path):
        code, out, err = run(capsys, "eval", str(path))
        assert code == 2 and "without a weightspace model config" in err and len(err.strip().splitlines()) == 1
        return
    ckpt = ws.load_checkpoint(path)
    data = ws.data.load(ckpt.metadata["dataset"], dtype=torch.float64,
                        **ckpt.metadata.get("dataset_meta", {}).get("options", {}))
    got = run_json(capsys, "eval", str(path), "--split", "train")
    assert got == ws.evaluate(ckpt.module(), data, "train")
    if ckpt.metadata["dataset"] == "linear-teacher":  # a zero-loss point of the deep linear network, in float64
        assert got["loss"] < 1e-20


def test_results_hold_a_checkpoint():
    assert any(_is_checkpoint(p) for p in RESULTS.rglob("*.safetensors"))


@pytest.mark.parametrize("name", ["a[/x]", "[bold]b[/bold]"])
def test_info_prints_a_path_holding_markup_literally(capsys, tmp_path, run_dir, name):
    """Paths are the user's text, never Rich markup: `[/x]` once raised MarkupError as a traceback."""
    folder = tmp_path / name  # "a[/x]": the folder "a[" holding "x]"
    folder.mkdir(parents=True)
    target = folder / "c[i].safetensors"
    target.write_bytes((run_dir / "final.safetensors").read_bytes())
    code, out, err = run(capsys, "info", str(target))
    assert code == 0, err
    assert out.splitlines()[0].startswith(f"{target}: ")
    code, out, err = run(capsys, "eval", str(target))  # the default key: value renderer
    assert code == 0 and "loss: " in out, err
