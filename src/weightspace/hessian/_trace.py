"""Hutchinson's estimator of the Hessian trace.

tr H = E_z[zᵀ H z] for z with independent Rademacher (±1) entries; the estimate is the sample mean
over `samples` draws, with standard error s/√samples (s the sample standard deviation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError
from ._functional import LossFn, _Operator

__all__ = ["TraceEstimate", "trace_estimate", "CHUNK_ELEMENTS"]

CHUNK_ELEMENTS = 2**23
"""chunk=None batches as many probe vectors as fit in this many elements (32 MiB in float32), 1 to 64."""


@dataclass(frozen=True)
class TraceEstimate:
    """Hutchinson's estimate `mean` of tr H with its standard error `stderr` over `samples` draws."""

    mean: float
    stderr: float
    samples: int

    def __repr__(self) -> str:
        return f"TraceEstimate({self.mean:.6g} ± {self.stderr:.2g}, {self.samples} samples)"

    def to_dict(self) -> dict:
        return {"mean": self.mean, "stderr": self.stderr, "samples": self.samples}


def trace_estimate(loss_fn: LossFn, params: Mapping[str, Tensor], *, samples: int, generator: torch.Generator,
                   keys: Sequence[str] | None = None, chunk: int | None = None) -> TraceEstimate:
    """tr H ≈ (1/S) Σ_s z_sᵀ H z_s, z_s ∈ {±1}^n Rademacher from `generator`; S = `samples` ≥ 2.

    Products are batched `chunk` vectors at a time with `vmap`, which holds about `chunk` × (2 vectors + one
    HVP's intermediates); the default, None, is min(64, max(1, CHUNK_ELEMENTS // n)): 64 for n ≤ 131,072,
    one at a time for n > 4,194,304.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ConfigError(f"trace_estimate: samples must be an int >= 2 (for a standard error), got {samples!r}")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk <= 0):
        raise ConfigError(f"trace_estimate: chunk must be a positive int or None (memory-aware), got {chunk!r}")
    if not isinstance(generator, torch.Generator):
        raise ConfigError("trace_estimate: pass generator=torch.Generator().manual_seed(seed) for reproducibility")
    op = _Operator(loss_fn, params, keys, "trace_estimate")
    if chunk is None:
        chunk = min(64, max(1, CHUNK_ELEMENTS // op.n))
    quads = []
    for start in range(0, samples, chunk):
        c = min(chunk, samples - start)
        # drawn as int8 (the same stream as int64, 1/8 of the memory), then ±1 in the params' dtype
        z = torch.randint(0, 2, (c, op.n), generator=generator, dtype=torch.int8).to(dtype=op.dtype, device=op.device)
        z.mul_(2).sub_(1)  # (c, n)
        quads.append((z * op.matmat(z)).sum(dim=1).to(torch.float64).cpu())  # (c,) zᵀ H z
    q = torch.cat(quads)  # (samples,)
    return TraceEstimate(mean=float(q.mean()), stderr=float(q.std(correction=1)) / math.sqrt(samples),
                         samples=samples)
