"""Linear assignment: the permutation π maximising Σ_i S[i, π(i)].

`solve` uses SciPy's `linear_sum_assignment` (a shortest-augmenting-path solver) for CPU tensors and
the batched auction algorithm below for CUDA tensors; any callable `S -> π` can be passed instead.
`WarmAssignment` solves a *sequence* of nearby problems exactly (weight matching's later sweeps) by
keeping the dual variables of each problem's last solve: LP duality certifies the current permutation
optimal without a solve, or a few shortest augmenting paths repair it.
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


def scipy_solver(similarity: Tensor) -> Tensor:
    """π with π[i] = column assigned to row i, maximising the total similarity (exact)."""
    _check(similarity)
    s = similarity.detach().to("cpu", torch.float64).numpy()
    _, cols = linear_sum_assignment(s, maximize=True)
    return torch.from_numpy(np.asarray(cols, dtype=np.int64)).to(similarity.device)


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
    """Exact argmax_π Σ_i S[i, π(i)] for a sequence of related problems, warm-started from their duals.

    In the minimisation form C = −S, π is optimal iff duals (u, v) exist with u_i + v_j ≤ C_ij for all
    (i, j) and equality on every (i, π(i)) (complementary slackness). For a problem `key` solved
    before, its column duals v are kept; u_i = min_j (C_ij − v_j) makes (u, v) feasible, and
    1. if every (i, current[i]) is tight (to `rtol`·max|C|), `current` is optimal: returned, no solve;
    2. else the rows that are not tight are unassigned and re-inserted (`_reinsert`: Jonker–Volgenant
       row reduction, then Dijkstra shortest augmenting paths on the reduced costs C_ij − u_i − v_j ≥ 0;
       each step keeps the duals feasible and the matching tight, so the result is optimal).
    A problem met for the first time is solved by SciPy (no duals: most are never met again); met
    again without duals, it is solved from scratch by step 2 from the column minima v_j = min_i C_ij.
    `stats` counts the outcomes ("certified", "repaired", "solved") and the rows re-inserted ("paths").
    """

    rtol: float = 1e-12
    duals: dict = field(default_factory=dict)
    stats: dict = field(default_factory=lambda: {"certified": 0, "repaired": 0, "solved": 0, "paths": 0})

    def __call__(self, similarity: Tensor, current: Tensor | None = None, key: Hashable = None) -> Tensor:
        """π (π[i] = column of row i) maximising Σ_i S[i, π(i)]; `current` is the permutation in use."""
        if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
            _check(similarity)
        c = -similarity.detach().to("cpu", torch.float64).numpy()  # (n, n) costs
        if not np.isfinite(c).all():
            _check(similarity)
        n = c.shape[0]
        v = self.duals.get(key)
        if current is not None and v is not None and len(v) == n == len(current) and n > 0:
            col4row = current.detach().to("cpu", torch.int64).numpy().copy()
            tol = self.rtol * max(1.0, float(np.abs(c).max()))
            u = (c - v).min(axis=1)  # (n,) feasible row duals
            slack = c[np.arange(n), col4row] - u - v[col4row]
            loose = np.flatnonzero(slack > tol)
            if len(loose) == 0:
                self.stats["certified"] += 1
                return current.detach().to(similarity.device, torch.long).clone()
            col4row, v = _reinsert(c, v.copy(), col4row, loose)
            self.duals[key] = v
            self.stats["repaired"] += 1
            self.stats["paths"] += len(loose)
            return torch.from_numpy(col4row).to(similarity.device)
        self.stats["solved"] += 1
        if key not in self.duals or n < 2:  # a first solve: SciPy, and duals only if the problem comes back
            self.duals[key] = None
            _, cols = linear_sum_assignment(c)
            return torch.from_numpy(np.asarray(cols, dtype=np.int64)).to(similarity.device)
        v = c.min(axis=0)  # (n,) column reduction: feasible with u = rowmin(C − v)
        cols, self.duals[key] = _reinsert(c, v, np.zeros(n, dtype=np.int64), np.arange(n))
        return torch.from_numpy(cols).to(similarity.device)


def _repair(c: np.ndarray, u: np.ndarray, v: np.ndarray, col4row: np.ndarray,
            free_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Insert `free_rows` one by one by Dijkstra shortest augmenting paths (Crouse's LAPJV step).

    Needs u_i + v_j ≤ C_ij and equality on the other rows' matched pairs; returns (col4row, v)."""
    n = c.shape[0]
    row4col = np.full(n, -1, dtype=np.int64)
    keep = np.ones(n, dtype=bool)
    keep[free_rows] = False
    row4col[col4row[keep]] = np.flatnonzero(keep)
    col4row = col4row.copy()
    col4row[free_rows] = -1
    for start in free_rows.tolist():
        shortest = np.full(n, np.inf)  # (n,) distance to each column
        path = np.full(n, -1, dtype=np.int64)  # (n,) row preceding each column
        scanned = np.zeros(n, dtype=bool)
        rows = []
        i, low, sink = start, 0.0, -1
        while sink < 0:
            rows.append(i)
            r = low + c[i] - u[i] - v  # (n,) reduced costs through row i
            better = (r < shortest) & ~scanned
            path[better] = i
            shortest[better] = r[better]
            j = int(np.argmin(np.where(scanned, np.inf, shortest)))
            low = float(shortest[j])
            scanned[j] = True
            if row4col[j] < 0:
                sink = j
            else:
                i = int(row4col[j])
        u[start] += low
        others = np.asarray(rows[1:], dtype=np.int64)
        u[others] += low - shortest[col4row[others]]
        cols = np.flatnonzero(scanned)
        v[cols] -= low - shortest[cols]
        j = sink
        while True:
            i = int(path[j])
            row4col[j] = i
            col4row[i], j = j, col4row[i]
            if i == start:
                break
    return col4row, v


def _reinsert(c: np.ndarray, v: np.ndarray, col4row: np.ndarray,
              free_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An optimal assignment and its column duals, from feasible duals `v` and a matching whose rows other
    than `free_rows` are tight: Jonker–Volgenant's augmenting row reduction over the free rows (each
    takes its cheapest column, lowering that column's dual to the row's second-best value and bumping
    its owner; lowering v keeps every other matched row tight), then shortest augmenting paths for the rest.
    """
    n = c.shape[0]
    row4col = np.full(n, -1, dtype=np.int64)
    col4row = col4row.copy()
    col4row[free_rows] = -1
    kept = np.flatnonzero(col4row >= 0)
    row4col[col4row[kept]] = kept
    free = free_rows.tolist()
    for _ in range(2):
        bumped = []
        for i in free:
            r = c[i] - v  # (n,)
            j1, j2 = (int(j) for j in np.argpartition(r, 1)[:2])
            if r[j2] < r[j1]:
                j1, j2 = j2, j1
            if r[j1] < r[j2]:
                v[j1] -= r[j2] - r[j1]  # row i is now indifferent between j1 and j2
            elif row4col[j1] >= 0:
                j1 = j2
            if row4col[j1] >= 0:
                col4row[row4col[j1]] = -1
                bumped.append(int(row4col[j1]))
            row4col[j1], col4row[i] = i, j1
        free = bumped
        if not free:
            break
    u = (c - v).min(axis=1)  # (n,)
    matched = col4row >= 0
    slack = np.full(n, np.inf)
    slack[matched] = c[matched, col4row[matched]] - u[matched] - v[col4row[matched]]
    loose = np.flatnonzero(slack > 0)
    return _repair(c, u, v, np.where(matched, col4row, 0), loose)
