"""weightspace count T | G | ratio | crossover | permutation-points | table | components: exact counts.

Thin shells over `weightspace.counting` (torch-free).
JSON: a count is {"value": int} (a decimal string beyond 4,300 digits), a rational {"value": "p/q",
"value_float": float}, the table {"rows": [...]}.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..counting import CROSSOVER_H_MAX
from ..errors import ConfigError
from ._common import ForceOpt, Format, FormatOpt, PlotOpt, emit, guard, info, progress_bar, stdout

app = typer.Typer(
    help="Exact counts of symmetry-induced critical sets (Simsek et al. 2021, Brea et al. 2019).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_RANGE = re.compile(r"^\s*(\d+)\s*(?::\s*(\d+)\s*(?::\s*(\d+)\s*)?)?$")


def parse_range(text: str, option: str) -> list[int]:
    """'a' -> [a]; 'a:b' -> a..b with both ends included; 'a:b:s' -> every s-th from a up to b."""
    match = _RANGE.match(text)
    if match is None:
        raise ConfigError(f"{option}: expected an integer or a range a:b (both ends included), got {text!r}")
    a = int(match[1])
    b = int(match[2]) if match[2] is not None else a
    step = int(match[3]) if match[3] is not None else 1
    if b < a or step < 1:
        raise ConfigError(f"{option}: range {text!r} is empty; write a:b with a <= b (and a step >= 1)")
    return list(range(a, b + 1, step))


def parse_widths(text: str) -> list[int]:
    """'10,10' -> [10, 10]."""
    parts = [p.strip() for p in text.split(",")]
    if not parts or not all(p.isdigit() for p in parts):
        raise ConfigError(f"--widths: expected comma-separated hidden-layer widths like 10,10, got {text!r}")
    return [int(p) for p in parts]


ExactOpt = Annotated[bool, typer.Option("--exact", help="Print every digit (human format; JSON is always exact).")]
EXACT_DIGITS = 100  # human output prints counts up to this many digits in full, longer ones as d.dddd e+X


def _approx(n: int) -> str:
    """Short human form of a big count: exact up to 24 digits, else 'd.dddde+X (N digits)', in bounded time."""
    from ..counting import leading_digits

    size, lead = leading_digits(n, 5)
    if size <= 24:
        return str(n)
    return f"{lead[0]}.{lead[1:]}e+{size - 1} ({size:,} digits)"


def _count_result(value: int) -> dict:
    from ..counting import json_count

    return {"value": json_count(value)}


def _print_count(label: str, value: int, exact: bool) -> None:
    """Up to EXACT_DIGITS digits (all with --exact) in full; longer counts by digit count and leading digits."""
    from ..counting import decimal_string, leading_digits

    size, _ = leading_digits(value)
    if exact or size <= EXACT_DIGITS:
        stdout.print(f"[bold]{label}[/bold] = ", end="")
        stdout.file.write(decimal_string(value) + "\n")  # plain: Rich would lay out every digit (minutes at 10^6)
        stdout.file.flush()
        if size > 24:
            stdout.print(f"≈ {_approx(value)}")
    else:
        stdout.print(f"[bold]{label}[/bold] ≈ {_approx(value)}; --exact prints every digit", soft_wrap=True)


def _counted(fmt: Format, label: str, count: Callable[..., int]) -> int:
    """Run `count(callback=...)` with a progress bar on stderr (human format) over the big powers it builds."""
    with progress_bar(fmt == Format.human) as bar:
        return count(callback=lambda event: bar(label, event))


@app.command("T")
def T_cmd(
    r_star: Annotated[int, typer.Option("--r-star", help="Teacher width r* (>= 0).")],
    m: Annotated[int, typer.Option("--m", help="Student width m (>= r*).")],
    exact: ExactOpt = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Affine subspaces of the global-minima manifold, T(r*, m)."""
    from ..counting import T

    label = f"T(r*={r_star}, m={m})"
    value = _counted(fmt, label, functools.partial(T, r_star, m))
    emit(_count_result(value), fmt, lambda _: _print_count(label, value, exact))


@app.command("G")
def G_cmd(
    r: Annotated[int, typer.Option("--r", help="Width r of the irreducible critical point (>= 0).")],
    m: Annotated[int, typer.Option("--m", help="Network width m (>= r).")],
    exact: ExactOpt = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Affine subspaces of symmetry-induced critical points from one width-r point, G(r, m) = r! S(m, r)."""
    from ..counting import G

    label = f"G(r={r}, m={m})"
    value = _counted(fmt, label, functools.partial(G, r, m))
    emit(_count_result(value), fmt, lambda _: _print_count(label, value, exact))


@app.command("ratio")
def ratio_cmd(
    r_star: Annotated[int, typer.Option("--r-star", help="Teacher width r* (>= 1).")],
    m: Annotated[int, typer.Option("--m", help="Student width m (>= r*).")],
    fmt: FormatOpt = Format.human,
) -> None:
    """Critical vs global-minimum subspaces, G(r* − 1, m) / T(r*, m), exactly."""
    from ..counting import json_rational, ratio

    q = ratio(r_star, m)
    result = json_rational(q)
    emit(result, fmt, lambda res: stdout.print(
        f"[bold]G({r_star - 1}, {m}) / T({r_star}, {m})[/bold] = {res['value']} ≈ {res['value_float']:.6g}",
        soft_wrap=True))


@app.command("crossover")
def crossover_cmd(
    r_star: Annotated[str, typer.Option("--r-star", help="Teacher width(s) r* >= 1: an int or a range a:b.")],
    h_max: Annotated[int, typer.Option(help="Give up beyond this h.")] = CROSSOVER_H_MAX,
    fmt: FormatOpt = Format.human,
) -> None:
    """Smallest h >= 1 with T(r*, r* + h) >= G(r* − 1, r* + h), per r*."""
    from ..counting import crossover

    r_stars = parse_range(r_star, "--r-star")
    rows = []
    with progress_bar(fmt == Format.human and len(r_stars) > 1) as bar:
        for step, r in enumerate(r_stars, 1):
            h = crossover(r, h_max=h_max)
            rows.append({"r_star": r, "h": h, "m": r + h})
            bar("crossover", {"step": step, "total_steps": len(r_stars)})

    def human(res: dict) -> None:
        table = Table("r*", "crossover h", "m = r* + h")
        for row in res["rows"]:
            table.add_row(str(row["r_star"]), str(row["h"]), str(row["m"]))
        stdout.print(table)

    emit({"rows": rows}, fmt, human)


@app.command("permutation-points")
def permutation_points_cmd(
    widths: Annotated[str, typer.Option("--widths", help="Hidden-layer widths n_1..n_{d-1}, comma-separated.")],
    order: Annotated[int, typer.Option("--order", help="Order K: number of coincident pairs (>= 1).")],
    fmt: FormatOpt = Format.human,
) -> None:
    """Brea's factor Σ_k C(n_k − K, K)/2!^K: K-th order permutation points per equivalent global minimum."""
    from ..counting import json_rational, permutation_group_order, permutation_point_count, permutation_point_factor

    ns = parse_widths(widths)
    q = permutation_point_factor(ns, order)
    result = json_rational(q)

    def human(res: dict) -> None:
        stdout.print(f"[bold]permutation-point factor[/bold] (widths {ns}, K={order}) = {res['value']} "
                     f"≈ {res['value_float']:.6g}", soft_wrap=True)
        stdout.print(f"points {_approx(permutation_point_count(ns, order))} / "
                     f"minima {_approx(permutation_group_order(ns))}")

    emit(result, fmt, human)


@app.command("table")
def table_cmd(
    r_star: Annotated[str, typer.Option("--r-star", help="Teacher widths r* >= 1: an int or a range a:b.")],
    m: Annotated[str, typer.Option("--m", help="Student widths m: an int or a range a:b (rows with m < r* skipped).")],
    plot: PlotOpt = None,
    force: ForceOpt = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """T(r*, m), G(r* − 1, m) and their ratio over a grid (the mild-vs-vast table)."""
    from ..counting import count_table

    guard(plot, force=force)
    rows = count_table(parse_range(r_star, "--r-star"), parse_range(m, "--m"))
    if plot is not None:
        from ..plots import plot_ratio, save_figure

        save_figure(plot_ratio(rows), plot)
        info(f"wrote {escape(str(plot))}")

    def human(_: dict) -> None:
        table = Table("r*", "m", "h", "T(r*, m)", "G(r*−1, m)", "ratio")
        for row in rows:
            table.add_row(str(row.r_star), str(row.m), str(row.h), _approx(row.T), _approx(row.G_prev),
                          f"{float(row.ratio):.4g}")
        stdout.print(table)

    emit({"rows": [row.to_json() for row in rows]}, fmt, human)


@app.command("components")
def components_cmd(
    layers: Annotated[int, typer.Option("--layers", help="Number of weight matrices l (>= 2).")],
    skip: Annotated[bool, typer.Option("--skip", help="Skip connection around the first l − 1 layers.")] = False,
    width: Annotated[int, typer.Option("--width", help="Square width h = d = p (skip: only 1).")] = 1,
    fmt: FormatOpt = Format.human,
) -> None:
    """Connected components of a deep linear network's zero-loss set: {"value", "method"}."""
    from ..counting import count_components

    count = count_components(layers, skip=skip, width=width)
    emit(count.to_dict(), fmt, lambda r: stdout.print(f"[bold]components[/bold] = {r['value']}  ({r['method']})",
                                                      soft_wrap=True))

