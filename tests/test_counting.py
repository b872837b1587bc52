"""Counting contracts: closed forms vs brute force, the papers' checks, exactness at scale, the CLI's JSON."""

from __future__ import annotations

import json
import math
import re
import sys
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from weightspace.cli.count import app
from weightspace.counting import (
    G,
    G_brute_force,
    T,
    T_brute_force,
    count_table,
    crossover,
    decimal_string,
    disjoint_pair_count,
    disjoint_pairs_brute_force,
    json_count,
    leading_digits,
    permutation_group_order,
    permutation_group_order_brute_force,
    permutation_point_count,
    permutation_point_factor,
    permutation_points_brute_force,
    ratio,
    stirling2,
    stirling2_brute_force,
)
from weightspace.errors import ConfigError


def stirling2_recurrence(n: int, k: int) -> int:
    """Oracle sharing no code with the library: S(n, k) = k S(n−1, k) + S(n−1, k−1) row by row."""
    row = [1]  # S(0, ·)
    for i in range(1, n + 1):
        row = [0] + [j * (row[j] if j < len(row) else 0) + row[j - 1] for j in range(1, i + 1)]
    return row[k] if k < len(row) else 0


def T_by_zero_neurons(r_star: int, m: int) -> int:
    """T(r*, m) = Σ_{k=0}^{m−r*} C(m, k) · r*! · S(m − k, r*), k zero-type neurons."""
    return sum(math.comb(m, k) * math.factorial(r_star) * stirling2_recurrence(m - k, r_star)
               for k in range(m - r_star + 1))


# --- closed forms vs brute force -------------------------------------------------------------

@pytest.mark.parametrize("r", range(0, 5))
def test_T_matches_brute_force(r):
    for m in range(r, r + 5):
        assert T(r, m) == T_brute_force(r, m), (r, m)


@pytest.mark.parametrize("r", range(0, 5))
def test_G_matches_brute_force(r):
    for m in range(r, r + 5):
        assert G(r, m) == G_brute_force(r, m), (r, m)


def test_stirling2_matches_brute_force_and_recurrence():
    for n in range(0, 7):
        for k in range(0, n + 2):
            assert stirling2(n, k) == stirling2_brute_force(n, k) == stirling2_recurrence(n, k), (n, k)
    assert stirling2(0, 0) == 1 and stirling2(5, 0) == 0 and stirling2(3, 5) == 0
    assert stirling2(10, 3) == 9330 and stirling2(20, 10) == 5917584964655


def test_degenerate_sizes():
    assert T(0, 0) == 1 and T(0, 4) == 1  # the empty teacher: every unit is zero-type
    assert G(0, 0) == 1 and G(0, 3) == 0  # no surjection onto the empty set
    assert T(1, 1) == G(1, 1) == 1


# --- the papers' checks ----------------------------------------------------------------------

@pytest.mark.parametrize("r", [1, 2, 3, 5, 8, 13, 40])
def test_special_values(r):
    assert T(r, r) == math.factorial(r)
    assert T(r, r + 1) == math.factorial(r + 1) * (r + 2) // 2
    assert G(r, r + 1) == math.factorial(r + 1) * r // 2
    assert G(r, r) == math.factorial(r)


def test_T_forms_agree_on_grid():
    for r_star in range(0, 9):
        for m in range(r_star, 21):
            assert T(r_star, m) == T_by_zero_neurons(r_star, m), (r_star, m)


@given(r_star=st.integers(0, 12), h=st.integers(0, 25))
def test_T_is_sum_over_zero_type_neurons(r_star, h):
    m = r_star + h
    assert T(r_star, m) == T_by_zero_neurons(r_star, m)
    assert T(r_star, m) == sum(math.comb(m, k) * G(r_star, m - k) for k in range(h + 1))


@given(r=st.integers(1, 15), h=st.integers(1, 25))
def test_G_recurrence(r, h):
    m = r + h  # G(r, m) = r (G(r, m−1) + G(r−1, m−1)): unit m joins an old block or is alone
    assert G(r, m) == r * (G(r, m - 1) + G(r - 1, m - 1))
    assert G(r, m) == math.factorial(r) * stirling2_recurrence(m, r)


def test_large_sizes_exact():
    """Speed is benchmarked in bench/; here only the integers are checked."""
    t = T(1000, 10_000)
    g = G(1000, 10_000)
    # exactness: compare residues with an independent modular evaluation of the alternating sums
    for p in (1_000_000_007, 998_244_353):
        t_mod = sum((-1) ** j * math.comb(1000, j) * pow(1001 - j, 10_000, p) for j in range(1001)) % p
        g_mod = sum((-1) ** j * math.comb(1000, j) * pow(1000 - j, 10_000, p) for j in range(1001)) % p
        assert t % p == t_mod and g % p == g_mod
    assert len(decimal_string(t)) == 30005 and len(decimal_string(g)) == 30000
    assert g % math.factorial(1000) == 0  # G = r! S(m, r)


# --- the mild-vs-vast ratio ------------------------------------------------------------------

@pytest.mark.parametrize("r_star", range(2, 7))
def test_ratio_decreases_to_zero(r_star):
    qs = [ratio(r_star, r_star + h) for h in range(0, 41)]
    assert qs[0] == Fraction(r_star - 1, 2)  # m = r*: (r*−1)! C(r*, 2) / r*!
    assert all(a > b for a, b in zip(qs, qs[1:], strict=False))
    assert qs[1] < 1  # measured: for r* <= 6 the ratio is already below 1 at h = 1
    assert qs[40] < 1e-3  # vast overparameterisation: → 0


def test_ratio_exact_values():
    assert ratio(3, 4) == Fraction(14, 60)
    assert ratio(3, 5) == Fraction(30, 390)
    assert ratio(1, 7) == 0  # G(0, m) = 0 for m >= 1


def test_crossover_measured():
    assert [crossover(r) for r in range(1, 11)] == [1, 1, 1, 1, 1, 1, 2, 2, 2, 2]
    assert crossover(20) == 5 and crossover(50) == 13
    assert ratio(20, 21) > 4  # mild overparameterisation with a wide teacher: critical subspaces dominate
    for r in (7, 20, 50):
        h = crossover(r)
        assert ratio(r, r + h) <= 1 < ratio(r, r + h - 1)


def test_crossover_limit():
    with pytest.raises(ConfigError, match="h_max"):
        crossover(100, h_max=5)
    with pytest.raises(ConfigError, match="limit 2000"):
        crossover(100_000)


def test_crossover_bisection_equals_the_scan():
    """The doubling-and-bisection search finds the first h of a plain scan h = 1, 2, ... (monotone ratio)."""
    for r in [*range(1, 41), 64, 100]:
        h = next(h for h in range(1, 10 * r + 2) if T(r, r + h) >= G(r - 1, r + h))
        assert crossover(r) == h, r


def test_sizes_beyond_the_limits_are_refused_at_once():
    for call in (lambda: G(100_000, 1_000_000), lambda: T(3, 10**9), lambda: ratio(2_000, 10**6)):
        with pytest.raises(ConfigError, match="beyond the limits") as err:
            call()
        assert "\n" not in str(err.value)


def test_progress_callback_counts_the_powers():
    events = []
    assert T(3, 50, callback=events.append) == 4**50 - 3 * 3**50 + 3 * 2**50 - 1
    assert events == [{"step": 1, "total_steps": 2}, {"step": 2, "total_steps": 2}]  # odd bases 1 and 3


def test_leading_digits_and_decimal_string_are_exact():
    for n in [0, 7, 10**400 - 1, 10**400, 10**400 + 1, 3**5000, 2**40000 - 1, 10**12000 - 1]:
        size, lead = leading_digits(n, 8)
        assert 10 ** (size - 1) <= max(n, 1) < 10**size or n == 0
        assert int(lead) == n // 10 ** max(size - 8, 0)
    value = 7**30_000  # 25,353 digits
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        assert decimal_string(value) == str(value)
    finally:
        sys.set_int_max_str_digits(old)


# --- Brea's permutation-point factor ---------------------------------------------------------

@pytest.mark.parametrize("widths", [[2], [3], [4], [5], [6], [2, 3], [4, 3], [3, 2, 4]])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_permutation_points_match_brute_force(widths, order):
    count = permutation_point_count(widths, order)
    assert count == permutation_points_brute_force(widths, order)
    assert permutation_point_factor(widths, order) == Fraction(count, permutation_group_order(widths))


@pytest.mark.parametrize("n", range(1, 8))
@pytest.mark.parametrize("order", [1, 2, 3])
def test_disjoint_pairs_differ_from_brea_factor(n, order):
    pairs = disjoint_pair_count(n, order)
    assert pairs == disjoint_pairs_brute_force(n, order)
    # a point = K disjoint slot pairs, then the n − K reduced units placed in the n − K groups
    assert permutation_point_count([n], order) == pairs * math.factorial(max(n - order, 0))
    # so Brea's per-layer term is the pair count over the falling factorial n!/(n − K)!, not the pair count
    brea = permutation_point_factor([n], order)
    assert brea == Fraction(pairs * math.factorial(max(n - order, 0)), math.factorial(n))
    assert brea != pairs or pairs == 0


def test_permutation_point_factor_values():
    assert permutation_point_factor([10, 10], 2) == 14  # 2 · C(8, 2)/4
    assert permutation_point_factor([4], 1) == Fraction(3, 2)
    assert disjoint_pair_count(0, 1) == 0 and disjoint_pair_count(3, 2) == 0
    assert permutation_point_factor([3, 100], 2) == Fraction(math.comb(98, 2), 4)  # width 3 < 2K adds 0


@pytest.mark.parametrize("widths", [[1], [3], [2, 3], [1, 2, 2], [4, 1]])
def test_group_order_matches_brute_force(widths):
    assert permutation_group_order(widths) == permutation_group_order_brute_force(widths)
    assert permutation_group_order(widths) == math.prod(math.factorial(n) for n in widths)


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda: T(-1, 3), lambda: T(3, 2), lambda: T(2.0, 3), lambda: T(True, 3), lambda: T("3", 5),
    lambda: G(3, 2), lambda: G(1, -1), lambda: stirling2(-1, 0),
    lambda: ratio(0, 3), lambda: ratio(3, 2), lambda: crossover(0),
    lambda: permutation_point_factor([10, 10], 0), lambda: permutation_point_factor([], 1),
    lambda: permutation_point_factor("10,10", 1), lambda: permutation_point_factor([10, 0], 1),
    lambda: permutation_group_order([2.5]), lambda: disjoint_pair_count(4, 0),
    lambda: count_table([0], [3]), lambda: count_table([5], [1, 2]),
])
def test_bad_input_raises_config_error(call):
    with pytest.raises(ConfigError) as info:
        call()
    assert "\n" not in str(info.value)


# --- JSON encoding and the CLI ---------------------------------------------------------------

def test_json_count_digit_limit():
    assert json_count(10**4300 - 1) == 10**4300 - 1  # 4,300 digits: an integer
    big = json_count(10**4300 + 7)
    assert isinstance(big, str) and big == "1" + "0" * 4299 + "7"
    assert decimal_string(-(3**20000)).startswith("-")


def run_json(args: list[str]) -> dict:
    result = CliRunner().invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_counts_equal_library():
    assert run_json(["T", "--r-star", "3", "--m", "5"]) == {"value": T(3, 5)}
    assert run_json(["G", "--r", "2", "--m", "5"]) == {"value": G(2, 5)}
    q = ratio(3, 5)
    assert run_json(["ratio", "--r-star", "3", "--m", "5"]) == {"value": "1/13", "value_float": float(q)}
    f = permutation_point_factor([10, 10], 2)
    assert run_json(["permutation-points", "--widths", "10,10", "--order", "2"]) == {
        "value": f"{f.numerator}/{f.denominator}", "value_float": float(f)}
    assert run_json(["crossover", "--r-star", "6:7"]) == {"rows": [{"r_star": 6, "h": 1, "m": 7},
                                                                     {"r_star": 7, "h": 2, "m": 9}]}


def test_cli_huge_count_is_a_decimal_string():
    value = T(100, 3000)  # about 6,000 digits
    out = run_json(["T", "--r-star", "100", "--m", "3000"])
    assert out == {"value": decimal_string(value)}
    digits = out["value"]  # checked without str(int), which Python limits to 4,300 digits
    assert 10 ** (len(digits) - 1) <= value < 10 ** len(digits)
    assert int(digits[:50]) == value // 10 ** (len(digits) - 50) and int(digits[-50:]) == value % 10**50


def test_cli_table_equals_library_and_plots(tmp_path):
    png = tmp_path / "ratio.png"
    out = run_json(["table", "--r-star", "1:4", "--m", "2:7", "--plot", str(png)])
    rows = count_table(range(1, 5), range(2, 8))
    assert out == {"rows": [row.to_json() for row in rows]}
    first = out["rows"][0]
    assert first == {"r_star": 1, "m": 2, "T": 3, "G_prev": 0, "ratio": "0/1", "ratio_float": 0.0}
    by_key = {(r["r_star"], r["m"]): r for r in out["rows"]}
    assert (4, 3) not in by_key  # m < r* is skipped
    assert by_key[(3, 5)] == {"r_star": 3, "m": 5, "T": T(3, 5), "G_prev": G(2, 5), "ratio": "1/13",
                              "ratio_float": 1 / 13}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_human_output():
    result = CliRunner().invoke(app, ["table", "--r-star", "3", "--m", "3:5"])
    assert result.exit_code == 0 and "390" in result.stdout
    result = CliRunner().invoke(app, ["T", "--r-star", "3", "--m", "5"])
    assert result.exit_code == 0 and "390" in result.stdout


@pytest.mark.parametrize("args", [
    ["T", "--r-star", "5", "--m", "3"],
    ["ratio", "--r-star", "0", "--m", "3"],
    ["table", "--r-star", "3:1", "--m", "5"],
    ["table", "--r-star", "x", "--m", "5"],
    ["permutation-points", "--widths", "10,a", "--order", "1"],
    ["permutation-points", "--widths", "10,10", "--order", "0"],
])
def test_cli_bad_input_raises_config_error(args):
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, ConfigError), result.output


# --- counts at scale through the CLI --------------------------------------------------------

def T3(m: int) -> int:
    """T(3, m) = 4^m − 3·3^m + 3·2^m − 1 (inclusion–exclusion over the 3 teacher units), with Python ints."""
    return 4**m - 3 * 3**m + 3 * 2**m - 1


def test_cli_T_at_m_100000_human_and_json():
    value = T3(100_000)
    digits = int(math.log10(4) * 100_000) + 1  # T(3, m) = 4^m (1 − O(0.75^m)): the digits of 4^m
    assert 10 ** (digits - 1) <= value < 10**digits
    out = run_json(["T", "--r-star", "3", "--m", "100000"])["value"]
    assert len(out) == digits and out[:60] == str(value // 10 ** (digits - 60))
    assert out[-60:] == str(value % 10**60).zfill(60)
    human = CliRunner().invoke(app, ["T", "--r-star", "3", "--m", "100000"])
    assert human.exit_code == 0, human.output
    lead = value // 10 ** (digits - 5)
    assert f"≈ {str(lead)[0]}.{str(lead)[1:]}e+{digits - 1} ({digits:,} digits)" in human.stdout
    exact = CliRunner().invoke(app, ["T", "--r-star", "3", "--m", "100000", "--exact"])
    printed = re.search(r"= (\d+)", exact.stdout)[1]
    assert printed == out


@pytest.mark.parametrize("skip", [False, True])
def test_cli_components_at_60_layers_human_and_json(skip):
    from weightspace.cli import app as main_app

    expected = 2**58 + 1 if skip else 2**59  # closed forms, exact integers
    args = ["count", "components", "--layers", "60", *(["--skip"] if skip else [])]
    result = CliRunner().invoke(main_app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["value"] == expected
    assert json.loads(result.stdout)["method"].startswith("closed form 2^(l-2) + 1: " if skip else
                                                          "closed form 2^(l-1): ")
    human = CliRunner().invoke(main_app, args)
    assert human.exit_code == 0 and f"components = {expected} " in human.stdout
