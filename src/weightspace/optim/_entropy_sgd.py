"""Entropy-SGD (Chaudhari et al. 2017, "Entropy-SGD: biasing gradient descent into wide valleys", Algorithm 1).

Each outer step runs L steps of stochastic gradient Langevin dynamics on the local-entropy objective
f(x') + (γ/2)||x − x'||² around the current weights x, keeping an exponential average μ of x':

    x', μ ← x
    for i = 1..L:  dx' = ∇f(x') − γ (x − x')
                   x' ← x' − η' dx' + √η' ε ξ,   ξ ~ N(0, I)
                   μ  ← (1 − α) μ + α x'
    x ← x − η γ (x − μ)

η is the group's `lr` (a learning-rate schedule acts on it), η' = `inner_lr`, ε = `noise`, α = `alpha`.
The gradient ∇f(x') is the closure's: it must clear the gradients, recompute the loss at the module's
current weights and call backward (the weights are x' while it runs).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import ConfigError

__all__ = ["EntropySGD"]


def check_positive(where: str, **values: float) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
            raise ConfigError(f"{where}: {name} must be a positive finite number, got {v!r}")


def check_nonnegative(where: str, **values: float) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise ConfigError(f"{where}: {name} must be a finite number >= 0, got {v!r}")


class EntropySGD(torch.optim.Optimizer):
    """Entropy-SGD with L Langevin steps per update (Chaudhari et al. 2017, Algorithm 1); needs a closure.

    Args:
      params: the parameters x (updated in place, as any torch optimizer).
      lr: η, the outer step on x.
      inner_lr: η', the Langevin step size.
      langevin_steps: L.
      gamma: γ, the scope of the local entropy (coupling of x' to x).
      noise: ε, the thermal noise of the Langevin steps (0: plain gradient steps).
      alpha: α, the weight of the exponential average μ of x'.
      seed: seeds this optimizer's own noise generator (its state is saved in `state_dict`).
    """

    needs_closure = True

    def __init__(self, params, lr: float = 0.1, *, inner_lr: float = 0.1, langevin_steps: int = 5,
                 gamma: float = 0.03, noise: float = 1e-4, alpha: float = 0.75, seed: int = 0):
        check_positive("EntropySGD", lr=lr, inner_lr=inner_lr, gamma=gamma)
        check_nonnegative("EntropySGD", noise=noise)
        if not 0 < alpha <= 1:
            raise ConfigError(f"EntropySGD: alpha must lie in (0, 1], got {alpha!r}")
        if isinstance(langevin_steps, bool) or not isinstance(langevin_steps, int) or langevin_steps < 1:
            raise ConfigError(f"EntropySGD: langevin_steps must be an int >= 1, got {langevin_steps!r}")
        super().__init__(params, {"lr": lr, "inner_lr": inner_lr, "langevin_steps": langevin_steps,
                                  "gamma": gamma, "noise": noise, "alpha": alpha})
        self._generator = torch.Generator().manual_seed(seed)

    def _rng(self) -> torch.Generator:
        """The noise generator, restored from the state dict after `load_state_dict` (resumable runs)."""
        first = self.param_groups[0]["params"][0]
        saved = self.state[first].get("rng")
        if saved is not None:
            self._generator.set_state(saved.to(torch.uint8).cpu())  # load_state_dict casts it to the dtype
        return self._generator

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor:
        if closure is None:
            raise ConfigError("EntropySGD.step needs a closure that recomputes the loss and its gradients")
        gen = self._rng()
        params = [p for g in self.param_groups for p in g["params"]]
        x = [p.detach().clone() for p in params]
        mu = [p.detach().clone() for p in params]
        first_loss = None
        steps = self.param_groups[0]["langevin_steps"]
        for _ in range(steps):
            with torch.enable_grad():
                loss = closure()
            first_loss = loss if first_loss is None else first_loss
            i = 0
            for g in self.param_groups:
                for p in g["params"]:
                    grad = p.grad if p.grad is not None else torch.zeros_like(p)
                    dx = grad - g["gamma"] * (x[i] - p)
                    p.add_(dx, alpha=-g["inner_lr"])
                    if g["noise"] > 0:
                        xi = torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device)
                        p.add_(xi, alpha=math.sqrt(g["inner_lr"]) * g["noise"])
                    mu[i].mul_(1 - g["alpha"]).add_(p, alpha=g["alpha"])
                    i += 1
        i = 0
        for g in self.param_groups:
            for p in g["params"]:
                p.copy_(x[i] - g["lr"] * g["gamma"] * (x[i] - mu[i]))
                i += 1
        self.state[params[0]]["rng"] = gen.get_state()
        return first_loss
