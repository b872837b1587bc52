"""Brute-force twins of the closed-form counts: enumerate the objects counted (itertools), for small sizes only.

Each function lists the configurations explicitly and counts them, so the closed forms in
`_closed_form` can be tested against an oracle that shares no algebra with them. The cost is
exponential (about (r + 1)^m, or n^n per layer): keep the sizes tiny.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence

from ._closed_form import _size, _widths

__all__ = [
    "G_brute_force",
    "T_brute_force",
    "disjoint_pairs_brute_force",
    "permutation_group_order_brute_force",
    "permutation_points_brute_force",
    "stirling2_brute_force",
]


def T_brute_force(r_star: int, m: int) -> int:
    """T(r*, m) by enumeration: maps {1..m} → {0..r*} whose image contains every teacher unit {1..r*}.

    Unit j maps to the teacher unit it replicates, or to 0 for a zero-type neuron (a_j = 0).
    """
    r_star = _size(r_star, "r_star", "T_brute_force")
    m = _size(m, "m", "T_brute_force")
    teacher = set(range(1, r_star + 1))
    return sum(1 for f in itertools.product(range(r_star + 1), repeat=m) if teacher <= set(f))


def G_brute_force(r: int, m: int) -> int:
    """G(r, m) by enumeration: surjections {1..m} → {1..r} (every reduced unit is split into at least one unit)."""
    r = _size(r, "r", "G_brute_force")
    m = _size(m, "m", "G_brute_force")
    return sum(1 for f in itertools.product(range(r), repeat=m) if len(set(f)) == r)


def stirling2_brute_force(n: int, k: int) -> int:
    """S(n, k) by enumeration: set partitions of n units into k blocks, as restricted-growth strings.

    A string (s_1..s_n) with s_1 = 0 and s_i <= 1 + max(s_1..s_{i−1}) names each partition once.
    """
    n = _size(n, "n", "stirling2_brute_force")
    k = _size(k, "k", "stirling2_brute_force")
    if n == 0:
        return int(k == 0)
    count = 0
    for s in itertools.product(range(k), repeat=n):
        if s[0] == 0 and all(s[i] <= 1 + max(s[:i]) for i in range(1, n)) and len(set(s)) == k:
            count += 1
    return count


def disjoint_pairs_brute_force(n: int, order: int) -> int:
    """Number of sets of K disjoint unordered pairs among n units, by enumerating K-subsets of all pairs."""
    n = _size(n, "n", "disjoint_pairs_brute_force")
    order = _size(order, "order", "disjoint_pairs_brute_force", minimum=1)
    pairs = list(itertools.combinations(range(n), 2))
    return sum(1 for chosen in itertools.combinations(pairs, order)
               if len({u for pair in chosen for u in pair}) == 2 * order)


def _layer_points_brute_force(n: int, order: int) -> int:
    """Sequences of length n over n − K labels in which exactly K labels occur twice and the rest once."""
    labels = max(n - order, 0)
    target = sorted([2] * order + [1] * (labels - order))  # unreachable when 2K > n: the count is 0
    return sum(1 for s in itertools.product(range(labels), repeat=n) if sorted(Counter(s).values()) == target)


def permutation_group_order_brute_force(widths: Sequence[int]) -> int:
    """|orbit| of a generic network (all units distinct) under per-layer permutations of hidden units.

    Enumerates every tuple of per-layer permutations, applies it to the unit labels and counts the
    distinct arrangements: the action is free, so this is the group order Π_k n_k!.
    """
    ns = _widths(widths, "permutation_group_order_brute_force")
    orbit = {tuple(tuple(p) for p in perms)
             for perms in itertools.product(*(itertools.permutations(range(n)) for n in ns))}
    return len(orbit)


def permutation_points_brute_force(widths: Sequence[int], order: int) -> int:
    """Number of K-th order permutation points from one reduced network, by enumeration (Brea et al. 2019).

    Interpretation checked: in hidden layer k the reduced network has n_k − K distinct units; a
    K-th order permutation point places them in the n_k slots so that exactly K of them occupy two
    slots (a coincident pair: equal input and equal output weights) and the rest one. The points of
    layer k are those placements (enumerated as label sequences) times the arrangements of the
    other layers (enumerated orbits, `permutation_group_order_brute_force`); layers are summed.
    Dividing by the number of equivalent global minima, Π_k n_k!, must give Brea's factor
    Σ_k C(n_k − K, K)/2!^K. (The number of ways to pick K disjoint pairs of slots,
    `disjoint_pairs_brute_force`, is a different quantity: it also counts which units fill the
    pairs only after multiplying by (n_k − K)!.)
    """
    ns = _widths(widths, "permutation_points_brute_force")
    order = _size(order, "order", "permutation_points_brute_force", minimum=1)
    total = 0
    for k, n in enumerate(ns):
        others = [w for i, w in enumerate(ns) if i != k]
        rest = permutation_group_order_brute_force(others) if others else 1
        total += _layer_points_brute_force(n, order) * rest
    return total
