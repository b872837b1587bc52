"""The mild-vs-vast table: T(r*, m), G(r* − 1, m) and their ratio over a grid, in JSON-ready form.

Counts are exact integers of any size; JSON carries an integer when it has at most 4,300 digits
(Python's default int ↔ str limit) and a decimal string beyond, so no reader trips on the limit.
"""

from __future__ import annotations

import dataclasses
import decimal
import math
from collections.abc import Iterable
from fractions import Fraction

from ..errors import ConfigError
from ._closed_form import _size, _T_and_G_prev

__all__ = ["JSON_INT_MAX_DIGITS", "CountRow", "count_table", "decimal_string", "json_count", "json_rational",
           "leading_digits"]

JSON_INT_MAX_DIGITS = 4300
_JSON_INT_LIMIT = 10**JSON_INT_MAX_DIGITS
_PIECE_BITS = 8192  # pieces this small convert with Decimal(int) directly
_LEAD_BITS = 200  # leading bits kept by `leading_digits`


def decimal_string(n: int) -> str:
    """Exact decimal digits of an int of any size, without touching `sys.set_int_max_str_digits`.

    Binary splitting into `decimal.Decimal`: n = hi · 2^k + lo with k half the bits, recombined with
    Decimal arithmetic (libmpdec multiplies big numbers in quasi-linear time): 10^6 digits in ~0.5 s,
    where repeated division by powers of ten takes seconds.
    """
    if n < 0:
        return "-" + decimal_string(-n)
    with decimal.localcontext() as ctx:
        ctx.prec, ctx.Emax, ctx.Emin = decimal.MAX_PREC, decimal.MAX_EMAX, decimal.MIN_EMIN
        powers: dict[int, decimal.Decimal] = {}

        def convert(x: int, bits: int) -> decimal.Decimal:
            if bits <= _PIECE_BITS:
                return decimal.Decimal(x)
            k = bits // 2
            if k not in powers:
                powers[k] = decimal.Decimal(2) ** k
            hi = x >> k
            return convert(hi, bits - k) * powers[k] + convert(x - (hi << k), k)

        return str(convert(n, n.bit_length()))


def leading_digits(n: int, k: int = 6) -> tuple[int, str]:
    """(number of decimal digits of n >= 0, its first k digits), exact, in time almost independent of n's size.

    With t the leading bits of n (n ∈ [t·2^s, (t+1)·2^s)), both ends are evaluated to 60 significant
    digits (relative error < 10^-50, widened by that margin); where the two ends agree on the digit count
    and the first k digits, so does n; otherwise (n within 10^-50 of a digit boundary) the exact digits decide.
    """
    if n < 0:
        raise ConfigError(f"leading_digits: n must be >= 0, got a negative number of {n.bit_length()} bits")
    if n.bit_length() <= 2 * _LEAD_BITS:
        text = str(n)
        return len(text), text[:k]
    shift = n.bit_length() - _LEAD_BITS
    top = n >> shift
    with decimal.localcontext() as ctx:
        ctx.prec, ctx.Emax = 60, decimal.MAX_EMAX
        scale = decimal.Decimal(2) ** shift
        margin = decimal.Decimal(10) ** -50
        ends = [decimal.Decimal(top) * scale * (1 - margin), decimal.Decimal(top + 1) * scale * (1 + margin)]
    views = {(x.adjusted() + 1, "".join(map(str, x.as_tuple().digits[:k]))) for x in ends}
    if len(views) == 1:
        return views.pop()
    text = decimal_string(n)  # pragma: no cover (a 10^-50 coincidence)
    return len(text), text[:k]  # pragma: no cover


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
    rows = tuple(CountRow(r, m, *_T_and_G_prev(r, m, "count_table")) for r in r_list for m in m_list if m >= r)
    if not rows:
        raise ConfigError(f"count_table: no grid point has m >= r_star (r_star from {r_list[0]}, m up to {m_list[-1]})")
    return rows
