"""MNIST-1D, generated locally by the `mnist1d` package and cached as `.npz` (never downloaded).

The generator reseeds Python's `random` and NumPy's global RNG; `data.load` runs every source inside
`isolated()` (data/_isolated.py), so the caller's global randomness is untouched.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from .._files import atomic_path
from ..errors import DataError
from ._dataset import Dataset, check_int

__all__ = ["load_mnist1d", "cache_dir", "REFERENCE_SEED"]

log = logging.getLogger(__name__)

CACHE_ENV = "WEIGHTSPACE_CACHE"
REFERENCE_SEED = 42  # the seed of the published MNIST-1D: `load("mnist1d")` uses it when no seed is given
NUM_CLASSES = 10
ARRAYS = ("x", "y", "x_test", "y_test")


def cache_dir() -> Path:
    """`$WEIGHTSPACE_CACHE`, else `~/.cache/weightspace`."""
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/weightspace").expanduser()


def generator_args(seed: int, num_samples: int) -> dict:
    """The arguments of `mnist1d.data.make_dataset`: the package defaults with `seed` and `num_samples` set."""
    args = _package_defaults()
    args.pop("url", None)  # where the published pickle lives: not an argument of the generator
    args.update(seed=seed, num_samples=num_samples)
    return args


def _package_defaults() -> dict:
    """`mnist1d.data.get_dataset_args()` of the installed version, kept in the cache beside the arrays:
    importing the package costs about a second (it imports matplotlib), paid once per version."""
    path = cache_dir() / "mnist1d" / f"defaults-{_mnist1d_version()}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    try:
        from mnist1d.data import get_dataset_args
    except ImportError as err:
        raise DataError(f"mnist1d: cannot import the mnist1d package ({err}); pip install mnist1d") from None
    args = get_dataset_args(as_dict=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(args))
    return args


def cache_key(args: dict) -> str:
    """A stable hash of the generator's arguments and version (16 hex digits)."""
    spec = {"generator": "mnist1d.data.make_dataset", "version": _mnist1d_version(), "args": args}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _mnist1d_version() -> str:
    try:
        return importlib.metadata.version("mnist1d")
    except importlib.metadata.PackageNotFoundError:
        raise DataError("mnist1d: the mnist1d package is not installed; pip install mnist1d") from None


def _generate(args: dict) -> dict[str, np.ndarray]:
    """Run `mnist1d.data.make_dataset(args)`; returns x (N, 40) float64, y (N,) int64 and their test twins."""
    from mnist1d.data import make_dataset
    from mnist1d.utils import ObjectView

    raw = make_dataset(ObjectView(dict(args)))  # reseeds the global RNGs: `data.load` runs it `isolated()`
    return {
        "x": np.asarray(raw["x"], dtype=np.float64),
        "y": np.asarray(raw["y"], dtype=np.int64),
        "x_test": np.asarray(raw["x_test"], dtype=np.float64),
        "y_test": np.asarray(raw["y_test"], dtype=np.int64),
    }


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when the file is absent or unreadable (it is then regenerated)."""
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as npz:  # our handle: closed on errors too
            arrays = {k: npz[k] for k in ARRAYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        log.warning("mnist1d: ignoring unreadable cache file %s (%s); regenerating", path, err)
        return None
    if arrays["x"].ndim != 2 or len(arrays["x"]) != len(arrays["y"]) or len(arrays["x_test"]) != len(arrays["y_test"]):
        log.warning("mnist1d: ignoring malformed cache file %s; regenerating", path)
        return None
    return arrays


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a name
        np.savez(fh, **arrays)


def load_mnist1d(*, root, seed: int | None, dtype: torch.dtype, num_samples: int = 5000) -> Dataset:
    """MNIST-1D: x (N, 40) standardized signals, y in 0..9; 80% train / 20% test (4000 / 1000 by default).

    `seed=None` means the reference seed 42. The arrays are cached in
    `$WEIGHTSPACE_CACHE/mnist1d/mnist1d-<hash of the generator args>.npz`. `root` is ignored.
    """
    where = "data.load('mnist1d')"
    seed = REFERENCE_SEED if seed is None else check_int(where, "seed", seed, maximum=2**32 - 1)
    num_samples = check_int(where, "num_samples", num_samples, minimum=NUM_CLASSES)
    if num_samples % NUM_CLASSES:
        raise DataError(
            f"{where}: num_samples must be a multiple of {NUM_CLASSES} (one share per class), got {num_samples}"
        )
    args = generator_args(seed, num_samples)
    key = cache_key(args)
    path = cache_dir() / "mnist1d" / f"mnist1d-{key}.npz"
    arrays = _read_cache(path)
    if arrays is None:
        log.info("mnist1d: generating %d samples (seed %d) into %s", num_samples, seed, path)
        arrays = _generate(args)
        _write_cache(path, arrays)
    meta = {
        "source": "mnist1d.data.make_dataset (generated locally)",
        "mnist1d_version": _mnist1d_version(),
        "seed": seed,
        "cache_key": key,
        "generator_args": args,
        "n_train": len(arrays["y"]),
        "n_test": len(arrays["y_test"]),
        "options": {"seed": seed, "num_samples": num_samples},
    }
    return Dataset(
        name="mnist1d",
        task="classification",
        x_train=torch.from_numpy(arrays["x"]).to(dtype),
        y_train=torch.from_numpy(arrays["y"]),
        x_test=torch.from_numpy(arrays["x_test"]).to(dtype),
        y_test=torch.from_numpy(arrays["y_test"]),
        num_outputs=NUM_CLASSES,
        meta=meta,
    )
