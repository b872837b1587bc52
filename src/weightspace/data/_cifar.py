"""CIFAR-10 from the local "python version" batches; never downloaded, never unpickled unrestricted.

Each batch is a pickled dict {b"data": uint8 (n, 3072), b"labels": [n ints], ...}. It is read with an
Unpickler whose `find_class` admits only what NumPy array reconstruction needs; any other global
(e.g. `os.system`) is refused with DataError before it can be called.
"""

from __future__ import annotations

import codecs
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ._dataset import Dataset, check_bool, data_root, find_files

__all__ = ["load_cifar10", "read_batch", "FILES"]

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
FILES = (*TRAIN_FILES, TEST_FILE)
SUBDIRS = ("cifar-10-batches-py",)
NUM_CLASSES = 10
PIXELS = 3 * 32 * 32

try:  # NumPy >= 2 (numpy.core is a deprecated alias there)
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """`_codecs.encode` as Python 3 pickles bytes under protocol 2, restricted to latin-1."""
    if encoding.replace("_", "-").lower() not in ("latin1", "latin-1"):
        raise DataError(f"cifar10: the pickle asks for codec {encoding!r}; only latin-1 is allowed")
    return codecs.encode(text, "latin1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,  # bytes pickled by Python 3 with protocol < 3
}


class _BatchUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only the globals in `_ALLOWED`."""

    def __init__(self, file, *, path: Path):
        super().__init__(file, encoding="bytes")
        self._path = path

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DataError(
                f"cifar10: {self._path} refers to {module}.{name}, which a CIFAR batch never needs; "
                "refusing to load it (replace the file with the official batch)"
            ) from None


_CORRUPT = (
    pickle.UnpicklingError,
    EOFError,
    OSError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    MemoryError,
)


def _field(batch: dict, key: str):
    return batch[key.encode()] if key.encode() in batch else batch.get(key)


def read_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """`(data, labels)` of one CIFAR-10 batch: uint8 (n, 3072) and int64 (n,).

    DataError, naming the file, for a truncated or corrupt pickle, a forbidden global, or wrong shapes.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            batch = _BatchUnpickler(fh, path=path).load()
    except DataError:
        raise
    except _CORRUPT as err:
        raise DataError(
            f"cifar10: {path} is truncated or corrupt ({type(err).__name__}: {err}); replace the file"
        ) from None
    if not isinstance(batch, dict):
        raise DataError(f"cifar10: {path} holds a {type(batch).__name__}, not a batch dict; replace the file")
    data, labels = _field(batch, "data"), _field(batch, "labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"cifar10: {path}: data should be uint8 of shape (n, {PIXELS}), got {got}; replace the file")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"cifar10: {path}: labels should be a list of ints; replace the file") from None
    if labels.shape != (len(data),):
        raise DataError(f"cifar10: {path}: {len(data)} images but labels of shape {labels.shape}; replace the file")
    if len(labels) and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise DataError(f"cifar10: {path}: labels outside 0..9; replace the file")
    if not data.flags.writeable:  # torch.from_numpy needs a writable array
        data = data.copy()
    return data, labels


def load_cifar10(*, root, seed, dtype: torch.dtype, flatten: bool = False) -> Dataset:
    """CIFAR-10: x = pixels / 255 of shape (N, 3, 32, 32), or (N, 3072) with `flatten=True`; y in 0..9.

    Batches `data_batch_1..5` (train, 50000) and `test_batch` (10000) are looked up in
    `root/cifar-10-batches-py`, then `root` (`root` defaults to `$WEIGHTSPACE_DATA`). `seed` is ignored.
    """
    flatten = check_bool("data.load('cifar10')", "flatten", flatten)
    folder = data_root("cifar10", root, FILES)
    paths = find_files("cifar10", folder, SUBDIRS, FILES)
    train = [read_batch(paths[f]) for f in TRAIN_FILES]
    x_train = np.concatenate([d for d, _ in train])  # (50000, 3072) uint8
    y_train = np.concatenate([y for _, y in train])
    x_test, y_test = read_batch(paths[TEST_FILE])

    def inputs(pixels: np.ndarray) -> torch.Tensor:
        shape = (len(pixels), PIXELS) if flatten else (len(pixels), 3, 32, 32)  # channels-first, as stored
        return torch.from_numpy(pixels).to(dtype).div_(255.0).reshape(shape)

    options: dict = {"flatten": flatten}
    if root is not None:
        options["root"] = os.fspath(root)
    meta = {
        "source": "CIFAR-10 python batches (local)",
        "seed": None,
        "root": str(paths[TEST_FILE].parent),
        "files": list(FILES),
        "n_train": len(y_train),
        "n_test": len(y_test),
        "options": options,
    }
    return Dataset(
        name="cifar10",
        task="classification",
        x_train=inputs(x_train),
        y_train=torch.from_numpy(y_train),
        x_test=inputs(x_test),
        y_test=torch.from_numpy(y_test),
        num_outputs=NUM_CLASSES,
        meta=meta,
    )
