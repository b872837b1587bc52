"""Local energy of a binary network: the error increase after flipping a random fraction p of its weights.

δE(θ, p) = E_m[E(θ ⊙ (1 − 2m))] − E(θ), m_i ~ Bernoulli(p) independently for every binary weight (each
weight flipped with probability p), on a split of the data; a Monte Carlo mean over `samples` draws with
its standard error s / √samples. The binary analogue of the multiplicative-noise local energy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data import Dataset
from ..errors import ConfigError
from ..evaluate import evaluate
from ..params import state_of
from ._structure import Quotient, quotient_of

__all__ = ["BinaryLocalEnergy", "binary_local_energy"]


@dataclass(frozen=True)
class BinaryLocalEnergy:
    """δE at each flip fraction p with its Monte Carlo standard error (error of the unperturbed network: `base`)."""

    ps: tuple[float, ...]
    local_energy: tuple[float, ...]
    stderr: tuple[float, ...]
    base: float
    samples: int
    split: str

    def to_dict(self) -> dict:
        return {"ps": list(self.ps), "local_energy": list(self.local_energy), "stderr": list(self.stderr),
                "base": self.base, "samples": self.samples, "split": self.split}


def binary_local_energy(model: nn.Module, params: Mapping[str, Tensor] | None, data: Dataset,
                        ps: Sequence[float], *, samples: int = 16, split: str = "train",
                        generator: torch.Generator | None = None, quotient: Quotient | None = None,
                        callback: Callable[[int, int], None] | None = None) -> BinaryLocalEnergy:
    """δE(θ, p) for every p in `ps` (module docstring); the model is not modified."""
    quotient = quotient if quotient is not None else quotient_of(model)
    if not quotient.binary:
        raise ConfigError(f"binary_local_energy: {quotient.model} is not a binary network")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"binary_local_energy: samples must be an int >= 1, got {samples!r}")
    if not ps or any(not (isinstance(p, int | float) and 0 <= p <= 1) for p in ps):
        raise ConfigError(f"binary_local_energy: every p must be a fraction in [0, 1], got {list(ps)!r}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    theta = state_of(model) if params is None else dict(params)
    theta = {k: torch.sign(v) if v.is_floating_point() else v for k, v in theta.items()}
    base = evaluate(model, data, split, params=theta)["error"]
    if base is None:
        raise ConfigError("binary_local_energy: the error needs a classification task")
    means, errs = [], []
    for i, p in enumerate(ps):
        draws = []
        for _ in range(samples):
            flipped = {k: v * (1 - 2 * (torch.rand(v.shape, generator=gen) < p).to(v.dtype))
                       if v.is_floating_point() else v for k, v in theta.items()}
            draws.append(evaluate(model, data, split, params=flipped)["error"] - base)
        t = torch.tensor(draws, dtype=torch.float64)
        means.append(float(t.mean()))
        errs.append(float(t.std()) / math.sqrt(samples) if samples > 1 else 0.0)
        if callback is not None:
            callback(i + 1, len(ps))
    return BinaryLocalEnergy(tuple(map(float, ps)), tuple(means), tuple(errs), float(base), samples, split)
