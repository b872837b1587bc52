"""Minimum-energy paths between two parameter dicts by the string method (E, Ren & Vanden-Eijnden 2002).

Images θ_1 .. θ_(K−2) between fixed ends θ_0 = a and θ_(K−1) = b take gradient steps on the loss, each
step capped at `max_move` in norm, and are then redistributed at equal arc length along the polyline. The
relaxed path's height is the largest loss on the polyline refined `refine` times per segment, so a path
that must pass a ridge (e.g. det P_i = 0 between components of a linear minimum) shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data import Dataset
from ..errors import ConfigError
from ..evaluate import criterion, evaluate, fit_inputs
from ..params import Params, check_same_structure, forward

__all__ = ["MinimumEnergyPath", "minimum_energy_path"]


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

    def __repr__(self) -> str:
        return f"MinimumEnergyPath({len(self.images)} images, {self.steps} steps, height {self.height:.6g})"


def _keys(params: Mapping[str, Tensor]) -> list[str]:
    return [k for k in params if params[k].is_floating_point()]


def _unflatten(vec: Tensor, like: Mapping[str, Tensor], keys: list[str]) -> Params:
    out, i = dict(like), 0
    for k in keys:
        n = like[k].numel()
        out[k] = vec[i : i + n].reshape(like[k].shape)
        i += n
    return out


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


def minimum_energy_path(model: nn.Module, data: Dataset, a: Mapping[str, Tensor], b: Mapping[str, Tensor], *,
                        images: int = 17, steps: int = 300, step_size: float = 0.05, max_move: float = 0.05,
                        refine: int = 4, split: str = "train") -> MinimumEnergyPath:
    """Relax the straight path a → b into a minimum-energy path (string method), float64.

    Args:
      model: the architecture (evaluated with `functional_call`, not modified).
      data: the loss's data (`split`).
      a, b: the fixed ends.
      images: K >= 3 points including the ends.
      steps: gradient steps, each followed by equal-arc-length redistribution.
      step_size, max_move: step = step_size · ∇L, capped at `max_move` in norm.
      refine: evaluation points per polyline segment for the height.
    """
    check_same_structure(a, b)
    if isinstance(images, bool) or not isinstance(images, int) or images < 3:
        raise ConfigError(f"minimum_energy_path: images must be an int >= 3, got {images!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ConfigError(f"minimum_energy_path: steps must be an int >= 0, got {steps!r}")
    keys = _keys(a)
    like = {k: v.detach().to(torch.float64) if v.is_floating_point() else v for k, v in a.items()}
    va = torch.cat([like[k].reshape(-1) for k in keys])
    vb = torch.cat([b[k].detach().to(torch.float64).reshape(-1) for k in keys])
    x, y = data.split(split)
    x = fit_inputs(x, model).to(torch.float64)
    y = y.to(torch.float64) if data.task == "regression" else y

    def loss(vec: Tensor) -> Tensor:
        return criterion(data.task, forward(model, _unflatten(vec, like, keys), x), y)

    grad = torch.func.vmap(torch.func.grad(loss))
    s = torch.linspace(0, 1, images, dtype=torch.float64)[:, None]
    path = (1 - s) * va + s * vb  # (K, D)
    for _ in range(steps):
        g = grad(path[1:-1])  # (K − 2, D)
        move = step_size * g
        norm = move.norm(dim=1, keepdim=True)
        move = move * torch.clamp(max_move / norm.clamp_min(1e-300), max=1.0)
        path = torch.cat([path[:1], path[1:-1] - move, path[-1:]])
        path = _redistribute(path)
    imgs = tuple(_unflatten(p.clone(), like, keys) for p in path)
    vals = tuple(evaluate(model, data, split, params=p)["loss"] for p in imgs)
    fine, where = [], []
    for i, (p, q) in enumerate(zip(path[:-1], path[1:], strict=True)):
        for t in torch.linspace(0, 1, refine + 1, dtype=torch.float64)[:-1].tolist():
            fine.append(evaluate(model, data, split, params=_unflatten((1 - t) * p + t * q, like, keys))["loss"])
            where.append((i + t) / (images - 1))
    fine.append(vals[-1])
    where.append(1.0)
    alphas = tuple(float(v) for v in torch.linspace(0, 1, images, dtype=torch.float64))
    return MinimumEnergyPath(imgs, vals, alphas, tuple(where), tuple(fine), steps)
