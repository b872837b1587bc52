"""Closed-form counts of symmetry-induced subspaces (Simsek et al. 2021) and permutation points (Brea et al. 2019).

Every count is an exact Python integer (or `fractions.Fraction`), at any size. The two-layer
counts all reduce to one alternating power sum,

    A(r, N, m) = Σ_{j=0}^{r} (−1)^j C(r, j) (N − j)^m,

the number of maps from m units into {1..N} that hit each of r fixed labels (inclusion–exclusion
over the labels missed): T(r*, m) = A(r*, r*+1, m), G(r, m) = A(r, r, m), S(m, r) = A(r, r, m)/r!.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
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
CROSSOVER_R_STAR_MAX = 2_000
# Limits on the big powers o^m one call builds (Karatsuba: a b-bit power costs ~ b^1.585): at most
# POWER_BITS_MAX bits each (10^7 digits, ~15 s) and TOTAL_POWER_BITS_MAX bits in all (~30 s on one core).
POWER_BITS_MAX = 2**25
TOTAL_POWER_BITS_MAX = 5 * 10**8


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


def _odd_part(k: int) -> tuple[int, int]:
    """(o, e) with k = o · 2^e and o odd, for k >= 1."""
    e = (k & -k).bit_length() - 1
    return k >> e, e


def _alternating_power_sums(sums: Sequence[tuple[int, int]], m: int, where: str, *,
                            callback: Callable[[dict], None] | None = None) -> list[int]:
    """[A(r, top, m) for (r, top) in sums], A(r, top, m) = Σ_{j=0}^{r} (−1)^j C(r, j) (top − j)^m, 0 <= r <= top.

    k^m is (odd part of k)^m shifted left by m·v₂(k): only the odd bases are powered, once for all the
    sums. Refuses (ConfigError) beyond POWER_BITS_MAX / TOTAL_POWER_BITS_MAX (bits as m·bit_length(o)); `callback`
    receives {"step", "total_steps"} after each power.
    """
    bases = sorted({_odd_part(top - j)[0] for r, top in sums for j in range(r + 1) if top - j > 0})
    largest = m * bases[-1].bit_length() if bases else 0
    total = sum(m * o.bit_length() for o in bases)
    if largest > POWER_BITS_MAX or total > TOTAL_POWER_BITS_MAX:
        raise ConfigError(f"{where}: m={m} needs {len(bases)} exact powers of up to {largest:.2g} bits ({total:.2g} "
                          f"bits in all), beyond the limits of {POWER_BITS_MAX:.2g} bits each and "
                          f"{TOTAL_POWER_BITS_MAX:.2g} in all; choose a smaller m or r")
    power: dict[int, int] = {}
    for step, o in enumerate(bases, 1):
        power[o] = o**m
        if callback is not None:
            callback({"step": step, "total_steps": len(bases)})
    out = []
    for r, top in sums:
        total = 0
        coeff = 1  # C(r, j)
        for j in range(r + 1):
            k = top - j
            if k == 0:
                term = coeff if m == 0 else 0  # 0^0 = 1: the empty map
            else:
                o, e = _odd_part(k)
                term = coeff * (power[o] << (e * m))
            total = total - term if j & 1 else total + term
            coeff = coeff * (r - j) // (j + 1)
        out.append(total)
    return out


def stirling2(n: int, k: int) -> int:
    """Stirling number of the second kind S(n, k): partitions of n labelled units into k non-empty blocks.

    S(n, k) = (1/k!) Σ_{j=0}^{k} (−1)^j C(k, j) (k − j)^n, with S(0, 0) = 1 and S(n, k) = 0 for k > n.
    """
    n = _size(n, "n", "stirling2")
    k = _size(k, "k", "stirling2")
    if k > n:
        return 0
    return _alternating_power_sums([(k, k)], n, "stirling2")[0] // math.factorial(k)


def T(r_star: int, m: int, *, callback: Callable[[dict], None] | None = None) -> int:
    """Number T(r*, m) of affine subspaces forming the global-minima manifold of a width-m student, width-r* teacher.

    A subspace is a map from the m student units onto {0, 1..r*} that hits every teacher unit
    (0 marks a zero-type neuron, a_j = 0):

        T(r*, m) = Σ_{k=0}^{m−r*} C(m, k) · r*! · S(m − k, r*) = Σ_{j=0}^{r*} (−1)^j C(r*, j) (r* + 1 − j)^m,

    k being the number of zero-type neurons; computed with the alternating form. Checks:
    T(r, r) = r!, T(r, r + 1) = (r + 1)!(r + 2)/2. Requires m >= r* >= 0 (Simsek et al. 2021). The powers
    built are limited (POWER_BITS_MAX, TOTAL_POWER_BITS_MAX; ConfigError beyond); `callback` gets
    {"step", "total_steps"} after each power.
    """
    r_star = _size(r_star, "r_star", "T")
    m = _size(m, "m", "T")
    if m < r_star:
        raise ConfigError(f"T: the student width m={m} is below the teacher width r_star={r_star}; need m >= r_star")
    return _alternating_power_sums([(r_star, r_star + 1)], m, "T", callback=callback)[0]


def G(r: int, m: int, *, callback: Callable[[dict], None] | None = None) -> int:
    """Number G(r, m) of affine subspaces of symmetry-induced critical points from one irreducible width-r point.

    A subspace is a surjection of the m units onto the r units it splits (replicates):

        G(r, m) = r! · S(m, r) = Σ_{j=0}^{r} (−1)^j C(r, j) (r − j)^m.

    Check: G(r, r + 1) = (r + 1)! r / 2. Requires m >= r >= 0; G(0, m) = 0 for m >= 1
    (Simsek et al. 2021). Size limit and `callback` as for `T`.
    """
    r = _size(r, "r", "G")
    m = _size(m, "m", "G")
    if m < r:
        raise ConfigError(f"G: the width m={m} is below the reduced width r={r}; need m >= r")
    return _alternating_power_sums([(r, r)], m, "G", callback=callback)[0]


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
    t, g = _T_and_G_prev(r_star, m, "ratio")
    return Fraction(g, t)


def _T_and_G_prev(r_star: int, m: int, where: str) -> tuple[int, int]:
    """(T(r*, m), G(r* − 1, m)) from one table of powers (r* >= 1, m >= r*, checked by the caller)."""
    t, g = _alternating_power_sums([(r_star, r_star + 1), (r_star - 1, r_star - 1)], m, where)
    return t, g


def crossover(r_star: int, *, h_max: int = CROSSOVER_H_MAX) -> int:
    """Smallest overparameterisation h >= 1 at which global-minimum subspaces outnumber critical ones.

    crossover(r*) = min { h >= 1 : T(r*, r* + h) >= G(r* − 1, r* + h) }. The ratio G/T decreases strictly
    in h (checked against a scan in the tests), so the predicate is monotone and h is found by doubling
    h = 1, 2, 4, ... then bisecting: O(log h) evaluations. h = 0 is excluded: there the ratio is (r* − 1)/2.
    Refuses r* > CROSSOVER_R_STAR_MAX (h ≈ 0.26 r*, and each evaluation powers r*/2 bases) and, with a
    ConfigError naming h_max, when no h <= h_max qualifies.
    """
    r_star = _size(r_star, "r_star", "crossover", minimum=1)
    h_max = _size(h_max, "h_max", "crossover", minimum=1)
    if r_star > CROSSOVER_R_STAR_MAX:
        raise ConfigError(f"crossover: r_star={r_star} is beyond the supported limit {CROSSOVER_R_STAR_MAX} "
                          "(exact big-integer counts at m ≈ 1.26 r_star); choose a smaller r_star")

    def reached(h: int) -> bool:
        t, g = _T_and_G_prev(r_star, r_star + h, "crossover")
        return t >= g

    lo, hi = 0, 1  # invariant: not reached(lo) (h = 0 is never counted), reached(hi) once found
    while not reached(hi):
        if hi >= h_max:
            raise ConfigError(f"crossover: T(r_star={r_star}, r_star+h) < G(r_star-1, r_star+h) for all "
                              f"h <= h_max={h_max}; raise h_max")
        lo, hi = hi, min(2 * hi, h_max)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reached(mid) else (mid, hi)
    return hi


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
