"""The warm-started assignment (`WarmAssignment`) returns an optimum on every problem: checked against SciPy;
its potentials converge to optimal LP duals."""

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
        for s in _sequence(rng, n, kind):
            assert _is_optimal(s, warm(torch.from_numpy(s), key="f")), (kind, n)
            checked += 1
        assert warm.stats["solved"] == 4 and warm.stats["warm"] == 3  # one key: every later problem warm
    assert checked == 52


def test_an_optimal_permutation_already_in_use_is_returned():
    """A problem whose optimum is unique comes back with it, warm or cold (ties aside, nothing is lost)."""
    rng = np.random.default_rng(7)
    perm = rng.permutation(30)
    s = rng.standard_normal((30, 30)) + 10 * np.eye(30)[perm]
    warm = WarmAssignment()
    for _ in range(3):
        assert warm(torch.from_numpy(s), key="f").tolist() == perm.tolist()


def test_potentials_converge_to_optimal_duals():
    """With enough relaxations, u_i = min_j (C_ij − v_j) and v are LP duals certifying the optimum:
    u_i + v_j ≤ C_ij everywhere, with equality on every (i, π(i)) (complementary slackness)."""
    rng = np.random.default_rng(8)
    for kind in ("gauss", "lowrank", "int-ties", "planted"):
        s = _sequence(rng, 40, kind)[0]
        warm = WarmAssignment(rounds=40)
        pi = warm(torch.from_numpy(s), key="f").numpy()
        c = -s
        v = warm.potentials["f"]
        u = (c - v).min(axis=1)
        slack = c - u[:, None] - v[None, :]
        assert slack.min() >= -1e-12
        np.testing.assert_allclose(slack[np.arange(40), pi], 0.0, atol=1e-9)
        assert warm.stats["rounds"] < 40  # the relaxation reached its fixed point


def test_a_changed_problem_is_solved_to_the_new_optimum():
    rng = np.random.default_rng(8)
    s = rng.standard_normal((40, 40))
    warm = WarmAssignment()
    p = warm(torch.from_numpy(s), key="f")
    s2 = s.copy()
    s2[:, [3, 17]] = s2[:, [17, 3]]  # swap two columns: the optimum swaps with them
    q = warm(torch.from_numpy(s2), key="f")
    assert _is_optimal(s2, q)
    assert _value(s2, q) == pytest.approx(_value(s, p))


def test_keys_keep_separate_potentials_and_all_ties_are_optimal():
    warm = WarmAssignment()
    ones = torch.ones(6, 6, dtype=torch.float64)
    for key in ("a", "b", "a", "b"):
        p = warm(ones, key=key)
        assert sorted(p.tolist()) == list(range(6))
    assert set(warm.potentials) == {"a", "b"}
    assert warm(torch.ones(4, 4), key="a").shape == (4,)  # another size under a key: a cold start


def test_bad_similarities_are_refused():
    warm = WarmAssignment()
    with pytest.raises(ConfigError, match="square"):
        warm(torch.ones(2, 3))
    with pytest.raises(NonFiniteError, match="NaN"):
        warm(torch.tensor([[0.0, float("nan")], [1.0, 0.0]]))
