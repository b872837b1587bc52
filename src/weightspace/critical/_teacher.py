"""The teacher–student testbed: the teacher as an MLP point, students trained to critical points in float64.

The teacher f*(x) = Σ_{j ≤ r*} a_j σ(w_j·x + b_j) + c (`weightspace.data.load("teacher")`) is itself a global
minimum (L = 0) of the width-r* student loss. A student of width m ≥ r* trained to high precision lands
on the global-minima manifold (L ≈ 0, ||∇L|| ≤ 1e-10); a student of width r < r* cannot reach L = 0
and converges to a non-global critical point — embedded into width ≥ r* by splitting, it gives the
symmetry-induced critical points of Simsek et al.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from ..data import Dataset
from ..errors import ConfigError
from ..models import normalize_config
from ..params import Params
from ..symmetry._config import check_config, model_for
from ._objective import objective
from ._optimize import Fit, minimize

__all__ = ["init_params", "student_config", "teacher_params", "fit_student"]


def _teacher_meta(data: Dataset, where: str) -> dict:
    meta = data.meta.get("teacher") if isinstance(data, Dataset) else None
    if not isinstance(meta, dict):
        raise ConfigError(f"{where}: data must come from weightspace.data.load('teacher', ...), "
                          "whose meta['teacher'] holds the teacher's weights")
    return meta


def student_config(data: Dataset, width: int | list[int]) -> dict:
    """The MLP config of a student for teacher–student `data`: input d, output p, the teacher's activation.

    `width` is the hidden width m (one hidden layer) or a list of widths.
    """
    meta = _teacher_meta(data, "student_config")
    widths = [width] if isinstance(width, int) and not isinstance(width, bool) else width
    return normalize_config({"name": "mlp", "input_shape": [meta["d"]], "num_outputs": meta["p"],
                             "widths": widths, "activation": meta["activation"], "bias": True})


def teacher_params(data: Dataset) -> tuple[Params, dict]:
    """(θ*, config): the teacher as a width-r* MLP point in float64, a global minimum with L(θ*) = 0 up to rounding.

    layers.0.weight = w (r*, d), layers.0.bias = b (r*,), layers.1.weight = a (p, r*), layers.1.bias = c (p,).
    """
    meta = _teacher_meta(data, "teacher_params")
    t = {k: torch.tensor(meta[k], dtype=torch.float64) for k in ("w", "b", "a", "c")}
    params = {"layers.0.weight": t["w"], "layers.0.bias": t["b"], "layers.1.weight": t["a"], "layers.1.bias": t["c"]}
    return params, student_config(data, meta["r_star"])


def init_params(config: Mapping, *, generator: torch.Generator, scale: float = 1.0) -> Params:
    """A random float64 point for `config`: weights N(0, scale²/fan_in), biases N(0, scale²/4), from `generator`."""
    if not isinstance(generator, torch.Generator):
        raise ConfigError("init_params: pass generator=torch.Generator().manual_seed(seed)")
    config = check_config(config, "init_params")
    state = model_for(config).state_dict()
    out = {}
    for k, v in state.items():
        if not v.is_floating_point():
            out[k] = v.clone()
            continue
        std = scale / math.sqrt(math.prod(v.shape[1:])) if v.dim() >= 2 else scale / 2
        out[k] = std * torch.randn(v.shape, generator=generator, dtype=torch.float64)  # v.shape
    return out


def fit_student(data: Dataset, width: int | list[int], *, seed: int = 0, adam_steps: int = 3000, lr: float = 1e-2,
                lbfgs_steps: int = 2000, newton_steps: int = 40, gtol: float = 1e-10,
                init: Mapping[str, Tensor] | None = None,
                callback: Callable[[dict], None] | None = None) -> tuple[Fit, dict]:
    """(fit, config): a student of hidden width `width` trained on `data`'s training set to ||∇L|| ≤ gtol.

    Adam (full batch) from `init_params(seed)` (or `init`), then L-BFGS with strong Wolfe, then Newton
    polishing (`minimize`). Check `fit.converged`; a width below r* ends at a non-global critical point.
    """
    config = student_config(data, width)
    start = init if init is not None else init_params(config, generator=torch.Generator().manual_seed(seed))
    fit = minimize(objective(config, data), {k: v.to(torch.float64) for k, v in start.items()},
                   adam_steps=adam_steps, lr=lr, lbfgs_steps=lbfgs_steps, newton_steps=newton_steps, gtol=gtol,
                   callback=callback)
    return fit, config
