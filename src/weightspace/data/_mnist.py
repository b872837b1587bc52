"""MNIST from local IDX files (optionally gzipped); never downloaded.

IDX layout: two zero bytes, a dtype code (0x08 = uint8, ...), the number of dims n, then n big-endian
uint32 sizes, then the elements big-endian in C order.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ._dataset import Dataset, check_bool, data_root, find_files

__all__ = ["load_mnist", "read_idx", "FILES"]

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
SUBDIRS = ("mnist", "MNIST/raw")
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
NUM_CLASSES = 10


def _read_bytes(path: Path) -> bytes:
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise DataError(f"mnist: cannot read {path}, truncated or corrupt ({err}); replace the file") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX file (`.gz` is decompressed), in native byte order.

    DataError, naming the file, for a bad magic, an unknown dtype code, or a size that disagrees with the header.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"mnist: {path} is truncated ({len(raw)} bytes, no IDX header); replace the file")
    zero0, zero1, code, ndim = raw[:4]
    if zero0 or zero1 or code not in IDX_DTYPES:
        raise DataError(f"mnist: {path} is not an IDX file (magic {raw[:4].hex()}); check the file")
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise DataError(f"mnist: {path} is truncated inside its header; replace the file")
    dims = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[code])
    count = math.prod(dims)
    expected = offset + count * dtype.itemsize
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(
            f"mnist: {path} is {problem}: {len(raw)} bytes, the header {dims} promises {expected}; replace the file"
        )
    array = np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(dims)
    return array.astype(dtype.newbyteorder("="))  # a writable native-order copy


def _pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(
            f"mnist: {images_path} should hold uint8 images (N, rows, cols), got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"mnist: {labels_path} should hold uint8 labels (N,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"mnist: {images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    if len(labels) and int(labels.max()) >= NUM_CLASSES:
        raise DataError(f"mnist: {labels_path} holds label {int(labels.max())}, outside 0..9; check the file")
    return images, labels


def load_mnist(*, root, seed, dtype: torch.dtype, image: bool = False) -> Dataset:
    """MNIST: x = pixels / 255 of shape (N, 784), or (N, 1, 28, 28) with `image=True`; y in 0..9.

    Files are looked up in `root/mnist`, `root/MNIST/raw`, then `root` (`root` defaults to `$WEIGHTSPACE_DATA`),
    each optionally gzipped. `seed` is ignored (the split is the official one).
    """
    image = check_bool("data.load('mnist')", "image", image)
    folder = data_root("mnist", root, FILES)
    paths = find_files("mnist", folder, SUBDIRS, FILES, ("", ".gz"))
    x_train, y_train = _pair(paths[FILES[0]], paths[FILES[1]])
    x_test, y_test = _pair(paths[FILES[2]], paths[FILES[3]])
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(
            f"mnist: train images are {x_train.shape[1:]} but test images {x_test.shape[1:]}; check the files"
        )

    def inputs(pixels: np.ndarray) -> torch.Tensor:
        n, rows, cols = pixels.shape
        shape = (n, 1, rows, cols) if image else (n, rows * cols)
        return torch.from_numpy(pixels).to(dtype).div_(255.0).reshape(shape)

    def labels(y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(y.astype(np.int64))

    options: dict = {"image": image}
    if root is not None:
        options["root"] = os.fspath(root)
    meta = {
        "source": "MNIST IDX files (local)",
        "seed": None,
        "root": str(paths[FILES[0]].parent),
        "files": [p.name for p in paths.values()],
        "n_train": len(y_train),
        "n_test": len(y_test),
        "options": options,
    }
    return Dataset(
        name="mnist",
        task="classification",
        x_train=inputs(x_train),
        y_train=labels(y_train),
        x_test=inputs(x_test),
        y_test=labels(y_test),
        num_outputs=NUM_CLASSES,
        meta=meta,
    )
