"""The warm-started assignment (`WarmAssignment`) returns an optimum on every problem: checked against SciPy."""

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from weightspace.align import WarmAssignment
from weightspace.errors import ConfigError, NonFiniteError


def _best(s: np.ndarray) -> float:
    r, c = linear_sum_assignment(s, maximize=True)
    return float(s[r, c].sum())


def _value(s: np.ndarray, perm: torch.Tensor) -> float:
    return float(s[np.arange(len(s)), perm.numpy()].sum())


def _is_optimal(s: np.ndarray, perm: torch.Tensor) -> bool:
    assert sorted(perm.tolist()) == list(range(len(s)))  # a permutation
    return _value(s, perm) >= _best(s) - 1e-9 * max(1.0, float(np.abs(s).sum()))


def _sequence(rng: np.random.Generator, n: int, kind: str) -> list[np.ndarray]:
    """Four related problems S_0..S_3, as a coordinate descent would meet them."""
    if kind == "gauss":
        base = rng.standard_normal((n, n))
    elif kind == "lowrank":  # trained-like: a few strong directions and noise
        base = rng.standard_normal((n, 3)) @ rng.standard_normal((3, n)) + 0.1 * rng.standard_normal((n, n))
    elif kind == "int-ties":  # many equal entries and many optimal permutations
        base = rng.integers(0, 3, (n, n)).astype(float)
    else:  # "planted": a permuted dominant diagonal, so the planted permutation is the unique optimum
        base = rng.standard_normal((n, n)) + 5 * np.eye(n)[rng.permutation(n)]
    out = [base]
    for step in range(3):
        if kind == "int-ties":
            out.append(out[-1] + (rng.random((n, n)) < 0.05) * rng.integers(-1, 2, (n, n)))
        else:  # a rank-one move (one factor's units changed) or a small dense one
            dense = rng.standard_normal((n, n))
            move = np.outer(rng.standard_normal(n), rng.standard_normal(n)) if step != 1 else dense
            out.append(out[-1] + 0.05 * move)
    return out


@pytest.mark.parametrize("kind", ["gauss", "lowrank", "int-ties", "planted"])
def test_every_returned_assignment_is_optimal(kind):
    """13 sizes x 4 problems per kind: 208 matrices over the four kinds, each solve checked against SciPy."""
    rng = np.random.default_rng(["gauss", "lowrank", "int-ties", "planted"].index(kind))
    checked = 0
    for n in (1, 2, 3, 4, 5, 7, 8, 11, 16, 23, 32, 40, 57):
        warm = WarmAssignment()
        current = torch.arange(n)
        for s in _sequence(rng, n, kind):
            current = warm(torch.from_numpy(s), current, key="f")
            assert _is_optimal(s, current), (kind, n)
            checked += 1
    assert checked == 52
    assert warm.stats["solved"] >= 1 and warm.stats["certified"] + warm.stats["repaired"] >= 1


def test_an_optimal_permutation_is_certified_without_a_solve():
    rng = np.random.default_rng(7)
    s = rng.standard_normal((30, 30))
    warm = WarmAssignment()
    first = warm(torch.from_numpy(s), torch.arange(30), key="f")
    warm(torch.from_numpy(s), first, key="f")  # met again: solved from scratch, duals kept
    again = warm(torch.from_numpy(s + 1e-3 * np.eye(30)[first.numpy()]), first, key="f")  # π only got better
    assert torch.equal(again, first)
    assert warm.stats == {"certified": 1, "repaired": 0, "solved": 2, "paths": 0}


def test_a_changed_problem_is_repaired_to_the_new_optimum():
    rng = np.random.default_rng(8)
    s = rng.standard_normal((40, 40))
    warm = WarmAssignment()
    p = warm(torch.from_numpy(s), None, key="f")
    p = warm(torch.from_numpy(s), p, key="f")
    s2 = s.copy()
    s2[:, [3, 17]] = s2[:, [17, 3]]  # swap two columns: the optimum swaps with them
    q = warm(torch.from_numpy(s2), p, key="f")
    assert warm.stats["repaired"] == 1
    assert _is_optimal(s2, q)
    assert _value(s2, q) == pytest.approx(_value(s, p))


def test_keys_keep_separate_duals_and_all_ties_are_optimal():
    warm = WarmAssignment()
    ones = torch.ones(6, 6, dtype=torch.float64)
    for key in ("a", "b", "a", "b"):
        p = warm(ones, torch.arange(6), key=key)
        assert sorted(p.tolist()) == list(range(6))
    assert set(warm.duals) == {"a", "b"}


def test_bad_similarities_are_refused():
    warm = WarmAssignment()
    with pytest.raises(ConfigError, match="square"):
        warm(torch.ones(2, 3), None)
    with pytest.raises(NonFiniteError, match="NaN"):
        warm(torch.tensor([[0.0, float("nan")], [1.0, 0.0]]), None)
