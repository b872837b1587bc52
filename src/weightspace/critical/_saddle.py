"""One call answering Brea's question for a minimum θ and two units: the permutation point and the paths through it.

From θ (a minimum of L) and units i, j of layer k: the permutation point θ_pp (constrained minimum of L
on Fix(π_ij)), its loss, gradient norm and dense Hessian spectrum (index, nullity), the plateau facts,
the loss along the swap-symmetric chain θ → θ_pp → π_ij θ and, optionally, the CI-NEB band between θ
and π_ij θ with the saddle on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from ..data import Dataset
from ..hessian import Spectrum, classify, dense_hessian
from ..params import Params
from ..paths import ElasticBand, PathCurve, evaluate_path, loss_curve, nudged_elastic_band
from ..symmetry._config import check_config, model_for
from ._objective import gradient_norm, objective
from ._permutation import PermutationPoint, PlateauFacts, permutation_point, plateau_facts, swap_symmetric_path
from ._permutation import transposition as _transposition

__all__ = ["PermutationSaddle", "loss_curve", "permutation_saddle"]


@dataclass(frozen=True, eq=False)
class PermutationSaddle:
    """θ's loss and gradient, the permutation point with its spectrum and plateau, the symmetric path, the band."""

    minimum_loss: float
    minimum_gradient_norm: float
    point: PermutationPoint
    spectrum: Spectrum
    plateau: PlateauFacts
    path: PathCurve
    band: ElasticBand | None
    weight_decay: float

    @property
    def index(self) -> int:
        return self.spectrum.index

    @property
    def nullity(self) -> int:
        return self.spectrum.nullity

    def __repr__(self) -> str:
        band = "" if self.band is None else f"; NEB saddle {self.band.saddle!r}"
        return (f"PermutationSaddle(layer {self.point.layer}, units {self.point.units}: loss {self.point.loss:.6g}, "
                f"|grad| {self.point.gradient_norm:.3g}, index {self.index}, nullity {self.nullity}{band})")

    def to_dict(self) -> dict:
        return {
            "layer": self.point.layer, "units": list(self.point.units), "construction": self.point.construction,
            "weight_decay": self.weight_decay,
            "minimum": {"loss": self.minimum_loss, "gradient_norm": self.minimum_gradient_norm},
            "loss": self.point.loss, "gradient_norm": self.point.gradient_norm, "index": self.index,
            "nullity": self.nullity, "positive": self.spectrum.positive, "threshold": self.spectrum.threshold,
            "dim": self.spectrum.dim, "smallest_eigenvalues": self.spectrum.eigenvalues[:8].tolist(),
            "plateau": self.plateau.to_dict(),
            "path": {"alphas": list(self.path.alphas), "loss": list(self.path.loss),
                     "barrier": max(self.path.loss) - max(self.path.loss[0], self.path.loss[-1])},
            "band": None if self.band is None else self.band.to_dict(),
        }


def permutation_saddle(params: Mapping[str, Tensor], config: Mapping, data: Dataset, layer: int, i: int, j: int, *,
                       weight_decay: float = 0.0, points: int = 21, neb: bool = False, images: int = 9,
                       neb_steps: int = 5000, gtol: float = 1e-12, generator: torch.Generator | None = None,
                       callback: Callable[[dict], None] | None = None) -> PermutationSaddle:
    """The permutation point of units i, j of `layer` reached from θ = `params`, described (see module doc).

    The loss is `objective(config, data, weight_decay=...)` on the training split, in float64. The path
    is evaluated with `weightspace.paths.evaluate_path` (with weight decay: on the objective itself). With
    `neb`, a CI-NEB band of `images` images joins θ and π_ij θ (noise 1e-2 from `generator`, default seed 0).
    `callback` receives {"stage": "saddle", "step", "total_steps"} as each part is done (the point, its Hessian,
    the plateau, the path, the band) and the band's own {"stage": "neb", ...} events.
    """
    total = 5 if neb else 4

    def done(step: int) -> None:
        if callback is not None:
            callback({"stage": "saddle", "step": step, "total_steps": total})

    config = check_config(config, "permutation_saddle")
    theta: Params = {k: v.detach().to(torch.float64) for k, v in params.items()}
    loss_fn = objective(config, data, weight_decay=weight_decay)
    with torch.no_grad():
        base = float(loss_fn(theta))
    point = permutation_point(loss_fn, theta, config, layer, i, j, gtol=gtol)
    done(1)
    h = dense_hessian(loss_fn, point.params)  # (n, n)
    spec = classify(torch.linalg.eigvalsh(h), dtype=torch.float64)
    done(2)
    facts = plateau_facts(loss_fn, point, hessian=h)
    done(3)
    path = swap_symmetric_path(theta, point)
    if weight_decay:
        curve = loss_curve(loss_fn, path, points=points)
    else:
        curve = evaluate_path(model_for(config), path, data, points=points, split="train")
    done(4)
    band = None
    if neb:
        other = _transposition(config, layer, i, j).apply(theta)
        band = nudged_elastic_band(loss_fn, theta, other, images=images, steps=neb_steps, noise=1e-2,
                                   generator=generator or torch.Generator().manual_seed(0), callback=callback)
        done(5)
    return PermutationSaddle(minimum_loss=base, minimum_gradient_norm=gradient_norm(loss_fn, theta), point=point,
                             spectrum=spec, plateau=facts, path=curve, band=band, weight_decay=float(weight_decay))
