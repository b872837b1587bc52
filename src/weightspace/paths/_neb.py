"""The lowest path between two minima by a nudged elastic band with a climbing image (Henkelman et al. 2000).

Images θ_0 (fixed), θ_1, ..., θ_{N−1}, θ_N (fixed) move under the force

    F_i = −∇L(θ_i) + (∇L(θ_i)·τ_i) τ_i + k (|θ_{i+1} − θ_i| − |θ_i − θ_{i−1}|) τ_i,

τ_i the upwind unit tangent (Henkelman & Jónsson's improved tangent): the true force perpendicular to
the band plus springs along it. Once the band has settled the highest image climbs:
F_c = −∇L(θ_c) + 2 (∇L(θ_c)·τ_c) τ_c, uphill along the band and downhill across it, so it converges to
a saddle on the minimum-energy path, where ||F_c|| = ||∇L(θ_c)|| → 0. Images move by FIRE (Bitzek et
al. 2006); all gradients of a step are one `vmap`-ed call. Optionally, Newton's method (mode "critical")
then refines the climbing image to the nearby critical point, reported separately.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.func import grad, vmap

from ..errors import ConfigError
from ..hessian import LossFn
from ..params import Params, check_finite, check_same_structure, flatten, select_keys, unflatten
from ._chain import polygonal_chain

if TYPE_CHECKING:
    from ..critical import CriticalPoint

__all__ = ["ElasticBand", "nudged_elastic_band"]

FIRE_ALPHA, FIRE_N_MIN = 0.1, 5

@dataclass(frozen=True, eq=False)
class ElasticBand:
    """A converged (or stopped) band: its images, their losses, normalised arc-length positions and the saddle.

    `highest` indexes the highest image (the climbing one); `climbing_gradient_norm` is ||∇L|| there when
    the band stopped; `saddle` is that image (or its Newton refinement, `refined` True) with its spectrum.
    """

    images: tuple[Params, ...]
    losses: tuple[float, ...]
    positions: tuple[float, ...]
    highest: int
    climbing_gradient_norm: float
    max_force: float
    steps: int
    converged: bool
    saddle: CriticalPoint
    refined: bool
    refine_distance: float

    def path(self) -> Callable[[float], Params]:
        """The band as a polygonal chain θ(α), α = normalised arc length (for `evaluate_path`)."""
        return polygonal_chain(self.images, knots=self.positions)

    def __repr__(self) -> str:
        return (f"ElasticBand({len(self.images)} images, {self.steps} steps, converged={self.converged}, highest image "
                f"{self.highest}: loss {self.losses[self.highest]:.6g}, |grad| {self.climbing_gradient_norm:.3g}; "
                f"saddle {self.saddle!r})")

    def to_dict(self) -> dict:
        return {"images": len(self.images), "losses": list(self.losses), "positions": list(self.positions),
                "highest": self.highest, "climbing_gradient_norm": self.climbing_gradient_norm,
                "max_force": self.max_force, "steps": self.steps, "converged": self.converged,
                "refined": self.refined, "refine_distance": self.refine_distance,
                "saddle": self.saddle.to_dict(eigenvalues=False)}


def _tangents(x: Tensor, e: Tensor) -> Tensor:
    """Improved (upwind) unit tangents τ_i for interior images, x (N+1, n), e (N+1,) -> (N−1, n)."""
    plus = x[2:] - x[1:-1]  # (N−1, n)
    minus = x[1:-1] - x[:-2]
    ep, e0, em = e[2:], e[1:-1], e[:-2]
    up = (ep > e0) & (e0 > em)
    down = (ep < e0) & (e0 < em)
    dmax = torch.maximum((ep - e0).abs(), (em - e0).abs())[:, None]
    dmin = torch.minimum((ep - e0).abs(), (em - e0).abs())[:, None]
    mixed = torch.where((ep > em)[:, None], plus * dmax + minus * dmin, plus * dmin + minus * dmax)
    tau = torch.where(up[:, None], plus, torch.where(down[:, None], minus, mixed))
    norm = tau.norm(dim=1, keepdim=True)
    fallback = (x[2:] - x[:-2])
    tau = torch.where(norm > 0, tau, fallback)
    return tau / tau.norm(dim=1, keepdim=True).clamp_min(1e-300)


def nudged_elastic_band(loss_fn: LossFn, start: Mapping[str, Tensor], end: Mapping[str, Tensor], *,
                        images: int = 15, init: Callable[[float], Mapping[str, Tensor]] | None = None,
                        spring: float = 1.0, climb_after: int = 50, steps: int = 5000, tol: float = 1e-7,
                        band_tol: float = 1e-4, dt_max: float = 0.5, max_move: float = 0.05,
                        noise: float = 0.0, generator: torch.Generator | None = None, refine: bool = True,
                        hessian: bool = True, callback: Callable[[dict], None] | None = None) -> ElasticBand:
    """CI-NEB between the fixed end points `start` and `end` with `images` movable images.

    The band starts on `init(α)` (default: the straight line) at α = k/(images+1), plus N(0, noise²)
    from `generator` on the movable images (to break an exact symmetry). Stops when the climbing image's
    ||∇L|| ≤ `tol` and every other image's force ≤ `band_tol`, or after `steps`. With `refine`, Newton
    (mode "critical") then polishes the climbing image; `hessian` classifies the saddle's spectrum.
    """
    from ..critical._objective import characterize  # critical re-exports this module: import at call time
    from ..critical._optimize import newton

    where = "nudged_elastic_band"
    if isinstance(images, bool) or not isinstance(images, int) or images < 1:
        raise ConfigError(f"{where}: images must be an int >= 1 (movable images), got {images!r}")
    for name, v in (("spring", spring), ("tol", tol), ("band_tol", band_tol), ("dt_max", dt_max),
                    ("max_move", max_move)):
        if not (math.isfinite(v) and v > 0):
            raise ConfigError(f"{where}: {name} must be a positive finite number, got {v!r}")
    if noise and not isinstance(generator, torch.Generator):
        raise ConfigError(f"{where}: noise > 0 needs generator=torch.Generator().manual_seed(seed)")
    check_same_structure(start, end, what=f"{where}: start and end")
    check_finite(start, what=f"{where}: start")
    check_finite(end, what=f"{where}: end")
    keys = select_keys(start, None, where=where)
    like = {k: start[k].detach() for k in keys}
    rest = {k: v for k, v in start.items() if k not in like}

    def f(vec: Tensor) -> Tensor:
        return loss_fn({**rest, **unflatten(vec, like, keys)})

    path = init if init is not None else polygonal_chain([dict(start), dict(end)])
    alphas = [k / (images + 1) for k in range(images + 2)]
    x = torch.stack([flatten(dict(path(a)) if 0 < a < 1 else (start if a == 0 else end), keys) for a in alphas])
    x = x.to(torch.float64)  # (N+1, n)
    if noise:
        x[1:-1] += noise * torch.randn(x[1:-1].shape, generator=generator, dtype=x.dtype)
    grads = vmap(grad(f))
    energies = vmap(f)

    def forces(x: Tensor, climbing: bool) -> tuple[Tensor, Tensor, int, float, float]:
        """(F (N−1, n), energies, climbing index among the movable images, its ||∇L||, max other force)."""
        e = energies(x)  # (N+1,)
        g = grads(x[1:-1])  # (N−1, n)
        tau = _tangents(x, e)
        g_par = (g * tau).sum(1, keepdim=True)
        d_plus = (x[2:] - x[1:-1]).norm(dim=1, keepdim=True)
        d_minus = (x[1:-1] - x[:-2]).norm(dim=1, keepdim=True)
        force = -(g - g_par * tau) + spring * (d_plus - d_minus) * tau  # (N−1, n)
        c = int(torch.argmax(e[1:-1]))
        if climbing:
            force[c] = -g[c] + 2 * g_par[c] * tau[c]
        norms = force.norm(dim=1)
        others = torch.cat([norms[:c], norms[c + 1:]])
        return force, e, c, float(g[c].norm()), float(others.max()) if others.numel() else 0.0

    climbing, step, converged = climb_after == 0, 0, False
    force, e, c, c_grad, others = forces(x, climbing)
    v = torch.zeros_like(force)
    alpha, since_neg, dt = FIRE_ALPHA, 0, dt_max * 0.1
    for step in range(1, steps + 1):  # noqa: B007 (step is reported)
        if climbing and c_grad <= tol and others <= band_tol:
            converged = True
            break
        power = float((force * v).sum())
        fnorm, vnorm = float(force.norm()), float(v.norm())
        if power > 0:
            v = (1 - alpha) * v + alpha * vnorm * force / max(fnorm, 1e-300)
            since_neg += 1
            if since_neg > FIRE_N_MIN:
                dt = min(dt * 1.1, dt_max)
                alpha *= 0.99
        else:
            since_neg, dt, alpha = 0, dt * 0.5, FIRE_ALPHA
            v = torch.zeros_like(v)
        v = v + dt * force
        move = dt * v  # (N−1, n), each image's step capped at max_move (ASE's maxstep)
        x[1:-1] += move * (max_move / move.norm(dim=1, keepdim=True).clamp_min(max_move))
        climbing = climbing or step >= climb_after
        force, e, c, c_grad, others = forces(x, climbing)
        if callback is not None and step % 100 == 0:
            callback({"stage": "neb", "step": step, "total_steps": steps, "loss": float(e[1:-1].max())})
    max_force = float(force.norm(dim=1).max())
    e = energies(x)
    c = int(torch.argmax(e[1:-1])) + 1
    imgs = tuple({**rest, **unflatten(row.clone(), like, keys)} for row in x)
    seg = (x[1:] - x[:-1]).norm(dim=1)
    cum = torch.cat([torch.zeros(1, dtype=x.dtype), torch.cumsum(seg, 0)])
    positions = (cum / cum[-1]).tolist()
    positions[0], positions[-1] = 0.0, 1.0
    point, refined, dist = imgs[c], False, 0.0
    if refine:
        fit = newton(loss_fn, point, gtol=min(tol, 1e-10), mode="critical")
        if fit.gradient_norm < c_grad:
            dist = float((flatten(fit.params, keys) - x[c]).norm())
            point, refined = fit.params, True
    saddle = characterize(loss_fn, point, hessian=hessian)
    return ElasticBand(images=imgs, losses=tuple(e.tolist()), positions=tuple(positions), highest=c,
                       climbing_gradient_norm=c_grad, max_force=max_force, steps=step, converged=converged,
                       saddle=saddle, refined=refined, refine_distance=dist)
