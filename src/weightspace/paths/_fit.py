"""Curves fitted between two minimisers (Garipov et al. 2018; Pittorino et al. 2022): one fitter for the
polygonal chain with one bend and the quadratic Bezier curve.

    chain:  θ(t) = θ_A + 2t (θ_C − θ_A) for t ≤ 1/2,   θ_C + (2t − 1)(θ_B − θ_C) for t ≥ 1/2
    bezier: θ(t) = (1 − t)² θ_A + 2t(1 − t) θ_C + t² θ_B

Both are exact at their ends and are the straight line when the bend θ_C is the midpoint. `fit_curve`
minimises the expected loss along the curve, E_{t ~ U(0, 1)} L(θ(t)), over θ_C with Adam: every step
draws `samples` values of t (and, for `fit_model_curve`, one minibatch). `fit_model_curve` does this for any
model through functional calls on parameter dicts: BatchNorm runs in training mode, so its statistics are
those of the minibatch at θ(t) (on cloned buffers: nothing is updated in place), and
`evaluate_fitted_curve` recomputes the running statistics at every evaluated t before measuring.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import torch
from torch import Tensor, nn

from ..data import Dataset
from ..errors import ConfigError
from ..evaluate import criterion, fit_inputs
from ..params import Params, check_finite, check_same_structure, combine, first_float, forward
from ._barrier import PathCurve, evaluate_path
from ._bezier import BezierCurve, _point
from ._renormalize import reset_batchnorm

__all__ = ["CURVE_KINDS", "FittedCurve", "evaluate_fitted_curve", "fit_bezier", "fit_curve", "fit_model_curve",
           "minibatch_loss"]

CURVE_KINDS = ("chain", "bezier")


def _chain_point(t: float, a: Mapping[str, Tensor], c: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> Params:
    """The chain a → c → b at t (differentiable in c); integer buffers are a's."""
    if t <= 0.5:
        return combine([1 - 2 * t, 2 * t], [a, c])
    return combine([2 - 2 * t, 2 * t - 1], [c, b]) | {k: v.clone() for k, v in a.items() if not v.is_floating_point()}


_POINTS = {"chain": _chain_point, "bezier": _point}


@dataclass(frozen=True, repr=False)
class FittedCurve:
    """A chain with one bend or a quadratic Bezier curve from `start` to `end` through the fitted `bend`
    (a callable θ(t), exact at t = 0 and 1); `losses`: the fit's per-step mean loss."""

    kind: str
    start: Mapping[str, Tensor]
    bend: Mapping[str, Tensor]
    end: Mapping[str, Tensor]
    losses: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in CURVE_KINDS:
            raise ConfigError(f"FittedCurve: unknown kind {self.kind!r}; choose one of {', '.join(CURVE_KINDS)}")
        check_same_structure(self.start, self.end, what="FittedCurve: start and end")
        check_same_structure(self.start, self.bend, what="FittedCurve: start and bend")
        for name in ("start", "bend", "end"):
            frozen = MappingProxyType({k: v.detach().clone() for k, v in getattr(self, name).items()})
            object.__setattr__(self, name, frozen)

    def __call__(self, t: float) -> Params:
        t = float(t)
        if not 0.0 <= t <= 1.0:
            raise ConfigError(f"FittedCurve: t must lie in [0, 1], got {t!r}")
        if t == 0:
            return {k: v.clone() for k, v in self.start.items()}
        if t == 1:
            return {k: v.clone() for k, v in self.end.items()}
        return _POINTS[self.kind](t, self.start, self.bend, self.end)

    def __repr__(self) -> str:
        fit = f", fitted over {len(self.losses)} steps" if self.losses else ""
        return f"FittedCurve({self.kind}, {len(self.start)} tensors{fit})"


def _check_int(where: str, name: str, v, low: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ConfigError(f"{where}: {name} must be an int >= {low}, got {v!r}")


def fit_curve(loss_fn: Callable[[Params], Tensor], start: Mapping[str, Tensor], end: Mapping[str, Tensor], *,
              kind: str = "chain", bend: Mapping[str, Tensor] | None = None, keys: Sequence[str] | None = None,
              steps: int = 500, lr: float = 1e-2, samples: int = 1, schedule: str = "cosine",
              generator: torch.Generator, callback: Callable[[dict], None] | None = None) -> FittedCurve:
    """The chain or Bezier curve from `start` to `end` whose bend minimises E_{t ~ U(0, 1)} L(θ(t)).

    Args:
      loss_fn: L(θ) -> scalar tensor, differentiable; it may be stochastic (a new minibatch per call).
      start, end: the fixed ends θ_A, θ_B (same keys and shapes, else `ArchitectureMismatch`).
      kind: "chain" (one bend at t = 1/2) or "bezier" (control point).
      bend: the initial θ_C (default: the midpoint, i.e. the straight line).
      keys: the tensors of θ_C that are fitted (default: every floating tensor; the others stay at `bend`).
      steps, lr: Adam steps and learning rate; schedule: "cosine" (lr decays to 0) or "constant".
      samples: t drawn per step; the step's loss is their mean.
      generator: the source of t.
      callback: receives {"stage": kind, "step", "total_steps", "loss"} every 10 steps.
    Returns:
      the `FittedCurve`, with the per-step mean losses in `losses`.
    """
    where = "fit_curve"
    if kind not in CURVE_KINDS:
        raise ConfigError(f"{where}: unknown kind {kind!r}; choose one of {', '.join(CURVE_KINDS)}")
    if schedule not in ("cosine", "constant"):
        raise ConfigError(f"{where}: unknown schedule {schedule!r}; choose cosine or constant")
    check_same_structure(start, end, what=f"{where}: start and end")
    _check_int(where, "steps", steps, 0)
    _check_int(where, "samples", samples, 1)
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not (math.isfinite(lr) and lr > 0):
        raise ConfigError(f"{where}: lr must be a positive finite number, got {lr!r}")
    if not isinstance(generator, torch.Generator):
        raise ConfigError(f"{where}: pass generator=torch.Generator().manual_seed(seed) to sample t")
    check_finite(start, what=f"{where}: start")
    check_finite(end, what=f"{where}: end")
    init = combine([0.5, 0.5], [start, end]) if bend is None else dict(bend)
    check_same_structure(start, init, what=f"{where}: start and bend")
    fitted_keys = [k for k, v in init.items() if v.is_floating_point()] if keys is None else list(keys)
    unknown = [k for k in fitted_keys if k not in init or not init[k].is_floating_point()]
    if unknown:
        raise ConfigError(f"{where}: keys {unknown[:3]} are not floating tensors of the curve")
    point = _POINTS[kind]
    a = {k: v.detach() for k, v in start.items()}
    b = {k: v.detach() for k, v in end.items()}
    free = {k: init[k].detach().clone().requires_grad_(True) for k in fitted_keys}
    fixed = {k: v.detach() for k, v in init.items() if k not in free}
    opt = torch.optim.Adam(list(free.values()), lr=lr)
    losses = []
    for step in range(1, steps + 1):
        if schedule == "cosine":
            for g in opt.param_groups:
                g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / steps))
        c = {**fixed, **free}
        ts = torch.rand(samples, generator=generator, dtype=torch.float64).tolist()
        mean = sum(loss_fn(point(t, a, c, b)) for t in ts) / samples
        opt.zero_grad()
        mean.backward()
        opt.step()
        losses.append(float(mean.detach()))
        if callback is not None and (step % 10 == 0 or step == steps):
            callback({"stage": kind, "step": step, "total_steps": steps, "loss": losses[-1]})
    fitted = {k: (free[k].detach().clone() if k in free else v.clone()) for k, v in init.items()}
    return FittedCurve(kind, a, fitted, b, tuple(losses))


def fit_bezier(loss_fn: Callable[[Params], Tensor], start: Mapping[str, Tensor], end: Mapping[str, Tensor], *,
               control: Mapping[str, Tensor] | None = None, steps: int = 500, lr: float = 1e-2, samples: int = 4,
               generator: torch.Generator, callback: Callable[[dict], None] | None = None) -> BezierCurve:
    """`fit_curve(kind="bezier", schedule="constant")` returned as a `BezierCurve` (control point θ_C)."""
    fitted = fit_curve(loss_fn, start, end, kind="bezier", bend=control, steps=steps, lr=lr, samples=samples,
                       schedule="constant", generator=generator, callback=callback)
    return BezierCurve(fitted.start, fitted.bend, fitted.end, fitted.losses)


def _batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def minibatch_loss(model: nn.Module, data: Dataset, *, batch_size: int = 128, generator: torch.Generator,
                   split: str = "train") -> Callable[[Params], Tensor]:
    """L(θ) on a fresh random minibatch of `split` at every call (`criterion` of `model` at θ).

    The model runs on a private copy in training mode: BatchNorm normalises with the minibatch's statistics
    at θ; buffers are cloned per call, so θ's running statistics are never updated in place.
    """
    _check_int("minibatch_loss", "batch_size", batch_size, 1)
    if not isinstance(generator, torch.Generator):
        raise ConfigError("minibatch_loss: pass generator=torch.Generator().manual_seed(seed) to draw minibatches")
    net = copy.deepcopy(model).train()
    buffers = {k for k, _ in net.named_buffers()}
    x, y = data.split(split)
    x = fit_inputs(x, net)

    def loss_fn(params: Params) -> Tensor:
        ref = first_float(params)
        idx = torch.randperm(len(x), generator=generator)[:batch_size]
        yb = y[idx].to(ref.device)
        yb = yb.to(ref.dtype) if data.task == "regression" else yb
        p = {k: (v.detach().clone() if k in buffers else v) for k, v in params.items()}
        return criterion(data.task, forward(net, p, x[idx].to(ref.device, ref.dtype)), yb)

    return loss_fn


def fit_model_curve(model: nn.Module, data: Dataset, start: Mapping[str, Tensor], end: Mapping[str, Tensor], *,
                    kind: str = "chain", steps: int = 500, lr: float = 1e-2, batch_size: int = 128,
                    samples: int = 1, generator: torch.Generator,
                    callback: Callable[[dict], None] | None = None) -> FittedCurve:
    """`fit_curve` on `model`'s training loss over minibatches (`minibatch_loss`), fitting the bend's
    parameters (its buffers stay the midpoint's: `evaluate_fitted_curve` recomputes them per t)."""
    loss_fn = minibatch_loss(model, data, batch_size=batch_size, generator=generator)
    keys = [k for k, p in model.named_parameters() if k in start and p.is_floating_point()]
    return fit_curve(loss_fn, start, end, kind=kind, keys=keys, steps=steps, lr=lr, samples=samples,
                     generator=generator, callback=callback)


def evaluate_fitted_curve(model: nn.Module, curve: Callable[[float], Mapping[str, Tensor]], data: Dataset, *,
                          points: int = 25, split: str = "train", bn_samples: int = 2000,
                          callback: Callable[[int, int], None] | None = None) -> PathCurve:
    """Loss and error along `curve` on `split` (`evaluate_path`), BatchNorm running statistics recomputed at
    every evaluated t from the first `bn_samples` training inputs (`reset_batchnorm`)."""
    prepare = None
    if _batchnorm(model):
        _check_int("evaluate_fitted_curve", "bn_samples", bn_samples, 1)
        stats_x = fit_inputs(data.x_train[:bn_samples], model)

        def prepare(p: Params) -> Params:
            return reset_batchnorm(model, p, stats_x.to(first_float(p).dtype))
    return evaluate_path(model, curve, data, points=points, split=split, prepare=prepare, callback=callback)
