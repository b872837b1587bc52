"""Replicated SGD (Baldassi et al. 2020, "Shaping the learning landscape in neural networks around wide flat
minima", PNAS; Pittorino et al. 2021, "Entropic gradient descent algorithms and wide flat minima", ICLR).

y replicas w_a of the network are coupled elastically to a center w_c; the replicated loss

    L_R(w_c, w_1..w_y) = Σ_a L(w_a) + (γ_t / 2) Σ_a ||w_a − w_c||²

is minimised by simultaneous gradient steps, with the coupling grown geometrically, γ_t = γ_0 (1 + γ_1)^t:

    w_a ← w_a − η [∇L(w_a) + γ_t (w_a − w_c)]        a = 1..y
    w_c ← w_c − η γ_t Σ_a (w_c − w_a)

The module's parameters hold the center w_c (what training returns); the replicas live in the optimizer's
state (saved in `state_dict`) and start at w_c + κ rms(w_c) ξ_a, ξ_a ~ N(0, I), κ = `init_noise`, so they
differ although every replica sees the step's minibatch. The closure must clear the gradients, recompute
the loss at the module's current weights and call backward; it runs once per replica (the weights are w_a
while it runs). The step returns the mean replica loss.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import ConfigError
from ._entropy_sgd import check_nonnegative, check_positive

__all__ = ["ReplicatedSGD"]


class ReplicatedSGD(torch.optim.Optimizer):
    """Replicated SGD on y coupled replicas with a growing coupling γ_t = γ_0 (1 + γ_1)^t; needs a closure.

    Args:
      params: the center w_c (updated in place).
      lr: η.
      replicas: y >= 1.
      gamma: γ_0.
      gamma_growth: γ_1 >= 0 (0: constant coupling).
      init_noise: κ, the replicas' initial spread relative to each tensor's root mean square.
      seed: seeds the replicas' initial noise.
    """

    needs_closure = True

    def __init__(self, params, lr: float = 0.05, *, replicas: int = 3, gamma: float = 0.01,
                 gamma_growth: float = 1e-3, init_noise: float = 0.1, seed: int = 0):
        check_positive("ReplicatedSGD", lr=lr, gamma=gamma)
        check_nonnegative("ReplicatedSGD", gamma_growth=gamma_growth, init_noise=init_noise)
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
            raise ConfigError(f"ReplicatedSGD: replicas must be an int >= 1, got {replicas!r}")
        super().__init__(params, {"lr": lr, "replicas": replicas, "gamma": gamma, "gamma_growth": gamma_growth,
                                  "init_noise": init_noise})
        self._seed = seed

    @torch.no_grad()
    def _replicas(self, p: Tensor, group: dict, gen: torch.Generator) -> Tensor:
        state = self.state[p]
        if "replicas" not in state:
            rms = p.detach().pow(2).mean().sqrt()
            scale = group["init_noise"] * (rms if rms > 0 else 1.0)
            xi = torch.randn((group["replicas"], *p.shape), generator=gen, dtype=p.dtype).to(p.device)
            state["replicas"] = p.detach().unsqueeze(0) + scale * xi  # (y, *p.shape)
            state["step"] = torch.zeros((), dtype=torch.int64)
        return state["replicas"]

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor:
        if closure is None:
            raise ConfigError("ReplicatedSGD.step needs a closure that recomputes the loss and its gradients")
        gen = torch.Generator().manual_seed(self._seed)
        pairs = [(g, p) for g in self.param_groups for p in g["params"]]
        reps = [self._replicas(p, g, gen) for g, p in pairs]
        center = [p.detach().clone() for _, p in pairs]
        y = reps[0].shape[0]
        grads = [torch.zeros_like(r) for r in reps]
        losses = []
        for a in range(y):
            for (_, p), r in zip(pairs, reps, strict=True):
                p.copy_(r[a])
            with torch.enable_grad():
                losses.append(closure().detach())
            for (_, p), gr in zip(pairs, grads, strict=True):
                if p.grad is not None:
                    gr[a].copy_(p.grad)
        for (g, p), r, gr, c in zip(pairs, reps, grads, center, strict=True):
            t = int(self.state[p]["step"])
            gamma = g["gamma"] * (1 + g["gamma_growth"]) ** t
            new_c = c - g["lr"] * gamma * (c.unsqueeze(0) - r).sum(0)
            r.sub_(g["lr"] * (gr + gamma * (r - c.unsqueeze(0))))
            p.copy_(new_c)
            self.state[p]["step"] += 1
        return torch.stack(losses).mean()
