"""The mild-vs-vast table: T(r*, m), G(r* − 1, m) and their ratio over a grid, in JSON-ready form.

Counts are exact integers of any size; JSON carries an integer when it has at most 4,300 digits
(Python's default int ↔ str limit) and a decimal string beyond, so no reader trips on the limit.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from fractions import Fraction

from ..errors import ConfigError
from ._closed_form import G, T, _size

__all__ = ["JSON_INT_MAX_DIGITS", "CountRow", "count_table", "decimal_string", "json_count", "json_rational"]

JSON_INT_MAX_DIGITS = 4300
_JSON_INT_LIMIT = 10**JSON_INT_MAX_DIGITS
_CHUNK_BITS = 12_000  # < 10^3613: str() is safe on pieces this small


def decimal_string(n: int) -> str:
    """Exact decimal digits of an int of any size, without touching `sys.set_int_max_str_digits`.

    Splits n = q · 10^k + r with k about half the digits and recurses until pieces fit str().
    """
    if n < 0:
        return "-" + decimal_string(-n)
    if n.bit_length() <= _CHUNK_BITS:
        return str(n)
    k = int(n.bit_length() * math.log10(2)) // 2
    q, r = divmod(n, 10**k)
    return decimal_string(q) + decimal_string(r).zfill(k)


def json_count(n: int) -> int | str:
    """A count for JSON: the int itself when it has at most 4,300 digits, else its decimal string."""
    return n if abs(n) < _JSON_INT_LIMIT else decimal_string(n)


def _float(q: Fraction) -> float:
    """Nearest float to q (0.0 on underflow, ±inf on overflow)."""
    try:
        return float(q)
    except OverflowError:
        return math.inf if q > 0 else -math.inf


def json_rational(q: Fraction) -> dict:
    """A rational for JSON: {"value": "p/q", "value_float": float}, denominator always written."""
    return {"value": f"{decimal_string(q.numerator)}/{decimal_string(q.denominator)}", "value_float": _float(q)}


@dataclasses.dataclass(frozen=True)
class CountRow:
    """One grid point: teacher width r*, student width m = r* + h, T(r*, m), G(r* − 1, m) and their ratio."""

    r_star: int
    m: int
    T: int
    G_prev: int

    @property
    def h(self) -> int:
        """Overparameterisation h = m − r*."""
        return self.m - self.r_star

    @property
    def ratio(self) -> Fraction:
        """G(r* − 1, m) / T(r*, m), exactly."""
        return Fraction(self.G_prev, self.T)

    def to_json(self) -> dict:
        """{"r_star", "m", "T", "G_prev", "ratio": "p/q", "ratio_float"} with counts as in `json_count`."""
        q = self.ratio
        return {"r_star": self.r_star, "m": self.m, "T": json_count(self.T), "G_prev": json_count(self.G_prev),
                "ratio": json_rational(q)["value"], "ratio_float": _float(q)}

    def __repr__(self) -> str:
        return f"CountRow(r_star={self.r_star}, m={self.m}, ratio≈{_float(self.ratio):.4g})"


def count_table(r_stars: Iterable[int], ms: Iterable[int]) -> tuple[CountRow, ...]:
    """Rows (r*, m) of the grid r_stars × ms with m >= r* (T is defined there), r* ascending then m.

    Grid points with m < r* are left out: the student is narrower than the teacher.
    """
    r_list = sorted({_size(r, "r_star", "count_table", minimum=1) for r in r_stars})
    m_list = sorted({_size(m, "m", "count_table") for m in ms})
    if not r_list or not m_list:
        raise ConfigError("count_table: empty r_star or m range")
    rows = tuple(CountRow(r, m, T(r, m), G(r - 1, m)) for r in r_list for m in m_list if m >= r)
    if not rows:
        raise ConfigError(f"count_table: no grid point has m >= r_star (r_star from {r_list[0]}, m up to {m_list[-1]})")
    return rows
