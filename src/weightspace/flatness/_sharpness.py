"""Hessian measures of flatness at the same minimiser, for comparison with the local energy: the trace
tr H (Hutchinson, `weightspace.hessian.trace_estimate`) and the top eigenvalue λ_max (Lanczos,
`weightspace.hessian.lanczos`) of the mean loss on a split. For small σ the loss version of the local energy
is δL(θ, σ) ≈ (σ²/2) Σ_i θ_i² H_ii at a minimum: a θ-weighted trace.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data import Dataset
from ..errors import ConfigError
from ..evaluate import fit_inputs
from ..hessian import lanczos, loss_of, trace_estimate
from ..params import check_finite, first_float

__all__ = ["Sharpness", "hessian_sharpness"]


@dataclass(frozen=True)
class Sharpness:
    """tr H ± its standard error and λ_max of the Hessian of the mean loss on `split`."""

    trace: float
    trace_stderr: float
    top_eigenvalue: float
    split: str

    def to_dict(self) -> dict:
        return {"trace": self.trace, "trace_stderr": self.trace_stderr, "top_eigenvalue": self.top_eigenvalue,
                "split": self.split}


def hessian_sharpness(model: nn.Module, params: Mapping[str, Tensor], data: Dataset, *, generator: torch.Generator,
                      split: str = "train", trace_samples: int = 32, keys: Sequence[str] | None = None) -> Sharpness:
    """tr H (Hutchinson, `trace_samples` Rademacher vectors) and λ_max (Lanczos) at `params`, on a private
    eval-mode copy of `model` (BatchNorm uses its running statistics; the user's module is not modified)."""
    if not isinstance(generator, torch.Generator):
        raise ConfigError("hessian_sharpness: pass generator=torch.Generator().manual_seed(seed)")
    check_finite(params, what="hessian_sharpness: params")
    net = copy.deepcopy(model).eval()
    ref = first_float(params)
    x, y = data.split(split)
    x = fit_inputs(x, net).to(ref.device, ref.dtype)
    y = y.to(ref.device) if data.task == "classification" else y.to(ref.device, ref.dtype)
    kind = "cross_entropy" if data.task == "classification" else "mse"
    loss_fn, keys = loss_of(net, x, y, kind=kind, keys=keys)
    p = dict(params)
    tr = trace_estimate(loss_fn, p, samples=trace_samples, generator=generator, keys=keys)
    top, _ = lanczos(loss_fn, p, k=1, which="LA", keys=keys, generator=generator, vectors=False)
    return Sharpness(tr.mean, tr.stderr, float(top[-1]), split)
