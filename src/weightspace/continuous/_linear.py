"""Deep linear networks at zero loss: minima, their component label, the loss floor between components.

For square full-rank layers (d = h = p) and data with full-rank input covariance Σ = XᵀX/n, the zero-loss
set of f(x) = W_l ⋯ W_1 x fitting y = M x is {W_l ⋯ W_1 = M}. It is one orbit of GL_h(R)^(l−1), acting by
W_i ↦ g_i W_i g_(i−1)⁻¹ (g_0 = g_l = I), and homeomorphic to GL_h(R)^(l−1): W_1 .. W_(l−1) are free in GL_h
and W_l = M (W_(l−1) ⋯ W_1)⁻¹. The partial products P_i = W_i ⋯ W_1 transform as P_i ↦ g_i P_i, so

    label(θ) = (sign det P_1, ..., sign det P_(l−1)) ∈ {±1}^(l−1)

flips exactly in coordinate i under det g_i < 0 and is constant along paths inside the set (det P_i = 0
would make the product singular); two minima with the same label are joined by g(t)·θ with g_i(t) a
path in GL⁺ (`gl_path`). Hence 2^(l−1) components, the labels being their names. Any path between
minima of different labels passes a singular product, where the mean loss is at least the floor
σ_min(M Σ^{1/2})² (Eckart–Young in the Σ-weighted norm).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ..data import Dataset
from ..errors import ConfigError, SymmetryError
from ..params import Params, first_float
from ._gl import gl_path

__all__ = [
    "GroupPath", "component_label", "group_path", "linear_config", "linear_layers", "linear_minimum",
    "partial_products", "random_minimum", "singular_loss_floor", "teacher_of",
]

_KEY = re.compile(r"^layers\.(\d+)\.weight$")


def _check_layers(where: str, layers) -> int:
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 2:
        raise ConfigError(f"{where}: layers must be an int >= 2 (a network with at least one hidden layer), "
                          f"got {layers!r}")
    return layers


def linear_config(layers: int, width: int, *, skip: bool = False) -> dict:
    """Config of the square deep linear network with `layers` weight matrices of size width × width."""
    layers = _check_layers("linear_config", layers)
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ConfigError(f"linear_config: width must be an int >= 1, got {width!r}")
    return {"name": "linear", "input_shape": [width], "num_outputs": width, "widths": [width] * (layers - 1),
            "bias": False, "skip": bool(skip)}


def linear_layers(params: Mapping[str, Tensor]) -> list[Tensor]:
    """[W_1, ..., W_l] of a bias-free linear network's parameters (keys `layers.{i}.weight`)."""
    found: dict[int, Tensor] = {}
    for key, value in params.items():
        match = _KEY.match(key)
        if match is None:
            raise ConfigError(f"linear_layers: expected only keys layers.{{i}}.weight of a bias-free linear network, "
                              f"got {key!r}")
        found[int(match[1])] = value
    if sorted(found) != list(range(len(found))) or len(found) < 2:
        raise ConfigError(f"linear_layers: expected layers.0.weight .. layers.{{l-1}}.weight with l >= 2, "
                          f"got indices {sorted(found)}")
    return [found[i] for i in range(len(found))]


def _square(where: str, layers: Sequence[Tensor]) -> int:
    h = layers[0].shape[1]
    if any(w.ndim != 2 or tuple(w.shape) != (h, h) for w in layers):
        shapes = [tuple(w.shape) for w in layers]
        raise ConfigError(f"{where}: needs square layers (d = widths = p), got shapes {shapes}")
    return h


def partial_products(params: Mapping[str, Tensor]) -> list[Tensor]:
    """[P_1, ..., P_l] with P_i = W_i ⋯ W_1 (float64)."""
    out, p = [], None
    for w in linear_layers(params):
        w = w.detach().to(torch.float64)
        p = w if p is None else w @ p
        out.append(p)
    return out


def component_label(params: Mapping[str, Tensor]) -> tuple[int, ...]:
    """(sign det P_1, ..., sign det P_(l−1)): the connected component of a square deep linear minimum.

    A complete invariant of the zero-loss set without skip connections (see the module docstring).

    Raises:
      SymmetryError: some P_i is singular (θ is not on a full-rank minimum).
    """
    layers = linear_layers(params)
    _square("component_label", layers)
    label = []
    for i, p in enumerate(partial_products(params)[:-1]):
        sign, logabs = torch.linalg.slogdet(p)
        if float(sign) == 0 or not math.isfinite(float(logabs)):
            raise SymmetryError(f"component_label: the partial product P_{i + 1} is singular; θ is not a full-rank "
                                f"minimum")
        label.append(int(sign))
    return tuple(label)


def teacher_of(data: Dataset, *, split: str = "train") -> Tensor:
    """M with y = M x: `meta["teacher"]["M"]` when recorded, else the least-squares fit on `split` (float64)."""
    teacher = data.meta.get("teacher", {})
    if isinstance(teacher, dict) and "M" in teacher:
        return torch.tensor(teacher["M"], dtype=torch.float64)
    x, y = data.split(split)
    x = x.reshape(len(x), -1).to(torch.float64)
    return torch.linalg.lstsq(x, y.to(torch.float64)).solution.T  # (p, d)


def linear_minimum(first: Sequence[Tensor], teacher: Tensor, *, skip: bool = False) -> Params:
    """The zero-loss point with W_1 .. W_(l−1) = `first`: W_l = M (W_(l−1) ⋯ W_1)⁻¹, or M (W_(l−1) ⋯ W_1 + I)⁻¹.

    Raises:
      SymmetryError: the product to invert is singular.
    """
    if len(first) < 1:
        raise ConfigError("linear_minimum: give at least W_1 (a network with at least one hidden layer)")
    ws = [w.detach().to(torch.float64) for w in first]
    m = teacher.detach().to(torch.float64)
    h = _square("linear_minimum", [*ws, m])
    p = torch.eye(h, dtype=torch.float64)
    for w in ws:
        p = w @ p
    if skip:
        p = p + torch.eye(h, dtype=torch.float64)
    s = torch.linalg.svdvals(p)
    if float(s.min()) <= 1e-12 * max(float(s.max()), 1.0):
        raise SymmetryError("linear_minimum: the product of the first layers" + (" plus I" if skip else "")
                            + " is singular, so no last layer reaches zero loss")
    out = {f"layers.{i}.weight": w.clone() for i, w in enumerate(ws)}
    out[f"layers.{len(ws)}.weight"] = torch.linalg.solve(p.T, m.T).T  # M P⁻¹
    return out


def random_minimum(layers: int, teacher: Tensor, *, generator: torch.Generator, skip: bool = False,
                   spread: float = 0.75) -> Params:
    """A zero-loss point with W_i = e^(spread · z_i) G_i/√h (G_i Gaussian, z_i ~ N(0, 1)), i < l, and W_l solved.

    Signs of det W_i are uniform and magnitudes log-normal, so every component and both |P| < 1 and
    |P| > 1 are sampled; no component is chosen on purpose.
    """
    layers = _check_layers("random_minimum", layers)
    if not isinstance(generator, torch.Generator):
        raise ConfigError("random_minimum: pass generator=torch.Generator().manual_seed(seed)")
    h = teacher.shape[0]
    first = []
    for _ in range(layers - 1):
        z = float(torch.randn((), generator=generator, dtype=torch.float64))
        g = torch.randn(h, h, generator=generator, dtype=torch.float64) / math.sqrt(h)  # (h, h)
        first.append(math.exp(spread * z) * g)
    return linear_minimum(first, teacher, skip=skip)


def singular_loss_floor(data: Dataset, *, split: str = "train", teacher: Tensor | None = None) -> float:
    """min mean ‖(P − M) x‖² over singular P = σ_min(M Σ^{1/2})², Σ = XᵀX/n: the loss on det P = 0."""
    x, _ = data.split(split)
    x = x.reshape(len(x), -1).to(torch.float64)
    m = teacher_of(data, split=split) if teacher is None else teacher.to(torch.float64)
    sigma = x.T @ x / len(x)  # (d, d)
    evals, evecs = torch.linalg.eigh(sigma)
    root = evecs @ torch.diag(evals.clamp_min(0).sqrt()) @ evecs.T
    return float(torch.linalg.svdvals(m @ root).min() ** 2)


class GroupPath:
    """θ(t) = g(t)·θ_a with g_i(t) the polar path in GL⁺ from I to g_i = P_i^b (P_i^a)⁻¹; θ(0) = θ_a, θ(1) = θ_b."""

    def __init__(self, params_a: Mapping[str, Tensor], params_b: Mapping[str, Tensor]):
        la, lb = component_label(params_a), component_label(params_b)
        if la != lb:
            raise SymmetryError(f"group_path: the minima lie in different components (labels {la} and {lb}); "
                                f"no path inside the zero-loss set joins them")
        pa, pb = partial_products(params_a), partial_products(params_b)
        scale = float(pa[-1].abs().max())
        if float((pa[-1] - pb[-1]).abs().max()) > 1e-8 * max(scale, 1.0):
            raise SymmetryError("group_path: the two networks compute different maps W_l ⋯ W_1; "
                                "a symmetry path needs equal products")
        self._a = {k: v.detach().clone() for k, v in params_a.items()}
        self._b = {k: v.detach().clone() for k, v in params_b.items()}
        self._w = [w.to(torch.float64) for w in linear_layers(params_a)]
        self._paths = [gl_path(b @ torch.linalg.inv(a)) for a, b in zip(pa[:-1], pb[:-1], strict=True)]

    def __call__(self, t: float) -> Params:
        if t == 0:
            return {k: v.clone() for k, v in self._a.items()}
        if t == 1:
            return {k: v.clone() for k, v in self._b.items()}
        h = self._w[0].shape[0]
        gs = [torch.eye(h, dtype=torch.float64), *(p(t) for p in self._paths), torch.eye(h, dtype=torch.float64)]
        dtype = first_float(self._a).dtype
        return {f"layers.{i}.weight": (gs[i + 1] @ w @ torch.linalg.inv(gs[i])).to(dtype)
                for i, w in enumerate(self._w)}

    def __repr__(self) -> str:
        return f"GroupPath(layers={len(self._w)}, width={self._w[0].shape[0]})"


def group_path(params_a: Mapping[str, Tensor], params_b: Mapping[str, Tensor]) -> GroupPath:
    """A zero-loss path between two minima with the same component label (same product W_l ⋯ W_1)."""
    return GroupPath(params_a, params_b)
