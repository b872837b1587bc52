"""Every figure weightspace draws, written atomically as PNG (matplotlib, Agg backend)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ._files import atomic_path  # noqa: E402
from .paths import PathCurve  # noqa: E402

__all__ = ["plot_path_curves", "plot_series", "save_figure"]


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Write `fig` as PNG atomically and close it."""
    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return target


def plot_path_curves(curves: Mapping[str, PathCurve], path: str | os.PathLike, *, title: str = "") -> Path:
    """Loss (left) and error (right, classification only) along each path, one line per label."""
    has_error = any(c.error is not None for c in curves.values())
    fig, axes = plt.subplots(1, 2 if has_error else 1, figsize=(10 if has_error else 5, 3.6), squeeze=False)
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
    return save_figure(fig, path)


def plot_series(x, series: Mapping[str, list], path: str | os.PathLike, *, xlabel: str = "", ylabel: str = "",
                logx: bool = False, title: str = "") -> Path:
    """One line per named series over a shared x axis (numbers or labels)."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
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
    return save_figure(fig, path)
