"""Offline datasets: bundled digits, generated MNIST-1D, teacher-student and linear-teacher data, a synthetic
next-token task (second-order Markov chain), local MNIST/CIFAR-10; and the batches every evaluation streams.

Nothing is ever downloaded. `load(name, ...)` returns a `Dataset` (train and test tensors, task, provenance).
Evaluations take a `Dataset`, a pair of tensors, `Splits` or any iterable of (inputs, targets) batches
(`iter_batches`).

Example:
    >>> from weightspace import data
    >>> ds = data.load("digits")
    >>> ds.input_shape, ds.num_outputs, len(ds.x_train), len(ds.x_test)
    ((64,), 10, 1437, 360)
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable

import torch

from ..errors import DataError
from ._batches import Source, Splits, iter_batches, iter_inputs, reusable_batches, sample, task_of, to_model
from ._cifar import load_cifar10
from ._dataset import TASKS, Dataset, check_dtype, check_int
from ._digits import load_digits
from ._isolated import isolated
from ._linear import LINEAR_TEACHER, SCALAR, load_linear_teacher, load_scalar
from ._markov import MARKOV, load_markov
from ._mnist import load_mnist
from ._mnist1d import load_mnist1d
from ._teacher import load_teacher

__all__ = ["Dataset", "load", "DATASETS", "TASKS", "Source", "Splits", "iter_batches", "iter_inputs",
           "reusable_batches", "sample", "task_of", "to_model"]

_SOURCES: dict[str, Callable[..., Dataset]] = {
    "digits": load_digits,
    "mnist1d": load_mnist1d,
    "teacher": load_teacher,
    "mnist": load_mnist,
    "cifar10": load_cifar10,
    LINEAR_TEACHER: load_linear_teacher,
    SCALAR: load_scalar,
    MARKOV: load_markov,
}
_COMMON = ("root", "seed", "dtype")

DATASETS: tuple[str, ...] = tuple(_SOURCES)
"""The names `load` knows, in the order the docs list them."""


def _options_of(name: str) -> tuple[str, ...]:
    """The dataset-specific keyword options of a source, read from its loader's signature."""
    params = inspect.signature(_SOURCES[name]).parameters
    return tuple(p for p in params if p not in _COMMON)


def load(
    name: str,
    *,
    root: str | os.PathLike | None = None,
    seed: int | None = None,
    dtype: torch.dtype = torch.float32,
    **options,
) -> Dataset:
    """Load the dataset `name` (one of `DATASETS`) with its inputs (and regression targets) in `dtype`.

    Args:
      name: "digits", "mnist1d", "teacher", "mnist", "cifar10", "linear-teacher", "scalar" or "markov".
      root: folder of local copies (mnist, cifar10); defaults to `$WEIGHTSPACE_DATA`. Ignored by the others.
      seed: the generator seed (mnist1d, teacher, linear-teacher); None means the dataset's reference seed (42
        for mnist1d, 0 for the teachers). Ignored by digits (fixed split), mnist and cifar10 (official splits)
        and scalar.
      dtype: floating dtype of the inputs (token ids of "markov" stay int64).
      **options: per dataset: digits `image`; mnist1d `num_samples`; teacher `d`, `r_star`, `p`, `n_train`,
        `n_test`, `activation`; mnist `image`; cifar10 `flatten`; linear-teacher `h` (required), `n_train`,
        `n_test`; scalar `x`, `y`; markov `vocab`, `seq_len`, `n_train`, `n_test`, `noise`.

    Returns:
      A `Dataset`; `meta["options"]` holds the options that reproduce it via `load(name, **meta["options"])`.
      Python's, NumPy's and torch's global RNG states and the warnings filters are as they were.
    """
    if not isinstance(name, str) or name not in _SOURCES:
        raise DataError(f"data.load: unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    known = _options_of(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        hint = f"known options: {', '.join(known)}" if known else "it takes no options"
        raise DataError(f"data.load({name!r}): unknown option {', '.join(unknown)}; {hint}")
    check_dtype(f"data.load({name!r})", dtype)
    if seed is not None:
        seed = check_int(f"data.load({name!r})", "seed", seed, maximum=2**63 - 1)
    with isolated():  # sources may reseed or draw from global RNGs, or change warning filters: the caller's are kept
        return _SOURCES[name](root=root, seed=seed, dtype=dtype, **options)
