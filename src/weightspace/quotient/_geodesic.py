"""Geodesics on the product of spheres, and the error and loss along them and along the straight line.

Between canonical forms A and B (B aligned to A), unit k of every sphere moves along its great circle:
  u_k(t) = [sin((1 − t) ω_k) A_k + sin(t ω_k) B_k] / sin ω_k,   ω_k = arccos⟨A_k, B_k⟩
(the limit (1 − t) A_k + t B_k when ω_k = 0), so |u_k(t)| = 1 for every t;
coordinates on no sphere (BatchNorm running statistics) move linearly. The straight line
(1 − t) A + t B between the same two canonical forms is its comparison. Antipodal units (ω_k = π)
have no unique great circle and are refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data import Dataset
from ..errors import ConfigError
from ..params import Params, check_same_structure, lerp
from ..paths import Barrier, PathCurve, evaluate_path, linear_path
from ._align import align_to
from ._distance import unit_cosines
from ._structure import Quotient, quotient_of, scale_slot

__all__ = ["PATHS", "GeodesicStudy", "geodesic", "geodesic_study"]

PATHS = ("geodesic", "linear")


def geodesic(model: nn.Module, a: Mapping[str, Tensor], b: Mapping[str, Tensor], *,
             quotient: Quotient | None = None) -> Callable[[float], Params]:
    """θ(t), t ∈ [0, 1]: per-unit great-circle interpolation from canonical form `a` to canonical form `b`.

    `a` and `b` must be canonical (rows of unit norm) and aligned (`align_to`); exact at t = 0 and t = 1.
    """
    quotient = quotient if quotient is not None else quotient_of(model)
    if quotient.binary:
        raise ConfigError("geodesic: binary networks have no continuous geodesic; compare them by hamming_distance")
    check_same_structure(a, b, what="the geodesic's endpoints")
    for s in quotient.spheres:
        for end in (a, b):
            norms = s.matrix(end).to(torch.float64).norm(dim=1)
            if not bool(((norms - 1).abs() <= 1e-6).all()):
                raise ConfigError(f"geodesic: the rows of {s.name!r} are not unit vectors (norms up to "
                                  f"{float(norms.max()):.4g}); pass canonical forms (align_to or canonical_form)")
    cos = unit_cosines(quotient, a, b)
    for name, c in cos.items():
        if bool((c <= -1 + 1e-12).any()):
            raise ConfigError(f"geodesic: a unit of {name!r} is antipodal in the two networks; the great circle "
                              "between them is not unique")
    omega = {k: torch.arccos(c) for k, c in cos.items()}  # (n,) per sphere

    def path(t: float) -> Params:
        if t == 0 or t == 1:
            return lerp(a, b, t)
        out = lerp(a, b, t)
        for s in quotient.spheres:
            w = omega[s.name]
            small = w < 1e-9
            sw = torch.where(small, 1.0, torch.sin(w))
            ca = torch.where(small, 1.0 - t, torch.sin((1 - t) * w) / sw)
            cb = torch.where(small, torch.full_like(w, t), torch.sin(t * w) / sw)
            for slot in s.slots:
                mixed = scale_slot(a[slot.key], slot, ca) + scale_slot(b[slot.key], slot, cb)
                length = slot.stop - slot.start
                region = mixed.narrow(slot.axis, slot.start, length)
                out[slot.key] = out[slot.key].clone()
                out[slot.key].narrow(slot.axis, slot.start, length).copy_(region)
        return out

    return path


@dataclass(frozen=True)
class GeodesicStudy:
    """Loss and error along the geodesic and the straight line between two aligned canonical forms.

    `curves[path][split]` is a `PathCurve` (path in "geodesic", "linear"; split e.g. "train", "test").
    """

    curves: Mapping[str, Mapping[str, PathCurve]]
    method: str

    def barrier(self, path: str = "geodesic", *, metric: str = "error", split: str = "test",
                definition: str = "interpolation") -> Barrier:
        if path not in self.curves:
            raise ConfigError(f"barrier: path must be one of {', '.join(self.curves)}, got {path!r}")
        if split not in self.curves[path]:
            raise ConfigError(f"barrier: split must be one of {', '.join(self.curves[path])}, got {split!r}")
        return self.curves[path][split].barrier(metric, definition)

    def __repr__(self) -> str:
        splits = next(iter(self.curves.values()))
        return f"GeodesicStudy({', '.join(self.curves)} on {', '.join(splits)}; aligned by {self.method})"

    def to_dict(self, *, metric: str = "error", split: str = "test", definition: str = "interpolation") -> dict:
        """{barrier, barrier_linear, alpha, alpha_linear, metric, split, definition, method, curve, curve_linear}."""
        def curve(path):
            c = self.curves[path]
            return {"alphas": list(next(iter(c.values())).alphas),
                    **{s: {"loss": list(v.loss), "error": None if v.error is None else list(v.error)}
                       for s, v in c.items()}}

        geo = self.barrier("geodesic", metric=metric, split=split, definition=definition)
        lin = self.barrier("linear", metric=metric, split=split, definition=definition)
        return {"barrier": geo.value, "barrier_linear": lin.value, "alpha": geo.alpha, "alpha_linear": lin.alpha,
                "metric": metric, "split": split, "definition": definition, "method": self.method,
                "curve": curve("geodesic"), "curve_linear": curve("linear")}


def geodesic_study(model: nn.Module, a: Mapping[str, Tensor], b: Mapping[str, Tensor], data: Dataset, *,
                   method: str | None = None, points: int = 11, splits: Sequence[str] = ("train", "test"),
                   prepare: Callable[[Params], Params] | None = None, quotient: Quotient | None = None,
                   callback: Callable[[int, int], None] | None = None) -> GeodesicStudy:
    """Canonicalise `a` and `b`, align `b` to `a` (`method`), and evaluate loss and error at `points` values of t
    along the geodesic and the straight line on each split (`weightspace.paths.evaluate_path`; `prepare` maps
    each point first, e.g. a BatchNorm reset)."""
    quotient = quotient if quotient is not None else quotient_of(model)
    if not splits:
        raise ConfigError("geodesic_study: give at least one split")
    ref, other = align_to(model, b, a, method=method, quotient=quotient)
    paths = {"geodesic": geodesic(model, ref, other, quotient=quotient), "linear": linear_path(ref, other)}
    total, done = len(paths) * len(splits), 0
    curves: dict[str, dict[str, PathCurve]] = {}
    for name, path in paths.items():
        curves[name] = {}
        for split in splits:
            curves[name][split] = evaluate_path(model, path, data, points=points, split=split, prepare=prepare)
            done += 1
            if callback is not None:
                callback(done, total)
    return GeodesicStudy(curves, method or ("cosine" if quotient.binary else "weight"))
