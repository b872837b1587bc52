"""Figures of curves between networks: loss and error along labelled paths, and named series over a shared x."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ._figure import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..paths import PathCurve

__all__ = ["plot_path_curves", "plot_series"]


def plot_path_curves(curves: Mapping[str, PathCurve], *, title: str = "") -> Figure:
    """Loss (left) and error (right, classification only) along each path, one line per label."""
    has_error = any(c.error is not None for c in curves.values())
    fig = new_figure(10 if has_error else 5, 3.6)
    axes = fig.subplots(1, 2 if has_error else 1, squeeze=False)
    for label, c in curves.items():
        axes[0, 0].plot(c.alphas, c.loss, marker=".", label=label)
        if has_error and c.error is not None:
            axes[0, 1].plot(c.alphas, [100 * e for e in c.error], marker=".", label=label)
    axes[0, 0].set_xlabel("α (interpolation weight)")
    axes[0, 0].set_ylabel(f"{next(iter(curves.values())).split} loss")
    if has_error:
        axes[0, 1].set_xlabel("α (interpolation weight)")
        axes[0, 1].set_ylabel(f"{next(iter(curves.values())).split} error (%)")
    for ax in axes[0]:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_series(x, series: Mapping[str, list], *, xlabel: str = "", ylabel: str = "", logx: bool = False,
                title: str = "") -> Figure:
    """One line per named series over a shared x axis (numbers or labels)."""
    fig = new_figure(6, 3.8)
    ax = fig.subplots()
    positions = list(x) if all(isinstance(v, int | float) for v in x) else list(range(len(x)))
    for label, ys in series.items():
        ax.plot(positions, ys, marker="o", label=label)
    if positions != list(x):
        ax.set_xticks(positions, list(x), rotation=45, ha="right", fontsize=7)
    if logx:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig
