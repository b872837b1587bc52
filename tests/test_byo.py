"""Bring your own model, data and loss: a CNN class and a data module living in a temporary folder (not in the
package), two state dicts saved as a user would (torch.save, header-less safetensors), driven through the CLI with
--model/--data/--loss and through Python with DataLoaders; streamed results equal the in-memory ones; bad input
is one line and exit 2."""

import importlib.util
import json
import shutil
import sys
import weakref
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch.utils.data import DataLoader, IterableDataset

import weightspace as ws
from weightspace import data as wsdata
from weightspace.align import activation_matching, merge, weight_matching
from weightspace.cli import main
from weightspace.errors import CheckpointError, ConfigError, DataError
from weightspace.evaluate import criterion, error_rate, evaluate, next_token_loss
from weightspace.hessian import gradient, loss_of
from weightspace.io import load_checkpoint
from weightspace.paths import linear_barrier
from weightspace.symmetry import spec_of

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "own_model" / "mynet.py"
WIDTH = 6


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exit_info.value.code or 0, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--format", "json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """usernet.py in a temporary folder, and two trained state dicts: net0.pt (torch.save), net1.safetensors."""
    folder = tmp_path_factory.mktemp("user")
    shutil.copy(EXAMPLE, folder / "usernet.py")
    spec = importlib.util.spec_from_file_location("usernet_for_tests", folder / "usernet.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    train_loader, _ = mod.make_data()
    nets = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        net = mod.make_model(WIDTH)
        opt = torch.optim.Adam(net.parameters(), lr=0.01)
        for _ in range(3):
            for x, y in train_loader:
                opt.zero_grad()
                mod.smooth_cross_entropy(net(x), y).backward()
                opt.step()
        nets.append(net.eval())
    torch.save(nets[0].state_dict(), folder / "net0.pt")
    save_file(nets[1].state_dict(), str(folder / "net1.safetensors"))
    return folder, mod, nets


def _options(folder):
    f = folder / "usernet.py"
    return ["--model", f"{f}:make_model", "--model-args", json.dumps({"width": WIDTH}), "--data", f"{f}:make_data",
            "--loss", f"{f}:smooth_cross_entropy"]


def _tensors(loader):
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys)


def test_cli_on_own_model_equals_python_on_in_memory_data(capsys, own, tmp_path):
    folder, mod, (net0, net1) = own
    opts = _options(folder)
    a, b = folder / "net0.pt", folder / "net1.safetensors"
    assert load_checkpoint(a).kind == "torch state dict" and load_checkpoint(b).kind == "safetensors state dict"
    train_loader, test_loader = mod.make_data()
    x_test, y_test = _tensors(test_loader)
    x_train, y_train = _tensors(train_loader)
    spec = spec_of(net0, x_train[:2])

    got = run_json(capsys, "spec", a, *opts)
    assert got == json.loads(json.dumps(spec.to_dict()))
    assert {f["name"]: f["size"] for f in got["factors"]} == {"conv1": WIDTH, "conv2": WIDTH}

    # align: B permuted onto A computes B's function, and equals weight matching in Python
    run_json(capsys, "align", a, b, "--out", tmp_path / "b_aligned.safetensors", *opts)
    aligned = load_checkpoint(tmp_path / "b_aligned.safetensors")
    assert aligned.kind == "safetensors state dict"
    expected = weight_matching(net0.state_dict(), net1.state_dict(), spec).apply(net1.state_dict())
    assert all(torch.equal(aligned.params[k], expected[k]) for k in expected)
    with torch.no_grad():
        assert torch.allclose(aligned.module(net1)(x_test), net1(x_test), atol=1e-5)

    # barrier --align weight: the CLI (DataLoaders from --data) equals Python on the in-memory test tensors
    got = run_json(capsys, "barrier", a, b, "--align", "weight", "--points", 5, *opts)
    ref = linear_barrier(net0, net0.state_dict(), net1.state_dict(), (x_test, y_test), align="weight", points=5,
                         spec=spec, loss_fn=mod.smooth_cross_entropy)
    assert got["barrier"] == pytest.approx(ref.barrier.value, rel=1e-5, abs=1e-6)
    naive = linear_barrier(net0, net0.state_dict(), net1.state_dict(), (x_test, y_test), points=5,
                           loss_fn=mod.smooth_cross_entropy)
    assert got["barrier"] < naive.barrier.value  # aligning lowers the barrier of these two CNNs

    # merge: the file is the aligned average, and its reported test loss is the custom loss on it
    got = run_json(capsys, "merge", a, b, "--out", tmp_path / "merged.safetensors", *opts)
    merged = merge([net0.state_dict(), net1.state_dict()], spec)
    saved = load_checkpoint(tmp_path / "merged.safetensors").params
    assert all(torch.allclose(saved[k], merged[k]) for k in merged)
    with torch.no_grad():
        loss = float(mod.smooth_cross_entropy(torch.func.functional_call(net0, merged, (x_test,)), y_test))
    assert got["test"]["loss"] == pytest.approx(loss, rel=1e-5)

    # hessian --top 3 on the first training batch: its loss and gradient equal the in-memory loss in float64
    got = run_json(capsys, "hessian", a, "--top", 3, "--max-batches", 1, *opts)
    model64 = mod.make_model(WIDTH).double()
    model64.load_state_dict(net0.state_dict())
    fn, keys = loss_of(model64.eval(), x_train[:256].double(), y_train[:256], loss_fn=mod.smooth_cross_entropy)
    params = {k: model64.state_dict()[k] for k in keys}
    assert got["loss"] == pytest.approx(float(fn(params)), rel=1e-10)
    grad = gradient(fn, params, keys)
    assert got["gradient_norm"] == pytest.approx(float(sum((g * g).sum() for g in grad.values()).sqrt()), rel=1e-8)
    assert len(got["eigenvalues"]) == len(got["largest_eigenvalues"]) == 3
    assert got["eigenvalues"][0] <= got["largest_eigenvalues"][-1]


def test_python_dataloaders_equal_in_memory(own):
    _, mod, (net0, net1) = own
    train_loader, test_loader = mod.make_data(batch_size=100)
    x, y = _tensors(test_loader)
    splits = wsdata.Splits(train_loader, test_loader)
    streamed = evaluate(net0, splits, "test", loss_fn=mod.smooth_cross_entropy)
    whole = evaluate(net0, (x, y), loss_fn=mod.smooth_cross_entropy, batch_size=len(x))
    with torch.no_grad():
        out = net0(x)
    assert streamed["loss"] == pytest.approx(float(mod.smooth_cross_entropy(out, y)), rel=1e-6)
    assert streamed["loss"] == pytest.approx(whole["loss"], rel=1e-6)
    assert streamed["error"] == whole["error"] == pytest.approx(float((out.argmax(1) != y).double().mean()))
    # gradients of the streamed loss (sample-weighted batch means) equal the full-batch gradient
    streamed_fn, keys = loss_of(net0, splits, loss_fn=mod.smooth_cross_entropy, split="test")
    whole_fn, _ = loss_of(net0, x, y, loss_fn=mod.smooth_cross_entropy)
    params = {k: v.detach() for k, v in net0.named_parameters()}
    g1, g2 = gradient(streamed_fn, params, keys), gradient(whole_fn, params, keys)
    assert all(torch.allclose(g1[k], g2[k], atol=1e-6) for k in keys)
    # activation matching on a DataLoader equals matching on the gathered inputs
    spec = spec_of(net0, x[:2])
    p0, p1 = net0.state_dict(), net1.state_dict()
    by_loader = activation_matching(net0, p0, p1, train_loader, spec)
    by_tensor = activation_matching(net0, p0, p1, _tensors(train_loader)[0], spec)
    assert all(torch.equal(by_loader.element.actions[f.name].perm, by_tensor.element.actions[f.name].perm)
               for f in spec.permutation_factors)


class _Stream(IterableDataset):
    """`batches` generated batch by batch; raises as soon as more than `budget` of them are alive at once."""

    def __init__(self, batches: int, budget: int, size: int = 256):
        self.batches, self.budget, self.size, self.alive = batches, budget, size, 0

    def _drop(self):
        self.alive -= 1

    def __iter__(self):
        g = torch.Generator().manual_seed(0)
        for _ in range(self.batches):
            if self.alive >= self.budget:
                raise MemoryError(f"more than {self.budget} batches held at once")
            x = torch.randn(self.size, 64, generator=g)
            y = torch.randint(0, 10, (self.size,), generator=g)
            self.alive += 1
            weakref.finalize(x, self._drop)
            yield x, y


def test_streaming_evaluation_holds_a_few_batches_of_a_larger_dataset():
    torch.manual_seed(0)
    model = ws.models.build({"name": "mlp", "input_shape": [64], "num_outputs": 10, "widths": [8]}).eval()
    holding = _Stream(batches=5, budget=3)
    with pytest.raises(MemoryError):  # the guard fires when a consumer holds the data
        list(holding)
    stream = _Stream(batches=60, budget=3)  # 60 batches, at most 3 in memory
    got = evaluate(model, DataLoader(stream, batch_size=None))
    total, n, wrong = 0.0, 0, 0
    with torch.no_grad():
        for x, y in _Stream(batches=60, budget=3):
            out = model(x)
            total += float(F.cross_entropy(out, y, reduction="sum"))
            wrong += int((out.argmax(1) != y).sum())
            n += len(y)
    assert got["loss"] == pytest.approx(total / n, rel=1e-6)
    assert got["error"] == wrong / n


def test_next_token_convention_and_error():
    g = torch.Generator().manual_seed(0)
    out, tokens = torch.randn(3, 5, 7, generator=g), torch.randint(0, 7, (3, 5), generator=g)
    manual = -torch.log_softmax(out, -1).gather(-1, tokens[..., None]).mean()
    assert torch.allclose(next_token_loss(out, tokens), manual)
    assert torch.allclose(criterion(None, out, tokens), manual)
    assert error_rate(out, tokens) == pytest.approx(float((out.argmax(-1) != tokens).double().mean()))
    assert wsdata.task_of(out, tokens) == "next-token" and wsdata.task_of(out[:, 0], tokens[:, 0]) == "classification"
    with pytest.raises(DataError, match="one-shot iterator"):
        evaluate(torch.nn.Linear(2, 2), iter([(torch.zeros(1, 2), torch.zeros(1, dtype=torch.int64))]))


@pytest.mark.parametrize("batch_size", [7, 50, 2048])
def test_default_error_is_an_exact_count_over_any_batching(batch_size):
    g = torch.Generator().manual_seed(batch_size)
    x, y = torch.randn(103, 4, generator=g), torch.randint(0, 3, (103,), generator=g)
    model = torch.nn.Linear(4, 3)
    with torch.no_grad():
        model.weight.copy_(torch.randn(3, 4, generator=g))
        model.bias.copy_(torch.randn(3, generator=g))
        wrong = int((model(x).argmax(1) != y).sum())
    got = evaluate(model, (x, y), batch_size=batch_size)
    assert 0 < wrong < 103 and got["error"] == wrong / 103 and got["error"] + got["accuracy"] == 1.0
    assert evaluate(model, (x, y), batch_size=batch_size, error_fn=error_rate) == got  # named: the same count
    with torch.enable_grad():  # gradients on or off, no graph is kept and the numbers do not move
        assert evaluate(model, (x, y), batch_size=batch_size) == got


class _NotAWeight:
    pass


def _bad_inputs(folder: Path) -> dict[str, tuple[list, str]]:
    user = folder / "usernet.py"
    (folder / "broken.py").write_text("import nonexistent_package_xyz\n")
    (folder / "factories.py").write_text(
        "import torch\n"
        "def not_a_module():\n    return 3\n"
        "def per_sample(outputs, targets):\n"
        "    return torch.nn.functional.cross_entropy(outputs, targets, reduction='none')\n")
    sd = torch.load(folder / "net0.pt", weights_only=True)
    torch.save({k: v for k, v in sd.items() if k != "fc.bias"}, folder / "missing.pt")
    torch.save({**sd, "extra.weight": torch.zeros(2)}, folder / "extra.pt")
    torch.save({**sd, "fc.weight": torch.zeros(3, 3)}, folder / "shape.pt")
    torch.save({"weights": sd, "note": _NotAWeight()}, folder / "pickle.pt")
    model = ["--model", f"{user}:make_model", "--model-args", json.dumps({"width": WIDTH})]
    return {
        "not-importable": (["spec", folder / "net0.pt", "--model", f"{folder / 'broken.py'}:make_model"],
                           "nonexistent_package_xyz"),
        "no-such-module": (["spec", folder / "net0.pt", "--model", "no_such_module_xyz:make_model"],
                           "no_such_module_xyz"),
        "not-a-module": (["spec", folder / "net0.pt", "--model", f"{folder / 'factories.py'}:not_a_module"],
                         "not a torch.nn.Module"),
        "missing-key": (["eval", folder / "missing.pt", *model, "--data", f"{user}:make_data"],
                        "missing keys fc.bias"),
        "extra-key": (["eval", folder / "extra.pt", *model, "--data", f"{user}:make_data"],
                      "unexpected keys extra.weight"),
        "shape": (["eval", folder / "shape.pt", *model, "--data", f"{user}:make_data"],
                  "size mismatch (file vs model) for fc.weight (3, 3) vs (10, 24)"),
        "unrestricted-pickle": (["info", folder / "pickle.pt"], "needs unrestricted unpickling"),
        "non-scalar-loss": (["eval", folder / "net0.pt", *model, "--data", f"{user}:make_data", "--loss",
                             f"{folder / 'factories.py'}:per_sample"], "must return a floating scalar tensor"),
    }


def test_bad_input_is_one_line_and_exit_2(capsys, own):
    folder = own[0]
    for name, (argv, message) in _bad_inputs(folder).items():
        code, out, err = run(capsys, *argv)
        assert code == 2, (name, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, (name, err)
        assert message in err, (name, err)
    with pytest.raises(CheckpointError, match="Unsupported global"):  # the unpickler's reason is kept
        load_checkpoint(folder / "pickle.pt")
    with pytest.raises(ConfigError, match="loss_fn must return a floating scalar"):
        evaluate(own[2][0], own[1].make_data()[1], loss_fn=lambda o, t: F.cross_entropy(o, t, reduction="none"))


def test_examples_run(tmp_path):
    """The example files: train two CNNs with plain PyTorch, then the Python walkthrough on them."""
    import subprocess

    folder = EXAMPLE.parent
    env_python = sys.executable
    subprocess.run([env_python, folder / "train_two.py", tmp_path, "--epochs", "2", "--width", "4"], check=True,
                   capture_output=True)
    done = subprocess.run([env_python, folder / "walkthrough.py", tmp_path, "--width", "4", "--points", "3"],
                          check=True, capture_output=True, text=True)
    report = json.loads(done.stdout)
    assert report["barrier_aligned"] <= report["barrier_naive"] + 1e-9
    assert report["merged_test"]["loss"] > 0 and len(report["top_eigenvalues"]) == 2
