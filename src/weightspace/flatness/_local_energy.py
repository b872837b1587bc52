"""Local energy (Pittorino et al. 2022): the mean rise of the training error under multiplicative noise,

    δE(θ, σ) = E_z[E(θ ⊙ (1 + σ z))] − E(θ),    z ~ N(0, I),

as a curve over a grid of σ ≥ 0, estimated by Monte Carlo over `samples` draws with standard error
s/√samples (s the sample standard deviation over draws; NaN for one draw). The same draws z_1..z_N serve
every σ (common random numbers: the curve is smooth in σ). E is the error (fraction misclassified) or the
mean loss (`metric="loss"`, also for regression) on a split.

For binary networks (`flip_energy`) the perturbation flips the sign of a random fraction p of the weights
instead: exactly round(p n) of the n entries of the given tensors, the first ones of one random order per
draw (so the flipped sets are nested in p).

Perturbed networks are evaluated `chunk` at a time, stacked and mapped with `torch.func.vmap` over
`functional_call` (`batched=False`: one at a time; both give the same networks in the same order).
The model is evaluated on a private copy in evaluation mode: BatchNorm uses its running statistics, which
are never perturbed (only parameters are, not buffers), and the user's module is never modified.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import Dataset
from ..errors import ConfigError
from ..evaluate import fit_inputs
from ..params import Params, check_finite, first_float, forward

__all__ = ["METRICS", "LocalEnergy", "flip_energy", "local_energy"]

METRICS = ("error", "loss")


@dataclass(frozen=True)
class LocalEnergy:
    """δE at each noise level (σ, or the flipped fraction p) with its Monte Carlo standard error."""

    levels: tuple[float, ...]
    local_energy: tuple[float, ...]
    stderr: tuple[float, ...]
    base: float
    samples: int
    metric: str
    split: str
    perturbation: str  # "gaussian" (levels are σ) or "flip" (levels are p)

    @property
    def sigmas(self) -> tuple[float, ...]:
        return self.levels

    def at(self, level: float) -> float:
        """δE at the level `level` of the grid."""
        if level not in self.levels:
            raise ConfigError(f"LocalEnergy.at: {level!r} is not on the grid {list(self.levels)}")
        return self.local_energy[self.levels.index(level)]

    def __repr__(self) -> str:
        name = "σ" if self.perturbation == "gaussian" else "p"
        return (f"LocalEnergy({self.metric}/{self.split}, {len(self.levels)} values of {name} up to "
                f"{max(self.levels):.3g}, δE max {max(self.local_energy):.4g}, {self.samples} draws)")

    def to_dict(self) -> dict:
        key = "sigmas" if self.perturbation == "gaussian" else "fractions"
        return {key: list(self.levels), "local_energy": list(self.local_energy), "stderr": list(self.stderr),
                "base": self.base, "samples": self.samples, "metric": self.metric, "split": self.split,
                "perturbation": self.perturbation}


def _check_levels(levels: Sequence[float], name: str, where: str, upper: float | None = None) -> tuple[float, ...]:
    if isinstance(levels, str) or not isinstance(levels, Sequence) or len(levels) == 0:
        raise ConfigError(f"{where}: {name} must be a non-empty sequence of numbers, got {levels!r}")
    out = []
    for v in levels:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise ConfigError(f"{where}: every {name[:-1]} must be a finite number >= 0, got {v!r}")
        if upper is not None and v > upper:
            raise ConfigError(f"{where}: every {name[:-1]} must be <= {upper:g}, got {v!r}")
        out.append(float(v))
    return tuple(out)


def _check_common(model, params, data, split, metric, samples, chunk, batch_size, generator, keys, where):
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{where}: model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"{where}: samples must be an int >= 1, got {samples!r}")
    for name, v in (("chunk", chunk), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{where}: {name} must be an int >= 1, got {v!r}")
    if metric not in METRICS:
        raise ConfigError(f"{where}: unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if metric == "error" and data.task != "classification":
        raise ConfigError(f"{where}: the error is not defined for the regression task of {data.name}; use "
                          "metric='loss'")
    if not isinstance(generator, torch.Generator):
        raise ConfigError(f"{where}: pass generator=torch.Generator().manual_seed(seed) to draw the noise")
    check_finite(params, what=f"{where}: params")
    if keys is None:
        keys = tuple(k for k, _ in model.named_parameters() if k in params and params[k].is_floating_point())
    else:
        keys = tuple(keys)
        missing = [k for k in keys if k not in params or not params[k].is_floating_point()]
        if missing:
            raise ConfigError(f"{where}: keys {missing[:3]} are not floating tensors of params")
    if not keys:
        raise ConfigError(f"{where}: no parameters to perturb")
    return keys


def _per_network(out: Tensor, y: Tensor, task: str, metric: str) -> Tensor:
    """Σ over the batch of the error count or the loss, per network: out (c, b, ...) -> (c,)."""
    c, b = out.shape[:2]
    if metric == "error":
        return (out.argmax(-1) != y).sum(-1).to(torch.float64)
    if task == "classification":
        ce = F.cross_entropy(out.reshape(c * b, -1), y.repeat(c), reduction="none")
        return ce.reshape(c, b).to(torch.float64).sum(-1)
    diff = out.reshape(c, b, -1) - y.reshape(1, b, -1)  # the loss of `evaluate.criterion`, summed over samples
    return (diff * diff).reshape(c, -1).to(torch.float64).sum(-1)


def _scan(model: nn.Module, params: Mapping[str, Tensor], data: Dataset, levels: tuple[float, ...], *,
          draw: Callable[[torch.Generator], object], apply: Callable[[Params, object, float], Params],
          samples: int, generator: torch.Generator, keys: tuple[str, ...], metric: str, split: str, chunk: int,
          batch_size: int, batched: bool, perturbation: str,
          callback: Callable[[dict], None] | None) -> LocalEnergy:
    net = copy.deepcopy(model).eval()
    ref = first_float(params)
    x, y = data.split(split)
    x = fit_inputs(x, net).to(ref.device, ref.dtype)
    y = y.to(ref.device)
    if data.task == "regression":
        y = y.to(ref.dtype)
    n = len(x)
    fixed = {k: v for k, v in params.items() if k not in keys}
    theta = {k: params[k].detach() for k in keys}

    def values(nets: list[Params]) -> Tensor:  # E at each network, (len(nets),) float64
        total = torch.zeros(len(nets), dtype=torch.float64, device=ref.device)
        with torch.no_grad():
            for i in range(0, n, batch_size):
                xb, yb = x[i:i + batch_size], y[i:i + batch_size]
                if batched:
                    stacked = {k: torch.stack([p[k] for p in nets]) for k in keys}  # (c, *shape)
                    out = torch.func.vmap(lambda p, xb=xb: forward(net, {**fixed, **p}, xb))(stacked)
                else:
                    out = torch.stack([forward(net, {**fixed, **p}, xb) for p in nets])  # (c, b, ...)
                total += _per_network(out, yb, data.task, metric)
        return total / n

    pending: list[Params] = [theta]  # the unperturbed network is evaluated like the others
    results: list[Tensor] = []
    total_nets = 1 + samples * len(levels)
    done = 0
    for _ in range(samples):
        noise = draw(generator)
        for level in levels:
            pending.append(apply(theta, noise, level))
            if len(pending) == chunk:
                results.append(values(pending))
                done += len(pending)
                pending = []
                if callback is not None:
                    callback({"stage": perturbation, "step": done, "total_steps": total_nets})
    if pending:
        results.append(values(pending))
        if callback is not None:
            callback({"stage": perturbation, "step": total_nets, "total_steps": total_nets})
    e = torch.cat(results).cpu()
    base = e[0]
    rise = (e[1:] - base).reshape(samples, len(levels))  # (samples, levels)
    mean = rise.mean(0)
    err = rise.std(0, correction=1) / math.sqrt(samples) if samples > 1 else torch.full_like(mean, float("nan"))
    return LocalEnergy(levels, tuple(mean.tolist()), tuple(err.tolist()), float(base), samples, metric, split,
                       perturbation)


def local_energy(model: nn.Module, params: Mapping[str, Tensor], data: Dataset, *,
                 sigmas: Sequence[float], samples: int, generator: torch.Generator, metric: str = "error",
                 split: str = "train", keys: Sequence[str] | None = None, chunk: int = 32, batch_size: int = 2048,
                 batched: bool = True, callback: Callable[[dict], None] | None = None) -> LocalEnergy:
    """δE(θ, σ) = E_z[E(θ ⊙ (1 + σ z))] − E(θ) for σ in `sigmas`, over `samples` draws z ~ N(0, I).

    Args:
      model: the architecture (a zoo model or any module); evaluated at `params` on a private copy, eval mode.
      params: θ, a state dict (buffers such as BatchNorm statistics are used as they are).
      sigmas: the noise levels σ >= 0.
      samples: the number N >= 1 of draws z (shared by every σ).
      generator: the source of z.
      metric: "error" (fraction misclassified) or "loss" (the mean loss of `weightspace.evaluate.criterion`).
      split: the split E is measured on ("train" in the paper).
      keys: the tensors perturbed (default: every parameter of `model`; buffers never).
      chunk: perturbed networks evaluated per vmapped call; batch_size: examples per call.
      batched: False evaluates the networks one at a time (the same networks, for comparison).
      callback: receives {"stage": "gaussian", "step", "total_steps"} as networks are evaluated.
    Returns:
      `LocalEnergy` with δE and its standard error at each σ, and E(θ) as `base`.
    """
    where = "local_energy"
    levels = _check_levels(sigmas, "sigmas", where)
    keys = _check_common(model, params, data, split, metric, samples, chunk, batch_size, generator, keys, where)

    def draw(gen: torch.Generator) -> Params:
        return {k: torch.randn(params[k].shape, generator=gen, dtype=params[k].dtype).to(params[k].device)
                for k in keys}

    def apply(theta: Params, z: Params, sigma: float) -> Params:
        return {k: theta[k] * (1 + sigma * z[k]) for k in keys}

    return _scan(model, params, data, levels, draw=draw, apply=apply, samples=samples, generator=generator,
                 keys=keys, metric=metric, split=split, chunk=chunk, batch_size=batch_size, batched=batched,
                 perturbation="gaussian", callback=callback)


def flip_energy(model: nn.Module, params: Mapping[str, Tensor], data: Dataset, *,
                fractions: Sequence[float], samples: int, generator: torch.Generator, metric: str = "error",
                split: str = "train", keys: Sequence[str] | None = None, chunk: int = 32, batch_size: int = 2048,
                batched: bool = True, callback: Callable[[dict], None] | None = None) -> LocalEnergy:
    """The local energy of a binary network: the mean rise of E after flipping the sign of a fraction p of the
    weights, p in `fractions` ⊂ [0, 1], over `samples` random choices.

    Exactly round(p n) of the n entries of the tensors `keys` flip (default: every parameter with two or more
    dimensions, i.e. the weight matrices and kernels, whose signs are a binary network's weights); the other
    arguments are those of `local_energy`.
    """
    where = "flip_energy"
    levels = _check_levels(fractions, "fractions", where, upper=1.0)
    if keys is None and isinstance(model, nn.Module):
        keys = tuple(k for k, p in model.named_parameters() if p.ndim >= 2 and k in params)
    keys = _check_common(model, params, data, split, metric, samples, chunk, batch_size, generator, keys, where)
    sizes = [params[k].numel() for k in keys]
    total = sum(sizes)

    def draw(gen: torch.Generator) -> Tensor:
        return torch.randperm(total, generator=gen)  # flip its first round(p n) entries

    def apply(theta: Params, order: Tensor, p: float) -> Params:
        sign = torch.ones(total, dtype=first_float(theta).dtype)
        sign[order[:round(p * total)]] = -1
        parts = torch.split(sign.to(first_float(theta).device), sizes)
        return {k: theta[k] * s.reshape(theta[k].shape) for k, s in zip(keys, parts, strict=True)}

    return _scan(model, params, data, levels, draw=draw, apply=apply, samples=samples, generator=generator,
                 keys=keys, metric=metric, split=split, chunk=chunk, batch_size=batch_size, batched=batched,
                 perturbation="flip", callback=callback)
