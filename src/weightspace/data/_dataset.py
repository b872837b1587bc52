"""The `Dataset` record and the small checks every source shares (options, seeds, data folders)."""

from __future__ import annotations

import dataclasses
import operator
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import DataError

__all__ = ["Dataset", "TASKS", "check_dtype", "check_bool", "check_int", "check_choice", "data_root", "find_files"]

TASKS = ("classification", "regression", "next-token")
SPLITS = ("train", "test")
DATA_ENV = "WEIGHTSPACE_DATA"


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A train/test pair of tensors with its task and provenance.

    Classification: `y` is int64 of shape (N,) with labels in [0, num_outputs).
    Regression: `y` is floating of shape (N, p) with p = num_outputs.
    Next-token: `x` and `y` are int64 token ids of shape (N, T) in [0, num_outputs), y_t the token after x_t.
    `x` is floating or integer (token ids) of shape (N, *input_shape); `meta` holds JSON-able facts (source,
    seed, sizes, options).
    """

    name: str
    task: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_outputs: int
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"Dataset({self.name!r})"
        if self.task not in TASKS:
            raise DataError(f"{where}: task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if isinstance(self.num_outputs, bool) or not isinstance(self.num_outputs, int) or self.num_outputs < 1:
            raise DataError(f"{where}: num_outputs must be a positive int, got {self.num_outputs!r}")
        if not isinstance(self.meta, dict):
            raise DataError(f"{where}: meta must be a dict, got {type(self.meta).__name__}")
        for split in SPLITS:
            x, y = self.split(split)
            if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
                raise DataError(f"{where}: x_{split} and y_{split} must be torch tensors")
            if x.dtype in (torch.bool, torch.uint8) or x.is_complex() or x.ndim < 2:
                raise DataError(f"{where}: x_{split} must be floating or integer token ids with shape (N, ...), "
                                f"got {x.dtype} {tuple(x.shape)}")
            if len(x) == 0:
                raise DataError(f"{where}: the {split} split is empty; a dataset needs samples in both splits")
            if len(x) != len(y):
                raise DataError(f"{where}: x_{split} has {len(x)} samples but y_{split} has {len(y)}")
            self._check_targets(where, split, y)
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(
                f"{where}: train inputs have shape {tuple(self.x_train.shape[1:])} "
                f"but test inputs {tuple(self.x_test.shape[1:])}"
            )

    def _check_targets(self, where: str, split: str, y: torch.Tensor) -> None:
        if self.task in ("classification", "next-token"):
            ndim = 1 if self.task == "classification" else 2
            if y.dtype != torch.int64 or y.ndim != ndim:
                shape = "(N,)" if ndim == 1 else "(N, T)"
                raise DataError(
                    f"{where}: y_{split} must be int64 labels of shape {shape}, got {y.dtype} {tuple(y.shape)}"
                )
            lo, hi = int(y.min()), int(y.max())
            if lo < 0 or hi >= self.num_outputs:
                raise DataError(f"{where}: y_{split} labels span [{lo}, {hi}], outside [0, {self.num_outputs})")
        elif not y.is_floating_point() or y.ndim != 2 or y.shape[1] != self.num_outputs:
            raise DataError(
                f"{where}: y_{split} must be floating of shape (N, {self.num_outputs}), got {y.dtype} {tuple(y.shape)}"
            )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one sample, e.g. (64,) or (1, 8, 8)."""
        return tuple(self.x_train.shape[1:])

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the inputs (floating, or int64 for token ids)."""
        return self.x_train.dtype

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """`(x, y)` of the "train" or "test" split."""
        if name == "train":
            return self.x_train, self.y_train
        if name == "test":
            return self.x_test, self.y_test
        raise DataError(f"Dataset.split: unknown split {name!r}; use 'train' or 'test'")

    def to(self, dtype: torch.dtype) -> Dataset:
        """A copy with every floating tensor (inputs, regression targets) cast to `dtype`; labels stay int64."""
        check_dtype("Dataset.to", dtype)

        def cast(t: torch.Tensor) -> torch.Tensor:
            return t.to(dtype) if t.is_floating_point() else t

        return dataclasses.replace(
            self,
            x_train=cast(self.x_train),
            y_train=cast(self.y_train),
            x_test=cast(self.x_test),
            y_test=cast(self.y_test),
        )

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, task={self.task!r}, train={len(self.x_train)}, test={len(self.x_test)}, "
            f"input_shape={self.input_shape}, num_outputs={self.num_outputs}, dtype={self.dtype})"
        )


def check_dtype(where: str, dtype) -> torch.dtype:
    """`dtype` if it is a floating torch dtype, else DataError."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise DataError(f"{where}: dtype must be a floating torch dtype such as torch.float32, got {dtype!r}")
    return dtype


def check_bool(where: str, name: str, value) -> bool:
    """`value` if it is a bool, else DataError."""
    if not isinstance(value, bool):
        raise DataError(f"{where}: option {name} must be True or False, got {value!r}")
    return value


def check_int(where: str, name: str, value, *, minimum: int = 0, maximum: int | None = None) -> int:
    """`value` as an int in [minimum, maximum], else DataError (bools are refused)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise DataError(f"{where}: {name} must be an int, got {value!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise DataError(f"{where}: {name} must be {bound}, got {number}")
    return number


def check_choice(where: str, name: str, value, choices: Sequence[str]) -> str:
    """`value` if it is one of `choices`, else DataError listing them."""
    if value not in choices:
        raise DataError(f"{where}: {name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def data_root(name: str, root, files: Sequence[str]) -> Path:
    """The folder holding local copies of datasets: `root`, else `$WEIGHTSPACE_DATA`, else DataError naming `files`."""
    if root is None:
        root = os.environ.get(DATA_ENV) or None
    if root is None:
        raise DataError(f"{name}: no data folder given for {', '.join(files)}; pass root=... (CLI: --data-root) "
                        f"or set {DATA_ENV}")
    try:
        return Path(os.fspath(root)).expanduser()
    except TypeError:
        raise DataError(f"{name}: root must be a path, got {root!r}") from None


def find_files(name: str, root: Path, subdirs: Sequence[str], files: Sequence[str], suffixes=("",)) -> dict[str, Path]:
    """Map each of `files` to its path in the first of `root/<subdir>`, ..., `root` that holds all of them.

    A file may carry any of `suffixes` (e.g. ".gz"). When no folder holds them all, DataError names the
    expected files, the folders searched and what is missing.
    """
    folders = [root / sub for sub in subdirs] + [root]
    best: tuple[Path, list[str]] | None = None
    for folder in folders:
        if not folder.is_dir():
            continue
        found, missing = {}, []
        for f in files:
            path = next((folder / (f + s) for s in suffixes if (folder / (f + s)).is_file()), None)
            if path is None:
                missing.append(f)
            else:
                found[f] = path
        if not missing:
            return found
        if best is None or len(missing) < len(best[1]):
            best = (folder, missing)
    alt = "".join(f"[{s}]" for s in suffixes if s)
    expected = ", ".join(f + alt for f in files)
    places = " or ".join(str(f) for f in folders)
    if best is None:
        detail = "; no such folder"
    elif len(best[1]) == len(files):
        detail = "; none of them found"
    else:
        detail = f"; {best[0]} lacks {', '.join(best[1])}"
    raise DataError(f"{name}: expected {expected} in {places}{detail} "
                    f"(pass root=... (CLI: --data-root) or set {DATA_ENV})")
