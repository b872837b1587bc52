"""Batches: the one way data enter an evaluation, a statistic or a loss.

A source of batches is a weightspace `Dataset` (its `split`), a pair of tensors `(x, y)`, a `Splits`
record holding one source per split, or any re-iterable of `(inputs, targets)` batches (a `DataLoader`,
a list). Batches are streamed: a split is never gathered in memory unless a caller asks for a sample
(`sample`, bounded by `max_samples`). Inputs keep their dtype (token ids stay integers); floating inputs
and targets are cast to the weights' dtype and everything is moved to their device by `to_model`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..errors import DataError
from ._dataset import SPLITS, Dataset

__all__ = ["Splits", "Source", "iter_batches", "iter_inputs", "reusable_batches", "sample", "to_model", "task_of"]


@dataclass(frozen=True)
class Splits:
    """One source of batches per split: `train` and `test` (e.g. two DataLoaders)."""

    train: Any
    test: Any


Source = Dataset | Splits | tuple | Iterable
"""Anything `iter_batches` accepts."""


def _pick(data, split: str):
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; use 'train' or 'test'")
    if isinstance(data, Dataset):
        return data.split(split)
    if isinstance(data, Splits):
        return getattr(data, split)
    return data


def _is_pair(data) -> bool:
    return isinstance(data, tuple | list) and len(data) == 2 and all(isinstance(t, Tensor) for t in data)


def _chunks(x: Tensor, y: Tensor, batch_size: int) -> list[tuple[Tensor, Tensor]]:
    """(x, y) cut into consecutive batches of `batch_size` rows (views, no copies)."""
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]


def iter_batches(data: Source, split: str = "test", *, batch_size: int = 2048, max_batches: int | None = None,
                 max_samples: int | None = None) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield `(inputs, targets)` batches of `data`'s `split`, at most `max_batches` of them and `max_samples`
    samples in all (the last batch cut); a source with no split (a DataLoader, a pair) serves every split."""
    source = _pick(data, split)
    if source is None:
        raise DataError(f"no {split} data were given")
    if _is_pair(source):
        x, y = source
        if len(x) != len(y):
            raise DataError(f"inputs hold {len(x)} samples but targets {len(y)}")
        source = _chunks(x, y, batch_size)
    elif isinstance(source, Tensor | str | bytes) or not isinstance(source, Iterable):
        raise DataError(f"data must be a Dataset, a pair of tensors (x, y) or an iterable of (inputs, targets) "
                        f"batches such as a DataLoader, got {type(source).__name__}")
    elif iter(source) is source:
        raise DataError(f"data is a one-shot iterator ({type(source).__name__}) that can be read only once; pass "
                        "a re-iterable source such as a DataLoader or a list of batches")
    seen = 0
    for k, batch in enumerate(source):
        if max_batches is not None and k >= max_batches:
            return
        if not (isinstance(batch, tuple | list) and len(batch) == 2 and all(isinstance(t, Tensor) for t in batch)):
            raise DataError(f"batch {k} is not a pair of tensors (inputs, targets); got {type(batch).__name__}")
        x, y = batch
        if len(x) != len(y) or len(x) == 0:
            raise DataError(f"batch {k} holds {len(x)} inputs and {len(y)} targets; they must match and be non-empty")
        if max_samples is not None:
            if seen >= max_samples:
                return
            x, y = x[:max_samples - seen], y[:max_samples - seen]
        seen += len(x)
        yield x, y
    if seen == 0:
        raise DataError(f"the {split} data hold no batches")


class _Restream:
    """`iter_batches(data, split, ...)` afresh on each pass."""

    def __init__(self, data: Source, split: str, batch_size: int, max_batches: int | None) -> None:
        self.data, self.split, self.batch_size, self.max_batches = data, split, batch_size, max_batches

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        return iter_batches(self.data, self.split, batch_size=self.batch_size, max_batches=self.max_batches)


def reusable_batches(data: Source, split: str = "test", *, batch_size: int = 2048,
                     max_batches: int | None = None) -> Iterable[tuple[Tensor, Tensor]]:
    """The batches of `iter_batches`, for many passes: read once into a list when the split is held in memory (a
    pair of tensors, whose batches are views, or a list of batches), else streamed again on each pass."""
    source = _pick(data, split)
    if _is_pair(source) or isinstance(source, list | tuple):
        return list(iter_batches(data, split, batch_size=batch_size, max_batches=max_batches))
    return _Restream(data, split, batch_size, max_batches)


def iter_inputs(data: Tensor | Source, split: str = "train", *, batch_size: int = 2048,
                max_samples: int | None = None) -> Iterator[Tensor]:
    """The input batches of `data`: slices of a tensor of inputs, or the inputs of `iter_batches`."""
    if isinstance(data, Tensor):
        if len(data) == 0:
            raise DataError("the input batch is empty")
        data = data[:max_samples] if max_samples is not None else data
        yield from (data[i:i + batch_size] for i in range(0, len(data), batch_size))
        return
    for x, _ in iter_batches(data, split, batch_size=batch_size, max_samples=max_samples):
        yield x


def sample(data: Source, split: str = "train", *, max_samples: int | None = 2000) -> tuple[Tensor, Tensor]:
    """The first `max_samples` samples (None: all) of `data`'s `split`, gathered: a fixed sample for statistics."""
    xs, ys = zip(*iter_batches(data, split, max_samples=max_samples), strict=True)
    return torch.cat(xs), torch.cat(ys)


def to_model(t: Tensor, like: Tensor) -> Tensor:
    """`t` on `like`'s device; floating tensors also in `like`'s dtype, integer ones (labels, tokens) kept."""
    return t.to(like.device, like.dtype) if t.is_floating_point() else t.to(like.device)


def task_of(outputs: Tensor, targets: Tensor) -> str:
    """The convention a batch follows: "classification" (outputs (B, C), integer targets (B,)), "next-token"
    (outputs (B, T, V), integer targets (B, T)) or "regression" (floating targets)."""
    if targets.is_floating_point():
        return "regression"
    if outputs.ndim == 3 and targets.ndim == 2 and outputs.shape[:2] == targets.shape:
        return "next-token"
    if outputs.ndim == 2 and targets.ndim == 1 and len(outputs) == len(targets):
        return "classification"
    raise DataError(f"outputs of shape {tuple(outputs.shape)} and integer targets of shape {tuple(targets.shape)} "
                    "follow no known convention (labels (B,) for (B, C) logits, tokens (B, T) for (B, T, V)); "
                    "pass a loss_fn")
