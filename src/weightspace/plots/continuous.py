"""Figures of the continuous-symmetry results: orbit vs chord, the curvature bound, counts, rescaling barriers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ._figure import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..continuous import OrbitReport

__all__ = ["plot_component_counts", "plot_curvature_bound", "plot_orbit", "plot_paths", "plot_rescaling"]


def plot_orbit(report: OrbitReport, *, title: str = "") -> Figure:
    """Left: loss along γ(t) = exp(tX)·θ and along its chord. Right: κ(t), κ_max, and the chord bound."""
    fig = new_figure(10, 3.6)
    (ax0, ax1) = fig.subplots(1, 2)
    ax0.plot(report.t, report.loss_curve, marker=".", label=f"orbit γ(t) (spread {report.curve_spread:.1e})")
    ax0.plot(report.t, report.loss_chord, marker=".", label=f"chord (barrier {report.chord_barrier.value:.3g})")
    ax0.set_xlabel("t (curve) / s (chord)")
    ax0.set_ylabel(f"{report.split} loss")
    ax0.legend(fontsize=8)
    ax1.plot(report.t, report.curvature, marker=".", color="C2", label="κ(t)")
    ax1.axhline(report.kappa_max, color="C2", ls=":", label=f"κ_max = {report.kappa_max:.4g}")
    ax1.set_xlabel("t")
    ax1.set_ylabel("curvature κ")
    bound = f"{report.d_max:.4g}" if report.d_max is not None else "n/a (κΔ > 2)"
    ax1.set_title(f"Δ = {report.delta:.3g}, chord deviation {report.deviation:.4g}, d_max {bound}", fontsize=9)
    ax1.set_ylim(bottom=0)
    ax1.legend(fontsize=8)
    for ax in (ax0, ax1):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


def plot_curvature_bound(rows: Sequence[Mapping]) -> Figure:
    """Measured chord deviation against d_max(κ_max, Δ), one point per orbit; circles on the diagonal."""
    fig = new_figure(5, 4.2)
    ax = fig.subplots()
    for circular, marker, label in ((True, "o", "circular orbit (X skew, one plane)"),
                                    (False, "x", "random generator X")):
        pts = [(r["d_max"], r["deviation"]) for r in rows if bool(r["circular"]) == circular and r["d_max"]]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.scatter(xs, ys, marker=marker, label=label)
    hi = max(r["d_max"] for r in rows if r["d_max"])
    lo = min(min(r["d_max"], r["deviation"]) for r in rows if r["d_max"])
    ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, label="deviation = d_max")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("d_max = (1/κ)(1 − √(1 − (κΔ/2)²))")
    ax.set_ylabel("measured max chord-to-curve distance")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


def plot_component_counts(rows: Sequence[Mapping]) -> Figure:
    """Components against depth l by every method, without and with the skip connection (log2 axis)."""
    fig = new_figure(6.4, 4.4)
    ax = fig.subplots()
    styles = {"invariant": ("C0", "o"), "exact cells": ("C1", "s"), "path search": ("C2", "^"),
              "grid": ("C3", "x")}
    for skip in (False, True):
        for method, (color, marker) in styles.items():
            pts = [(r["layers"], r["value"]) for r in rows if r["skip"] == skip and r["method"] == method]
            if pts:
                xs, ys = zip(*sorted(pts), strict=True)
                ax.plot(xs, ys, color=color, marker=marker, ls="-" if not skip else "--", alpha=0.8,
                        label=f"{'skip' if skip else 'no skip'}: {method}")
    ls = sorted({r["layers"] for r in rows})
    ax.plot(ls, [2 ** (l - 1) for l in ls], color="0.5", lw=0.6, label="2^(l−1)")
    ax.plot(ls, [2 ** (l - 2) + 1 for l in ls], color="0.5", lw=0.6, ls=":", label="2^(l−2) + 1")
    for r in rows:
        if r["method"] in ("invariant", "exact cells"):
            ax.annotate(str(r["value"]), (r["layers"], r["value"]), textcoords="offset points", xytext=(6, -4),
                        fontsize=8)
    ax.set_yscale("log", base=2)
    ax.set_xticks(ls)
    ax.set_xlabel("layers l")
    ax.set_ylabel("connected components of the zero-loss set")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return fig


def plot_rescaling(rows: Sequence[Mapping]) -> Figure:
    """Midpoint summed loss of the straight path against m (closed form and measured), and after canonical norms."""
    import numpy as np

    from ..continuous._rescaling import rescaling_midpoint_loss

    fig = new_figure(6, 4.2)
    ax = fig.subplots()
    ms = np.geomspace(1.0, max(r["m"] for r in rows), 200)
    for i, k in enumerate(sorted({r["k"] for r in rows})):
        sub = sorted((r for r in rows if r["k"] == k and r["units"] is None), key=lambda r: r["m"])
        y2 = sub[0]["y_norm_sq"]
        ax.plot(ms, [rescaling_midpoint_loss(k, float(m), y2) for m in ms], color=f"C{i}", lw=1,
                label=f"k = {k}: closed form (1 − 2^-(k+1)(1+m^-k)(1+m)^k)² ‖Y‖²")
        ax.scatter([r["m"] for r in sub], [r["midpoint"] for r in sub], color=f"C{i}", marker="o",
                   label=f"k = {k}: measured midpoint")
        ax.scatter([r["m"] for r in sub], [max(r["canonical_barrier"], 1e-32) for r in sub], color=f"C{i}",
                   marker="x", label=f"k = {k}: after canonical norms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("scale m (incoming × m, outgoing × m^-k)")
    ax.set_ylabel("summed squared loss at α = 1/2")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return fig


def plot_paths(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], *,
               title: str = "", floor: float | None = None, ylabel: str = "train loss") -> Figure:
    """Loss along several paths (label -> (positions in [0, 1], losses)), with an optional floor line."""
    fig = new_figure(6, 4)
    ax = fig.subplots()
    styles = [("-", "."), ("--", "x"), ("-.", "+"), (":", "s")]
    for i, (label, (xs, ys)) in enumerate(curves.items()):
        ls, marker = styles[i % len(styles)]
        ax.plot(xs, ys, ls=ls, marker=marker, label=label)
    if floor is not None:
        ax.axhline(floor, color="k", lw=0.8, ls=":", label=f"singular-product floor {floor:.4g}")
    ax.set_xlabel("position along the path")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
