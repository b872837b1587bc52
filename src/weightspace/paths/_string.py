"""Minimum-energy paths between two parameter dicts by the string method (E, Ren & Vanden-Eijnden 2002).

Images θ_1 .. θ_(K−2) between fixed ends θ_0 = start and θ_(K−1) = end take gradient steps on the loss,
each step capped at `max_move` in norm, and are then redistributed at equal arc length along the
polyline. The relaxed path's height is the largest loss on the polyline refined `refine` times per
segment, so a path that must pass a ridge (e.g. det P_i = 0 between components of a linear minimum)
shows it. `string_method` takes `loss_fn, start, end` like `nudged_elastic_band`;
`minimum_energy_path(model, data, a, b)` is the same on a model's loss over a dataset split.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data import Dataset
from ..errors import ConfigError
from ..evaluate import criterion, fit_inputs
from ..params import Params, check_finite, check_same_structure, flatten, forward, select_keys, unflatten
from ._barrier import loss_curve
from ._chain import polygonal_chain

__all__ = ["MinimumEnergyPath", "dataset_loss", "minimum_energy_path", "string_method"]


@dataclass(frozen=True, repr=False)
class MinimumEnergyPath:
    """The relaxed images, the loss at each and the largest loss on the refined polyline."""

    images: tuple[Params, ...]
    loss: tuple[float, ...]
    alphas: tuple[float, ...]
    refined_alphas: tuple[float, ...]
    refined_loss: tuple[float, ...]
    steps: int

    @property
    def height(self) -> float:
        """max loss along the refined polyline."""
        return max(self.refined_loss)

    def path(self) -> Callable[[float], Params]:
        """The relaxed string as a polygonal chain θ(α) through its images at α_k = k/(K − 1)."""
        return polygonal_chain(self.images)

    def __repr__(self) -> str:
        return f"MinimumEnergyPath({len(self.images)} images, {self.steps} steps, height {self.height:.6g})"


def dataset_loss(model: nn.Module, data: Dataset, split: str = "train") -> Callable[[Params], Tensor]:
    """L(θ) = `criterion` of `model` at θ on the whole `split` of `data`, float64 (vmap-able; model unmodified)."""
    x, y = data.split(split)
    x = fit_inputs(x, model).to(torch.float64)
    y = y.to(torch.float64) if data.task == "regression" else y

    def loss_fn(params: Params) -> Tensor:
        return criterion(data.task, forward(model, params, x), y)

    return loss_fn


def _redistribute(path: Tensor) -> Tensor:
    """Images at equal arc length along the polyline `path` (K, D); the ends stay."""
    seg = (path[1:] - path[:-1]).norm(dim=1)  # (K − 1,)
    cum = torch.cat([torch.zeros(1, dtype=path.dtype), seg.cumsum(0)])
    if float(cum[-1]) == 0:
        return path
    target = torch.linspace(0, float(cum[-1]), len(path), dtype=path.dtype)
    idx = torch.searchsorted(cum, target[1:-1]).clamp(1, len(path) - 1)
    lo, hi = cum[idx - 1], cum[idx]
    w = ((target[1:-1] - lo) / (hi - lo).clamp_min(1e-300))[:, None]
    inner = (1 - w) * path[idx - 1] + w * path[idx]
    return torch.cat([path[:1], inner, path[-1:]])


def string_method(loss_fn: Callable[[Params], Tensor], start: Mapping[str, Tensor], end: Mapping[str, Tensor], *,
                  images: int = 17, steps: int = 300, step_size: float = 0.05, max_move: float = 0.05,
                  refine: int = 4, split: str = "train") -> MinimumEnergyPath:
    """Relax the straight path start → end into a minimum-energy path of `loss_fn`, float64.

    Args:
      loss_fn: L(θ) -> scalar tensor on a parameter dict (vmap-able; e.g. `dataset_loss` or `hessian.loss_of`).
      start, end: the fixed ends; every floating tensor moves, other entries are held at `start`'s.
      images: K >= 3 points including the ends.
      steps: gradient steps, each followed by equal-arc-length redistribution.
      step_size, max_move: step = step_size · ∇L, capped at `max_move` in norm.
      refine: evaluation points per polyline segment for the height.
      split: the name of the loss's data split (a label only).
    """
    where = "string_method"
    check_same_structure(start, end, what=f"{where}: start and end")
    if isinstance(images, bool) or not isinstance(images, int) or images < 3:
        raise ConfigError(f"{where}: images must be an int >= 3, got {images!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ConfigError(f"{where}: steps must be an int >= 0, got {steps!r}")
    if isinstance(refine, bool) or not isinstance(refine, int) or refine < 1:
        raise ConfigError(f"{where}: refine must be an int >= 1, got {refine!r}")
    check_finite(start, what=f"{where}: start")
    check_finite(end, what=f"{where}: end")
    keys = select_keys(start, None, where=where)
    like = {k: start[k].detach().to(torch.float64) for k in keys}
    rest = {k: v for k, v in start.items() if k not in like}
    va = flatten(like, keys)
    vb = flatten({k: end[k].detach().to(torch.float64) for k in keys}, keys)

    def point(vec: Tensor) -> Params:
        return {**rest, **unflatten(vec, like, keys)}

    grad = torch.func.vmap(torch.func.grad(lambda vec: loss_fn(point(vec))))
    s = torch.linspace(0, 1, images, dtype=torch.float64)[:, None]
    path = (1 - s) * va + s * vb  # (K, D)
    for _ in range(steps):
        g = grad(path[1:-1])  # (K − 2, D)
        move = step_size * g
        norm = move.norm(dim=1, keepdim=True)
        move = move * torch.clamp(max_move / norm.clamp_min(1e-300), max=1.0)
        path = torch.cat([path[:1], path[1:-1] - move, path[-1:]])
        path = _redistribute(path)
    imgs = tuple(point(p.clone()) for p in path)
    fine = tuple((i + t) / (images - 1) for i in range(images - 1)
                 for t in torch.linspace(0, 1, refine + 1, dtype=torch.float64)[:-1].tolist()) + (1.0,)
    refined = loss_curve(loss_fn, polygonal_chain(imgs), alphas=fine, split=split)  # every refine-th point: an image
    return MinimumEnergyPath(imgs, refined.loss[::refine], fine[::refine], fine, refined.loss, steps)


def minimum_energy_path(model: nn.Module, data: Dataset, a: Mapping[str, Tensor], b: Mapping[str, Tensor], *,
                        images: int = 17, steps: int = 300, step_size: float = 0.05, max_move: float = 0.05,
                        refine: int = 4, split: str = "train") -> MinimumEnergyPath:
    """`string_method` on `model`'s loss over `data`'s `split` (`dataset_loss`), from `a` to `b`.

    The model is evaluated with `functional_call` and not modified; see `string_method` for the options.
    """
    return string_method(dataset_loss(model, data, split), a, b, images=images, steps=steps, step_size=step_size,
                         max_move=max_move, refine=refine, split=split)
