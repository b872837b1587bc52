"""GL_h(R): its two components, sampling in either, and paths inside GL⁺ from the identity.

A real logarithm of g need not exist even when det g > 0 (diag(−1, −2)), so elements are built as
g = exp(X) · R with R = diag(−1, 1, ..., 1) for the component det g < 0, and paths use the polar
decomposition g = Q S (Q ∈ SO(h), S symmetric positive definite): g(t) = exp(t log Q) exp(t log S), with
log S from the eigendecomposition and log Q, a real skew-symmetric matrix, from the real Schur form of Q.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from ..errors import ConfigError, SymmetryError
from ..symmetry import FactorAction, GroupElement, Spec

__all__ = ["GLPath", "gl_path", "reflection", "rotation_log", "sample_element", "sample_gl"]

_ROUNDOFF = 1e-9


def reflection(n: int) -> Tensor:
    """R = diag(−1, 1, ..., 1) (n × n, float64): det R = −1."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"reflection: n must be an int >= 1, got {n!r}")
    r = torch.eye(n, dtype=torch.float64)
    r[0, 0] = -1.0
    return r


def sample_gl(n: int, *, generator: torch.Generator, component: int = 1, scale: float = 0.3) -> Tensor:
    """g = exp(X) · R^((1 − c)/2) with X_ij ~ N(0, scale²/n): an element of the component det g = c · |det g|.

    Args:
      n: matrix size.
      generator: the torch.Generator that draws X.
      component: +1 (GL⁺, the identity component) or −1 (det g < 0).
      scale: standard deviation of the entries of X times √n.

    Returns:
      g (n, n), float64.
    """
    if not isinstance(generator, torch.Generator):
        raise ConfigError("sample_gl: pass generator=torch.Generator().manual_seed(seed)")
    if component not in (1, -1):
        raise ConfigError(f"sample_gl: component must be +1 or -1, got {component!r}")
    r = reflection(n)
    x = torch.randn(n, n, generator=generator, dtype=torch.float64) * (scale / math.sqrt(n))  # (n, n)
    g = torch.linalg.matrix_exp(x)
    return g if component == 1 else g @ r


def _check_square(where: str, g: Tensor) -> Tensor:
    if not isinstance(g, Tensor) or g.ndim != 2 or g.shape[0] != g.shape[1] or g.shape[0] == 0:
        shape = tuple(g.shape) if isinstance(g, Tensor) else type(g).__name__
        raise SymmetryError(f"{where}: expected a square matrix (n, n), got {shape}")
    g = g.detach().to(torch.float64)
    if not bool(torch.isfinite(g).all()):
        raise SymmetryError(f"{where}: the matrix has NaN or infinite entries")
    return g


def rotation_log(q: Tensor) -> Tensor:
    """A real skew-symmetric L with exp(L) = Q for Q ∈ SO(n), from the real Schur form Q = Z T Zᵀ.

    2 × 2 blocks [[c, −s], [s, c]] give angles atan2(s, c); eigenvalues −1 come in pairs (det Q = 1) and
    are joined into rotations by π.
    """
    q = _check_square("rotation_log", q)
    n = q.shape[0]
    qn = q.numpy()
    if np.abs(qn.T @ qn - np.eye(n)).max() > 1e-8 or np.linalg.det(qn) <= 0:
        raise SymmetryError("rotation_log: Q must be orthogonal with det Q = +1")
    t, z = scipy.linalg.schur(qn, output="real")
    log = np.zeros((n, n))
    minus_one: list[int] = []
    i = 0
    while i < n:
        if i + 1 < n and abs(t[i + 1, i]) > _ROUNDOFF:
            angle = math.atan2((t[i + 1, i] - t[i, i + 1]) / 2, (t[i, i] + t[i + 1, i + 1]) / 2)
            log[i, i + 1], log[i + 1, i] = -angle, angle
            i += 2
            continue
        if t[i, i] < 0:
            minus_one.append(i)
        i += 1
    for a, b in zip(minus_one[0::2], minus_one[1::2], strict=True):
        log[a, b], log[b, a] = -math.pi, math.pi
    out = torch.from_numpy(z @ log @ z.T)
    out = (out - out.T) / 2
    if float((torch.linalg.matrix_exp(out) - q).abs().max()) > 1e-8:
        raise SymmetryError("rotation_log: the real Schur form did not reproduce Q (is Q orthogonal?)")
    return out


@dataclass(frozen=True)
class GLPath:
    """g(t) = exp(t log Q) exp(t log S), a path in GL⁺ with g(0) = I and g(1) = Q S = g."""

    log_rotation: Tensor  # (n, n) skew-symmetric
    log_stretch: Tensor  # (n, n) symmetric

    def __call__(self, t: float) -> Tensor:
        return torch.linalg.matrix_exp(t * self.log_rotation) @ torch.linalg.matrix_exp(t * self.log_stretch)

    def __repr__(self) -> str:
        return f"GLPath(n={self.log_rotation.shape[0]})"


def gl_path(g: Tensor) -> GLPath:
    """The polar path from I to g inside GL⁺ (needs det g > 0; no path exists otherwise).

    g = U Σ Vᵀ gives Q = U Vᵀ and S = V Σ Vᵀ, so log S = V log Σ Vᵀ and log Q = `rotation_log(Q)`.
    """
    g = _check_square("gl_path", g)
    u, s, vh = torch.linalg.svd(g)
    if float(s.min()) <= 1e-12 * float(s.max()):
        raise SymmetryError(f"gl_path: g is singular (smallest singular value {float(s.min()):.3g})")
    sign = float(torch.linalg.det(g).sign())
    if sign < 0:
        raise SymmetryError("gl_path: det g < 0, so g lies in the other component of GL and no path from I "
                            "reaches it; compose g with a reflection or an odd permutation first")
    q = u @ vh
    log_s = vh.T @ torch.diag(torch.log(s)) @ vh
    return GLPath(rotation_log(q), (log_s + log_s.T) / 2)


def sample_element(
    spec: Spec,
    *,
    generator: torch.Generator,
    components: Mapping[str, int] | None = None,
    scale: float = 0.3,
) -> GroupElement:
    """A GL element on every factor admitting "gl": g_f = `sample_gl` in component `components[f]`.

    Factors missing from `components` get a random component (drawn from `generator`); factors without
    "gl" get the identity.
    """
    if not isinstance(generator, torch.Generator):
        raise ConfigError("sample_element: pass generator=torch.Generator().manual_seed(seed)")
    components = dict(components or {})
    gl_names = [f.name for f in spec.factors if "gl" in f.kinds and f.parent is None]
    unknown = sorted(set(components) - set(gl_names))
    if unknown:
        raise SymmetryError(f"sample_element: {unknown} are not factors admitting GL; those are {gl_names}")
    actions = dict(spec.identity().actions)
    for f in spec.factors:
        if f.name not in gl_names:
            continue
        c = components.get(f.name)
        if c is None:
            c = 1 if bool(torch.rand((), generator=generator) < 0.5) else -1
        actions[f.name] = FactorAction(torch.arange(f.size), matrix=sample_gl(f.size, generator=generator,
                                                                              component=c, scale=scale))
    return GroupElement(spec, actions)
