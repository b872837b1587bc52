"""Figures of flatness: local energy curves δE(σ) (or δE(p) for sign flips) with their Monte Carlo error bars."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ._figure import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..flatness import LocalEnergy

__all__ = ["plot_local_energy"]


def plot_local_energy(curves: Mapping[str, LocalEnergy], *, title: str = "") -> Figure:
    """δE against the noise level, one line per label, with ±1 standard error bars."""
    fig = new_figure(6, 3.8)
    ax = fig.subplots()
    first = next(iter(curves.values()))
    for label, c in curves.items():
        scale = 100 if c.metric == "error" else 1
        ax.errorbar(c.levels, [scale * v for v in c.local_energy], yerr=[scale * s for s in c.stderr], marker="o",
                    markersize=3, capsize=2, label=label)
    ax.set_xlabel("σ (relative noise)" if first.perturbation == "gaussian" else "p (fraction of flipped weights)")
    unit = " (points)" if first.metric == "error" else ""
    ax.set_ylabel(f"local energy δE: rise of the {first.split} {first.metric}{unit}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig
