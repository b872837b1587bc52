"""Figures of critical points: Hessian spectra, losses along chains and bands, the split family's spectrum."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ._figure import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..hessian import Spectrum
    from ..paths import PathCurve

__all__ = ["plot_band", "plot_chain", "plot_spectrum", "plot_split_family"]


def plot_spectrum(spectrum: Spectrum, *, title: str = "") -> Figure:
    """Sorted Hessian eigenvalues (symlog y, linear within ±threshold), negative / zero / positive coloured."""
    ev = spectrum.eigenvalues.tolist()
    tau = spectrum.threshold
    fig = new_figure(6, 3.8)
    ax = fig.subplots()
    colours = ["tab:red" if v < -tau else "tab:gray" if abs(v) <= tau else "tab:blue" for v in ev]
    ax.scatter(range(len(ev)), ev, c=colours, s=14)
    ax.axhspan(-tau, tau, color="tab:gray", alpha=0.15, label=f"|λ| ≤ τ = {tau:.2g} (zero)")
    ax.set_yscale("symlog", linthresh=max(tau, 1e-300))
    ax.set_xlabel("eigenvalue rank")
    ax.set_ylabel("Hessian eigenvalue λ")
    done = "" if spectrum.complete else f" (the {len(ev)} computed of {spectrum.dim})"
    ax.set_title(title or f"index {spectrum.index}, nullity {spectrum.nullity}, positive {spectrum.positive}{done}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_chain(curves: Mapping[str, PathCurve], *, segments: int | None = None,
               reference: float | None = None, title: str = "", log: bool = False) -> Figure:
    """Loss along each path against α; `segments` marks equal-time segment ends, `reference` a horizontal line.

    With `log`, the y axis shows |L − reference| (or L) on a log scale, floored at 1e-35.
    """
    fig = new_figure(6.4, 3.8)
    ax = fig.subplots()
    for label, c in curves.items():
        ys = list(c.loss)
        if log:
            base = reference or 0.0
            ys = [max(abs(y - base), 1e-35) for y in ys]
        ax.plot(c.alphas, ys, marker=".", label=label)
    if segments:
        for k in range(1, segments):
            ax.axvline(k / segments, color="black", alpha=0.15, linewidth=0.8)
    if reference is not None and not log:
        ax.axhline(reference, color="black", linestyle="--", linewidth=0.8, label=f"L = {reference:.4g}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("α (path parameter)")
    ax.set_ylabel("|L − L_min| (train)" if log and reference is not None else "training loss L")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_band(positions: Sequence[float], losses: Sequence[float], *,
              highest: int | None = None, curves: Mapping[str, PathCurve] | None = None, title: str = "") -> Figure:
    """The NEB band's image losses against normalised arc length (climbing image marked), with other curves."""
    fig = new_figure(6.4, 3.8)
    ax = fig.subplots()
    for label, c in (curves or {}).items():
        ax.plot(c.alphas, c.loss, label=label, alpha=0.8)
    ax.plot(positions, losses, marker="o", label="CI-NEB band (images)")
    if highest is not None:
        ax.plot([positions[highest]], [losses[highest]], marker="*", markersize=14, color="tab:red",
                label="climbing image (saddle)")
    ax.set_xlabel("normalised arc length / α")
    ax.set_ylabel("training loss L")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_split_family(lambdas: Sequence[float], eigenvalues: Sequence[Sequence[float]], indices: Sequence[int],
                      grad_norms: Sequence[float], *, title: str = "") -> Figure:
    """Along the split family θ(λ): the smallest Hessian eigenvalues, the index and ||∇L|| against λ."""
    fig = new_figure(11, 3.8)
    axes = fig.subplots(1, 2)
    cols = list(zip(*eigenvalues, strict=True))
    for k, col in enumerate(cols):
        axes[0].plot(lambdas, col, marker=".", label=f"λ_{k + 1}(H)")
    axes[0].axhline(0, color="black", linewidth=0.8)
    for x in (0.0, 1.0):
        axes[0].axvline(x, color="black", alpha=0.2)
    axes[0].set_yscale("symlog", linthresh=1e-6)
    axes[0].set_xlabel("split ratio λ")
    axes[0].set_ylabel("smallest Hessian eigenvalues")
    axes[0].legend(fontsize=7)
    axes[0].grid(alpha=0.3)
    ax2 = axes[1]
    ax2.step(lambdas, indices, where="mid", color="tab:red", label="index (# λ < −τ)")
    ax2.set_xlabel("split ratio λ")
    ax2.set_ylabel("Morse index")
    ax3 = ax2.twinx()
    ax3.semilogy(lambdas, [max(g, 1e-20) for g in grad_norms], marker=".", color="tab:blue", label="||∇L||")
    ax3.set_ylabel("||∇L||")
    ax2.legend(loc="upper left", fontsize=8)
    ax3.legend(loc="upper right", fontsize=8)
    ax2.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig
