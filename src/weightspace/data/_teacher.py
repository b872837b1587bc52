"""Teacher-student regression: noise-free targets of a random one-hidden-layer teacher of width r*.

    f(x) = sum_j a_j σ(w_j · x + b_j) + c,    x ~ N(0, I_d),    j = 1..r*

Teacher weights come from `torch.Generator().manual_seed(seed)`; train and test inputs from their own
generators with sub-seeds derived stably from `seed`, so changing `n_train` changes neither the teacher
nor the test set. Everything is computed in float64 and cast at the end.
"""

from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F

from ._dataset import Dataset, check_choice, check_int

__all__ = ["load_teacher", "ACTIVATIONS", "teacher_weights", "subseed"]

ACTIVATIONS = {"softplus": F.softplus, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "gelu": F.gelu}
CANDIDATES_PER_UNIT = 64
REFINE_STEPS = 200


def subseed(seed: int, tag: str) -> int:
    """A 63-bit seed derived from (`seed`, `tag`) by SHA-256: stable across runs and platforms."""
    digest = hashlib.sha256(f"weightspace.data.teacher/{seed}/{tag}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _signs(shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    """Independent ±1 entries (float64)."""
    return 1.0 - 2.0 * (torch.rand(shape, generator=g, dtype=torch.float64) < 0.5).to(torch.float64)


def _directions(d: int, r_star: int, g: torch.Generator) -> torch.Tensor:
    """r* unit vectors in R^d, well separated up to sign (w and -w give related units for odd σ).

    r* <= d: orthonormal rows (QR of a Gaussian matrix). r* > d: a greedy max-min-angle pick among
    Gaussian candidates, refined by `REFINE_STEPS` steps on the sphere lowering E = sum_{i≠j} (w_i·w_j)^8,
    which reaches the best line packings in small cases (d=2: lines π/r* apart; d=3, r*=4: |cos| = 1/3).
    """
    if d == 1:
        return _signs((r_star, 1), g)
    if r_star <= d:
        q, _ = torch.linalg.qr(torch.randn(d, r_star, generator=g, dtype=torch.float64))  # (d, r*) orthonormal
        return q.T.contiguous()
    cand = torch.randn(CANDIDATES_PER_UNIT * r_star, d, generator=g, dtype=torch.float64)
    cand = cand / cand.norm(dim=1, keepdim=True)  # (m, d)
    chosen = [0]
    worst = (cand @ cand[0]).abs()  # (m,) max |cos| to the chosen set
    for _ in range(r_star - 1):
        worst[chosen] = float("inf")
        nxt = int(torch.argmin(worst))
        chosen.append(nxt)
        worst = torch.maximum(worst, (cand @ cand[nxt]).abs())
    w = cand[chosen]  # (r*, d)
    for t in range(REFINE_STEPS):
        gram = w @ w.T
        gram.fill_diagonal_(0.0)
        gram = torch.where(gram.abs() > 1e-20, gram, 0.0)  # no subnormals in the power below
        grad = gram**7 @ w  # ∝ dE/dw, (r*, d)
        grad = grad - (grad * w).sum(1, keepdim=True) * w  # tangent to the sphere
        step = 0.1 * (1.0 - t / REFINE_STEPS) / float(grad.norm().clamp_min(1e-300))
        w = w - step * grad
        w = w / w.norm(dim=1, keepdim=True)
    return w


def teacher_weights(d: int, r_star: int, p: int, seed: int) -> dict[str, torch.Tensor]:
    """The teacher's float64 weights, drawn in this order from `torch.Generator().manual_seed(seed)`.

    w (r*, d): unit rows, well separated (see `_directions`), so w_j · x ~ N(0, 1) for x ~ N(0, I);
    b (r*,): U(-1, 1); a (p, r*): random sign times U(0.5, 1.5), so every unit matters; c (p,): U(-0.5, 0.5).
    """
    g = torch.Generator().manual_seed(seed)
    w = _directions(d, r_star, g)
    b = 2.0 * torch.rand(r_star, generator=g, dtype=torch.float64) - 1.0
    a = _signs((p, r_star), g) * (0.5 + torch.rand(p, r_star, generator=g, dtype=torch.float64))
    c = torch.rand(p, generator=g, dtype=torch.float64) - 0.5
    return {"w": w, "b": b, "a": a, "c": c}


def teacher_forward(x: torch.Tensor, weights: dict[str, torch.Tensor], activation: str) -> torch.Tensor:
    """f(x) = σ(x wᵀ + b) aᵀ + c for x (N, d); returns (N, p)."""
    hidden = ACTIVATIONS[activation](x @ weights["w"].T + weights["b"])  # (N, r*)
    return hidden @ weights["a"].T + weights["c"]  # (N, p)


def load_teacher(
    *,
    root,
    seed: int | None,
    dtype: torch.dtype,
    d: int = 2,
    r_star: int = 3,
    p: int = 1,
    n_train: int = 1000,
    n_test: int = 1000,
    activation: str = "softplus",
) -> Dataset:
    """Teacher-student regression: x (N, d) standard Gaussian, y = f(x) of shape (N, p), no noise.

    `seed=None` means 0. `meta["teacher"]` holds w, b, a, c as nested lists and the activation. `root` is ignored.
    """
    where = "data.load('teacher')"
    seed = 0 if seed is None else check_int(where, "seed", seed, maximum=2**63 - 1)
    d = check_int(where, "d", d, minimum=1)
    r_star = check_int(where, "r_star", r_star, minimum=1)
    p = check_int(where, "p", p, minimum=1)
    n_train = check_int(where, "n_train", n_train, minimum=1)
    n_test = check_int(where, "n_test", n_test, minimum=1)
    activation = check_choice(where, "activation", activation, tuple(ACTIVATIONS))

    weights = teacher_weights(d, r_star, p, seed)
    g_train = torch.Generator().manual_seed(subseed(seed, "train"))
    g_test = torch.Generator().manual_seed(subseed(seed, "test"))
    x_train = torch.randn(n_train, d, generator=g_train, dtype=torch.float64)  # (n_train, d)
    x_test = torch.randn(n_test, d, generator=g_test, dtype=torch.float64)  # (n_test, d)
    y_train = teacher_forward(x_train, weights, activation)  # (n_train, p)
    y_test = teacher_forward(x_test, weights, activation)  # (n_test, p)

    options = {"seed": seed, "d": d, "r_star": r_star, "p": p, "n_train": n_train, "n_test": n_test}
    options["activation"] = activation
    meta = {
        "source": "teacher-student (generated)",
        "seed": seed,
        "n_train": n_train,
        "n_test": n_test,
        "options": options,
        "teacher": {
            "d": d,
            "r_star": r_star,
            "p": p,
            "activation": activation,
            **{k: v.tolist() for k, v in weights.items()},
        },
    }
    return Dataset(
        name="teacher",
        task="regression",
        x_train=x_train.to(dtype),
        y_train=y_train.to(dtype),
        x_test=x_test.to(dtype),
        y_test=y_test.to(dtype),
        num_outputs=p,
        meta=meta,
    )
