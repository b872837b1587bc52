"""Data for deep linear networks: a square linear teacher y = M x, and the paper's scalar case X = Y = 1.

The linear teacher reuses the inputs of the teacher–student set (`load("teacher")`, x ~ N(0, I_h)) and
replaces its targets by y = M x with M = U diag(s) Vᵀ, U, V Haar-orthogonal and s ~ U(0.5, 1.5), drawn from a
generator seeded by a stable sub-seed of `seed`; det M has either sign. Both load through `data.load` as
"linear-teacher" (option `h`, the width; `n_train`, `n_test`) and "scalar" (options `x`, `y`).
"""

from __future__ import annotations

import torch

from ..errors import ConfigError, DataError
from ._dataset import Dataset
from ._teacher import load_teacher, subseed

__all__ = ["LINEAR_TEACHER", "SCALAR", "linear_teacher", "load_linear_teacher", "load_scalar", "scalar_data",
           "teacher_matrix"]

LINEAR_TEACHER = "linear-teacher"
SCALAR = "scalar"


def _check_int(where: str, name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: {name} must be an int >= {minimum}, got {value!r}")
    return value


def teacher_matrix(h: int, *, seed: int = 0) -> torch.Tensor:
    """M = U diag(s) Vᵀ (h × h, float64): singular values s ~ U(0.5, 1.5), so cond(M) <= 3."""
    h = _check_int("teacher_matrix", "h", h, 1)
    g = torch.Generator().manual_seed(subseed(seed, "linear-teacher"))
    u, _ = torch.linalg.qr(torch.randn(h, h, generator=g, dtype=torch.float64))  # (h, h)
    v, _ = torch.linalg.qr(torch.randn(h, h, generator=g, dtype=torch.float64))  # (h, h)
    s = 0.5 + torch.rand(h, generator=g, dtype=torch.float64)  # (h,)
    return u @ torch.diag(s) @ v.T


def linear_teacher(
    h: int, *, seed: int = 0, n_train: int = 64, n_test: int = 64, dtype: torch.dtype = torch.float64
) -> Dataset:
    """Regression data y = M x, x ~ N(0, I_h), with the square teacher M = `teacher_matrix(h, seed=seed)`.

    `meta["teacher"]["M"]` holds M; `meta["options"]` rebuilds the set with `data.load("linear-teacher", ...)`.
    """
    where = "linear_teacher"
    h = _check_int(where, "h", h, 1)
    n_train = _check_int(where, "n_train", n_train, 1)
    n_test = _check_int(where, "n_test", n_test, 1)
    base = load_teacher(root=None, seed=seed, dtype=torch.float64, d=h, p=h, r_star=1, n_train=n_train,
                        n_test=n_test)
    m = teacher_matrix(h, seed=base.meta["seed"])
    options = {"h": h, "seed": base.meta["seed"], "n_train": n_train, "n_test": n_test}
    return Dataset(
        name=LINEAR_TEACHER,
        task="regression",
        x_train=base.x_train.to(dtype),
        y_train=(base.x_train @ m.T).to(dtype),  # (n_train, h)
        x_test=base.x_test.to(dtype),
        y_test=(base.x_test @ m.T).to(dtype),  # (n_test, h)
        num_outputs=h,
        meta={"source": "linear teacher y = M x on the teacher-student inputs", "seed": options["seed"],
              "options": options, "teacher": {"M": m.tolist()}},
    )


def scalar_data(*, x: float = 1.0, y: float = 1.0, dtype: torch.dtype = torch.float64) -> Dataset:
    """The paper's scalar case: one sample X = x, Y = y (default 1, 1) in both splits; loss (f(X) − Y)²."""
    if not (isinstance(x, int | float) and isinstance(y, int | float)) or x == 0:
        raise ConfigError(f"scalar_data: x and y must be numbers with x != 0, got x={x!r}, y={y!r}")
    xt = torch.tensor([[float(x)]], dtype=dtype)
    yt = torch.tensor([[float(y)]], dtype=dtype)
    return Dataset(name=SCALAR, task="regression", x_train=xt, y_train=yt, x_test=xt.clone(), y_test=yt.clone(),
                   num_outputs=1, meta={"source": "scalar X = x, Y = y", "options": {"x": float(x), "y": float(y)},
                                        "teacher": {"M": [[float(y) / float(x)]]}})


def load_linear_teacher(*, root, seed: int | None, dtype: torch.dtype, h: int | None = None, n_train: int = 64,
                        n_test: int = 64) -> Dataset:
    """`data.load("linear-teacher", h=...)`: `linear_teacher(h, ...)`; the seed defaults to 0."""
    if h is None:
        raise DataError("data.load('linear-teacher'): missing option h (the width)")
    return linear_teacher(h, seed=0 if seed is None else seed, n_train=n_train, n_test=n_test, dtype=dtype)


def load_scalar(*, root, seed, dtype: torch.dtype, x: float = 1.0, y: float = 1.0) -> Dataset:
    """`data.load("scalar")`: `scalar_data(x=x, y=y)`; the seed is ignored (nothing is random)."""
    return scalar_data(x=x, y=y, dtype=dtype)
