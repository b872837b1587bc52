"""Contracts of `weightspace.data`: fixed splits, seeded generation, isolation of global RNGs, the cache,
teacher targets against their formula, and byte-exact local readers that refuse bad files."""

import gzip
import json
import os
import pickle
import random
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from weightspace import data
from weightspace.data import DATASETS, Dataset, _mnist1d, load
from weightspace.errors import DataError

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)


# ---------------------------------------------------------------- registry and the record


def test_registry_lists_every_source():
    assert DATASETS == ("digits", "mnist1d", "teacher", "mnist", "cifar10", "linear-teacher", "scalar", "markov")
    assert set(data.__all__) == {"Dataset", "load", "DATASETS", "TASKS", "Source", "Splits", "iter_batches",
                                 "iter_inputs", "reusable_batches", "sample", "task_of", "to_model"}


def test_reusable_batches_are_views_of_memory_or_a_fresh_stream():
    x, y = torch.arange(10.0).reshape(5, 2), torch.arange(5)
    held = data.reusable_batches((x, y), batch_size=2)
    assert isinstance(held, list) and [len(b) for b, _ in held] == [2, 2, 1]
    assert all(b.untyped_storage().data_ptr() == x.untyped_storage().data_ptr() for b, _ in held)  # no copies

    class Counted:
        passes = 0

        def __iter__(self):
            def batches():
                Counted.passes += 1
                yield x, y
            return batches()

    stream = data.reusable_batches(Counted(), max_batches=1)
    assert [len(b) for b, _ in stream] == [5] and [len(b) for b, _ in stream] == [5]
    assert Counted.passes == 2  # read again on each pass, never gathered


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(DataError, match="unknown dataset 'imagenet'.*digits, mnist1d, teacher, mnist, cifar10, "
                                        "linear-teacher, scalar"):
        load("imagenet")


def test_linear_teacher_and_scalar_load_from_their_recorded_options():
    """y = M x exactly with M = teacher_matrix(h, seed); `meta["options"]` reloads the same set in any dtype."""
    from weightspace.continuous import linear_teacher, load_dataset, teacher_matrix

    ds = load("linear-teacher", h=3, seed=5, n_train=7, n_test=4, dtype=torch.float64)
    m = teacher_matrix(3, seed=5)
    assert ds.x_train.shape == (7, 3) and ds.x_test.shape == (4, 3) and ds.task == "regression"
    assert torch.allclose(ds.y_train, ds.x_train @ m.T, rtol=0, atol=1e-14)
    again = load("linear-teacher", **ds.meta["options"], dtype=torch.float64)
    assert torch.equal(again.x_test, ds.x_test) and torch.equal(again.y_test, ds.y_test)
    assert torch.equal(load_dataset("linear-teacher", **ds.meta["options"], dtype=torch.float64).y_train,
                       linear_teacher(3, seed=5, n_train=7, n_test=4).y_train)
    assert load("linear-teacher", h=3).x_train.dtype == torch.float32
    with pytest.raises(DataError, match="missing option h"):
        load("linear-teacher")
    s = load("scalar", y=2.0)
    assert s.x_train.tolist() == [[1.0]] and s.y_test.tolist() == [[2.0]]


def test_unknown_option_is_refused():
    with pytest.raises(DataError, match="unknown option colour; known options: image"):
        load("digits", colour=True)


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("digits", {"image": 1}, "image must be True or False"),
        ("teacher", {"r_star": 0}, "r_star must be >= 1"),
        ("teacher", {"d": 2.5}, "d must be an int"),
        ("teacher", {"activation": "relu6"}, "activation must be one of softplus, tanh, sigmoid, gelu"),
        ("mnist1d", {"num_samples": 505}, "multiple of 10"),
        ("digits", {"dtype": torch.int64}, "floating torch dtype"),
        ("digits", {"seed": "zero"}, "seed must be an int"),
        ("teacher", {"seed": -1}, "seed must be in"),
    ],
)
def test_bad_option_values_are_refused(name, options, match):
    with pytest.raises(DataError, match=match):
        load(name, **options)


def _tiny(**changes) -> dict:
    fields = {
        "name": "tiny",
        "task": "classification",
        "x_train": torch.zeros(3, 2),
        "y_train": torch.tensor([0, 1, 2]),
        "x_test": torch.zeros(1, 2),
        "y_test": torch.tensor([1]),
        "num_outputs": 3,
    }
    return fields | changes


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"task": "ranking"}, "task must be one of"),
        ({"y_train": torch.tensor([0, 1])}, "x_train has 3 samples but y_train has 2"),
        ({"x_test": torch.zeros(0, 2), "y_test": torch.zeros(0, dtype=torch.int64)}, "test split is empty"),
        ({"y_train": torch.tensor([0, 1, 3])}, r"outside \[0, 3\)"),
        ({"y_train": torch.tensor([0.0, 1.0, 2.0])}, "int64 labels"),
        ({"x_test": torch.zeros(1, 3)}, "train inputs have shape"),
        ({"task": "regression"}, r"floating of shape \(N, 3\)"),
        ({"num_outputs": 0}, "num_outputs must be a positive int"),
    ],
)
def test_dataset_validates_itself(changes, match):
    with pytest.raises(DataError, match=match):
        Dataset(**_tiny(**changes))


def test_dataset_split_to_and_repr():
    ds = Dataset(**_tiny())
    assert ds.split("train")[0] is ds.x_train and ds.split("test")[1] is ds.y_test
    with pytest.raises(DataError, match="unknown split 'val'"):
        ds.split("val")
    ds64 = ds.to(torch.float64)
    assert ds64.x_train.dtype == torch.float64 and ds64.y_train.dtype == torch.int64
    assert ds.x_train.dtype == torch.float32  # the original is untouched
    assert repr(ds) == (
        "Dataset(name='tiny', task='classification', train=3, test=1, input_shape=(2,), num_outputs=3, "
        "dtype=torch.float32)"
    )


# ---------------------------------------------------------------- digits


def test_digits_shapes_and_ranges():
    ds = load("digits")
    assert (ds.task, ds.num_outputs, ds.input_shape) == ("classification", 10, (64,))
    assert ds.x_train.shape == (1437, 64) and ds.x_test.shape == (360, 64)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0
    assert set(ds.y_train.tolist()) == set(range(10))
    image = load("digits", image=True, dtype=torch.float64)
    assert image.input_shape == (1, 8, 8) and image.x_test.dtype == torch.float64
    torch.testing.assert_close(image.x_train.reshape(-1, 64).float(), ds.x_train)
    json.dumps(ds.meta)


def test_digits_split_is_fixed_and_disjoint():
    from sklearn.datasets import load_digits

    a, b = load("digits", seed=0), load("digits", seed=123)
    torch.testing.assert_close(a.x_train, b.x_train, rtol=0, atol=0)
    assert torch.equal(a.y_test, b.y_test)
    # recover each sample's index in sklearn's order: rows are distinct enough to match exactly
    full = torch.from_numpy(load_digits().data / 16.0).float()
    index = {tuple(row.tolist()): i for i, row in enumerate(full)}
    assert len(index) == 1797  # no duplicate images, so the index is exact
    train = {index[tuple(row.tolist())] for row in a.x_train}
    test = {index[tuple(row.tolist())] for row in a.x_test}
    assert not train & test
    assert len(train | test) == len(index)
    expected = np.random.default_rng(0).permutation(1797)
    assert [index[tuple(row.tolist())] for row in a.x_test[:5]] == expected[1437:1442].tolist()


# ---------------------------------------------------------------- mnist1d


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache folder of this test's own, so generation really happens and fakes do not leak."""
    monkeypatch.setenv("WEIGHTSPACE_CACHE", str(tmp_path))
    return tmp_path


def test_mnist1d_is_seeded_and_leaves_global_rngs_alone(cache):
    random.seed(7)
    np.random.seed(7)
    py_state, np_state = random.getstate(), np.random.get_state()
    a = load("mnist1d", seed=3, num_samples=500)
    b = load("mnist1d", seed=3, num_samples=500)
    c = load("mnist1d", seed=4, num_samples=500)
    assert random.getstate() == py_state
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2:] == np_state[2:]
    assert a.x_train.shape == (400, 40) and a.x_test.shape == (100, 40) and a.num_outputs == 10
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)
    assert a.meta["options"] == {"seed": 3, "num_samples": 500}


def test_mnist1d_default_seed_is_the_reference_one(cache, monkeypatch):
    seen = {}

    def fake(args):
        seen.update(args)
        n = args["num_samples"]
        y = np.arange(n) % 10
        return {"x": np.zeros((n - 10, 40)), "y": y[10:], "x_test": np.ones((10, 40)), "y_test": y[:10]}

    monkeypatch.setattr(_mnist1d, "_generate", fake)
    ds = load("mnist1d", num_samples=100)
    assert seen["seed"] == 42 and ds.meta["seed"] == 42
    assert "url" not in seen


def test_mnist1d_cache_is_hit_the_second_time(cache, monkeypatch):
    first = load("mnist1d", seed=5, num_samples=200)
    cached = list((cache / "mnist1d").glob("*.npz"))
    assert [p.name for p in cached] == [f"mnist1d-{first.meta['cache_key']}.npz"]
    assert not list((cache / "mnist1d").glob("*.tmp"))

    def boom(args):
        raise AssertionError("the generator ran although the cache holds the data")

    monkeypatch.setattr(_mnist1d, "_generate", boom)
    second = load("mnist1d", seed=5, num_samples=200)
    assert torch.equal(first.x_train, second.x_train) and torch.equal(first.y_test, second.y_test)
    with np.load(cached[0], allow_pickle=False) as npz:
        assert sorted(npz.files) == ["x", "x_test", "y", "y_test"]
    with pytest.raises(AssertionError, match="generator ran"):
        load("mnist1d", seed=6, num_samples=200)  # another key: a miss


def test_mnist1d_cached_load_does_not_import_the_generator(cache):
    """The package's defaults are kept beside the arrays: a cached load reads both and imports nothing."""
    from mnist1d.data import get_dataset_args

    first = load("mnist1d", seed=5, num_samples=100)
    (defaults,) = (cache / "mnist1d").glob("defaults-*.json")
    assert json.loads(defaults.read_text()) == get_dataset_args(as_dict=True)
    code = ("import sys, weightspace.data as d; x = d.load('mnist1d', seed=5, num_samples=100); "
            "print(x.meta['cache_key'], 'mnist1d' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "WEIGHTSPACE_CACHE": str(cache)},
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == [first.meta["cache_key"], "False"]


def test_mnist1d_corrupt_cache_is_regenerated(cache):
    first = load("mnist1d", seed=5, num_samples=100)
    path = cache / "mnist1d" / f"mnist1d-{first.meta['cache_key']}.npz"
    path.write_bytes(path.read_bytes()[:50])
    again = load("mnist1d", seed=5, num_samples=100)
    assert torch.equal(first.x_train, again.x_train)


# ---------------------------------------------------------------- teacher


ACTS = {"softplus": F.softplus, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "gelu": F.gelu}


@pytest.mark.parametrize(
    "options",
    [{}, {"d": 5, "r_star": 4, "p": 3, "activation": "tanh"}, {"d": 1, "r_star": 2, "activation": "gelu"}],
)
def test_teacher_targets_follow_the_formula(options):
    ds = load("teacher", seed=11, dtype=torch.float64, n_train=64, n_test=32, **options)
    t = ds.meta["teacher"]
    w, b, a, c = (torch.tensor(t[k], dtype=torch.float64) for k in ("w", "b", "a", "c"))
    assert w.shape == (t["r_star"], t["d"]) and a.shape == (t["p"], t["r_star"]) and c.shape == (t["p"],)
    for x, y in (ds.split("train"), ds.split("test")):
        expected = ACTS[t["activation"]](x @ w.T + b) @ a.T + c
        torch.testing.assert_close(y, expected, rtol=1e-12, atol=1e-12)
    assert ds.task == "regression" and ds.num_outputs == t["p"] and ds.y_train.shape == (64, t["p"])
    json.loads(json.dumps(ds.meta))


def test_teacher_is_seeded_and_units_are_separated():
    a, b, c = load("teacher", seed=1), load("teacher", seed=1), load("teacher", seed=2)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_train, c.y_train)
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.float32
    smaller = load("teacher", seed=1, n_train=10)  # sub-seeds: the teacher and test set do not move
    assert smaller.meta["teacher"] == a.meta["teacher"] and torch.equal(smaller.y_test, a.y_test)
    for d, r_star in [(2, 3), (3, 4), (4, 3)]:
        w = torch.tensor(load("teacher", d=d, r_star=r_star, n_train=1, n_test=1).meta["teacher"]["w"])
        torch.testing.assert_close(w.norm(dim=1), torch.ones(r_star))
        cos = (w @ w.T).abs().fill_diagonal_(0.0)
        assert float(cos.max()) < 0.6
    a_out = torch.tensor(a.meta["teacher"]["a"]).abs()
    assert float(a_out.min()) >= 0.5 and float(a_out.max()) <= 1.5


# ---------------------------------------------------------------- mnist (IDX)


def _idx(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_mnist(folder, *, gz=(), rng=None):
    rng = rng or np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 5, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        if name in gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(_idx(array)))
        else:
            (folder / name).write_bytes(_idx(array))
    return arrays


def test_mnist_reader_returns_the_written_arrays(tmp_path):
    arrays = _write_mnist(tmp_path / "mnist", gz=("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
    ds = load("mnist", root=tmp_path)
    assert ds.x_train.shape == (5, 784) and ds.x_test.shape == (3, 784)
    assert np.array_equal(
        (ds.x_train * 255).round().to(torch.uint8).numpy(), arrays["train-images-idx3-ubyte"].reshape(5, -1)
    )
    torch.testing.assert_close(
        ds.x_test, torch.from_numpy(arrays["t10k-images-idx3-ubyte"]).float().reshape(3, -1) / 255
    )
    assert ds.y_train.tolist() == arrays["train-labels-idx1-ubyte"].tolist() and ds.y_train.dtype == torch.int64
    assert ds.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    image = load("mnist", root=tmp_path, image=True)
    assert image.input_shape == (1, 28, 28)
    assert torch.equal(image.x_train.reshape(5, -1), ds.x_train)
    assert ds.meta["options"] == {"image": False, "root": str(tmp_path)}


def test_mnist_root_from_the_environment(tmp_path, monkeypatch):
    arrays = _write_mnist(tmp_path)  # files directly in root
    monkeypatch.setenv("WEIGHTSPACE_DATA", str(tmp_path))
    ds = load("mnist")
    assert ds.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_truncated_file_is_named(tmp_path, gz):
    _write_mnist(tmp_path, gz=("train-images-idx3-ubyte",) if gz else ())
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    path = tmp_path / name
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DataError, match=f"{name}.*(truncated|cannot read)"):
        load("mnist", root=tmp_path)


def test_mnist_bad_magic_and_count_mismatch(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx(np.zeros(4, np.uint8)))
    with pytest.raises(DataError, match="3 images but .*t10k-labels-idx1-ubyte has 4 labels"):
        load("mnist", root=tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x01\x02\x08\x01" + bytes(8))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte is not an IDX file"):
        load("mnist", root=tmp_path)


def test_mnist_missing_folder_names_the_expected_files(tmp_path, monkeypatch):
    monkeypatch.delenv("WEIGHTSPACE_DATA", raising=False)
    with pytest.raises(DataError, match=r"pass root=\.\.\. \(CLI: --data-root\) or set WEIGHTSPACE_DATA"):
        load("mnist")
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as err:
        load("mnist", root=missing)
    message = str(err.value)
    assert all(f"{f}[.gz]" in message for f in MNIST_FILES)
    assert str(missing) in message and "WEIGHTSPACE_DATA" in message and "\n" not in message
    _write_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DataError, match="lacks t10k-images-idx3-ubyte"):
        load("mnist", root=tmp_path)


# ---------------------------------------------------------------- cifar10


def _write_cifar(folder, n=5):
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in CIFAR_FILES:
        batch = {
            b"batch_label": name.encode(),
            b"labels": rng.integers(0, 10, n).tolist(),
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(n)],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        batches[name] = batch
    return batches


def test_cifar_reader_returns_the_written_arrays(tmp_path):
    batches = _write_cifar(tmp_path / "cifar-10-batches-py")
    ds = load("cifar10", root=tmp_path)
    assert ds.x_train.shape == (25, 3, 32, 32) and ds.x_test.shape == (5, 3, 32, 32)
    train = np.concatenate([batches[f][b"data"] for f in CIFAR_FILES[:5]])
    assert np.array_equal((ds.x_train * 255).round().to(torch.uint8).reshape(25, -1).numpy(), train)
    assert ds.y_train.tolist() == sum((batches[f][b"labels"] for f in CIFAR_FILES[:5]), [])
    assert ds.y_test.tolist() == batches["test_batch"][b"labels"]
    flat = load("cifar10", root=tmp_path, flatten=True, dtype=torch.float64)
    assert flat.input_shape == (3072,)
    torch.testing.assert_close(flat.x_test, torch.from_numpy(batches["test_batch"][b"data"]).double() / 255)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_cifar_refuses_forbidden_globals(tmp_path, monkeypatch):
    _write_cifar(tmp_path)
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps({b"data": _Evil()}, protocol=2))
    calls = []
    monkeypatch.setattr("os.system", lambda cmd: calls.append(cmd))
    with pytest.raises(DataError, match=r"data_batch_3 refers to (os|posix)\.system"):
        load("cifar10", root=tmp_path)
    assert calls == []


def test_cifar_refuses_truncated_and_malformed_batches(tmp_path):
    _write_cifar(tmp_path)
    path = tmp_path / "test_batch"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match="test_batch is truncated or corrupt"):
        load("cifar10", root=tmp_path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2))
    with pytest.raises(DataError, match=r"test_batch: data should be uint8 of shape \(n, 3072\)"):
        load("cifar10", root=tmp_path)


def test_cifar_missing_files_are_named(tmp_path):
    with pytest.raises(DataError) as err:
        load("cifar10", root=tmp_path)
    message = str(err.value)
    assert all(f in message for f in CIFAR_FILES)
    assert str(tmp_path / "cifar-10-batches-py") in message


@pytest.mark.parametrize("n, batch_size", [(1000, 512), (7, 3), (6, 3), (5, 8)])
def test_batches_of_a_pair_cover_every_row_once_in_order(n, batch_size):
    """A tensor pair is cut into consecutive batches: their concatenation is the pair itself."""
    from weightspace.data import iter_batches

    x, y = torch.randn(n, 4), torch.arange(n)
    batches = list(iter_batches((x, y), batch_size=batch_size))
    assert [len(b[0]) for b in batches] == [min(batch_size, n - i) for i in range(0, n, batch_size)]
    assert torch.equal(torch.cat([b[0] for b in batches]), x) and torch.equal(torch.cat([b[1] for b in batches]), y)
