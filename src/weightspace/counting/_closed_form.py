"""Closed-form counts of symmetry-induced subspaces (Simsek et al. 2021) and permutation points (Brea et al. 2019).

Every count is an exact Python integer (or `fractions.Fraction`), at any size. The two-layer
counts all reduce to one alternating power sum,

    A(r, N, m) = Σ_{j=0}^{r} (−1)^j C(r, j) (N − j)^m,

the number of maps from m units into {1..N} that hit each of r fixed labels (inclusion–exclusion
over the labels missed): T(r*, m) = A(r*, r*+1, m), G(r, m) = A(r, r, m), S(m, r) = A(r, r, m)/r!.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Sequence
from fractions import Fraction

from ..errors import ConfigError

__all__ = [
    "G",
    "T",
    "crossover",
    "disjoint_pair_count",
    "permutation_group_order",
    "permutation_point_count",
    "permutation_point_factor",
    "ratio",
    "stirling2",
]

CROSSOVER_H_MAX = 10_000


def _size(value, name: str, func: str, *, minimum: int = 0) -> int:
    """`value` as an int >= minimum, else a one-line ConfigError naming the call."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{func}: {name} must be an integer, got {value!r}")
    v = int(value)
    if v < minimum:
        raise ConfigError(f"{func}: {name} must be >= {minimum}, got {v}")
    return v


def _widths(widths, func: str) -> tuple[int, ...]:
    """Hidden-layer widths as a non-empty tuple of positive ints, else ConfigError."""
    if isinstance(widths, str | bytes) or not isinstance(widths, Sequence):
        raise ConfigError(f"{func}: widths must be a sequence of hidden-layer widths like [10, 10], got {widths!r}")
    if len(widths) == 0:
        raise ConfigError(f"{func}: widths is empty; give at least one hidden-layer width")
    return tuple(_size(n, f"widths[{i}]", func, minimum=1) for i, n in enumerate(widths))


@functools.lru_cache(maxsize=2)
def _odd_powers(cap: int, m: int) -> tuple[int, ...]:
    """(1^m, 3^m, 5^m, ..., o^m) for odd o <= cap: entry o // 2 holds o^m.

    Memoised (two tables) so that T(r*, m) and G(r*, m) called one after the other share the
    expensive big powers; the callers round `cap` up so that nearby sizes hit the same table.
    """
    return tuple(o**m for o in range(1, cap + 1, 2))


def _alternating_power_sum(r: int, top: int, m: int) -> int:
    """A(r, top, m) = Σ_{j=0}^{r} (−1)^j C(r, j) (top − j)^m, for 0 <= r <= top.

    k^m is (odd part of k)^m shifted left by m·v₂(k), so only the odd bases are powered.
    """
    cap = -(-top // 64) * 64  # round up: T(r, m) and G(r, m) share one table
    odd = _odd_powers(cap, m)
    total = 0
    coeff = 1  # C(r, j)
    for j in range(r + 1):
        k = top - j
        if k == 0:
            term = coeff if m == 0 else 0  # 0^0 = 1: the empty map
        else:
            e = (k & -k).bit_length() - 1  # v₂(k)
            term = coeff * (odd[(k >> e) >> 1] << (e * m))
        total = total - term if j & 1 else total + term
        coeff = coeff * (r - j) // (j + 1)
    return total


def stirling2(n: int, k: int) -> int:
    """Stirling number of the second kind S(n, k): partitions of n labelled units into k non-empty blocks.

    S(n, k) = (1/k!) Σ_{j=0}^{k} (−1)^j C(k, j) (k − j)^n, with S(0, 0) = 1 and S(n, k) = 0 for k > n.
    """
    n = _size(n, "n", "stirling2")
    k = _size(k, "k", "stirling2")
    if k > n:
        return 0
    return _alternating_power_sum(k, k, n) // math.factorial(k)


def T(r_star: int, m: int) -> int:
    """Number T(r*, m) of affine subspaces forming the global-minima manifold of a width-m student, width-r* teacher.

    A subspace is a map from the m student units onto {0, 1..r*} that hits every teacher unit
    (0 marks a zero-type neuron, a_j = 0):

        T(r*, m) = Σ_{k=0}^{m−r*} C(m, k) · r*! · S(m − k, r*) = Σ_{j=0}^{r*} (−1)^j C(r*, j) (r* + 1 − j)^m,

    k being the number of zero-type neurons; computed with the alternating form. Checks:
    T(r, r) = r!, T(r, r + 1) = (r + 1)!(r + 2)/2. Requires m >= r* >= 0 (Simsek et al. 2021).
    """
    r_star = _size(r_star, "r_star", "T")
    m = _size(m, "m", "T")
    if m < r_star:
        raise ConfigError(f"T: the student width m={m} is below the teacher width r_star={r_star}; need m >= r_star")
    return _alternating_power_sum(r_star, r_star + 1, m)


def G(r: int, m: int) -> int:
    """Number G(r, m) of affine subspaces of symmetry-induced critical points from one irreducible width-r point.

    A subspace is a surjection of the m units onto the r units it splits (replicates):

        G(r, m) = r! · S(m, r) = Σ_{j=0}^{r} (−1)^j C(r, j) (r − j)^m.

    Check: G(r, r + 1) = (r + 1)! r / 2. Requires m >= r >= 0; G(0, m) = 0 for m >= 1
    (Simsek et al. 2021).
    """
    r = _size(r, "r", "G")
    m = _size(m, "m", "G")
    if m < r:
        raise ConfigError(f"G: the width m={m} is below the reduced width r={r}; need m >= r")
    return _alternating_power_sum(r, r, m)


def ratio(r_star: int, m: int) -> Fraction:
    """Ratio of critical to global-minimum subspaces, G(r* − 1, m) / T(r*, m), exactly.

    With m = r* + h: (r* − 1)/2 at h = 0, strictly decreasing in h (checked numerically), and
    → 0 for h ≫ r* (roughly like ((r* − 1)/(r* + 1))^m). Requires r* >= 1 and m >= r*.
    """
    r_star = _size(r_star, "r_star", "ratio", minimum=1)
    m = _size(m, "m", "ratio")
    if m < r_star:
        raise ConfigError(f"ratio: the student width m={m} is below the teacher width r_star={r_star}; "
                          "need m >= r_star")
    return Fraction(G(r_star - 1, m), T(r_star, m))


def crossover(r_star: int, *, h_max: int = CROSSOVER_H_MAX) -> int:
    """Smallest overparameterisation h >= 1 at which global-minimum subspaces outnumber critical ones.

    crossover(r*) = min { h >= 1 : T(r*, r* + h) >= G(r* − 1, r* + h) }, found by scanning
    h = 1, 2, ..., h_max (ConfigError if no such h). h = 0 is excluded: there the ratio is (r* − 1)/2.
    """
    r_star = _size(r_star, "r_star", "crossover", minimum=1)
    h_max = _size(h_max, "h_max", "crossover", minimum=1)
    for h in range(1, h_max + 1):
        m = r_star + h
        if T(r_star, m) >= G(r_star - 1, m):
            return h
    raise ConfigError(f"crossover: T(r_star={r_star}, r_star+h) < G(r_star-1, r_star+h) for all h <= h_max={h_max}; "
                      "raise h_max")


def permutation_group_order(widths: Sequence[int]) -> int:
    """Order of the permutation group of an MLP with hidden widths n_1..n_{d−1}: Π_k n_k!."""
    return math.prod(math.factorial(n) for n in _widths(widths, "permutation_group_order"))


def disjoint_pair_count(n: int, order: int) -> int:
    """Number of ways to choose K disjoint unordered pairs among n units: n! / (2^K K! (n − 2K)!).

    Not Brea's factor: C(n − K, K)/2^K = disjoint_pair_count(n, K) · (n − K)!/n! (see
    `permutation_point_factor`). Zero when 2K > n.
    """
    n = _size(n, "n", "disjoint_pair_count")
    order = _size(order, "order", "disjoint_pair_count", minimum=1)
    if 2 * order > n:
        return 0
    return math.factorial(n) // (2**order * math.factorial(order) * math.factorial(n - 2 * order))


def _layer_points(n: int, order: int) -> int:
    """Placements of n − K distinct units into n slots, K of them twice: C(n − K, K) · n!/2^K (0 if 2K > n)."""
    if 2 * order > n:
        return 0
    return math.comb(n - order, order) * math.factorial(n) // 2**order


def permutation_point_count(widths: Sequence[int], order: int) -> int:
    """Number of K-th order permutation points (K coincident pairs in one hidden layer) from one reduced network.

        Σ_k (Π_{l≠k} n_l!) · C(n_k − K, K) · n_k! / 2!^K

    Layer k of the reduced network holds n_k − K distinct units; a point places them in the n_k
    slots with K of them duplicated (a pair with equal input and output weights), the other layers
    being permuted freely. Equals disjoint_pair_count(n_k, K) · (n_k − K)! per layer.
    """
    ns = _widths(widths, "permutation_point_count")
    order = _size(order, "order", "permutation_point_count", minimum=1)
    group = math.prod(math.factorial(n) for n in ns)
    return sum(group // math.factorial(n) * _layer_points(n, order) for n in ns)


def permutation_point_factor(widths: Sequence[int], order: int) -> Fraction:
    """Brea's factor by which K-th order permutation points outnumber equivalent global minima.

        Σ_{k=1}^{d−1} C(n_k − K, K) / 2!^K  =  permutation_point_count(widths, K) / Π_k n_k!

    over the hidden layers k with widths n_k (Brea et al. 2019); a layer with n_k < 2K adds 0.
    """
    ns = _widths(widths, "permutation_point_factor")
    order = _size(order, "order", "permutation_point_factor", minimum=1)
    return sum((Fraction(math.comb(n - order, order), 2**order) for n in ns if 2 * order <= n), Fraction(0))
