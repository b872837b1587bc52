"""Barriers along a path θ(α), α ∈ [0, 1], for loss or error, and the one evaluator of a curve.

Two definitions are in use and both are named:
  "interpolation" (Sharma et al., default): max_α L(θ(α)) − ((1 − α) L(θ_0) + α L(θ_1));
  "mean" (Git Re-Basin):                   max_α L(θ(α)) − (L(θ_0) + L(θ_1)) / 2.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data import Source
from ..errors import ConfigError, NonFiniteError
from ..evaluate import ErrorFn, LossFn, evaluation
from ..params import Lerp, Params

__all__ = ["DEFINITIONS", "Barrier", "PathCurve", "barrier", "evaluate_curve", "evaluate_path", "loss_curve"]

DEFINITIONS = ("interpolation", "mean")


@dataclass(frozen=True)
class Barrier:
    """The barrier `value` of a curve, where it peaks (`alpha`) and the whole curve."""

    value: float
    alpha: float
    metric: str
    split: str
    definition: str
    alphas: tuple[float, ...]
    values: tuple[float, ...]

    def __repr__(self) -> str:
        return (f"Barrier({self.metric}/{self.split}, {self.definition}: {self.value:.4g} at α={self.alpha:.3g}, "
                f"{len(self.alphas)} points)")

    def to_dict(self) -> dict:
        return {"barrier": self.value, "alpha": self.alpha, "metric": self.metric, "split": self.split,
                "definition": self.definition, "alphas": list(self.alphas), "values": list(self.values)}


def barrier(alphas: Sequence[float], values: Sequence[float], *, definition: str = "interpolation",
            metric: str = "loss", split: str = "test") -> Barrier:
    """The barrier of the curve (α_k, L_k) under `definition` (the endpoints are α = 0 and α = 1).

    The α increase strictly; a value that is not finite raises `NonFiniteError` (a max that skipped it would
    hide a point where the path diverged).
    """
    if definition not in DEFINITIONS:
        raise ConfigError(f"barrier: unknown definition {definition!r}; choose one of {', '.join(DEFINITIONS)}")
    if len(alphas) != len(values) or len(alphas) < 2:
        raise ConfigError("barrier: need at least two points with one value each")
    if alphas[0] != 0 or alphas[-1] != 1:
        raise ConfigError(f"barrier: the curve must start at α = 0 and end at α = 1 (its endpoints), got "
                          f"{alphas[0]} .. {alphas[-1]}")
    if any(b <= a for a, b in itertools.pairwise(alphas)):
        raise ConfigError(f"barrier: the α must increase strictly from 0 to 1, got {list(alphas)}")
    diverged = [a for a, v in zip(alphas, values, strict=True) if not math.isfinite(v)]
    if diverged:
        raise NonFiniteError(f"barrier: the {metric} is not finite at α = {', '.join(f'{a:g}' for a in diverged[:5])}"
                             f" (NaN weights, or an overflow along the path)")
    a0, a1 = alphas[0], alphas[-1]
    l0, l1 = values[0], values[-1]
    gaps = []
    for a, v in zip(alphas, values, strict=True):
        t = (a - a0) / (a1 - a0)
        base = (1 - t) * l0 + t * l1 if definition == "interpolation" else (l0 + l1) / 2
        gaps.append(v - base)
    k = max(range(len(gaps)), key=gaps.__getitem__)
    return Barrier(float(gaps[k]), float(alphas[k]), metric, split, definition, tuple(map(float, alphas)),
                   tuple(map(float, values)))


@dataclass(frozen=True)
class PathCurve:
    """Loss and error (None for regression) at each α of a path, on one split."""

    split: str
    alphas: tuple[float, ...]
    loss: tuple[float, ...]
    error: tuple[float, ...] | None

    def barrier(self, metric: str = "loss", definition: str = "interpolation") -> Barrier:
        if metric not in ("loss", "error"):
            raise ConfigError(f"barrier: unknown metric {metric!r}; choose loss or error")
        if metric == "error" and self.error is None:
            raise ConfigError("barrier: the error is not defined for a regression task; use metric='loss'")
        values = self.loss if metric == "loss" else self.error
        return barrier(self.alphas, values, definition=definition, metric=metric, split=self.split)


def evaluate_curve(
    path: Callable[[float], Mapping[str, Tensor]],
    measure: Callable[[Params], tuple[float, float | None]],
    *,
    points: int = 25,
    split: str = "test",
    alphas: Sequence[float] | None = None,
    prepare: Callable[[Params], Params] | None = None,
    callback: Callable[[int, int], None] | None = None,
    where: str = "evaluate_curve",
) -> PathCurve:
    """(loss, error) = `measure(θ(α))` at `points` evenly spaced α ∈ [0, 1] (or at `alphas`): the one evaluator.

    `prepare` maps the path's parameters before measuring (BatchNorm reset, REPAIR) and, like `measure`,
    must not keep them: a linear path (`params.Lerp`) reuses one buffer for every point. `measure` returns
    an error of None where it is undefined (regression, a bare objective), and then the curve has none.
    """
    if alphas is None:
        if isinstance(points, bool) or not isinstance(points, int) or points < 2:
            raise ConfigError(f"{where}: points must be an integer >= 2, got {points!r}")
        alphas = torch.linspace(0, 1, points, dtype=torch.float64).tolist()
    loss, error = [], []
    # a linear path writes each θ(α) into one preallocated buffer; any other path builds a dict per point
    points = path.points(alphas) if isinstance(path, Lerp) else (path(a) for a in alphas)
    for i, point in enumerate(points):
        params = dict(point)
        if prepare is not None:
            params = prepare(params)
        value, err = measure(params)
        loss.append(float(value))
        error.append(err)
        if callback is not None:
            callback(i + 1, len(alphas))
    return PathCurve(split, tuple(alphas), tuple(loss), None if any(e is None for e in error) else tuple(error))


def evaluate_path(
    model: nn.Module,
    path: Callable[[float], Mapping[str, Tensor]],
    data: Source,
    *,
    points: int = 25,
    split: str = "test",
    alphas: Sequence[float] | None = None,
    prepare: Callable[[Params], Params] | None = None,
    callback: Callable[[int, int], None] | None = None,
    loss_fn: str | LossFn | None = None,
    error_fn: ErrorFn | None = None,
) -> PathCurve:
    """Loss and error of `model` on `data`'s `split` along `path` (one streamed pass over the split per point).

    `evaluate_curve` with `weightspace.evaluate.evaluation` (and its `loss_fn`, `error_fn`) as the measure;
    `data` is any source of batches; `prepare` maps the path's parameters before evaluation (BatchNorm reset,
    REPAIR). All of it, the path's points and `prepare` included, runs under `torch.inference_mode`: no
    autograd bookkeeping on any tensor it makes, and only floats come out.
    """

    with torch.inference_mode(), evaluation(model, data, split, loss_fn=loss_fn, error_fn=error_fn) as evaluate_at:

        def measure(params: Params) -> tuple[float, float | None]:
            r = evaluate_at(params)
            return r["loss"], r["error"]

        return evaluate_curve(path, measure, points=points, split=split, alphas=alphas, prepare=prepare,
                              callback=callback, where="evaluate_path")


def loss_curve(loss_fn: Callable[[Params], Tensor], path: Callable[[float], Mapping[str, Tensor]], *,
               points: int = 21, split: str = "train", alphas: Sequence[float] | None = None) -> PathCurve:
    """L(θ(α)) along `path` for an arbitrary objective `loss_fn(params) -> scalar` (e.g. with weight decay).

    `evaluate_curve` with `loss_fn` (no gradient) as the measure; the curve has no error.
    """

    @torch.no_grad()
    def measure(params: Params) -> tuple[float, None]:
        return float(loss_fn(params)), None

    return evaluate_curve(path, measure, points=points, split=split, alphas=alphas, where="loss_curve")
