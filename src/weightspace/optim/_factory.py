"""One factory for every optimiser `weightspace.train` can use, and the step that feeds closures to those
that need one.

    sgd             torch.optim.SGD (heavy-ball momentum)
    adam            torch.optim.Adam
    sam             SAM (Foret et al. 2021) from pytorch_optimizer over SGD with momentum: the step at
                    θ + ρ g/||g|| (g the gradient at θ) applied at θ
    entropy-sgd     `EntropySGD` (Chaudhari et al. 2017)
    replicated-sgd  `ReplicatedSGD` (Baldassi et al. 2020, Pittorino et al. 2021)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

import torch
from torch import Tensor

from ..errors import ConfigError
from ._entropy_sgd import EntropySGD
from ._replicated_sgd import ReplicatedSGD

__all__ = ["OPTIMIZERS", "make_optimizer", "needs_closure", "optimizer_step"]

OPTIMIZERS = ("sgd", "adam", "sam", "entropy-sgd", "replicated-sgd")

_EXTRA = {  # hyperparameters beyond lr, momentum, weight_decay
    "sgd": (), "adam": (),
    "sam": ("rho", "adaptive"),
    "entropy-sgd": ("inner_lr", "langevin_steps", "gamma", "noise", "alpha", "seed"),
    "replicated-sgd": ("replicas", "gamma", "gamma_growth", "init_noise", "seed"),
}


def make_optimizer(name: str, params: Iterable[Tensor], *, lr: float, momentum: float = 0.0,
                   weight_decay: float = 0.0, **hyper) -> torch.optim.Optimizer:
    """The optimiser `name` (one of `OPTIMIZERS`) over `params`.

    `momentum` is SGD's and SAM's heavy ball (Adam has its betas; Entropy-SGD and replicated SGD follow
    their papers' plain updates, so a nonzero momentum is refused there, as is weight decay); `hyper` holds
    the optimiser's own settings: sam: rho (default 0.05), adaptive; entropy-sgd: inner_lr, langevin_steps,
    gamma, noise, alpha, seed; replicated-sgd: replicas, gamma, gamma_growth, init_noise, seed.
    """
    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    unknown = sorted(set(hyper) - set(_EXTRA[name]))
    if unknown:
        known = ", ".join(_EXTRA[name]) or "none"
        raise ConfigError(f"optimizer {name}: unknown options {unknown}; it takes {known}")
    params = list(params)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sam":
        from pytorch_optimizer import SAM

        return SAM(params, torch.optim.SGD, rho=hyper.get("rho", 0.05), adaptive=hyper.get("adaptive", False),
                   lr=lr, momentum=momentum, weight_decay=weight_decay)
    if momentum or weight_decay:
        raise ConfigError(f"optimizer {name}: momentum and weight decay are not part of its update rule; "
                          "pass momentum=0 and weight_decay=0")
    cls = EntropySGD if name == "entropy-sgd" else ReplicatedSGD
    return cls(params, lr=lr, **hyper)


def needs_closure(opt: torch.optim.Optimizer) -> bool:
    """Whether `opt.step` must be given a closure (SAM, Entropy-SGD, replicated SGD)."""
    library = sys.modules.get("pytorch_optimizer")  # not imported: no SAM exists (its import costs seconds)
    return getattr(opt, "needs_closure", False) or (library is not None and isinstance(opt, library.SAM))


def optimizer_step(opt: torch.optim.Optimizer, closure: Callable[[], Tensor]) -> None:
    """One update after the gradients at the current weights are computed: `opt.step(closure)` for the
    optimisers that re-evaluate the loss (the closure clears the gradients, recomputes the loss and calls
    backward), `opt.step()` for the others."""
    if needs_closure(opt):
        opt.step(closure)
    else:
        opt.step()
