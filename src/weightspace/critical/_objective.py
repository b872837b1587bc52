"""The training loss as a pure function of a parameter dict, and the record describing a point of it.

    L(θ) = (1/N) Σ_i ℓ(f(θ; x_i), y_i) + (wd/2) ||θ||²,

ℓ the squared error summed over outputs (regression, no 1/2) or the cross-entropy (classification).
Classification data can be turned into squared-loss regression on one-hot targets (`one_hot_regression`):
with the cross-entropy alone a finite minimum need not exist, so a critical point needs either that or
weight decay. A point is described by its loss, gradient norm ||∇L|| and Hessian spectrum (index,
nullity) from `weightspace.hessian`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Dataset
from ..errors import ConfigError
from ..evaluate import criterion, fit_inputs
from ..hessian import LossFn, Spectrum, classify, gradient, lanczos, spectrum
from ..params import Params, check_finite, forward, tree_norm
from ..symmetry._config import check_config, model_for

__all__ = ["CriticalPoint", "characterize", "gradient_norm", "objective", "one_hot_regression"]


def one_hot_regression(data: Dataset) -> Dataset:
    """The classification `data` as regression on one-hot targets y = e_label (float64), same inputs.

    Training on it minimises the squared loss (1/N) Σ_i ||f(x_i) − e_{y_i}||², which has finite minima.
    """
    if data.task == "regression":
        return data
    def onehot(y: Tensor) -> Tensor:
        return F.one_hot(y, data.num_outputs).to(torch.float64)  # (N, classes)

    meta = {**data.meta, "loss": "squared error on one-hot targets"}
    return dataclasses.replace(data, name=f"{data.name}-onehot", task="regression", y_train=onehot(data.y_train),
                               y_test=onehot(data.y_test), meta=meta)


def objective(config: Mapping, data: Dataset, *, split: str = "train", weight_decay: float = 0.0) -> LossFn:
    """L(θ) = mean_i ℓ(f(θ; x_i), y_i) + (wd/2)||θ||² over `data`'s split, computed in float64.

    ℓ is `weightspace.evaluate.criterion` for the data's task; wd = `weight_decay` acts on every tensor.
    """
    config = check_config(config, "objective")
    if not isinstance(data, Dataset):
        raise ConfigError(f"objective: data must be a weightspace Dataset, got {type(data).__name__}")
    if not (isinstance(weight_decay, int | float) and math.isfinite(weight_decay) and weight_decay >= 0):
        raise ConfigError(f"objective: weight_decay must be a finite number >= 0, got {weight_decay!r}")
    model = model_for(config)
    x, y = data.split(split)
    x = fit_inputs(x, model).to(torch.float64)
    y = y.to(torch.float64) if y.is_floating_point() else y
    task = data.task
    wd = float(weight_decay)

    def loss_fn(params: Mapping[str, Tensor]) -> Tensor:
        loss = criterion(task, forward(model, params, x), y)
        if wd:
            loss = loss + 0.5 * wd * sum((v * v).sum() for v in params.values() if v.is_floating_point())
        return loss

    return loss_fn


def gradient_norm(loss_fn: LossFn, params: Mapping[str, Tensor]) -> float:
    """||∇L(θ)||₂ over every floating tensor of `params`."""
    return float(tree_norm(gradient(loss_fn, params)))


@dataclass(frozen=True, eq=False)
class CriticalPoint:
    """A point θ with its loss L(θ), gradient norm ||∇L(θ)|| and (optionally) its classified Hessian spectrum.

    `spectrum` holds every eigenvalue (dense) or the k smallest (Lanczos, `spectrum.complete` False);
    `largest` the k largest in the Lanczos case.
    """

    params: Params
    loss: float
    gradient_norm: float
    spectrum: Spectrum | None = None
    largest: Tensor | None = None

    @property
    def index(self) -> int | None:
        """Morse index: the number of negative Hessian eigenvalues (None without a spectrum)."""
        return None if self.spectrum is None else self.spectrum.index

    @property
    def nullity(self) -> int | None:
        """The number of Hessian eigenvalues with |λ| ≤ threshold (None without a spectrum)."""
        return None if self.spectrum is None else self.spectrum.nullity

    def __repr__(self) -> str:
        spec = "" if self.spectrum is None else f", index={self.index}, nullity={self.nullity}"
        return f"CriticalPoint(loss={self.loss:.6g}, |grad|={self.gradient_norm:.3g}{spec})"

    def to_dict(self, *, eigenvalues: bool = True) -> dict:
        out = {"loss": self.loss, "gradient_norm": self.gradient_norm}
        if self.spectrum is not None:
            s = self.spectrum.to_dict()
            if not eigenvalues:
                s.pop("eigenvalues")
            out.update(s)
        if self.largest is not None:
            out["largest_eigenvalues"] = self.largest.tolist()
        return out


def characterize(loss_fn: LossFn, params: Mapping[str, Tensor], *, hessian: bool = True, top: int | None = None,
                 threshold: float | None = None, generator: torch.Generator | None = None, method: str = "auto",
                 callback: Callable[[dict], None] | None = None) -> CriticalPoint:
    """L(θ), ||∇L(θ)|| and, with `hessian`, the Hessian spectrum classified by `weightspace.hessian`.

    top=None: every eigenvalue of the dense Hessian. top=k: the k smallest and k largest by Lanczos
    (`method` "auto" | "arpack" | "two-pass" as in `weightspace.hessian.lanczos`; start vector from
    `generator`, default seed 0); index and nullity then count the k smallest only
    (exact while the index is below k); `callback` then receives {"stage": "lanczos SA" | "lanczos LA",
    "step": HVPs so far, "total_steps": None} after each Hessian-vector product. The default threshold is
    √eps(dtype)·max(1, max|λ|), ≈ 1.5e-8·scale
    in float64.
    """
    params = dict(params)
    check_finite(params, what="characterize: params")
    with torch.no_grad():
        loss = float(loss_fn(params))
    spec, largest = None, None
    if hessian and top is None:
        spec = spectrum(loss_fn, params, dense=True, threshold=threshold)
    elif hessian:
        if isinstance(top, bool) or not isinstance(top, int) or top < 1:
            raise ConfigError(f"characterize: top must be an int >= 1 (eigenvalues at each end), got {top!r}")
        n = sum(v.numel() for v in params.values() if v.is_floating_point())
        if 2 * top >= n:
            raise ConfigError(f"characterize: top = {top} needs 2·top < n = {n}; use the dense spectrum (top=None)")
        g = generator if generator is not None else torch.Generator().manual_seed(0)

        def hvps(which: str) -> Callable[[int], None] | None:
            if callback is None:
                return None
            return lambda calls: callback({"stage": f"lanczos {which}", "step": calls, "total_steps": None})

        small, _ = lanczos(loss_fn, params, top, which="SA", generator=g, method=method, vectors=False,
                           callback=hvps("SA"))
        largest, _ = lanczos(loss_fn, params, top, which="LA", generator=g, method=method, vectors=False,
                             callback=hvps("LA"))
        if threshold is None:
            scale = max(float(small.abs().max()), float(largest.abs().max()))
            spec = classify(small, dtype=next(v for v in params.values() if v.is_floating_point()).dtype,
                            scale=scale, dim=n)
        else:
            spec = classify(small, threshold=threshold, dim=n)
    return CriticalPoint(params=params, loss=loss, gradient_norm=gradient_norm(loss_fn, params), spectrum=spec,
                         largest=largest)
