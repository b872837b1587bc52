"""The mild-vs-vast figure: G(r* − 1, r* + h) / T(r*, r* + h) against h, log y, one curve per r*."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._figure import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..counting import CountRow

__all__ = ["plot_ratio"]


def plot_ratio(rows: Sequence[CountRow], *, title: str = "") -> Figure:
    """The ratio G(r* − 1, r* + h) / T(r*, r* + h) against h = m − r*.

    One curve per r* on a log y axis, with the line ratio = 1 (T = G) marked. Ratios that are 0
    (r* = 1, since G(0, m) = 0 for m >= 1) or underflow a float cannot be drawn on a log axis and
    are left out; the legend says so.
    """
    from ..counting._report import _float

    fig = new_figure(6.4, 4.2)
    ax = fig.add_subplot()
    by_r: dict[int, list[CountRow]] = {}
    for row in rows:
        by_r.setdefault(row.r_star, []).append(row)
    for r_star in sorted(by_r):
        pts = [(row.h, _float(row.ratio)) for row in sorted(by_r[r_star], key=lambda row: row.m)]
        drawn = [(h, y) for h, y in pts if y > 0]
        if not drawn:
            ax.plot([], [], " ", label=f"r* = {r_star}: ratio 0 (not drawn)")
            continue
        ax.plot([h for h, _ in drawn], [y for _, y in drawn], marker="o", markersize=3, label=f"r* = {r_star}")
    ax.axhline(1.0, color="black", linestyle="--", linewidth=0.8, label="T = G")
    ax.set_yscale("log")
    ax.set_xlabel("overparameterisation h = m − r*")
    ax.set_ylabel("G(r* − 1, r* + h) / T(r*, r* + h)")
    ax.set_title(title or "symmetry-induced critical vs global-minimum subspaces")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig
