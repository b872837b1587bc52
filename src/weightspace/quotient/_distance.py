"""Distances on the quotient, between canonical forms aligned to each other.

For corresponding units k of a sphere (rows u_k, v_k; unit vectors in the canonical form),
cos_k = ⟨u_k, v_k⟩ / (|u_k| |v_k|) and θ_k = arccos(cos_k) ∈ [0, π]. Reported:
  per-layer mean angle  (1/n_S) Σ_{k ∈ S} θ_k for each sphere S (radians);
  mean angle            the mean of θ_k over every unit of every sphere;
  normalised distance   d = mean over every unit of (1 − cos_k)/2 ∈ [0, 1] (0: the same point of the quotient,
                        1: every unit antipodal); for binary ±1 rows (1 − cos_k)/2 is the Hamming fraction.
Binary networks also have the Hamming distance: the fraction of binary weights that differ after alignment.
Function space (no alignment needed): the fraction of inputs of a split on which the predictions (argmax)
differ, and the output L2 distance sqrt(mean_x |f_A(x) − f_B(x)|²) between the canonical forms (output
layers at unit norm, so the distance does not depend on the representatives).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data import Dataset
from ..errors import ConfigError, DataError
from ..evaluate import eval_mode, fit_inputs
from ..params import Params, check_same_structure, first_float, forward
from ._align import align_to
from ._canonical import canonical_form, canonical_scale
from ._structure import Quotient, quotient_of

__all__ = ["FunctionDistance", "PairwiseDistances", "QuotientDistance", "function_distance", "hamming_distance",
           "pairwise_distances", "quotient_distance", "unit_cosines"]


def unit_cosines(quotient: Quotient, a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """{sphere name: (n,) cosines between corresponding units of `a` and `b`} (zero rows count as cos = 1)."""
    out = {}
    for s in quotient.spheres:
        u, v = s.matrix(a).to(torch.float64), s.matrix(b).to(torch.float64)  # (n, d)
        nu, nv = u.norm(dim=1), v.norm(dim=1)
        cos = (u * v).sum(dim=1) / (nu * nv).clamp_min(torch.finfo(torch.float64).tiny)
        out[s.name] = torch.where((nu == 0) & (nv == 0), 1.0, cos.clamp(-1.0, 1.0))
    return out


@dataclass(frozen=True)
class QuotientDistance:
    """Angles and the normalised distance between two aligned canonical forms (definitions: module docstring)."""

    layers: tuple[str, ...]
    angles: tuple[float, ...]
    mean_angle: float
    normalized: float
    units: int
    hamming: float | None = None

    def __repr__(self) -> str:
        extra = f", hamming={self.hamming:.4g}" if self.hamming is not None else ""
        return (f"QuotientDistance(mean angle {self.mean_angle:.4g} rad, normalised {self.normalized:.4g}{extra}; "
                f"{self.units} units in {len(self.layers)} layers)")

    def to_dict(self) -> dict:
        return {"mean_angle": self.mean_angle, "normalized": self.normalized, "hamming": self.hamming,
                "units": self.units, "layers": dict(zip(self.layers, self.angles, strict=True))}


def _distance(quotient: Quotient, a: Params, b: Params) -> QuotientDistance:
    cos = unit_cosines(quotient, a, b)
    angles = {k: torch.arccos(c) for k, c in cos.items()}
    every = torch.cat(list(cos.values()))
    hamming = None
    if quotient.binary:
        n = sum(v.numel() for v in a.values() if v.is_floating_point())
        hamming = sum(int((a[k] != b[k]).sum()) for k, v in a.items() if v.is_floating_point()) / n
    return QuotientDistance(tuple(angles), tuple(float(t.mean()) for t in angles.values()),
                            float(torch.arccos(every).mean()), float(((1 - every) / 2).mean()), len(every), hamming)


def quotient_distance(model: nn.Module, a: Mapping[str, Tensor], b: Mapping[str, Tensor], *,
                      method: str | None = None, quotient: Quotient | None = None) -> QuotientDistance:
    """The distance between `a` and `b` on the quotient: both canonicalised, `b` aligned to `a` by `method`."""
    quotient = quotient if quotient is not None else quotient_of(model)
    ref, other = align_to(model, b, a, method=method, quotient=quotient)
    return _distance(quotient, ref, other)


def hamming_distance(model: nn.Module, a: Mapping[str, Tensor], b: Mapping[str, Tensor], *,
                     quotient: Quotient | None = None) -> float:
    """Binary networks: the fraction of binary weights that differ once `b` is sign-aware aligned to `a`."""
    quotient = quotient if quotient is not None else quotient_of(model)
    if not quotient.binary:
        raise ConfigError(f"hamming_distance: {quotient.model} is not a binary network; use quotient_distance")
    return quotient_distance(model, a, b, quotient=quotient).hamming


@dataclass(frozen=True)
class FunctionDistance:
    """Fraction of differing predictions and the output L2 distance on `split` (definitions: module docstring)."""

    disagreement: float
    output_l2: float
    split: str

    def to_dict(self) -> dict:
        return {"disagreement": self.disagreement, "output_l2": self.output_l2, "split": self.split}


@torch.no_grad()
def _outputs(model: nn.Module, params: Params, x: Tensor, batch_size: int = 2048) -> Tensor:
    ref = first_float(params)
    outs = [forward(model, params, fit_inputs(x[i:i + batch_size], model).to(ref.device, ref.dtype))
            for i in range(0, len(x), batch_size)]
    return torch.cat(outs).to(torch.float64)  # (N, outputs)


def _function(model, qa: Params, qb: Params, x: Tensor, split: str) -> FunctionDistance:
    fa, fb = _outputs(model, qa, x), _outputs(model, qb, x)
    return FunctionDistance(float((fa.argmax(1) != fb.argmax(1)).to(torch.float64).mean()),
                            float(((fa - fb) ** 2).sum(1).mean().sqrt()), split)


def _inputs(data: Dataset, split: str) -> Tensor:
    x, _ = data.split(split)
    if len(x) == 0:
        raise DataError(f"function_distance: the {split} split of {data.name} is empty")
    if data.task != "classification":
        raise DataError(f"function_distance: predictions need a classification task; {data.name} is {data.task}")
    return x


def function_distance(model: nn.Module, a: Mapping[str, Tensor], b: Mapping[str, Tensor], data: Dataset, *,
                      split: str = "test", quotient: Quotient | None = None) -> FunctionDistance:
    """Function-space distance between `a` and `b` on `data`'s `split` (evaluation mode; the model untouched)."""
    quotient = quotient if quotient is not None else quotient_of(model)
    check_same_structure(a, b, what="the two networks")
    with eval_mode(model):
        return _function(model, canonical_scale(model, a, quotient=quotient),
                         canonical_scale(model, b, quotient=quotient), _inputs(data, split), split)


@dataclass(frozen=True)
class PairwiseDistances:
    """Symmetric matrices over a set of networks: `matrices[metric][i][j]` (diagonal 0)."""

    metrics: tuple[str, ...]
    matrices: Mapping[str, tuple[tuple[float, ...], ...]]

    def __repr__(self) -> str:
        n = len(next(iter(self.matrices.values()))) if self.matrices else 0
        return f"PairwiseDistances({n} networks: {', '.join(self.metrics)})"

    def to_dict(self) -> dict:
        return {m: [list(r) for r in self.matrices[m]] for m in self.metrics}


def pairwise_distances(model: nn.Module, networks: Sequence[Mapping[str, Tensor]], *, data: Dataset | None = None,
                       split: str = "test", method: str | None = None, quotient: Quotient | None = None,
                       callback: Callable[[int, int], None] | None = None) -> PairwiseDistances:
    """Every pair's quotient distance (`mean_angle`, `normalized`, binary: `hamming`) and, given `data`, its
    function distance (`disagreement`, `output_l2`); network j is aligned to network i for i < j."""
    quotient = quotient if quotient is not None else quotient_of(model)
    if len(networks) < 2:
        raise ConfigError(f"pairwise_distances: need at least two networks, got {len(networks)}")
    for b in networks[1:]:
        check_same_structure(networks[0], b, what="the networks")
    canon = [canonical_form(model, p, quotient=quotient) for p in networks]
    metrics = ["mean_angle", "normalized"] + (["hamming"] if quotient.binary else [])
    metrics += ["disagreement", "output_l2"] if data is not None else []
    n = len(networks)
    m = {k: [[0.0] * n for _ in range(n)] for k in metrics}
    x = _inputs(data, split) if data is not None else None
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    with eval_mode(model):
        for done, (i, j) in enumerate(pairs, 1):
            q = _distance(quotient, *align_to(model, canon[j], canon[i], method=method, quotient=quotient))
            values = {"mean_angle": q.mean_angle, "normalized": q.normalized, "hamming": q.hamming}
            if x is not None:
                fd = _function(model, canon[i], canon[j], x, split)
                values.update(disagreement=fd.disagreement, output_l2=fd.output_l2)
            for k in metrics:
                m[k][i][j] = m[k][j][i] = values[k]
            if callback is not None:
                callback(done, len(pairs))
    return PairwiseDistances(tuple(metrics), {k: tuple(tuple(r) for r in v) for k, v in m.items()})

