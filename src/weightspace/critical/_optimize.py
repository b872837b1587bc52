"""High-precision optimisation in float64: full-batch Adam, then L-BFGS (strong Wolfe), then Newton polishing.

Newton's step at θ with H = Σ_i λ_i v_i v_iᵀ and g = ∇L(θ), damped by μ:

    minimise:  δ = −Σ_i (v_iᵀ g) / (|λ_i| + μ s) v_i          (damped saddle-free Newton: descends along
               negative curvature; accepted when L decreases, or at rounding level when ||∇L|| does);
    critical:  δ = −Σ_i λ_i (v_iᵀ g) / (λ_i² + μ s²) v_i      (Levenberg–Marquardt on ½||∇L||²: converges
               to the nearby critical point of any index; accepted when ||∇L|| decreases),

s = max|λ|; the relative damping μ starts at 1e-8, is divided by 10 after an accepted step and
multiplied by 10 after a rejected one.

Near a non-degenerate (modulo zero directions) critical point the gradient norm falls quadratically to
rounding, ~1e-14 here; degenerate critical points (a zero eigenvalue along which ∇L is not zero at
second order) converge linearly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import torch
from torch import Tensor
from torch.func import grad

from ..errors import ConfigError, NonFiniteError
from ..hessian import LossFn, dense_hessian
from ..params import Params, check_finite, flatten, select_keys, unflatten

__all__ = ["Fit", "minimize", "newton"]

MODES = ("minimize", "critical")
BACKTRACK = 40


@dataclass(frozen=True, eq=False)
class Fit:
    """The end point of an optimisation: params, L, ||∇L||, the steps taken per stage and whether ||∇L|| ≤ gtol."""

    params: Params
    loss: float
    gradient_norm: float
    gtol: float
    steps: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", MappingProxyType(dict(self.steps)))

    @property
    def converged(self) -> bool:
        return self.gradient_norm <= self.gtol

    def __repr__(self) -> str:
        steps = ", ".join(f"{k} {v}" for k, v in self.steps.items())
        return f"Fit(loss={self.loss:.6g}, |grad|={self.gradient_norm:.3g}, converged={self.converged}, steps: {steps})"

    def to_dict(self) -> dict:
        return {"loss": self.loss, "gradient_norm": self.gradient_norm, "gtol": self.gtol,
                "converged": self.converged, "steps": dict(self.steps)}


class _Flat:
    """L as a function of the flat vector over `keys` (the other entries of params held fixed)."""

    def __init__(self, loss_fn: LossFn, params: Mapping[str, Tensor], where: str):
        check_finite(params, what=f"{where}: params")
        self.keys = select_keys(params, None, where=where)
        self.like = {k: params[k].detach() for k in self.keys}
        self.rest = {k: v for k, v in params.items() if k not in self.like}
        self.loss_fn = loss_fn

    def params(self, x: Tensor) -> Params:
        return {**self.rest, **unflatten(x.detach(), self.like, self.keys)}

    def __call__(self, x: Tensor) -> Tensor:
        return self.loss_fn({**self.rest, **unflatten(x, self.like, self.keys)})

    def x0(self) -> Tensor:
        return flatten(self.like, self.keys).clone()

    def grad(self, x: Tensor) -> Tensor:
        return grad(self)(x.detach())


def _check_count(name: str, v, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ConfigError(f"{where}: {name} must be an int >= 0, got {v!r}")
    return v


def _adam(f: _Flat, x: Tensor, steps: int, lr: float, callback) -> Tensor:
    x = x.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    for t in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = f(x)
        if not torch.isfinite(loss):
            raise NonFiniteError(f"minimize: the loss became {float(loss)} at Adam step {t}; lower lr")
        loss.backward()
        opt.step()
        if callback is not None and (t + 1) % 100 == 0:
            callback({"stage": "adam", "step": t + 1, "total_steps": steps, "loss": float(loss)})
    return x.detach()


def _lbfgs(f: _Flat, x: Tensor, steps: int, gtol: float) -> tuple[Tensor, int]:
    x = x.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=steps, max_eval=2 * steps, tolerance_grad=gtol * 1e-3,
                            tolerance_change=0.0, history_size=100, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad(set_to_none=True)
        loss = f(x)
        loss.backward()
        return loss

    opt.step(closure)
    iters = opt.state[opt._params[0]].get("n_iter", 0)
    out = x.detach()
    if not bool(torch.isfinite(out).all()):
        raise NonFiniteError("minimize: L-BFGS produced non-finite parameters")
    return out, int(iters)


def _newton(f: _Flat, x: Tensor, steps: int, gtol: float, mode: str) -> tuple[Tensor, int]:
    g = f.grad(x)
    gn = float(g.norm())
    taken = 0
    mu = 1e-8
    for _ in range(steps):
        if gn <= gtol:
            break
        h = dense_hessian(lambda p: f.loss_fn({**f.rest, **p}), unflatten(x, f.like, f.keys), f.keys)  # (n, n)
        evals, evecs = torch.linalg.eigh(h)
        coeff = evecs.T @ g  # (n,) g in the eigenbasis
        scale = float(evals.abs().max())
        if mode == "minimize":  # δ = −(|H| + μ s I)⁻¹ g
            accepted = False
            loss = float(f(x))
            for _ in range(BACKTRACK):
                step = -(evecs @ (coeff / (evals.abs() + mu * scale)))  # (n,)
                xn = x + step
                gn_new = float(f.grad(xn).norm())
                ln = float(f(xn))
                if math.isfinite(gn_new) and (ln < loss or (ln <= loss + 1e-12 * abs(loss) and gn_new < gn)):
                    accepted = True
                    mu = max(mu / 10, 1e-30)
                    break
                mu *= 10
        else:  # Levenberg–Marquardt on ½||∇L||²: δ = −(H² + μ s² I)⁻¹ H g
            accepted = False
            for _ in range(BACKTRACK):
                step = -(evecs @ (evals * coeff / (evals**2 + mu * scale**2)))  # (n,)
                xn = x + step
                gn_new = float(f.grad(xn).norm())
                if math.isfinite(gn_new) and gn_new < gn:
                    accepted = True
                    mu = max(mu / 10, 1e-30)
                    break
                mu *= 10
        if not accepted:
            break
        x, g, gn = xn, f.grad(xn), gn_new
        taken += 1
    return x, taken


def minimize(loss_fn: LossFn, params: Mapping[str, Tensor], *, adam_steps: int = 2000, lr: float = 1e-2,
             lbfgs_steps: int = 1000, newton_steps: int = 30, gtol: float = 1e-10,
             callback: Callable[[dict], None] | None = None) -> Fit:
    """Minimise L from `params`: `adam_steps` of full-batch Adam, L-BFGS, then saddle-free Newton to ||∇L|| ≤ gtol.

    Every floating tensor of `params` is optimised (pass float64 for precision). `callback` receives
    {stage, step, total_steps, loss} every 100 Adam steps. Stages with 0 steps are skipped.
    """
    where = "minimize"
    for name, v in (("adam_steps", adam_steps), ("lbfgs_steps", lbfgs_steps), ("newton_steps", newton_steps)):
        _check_count(name, v, where)
    if not (math.isfinite(lr) and lr > 0) or not (math.isfinite(gtol) and gtol >= 0):
        raise ConfigError(f"{where}: lr must be > 0 and gtol >= 0 (finite), got lr={lr!r}, gtol={gtol!r}")
    f = _Flat(loss_fn, params, where)
    x = f.x0()
    steps = {}
    if adam_steps:
        x = _adam(f, x, adam_steps, lr, callback)
        steps["adam"] = adam_steps
    if lbfgs_steps and float(f.grad(x).norm()) > gtol:
        x, steps["lbfgs"] = _lbfgs(f, x, lbfgs_steps, gtol)
    if newton_steps:
        x, steps["newton"] = _newton(f, x, newton_steps, gtol, "minimize")
    return _fit(f, x, gtol, steps)


def newton(loss_fn: LossFn, params: Mapping[str, Tensor], *, steps: int = 30, gtol: float = 1e-10,
           mode: str = "critical") -> Fit:
    """Newton's method from `params` to ||∇L|| ≤ gtol; mode "critical" converges to the nearest critical point
    of any index (saddles included), "minimize" uses |λ| (saddle-free Newton)."""
    if mode not in MODES:
        raise ConfigError(f"newton: unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    _check_count("steps", steps, "newton")
    f = _Flat(loss_fn, params, "newton")
    x, taken = _newton(f, f.x0(), steps, gtol, mode)
    return _fit(f, x, gtol, {"newton": taken})


def _fit(f: _Flat, x: Tensor, gtol: float, steps: dict) -> Fit:
    with torch.no_grad():
        loss = float(f(x))
    return Fit(params=f.params(x), loss=loss, gradient_norm=float(f.grad(x).norm()), gtol=gtol, steps=steps)
