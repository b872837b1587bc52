"""Linear assignment: the permutation π maximising Σ_i S[i, π(i)].

`solve` uses SciPy's `linear_sum_assignment` (a shortest-augmenting-path solver) for CPU tensors and
the batched auction algorithm below for CUDA tensors; any callable `S -> π` can be passed instead.
`WarmAssignment` solves a *sequence* of nearby problems (weight matching's sweeps) with the same SciPy
solver, exactly, on matrices reduced by the dual potentials of each factor's previous problem, where
its augmenting paths are short.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from ..errors import ConfigError, NonFiniteError

__all__ = ["Solver", "WarmAssignment", "solve", "scipy_solver", "auction_solver"]

Solver = Callable[[Tensor], Tensor]


def _check(similarity: Tensor) -> None:
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ConfigError(f"assignment needs a square similarity matrix, got shape {tuple(similarity.shape)}")
    if not bool(torch.isfinite(similarity).all()):
        raise NonFiniteError("assignment: the similarity matrix holds NaN or infinite values (NaN weights?)")


def _on_cpu(similarity: Tensor) -> np.ndarray:
    """S, checked, as a float64 array on the CPU (SciPy's side)."""
    _check(similarity)
    return similarity.detach().to("cpu", torch.float64).numpy()


def _permutation(cols: np.ndarray, like: Tensor) -> Tensor:
    """SciPy's column indices as π on `like`'s device."""
    return torch.from_numpy(np.asarray(cols, dtype=np.int64)).to(like.device)


def scipy_solver(similarity: Tensor) -> Tensor:
    """π with π[i] = column assigned to row i, maximising the total similarity (exact)."""
    _, cols = linear_sum_assignment(_on_cpu(similarity), maximize=True)
    return _permutation(cols, similarity)


def auction_solver(similarity: Tensor, *, eps_final: float | None = None, max_rounds: int = 100_000) -> Tensor:
    """Bertsekas' auction algorithm with ε-scaling, vectorised in torch (runs on any device).

    Every bidder (row) bids for its best object at price increment (best − second best + ε); the
    result is within n·ε of the optimum, so ε_final below (gap between distinct totals)/n makes it exact.
    """
    _check(similarity)
    s = similarity.detach().to(torch.float64)
    n = s.shape[0]
    if n <= 1:
        return torch.zeros(n, dtype=torch.long, device=s.device)
    span = float(s.max() - s.min()) or 1.0
    eps_final = eps_final if eps_final is not None else span * 1e-9 / n
    eps = span / 4
    prices = torch.zeros(n, dtype=s.dtype, device=s.device)
    rows = torch.arange(n, device=s.device)
    while True:
        owner = torch.full((n,), -1, dtype=torch.long, device=s.device)  # object -> row
        assigned = torch.full((n,), -1, dtype=torch.long, device=s.device)  # row -> object
        for _ in range(max_rounds):
            free = rows[assigned < 0]
            if len(free) == 0:
                break
            values = s[free] - prices
            top2 = values.topk(2, dim=1)
            best = top2.indices[:, 0]
            bid = prices[best] + top2.values[:, 0] - top2.values[:, 1] + eps
            # the highest bid per object wins
            win_bid = torch.full((n,), -torch.inf, dtype=s.dtype, device=s.device).scatter_reduce(
                0, best, bid, reduce="amax")
            won = bid >= win_bid[best]
            # break ties: one winner per object (the first bidder with the winning bid)
            winner = torch.full((n,), n, dtype=torch.long, device=s.device).scatter_reduce(
                0, best[won], free[won], reduce="amin")
            objects = torch.nonzero(winner < n).squeeze(1)
            new_rows = winner[objects]
            old = owner[objects]
            assigned[old[old >= 0]] = -1
            owner[objects] = new_rows
            assigned[new_rows] = objects
            prices[objects] = win_bid[objects]
        if (assigned < 0).any():  # the round limit ran out: fall back to the exact CPU solver
            return scipy_solver(similarity)
        if eps <= eps_final:
            return assigned
        eps = max(eps / 7, eps_final)


def solve(similarity: Tensor, solver: Solver | None = None) -> Tensor:
    """argmax_π Σ_i S[i, π(i)] with `solver`, else scipy on CPU and the auction on CUDA."""
    if solver is not None:
        return solver(similarity)
    return auction_solver(similarity) if similarity.is_cuda else scipy_solver(similarity)


@dataclass
class WarmAssignment:
    """Exact argmax_π Σ_i S[i, π(i)] for a sequence of related problems, warm-started from dual potentials.

    With C = −S, adding u_i to row i and v_j to column j changes every permutation's cost by Σu + Σv, so
    C and the reduced matrix C̄_ij = C_ij − u_i − v_j have the same optimal permutations, for any (u, v).
    SciPy's shortest-augmenting-path solver starts from zero duals; on C̄ built from (nearly) optimal duals
    each row's path search ends after a few steps. So every problem goes to SciPy, reduced: exact by
    construction, and faster the better the potentials. Per `key` (one weight-matching factor) the column
    potentials v are kept: a new problem takes u_i = min_j (C_ij − v_j) (C̄ ≥ 0, a zero in every row), and
    after its solve π, v moves towards the optimal duals of that problem by up to `rounds` Bellman–Ford
    relaxations v_j ← min(v_j, min_i v_π(i) + C_ij − C_iπ(i)), whose fixed point makes (u, v) optimal. A key
    met for the first time starts from the column minima v_j = min_i C_ij. `stats`: problems "solved",
    of them "warm" (from kept potentials), and relaxation "rounds".
    """

    rounds: int = 4
    potentials: dict = field(default_factory=dict)
    stats: dict = field(default_factory=lambda: {"solved": 0, "warm": 0, "rounds": 0})

    def __call__(self, similarity: Tensor, key: Hashable = None) -> Tensor:
        """π (π[i] = column of row i) maximising Σ_i S[i, π(i)]."""
        c = -_on_cpu(similarity)  # (n, n) costs; a copy, reduced in place
        n = c.shape[0]
        v = self.potentials.get(key)
        if v is not None and len(v) == n:
            self.stats["warm"] += 1
        else:
            v = c.min(axis=0)
        c -= v
        c -= c.min(axis=1, keepdims=True)
        _, cols = linear_sum_assignment(c)
        self.potentials[key] = v + self._relax(c, cols)
        self.stats["solved"] += 1
        return _permutation(cols, similarity)

    def _relax(self, c: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """w ≤ 0 with w_j ≤ w_π(i) + c_ij − c_iπ(i) after at most `rounds` relaxations (c reduced, π optimal)."""
        n = len(cols)
        w = np.zeros(n)
        tight = c[np.arange(n), cols]  # (n,)
        buf = np.empty_like(c)
        for _ in range(self.rounds):
            self.stats["rounds"] += 1
            np.add(c, (w[cols] - tight)[:, None], out=buf)
            new = np.minimum(w, buf.min(axis=0))
            if np.array_equal(new, w):
                break
            w = new
        return w
