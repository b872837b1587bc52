"""weightspace orbit: loss and curvature along a continuous-symmetry orbit of a checkpoint.

Thin shell over `weightspace.continuous` (`count components` lives with the other counts in cli/count.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ..errors import ConfigError
from . import app
from ._common import (
    CkptArg,
    DataRootOpt,
    DatasetOpt,
    ForceOpt,
    Format,
    FormatOpt,
    PlotOpt,
    SeedOpt,
    emit,
    guard,
    info,
    stdout,
)

if TYPE_CHECKING:
    import torch


def read_generators(path: str | Path) -> dict[str, torch.Tensor]:
    """X matrices keyed by factor name from a safetensors file (float64)."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--generator: {p} is neither 'random' nor an existing safetensors file of X matrices")
    try:
        tensors = load_file(str(p))
    except (SafetensorError, OSError) as err:
        raise ConfigError(f"--generator: cannot read {p} as safetensors: {str(err).splitlines()[0]}") from None
    return {k: v.to(torch.float64) for k, v in tensors.items()}


def orbit_result(checkpoint: str, *, generator: str = "random", points: int = 25, seed: int = 0,
                 scale: float = 0.3, dataset: str | None = None, split: str = "train",
                 plot: Path | None = None) -> dict:
    """The `orbit` command's result: `orbit_report(...).to_dict()` plus the generators' shapes and the plot path."""
    import torch

    from .. import continuous
    from ..io import load_checkpoint
    from ..models import example_input
    from ..params import first_float
    from ..symmetry import spec_of

    ckpt = load_checkpoint(checkpoint)
    model = ckpt.module()
    dtype = first_float(ckpt.params).dtype
    spec = spec_of(model, example_input(model.config, dtype=dtype))
    if generator == "random":
        gens = continuous.random_generators(spec, generator=torch.Generator().manual_seed(seed), scale=scale)
    else:
        gens = read_generators(generator)
    curve = continuous.orbit_curve(ckpt.params, spec, gens)
    data = ckpt.dataset(dataset, dtype=dtype)  # the data in the checkpoint's float type
    report = continuous.orbit_report(model, curve, data, points=points, split=split)
    result = report.to_dict()
    result["generators"] = {k: list(v.shape) for k, v in curve.generators.items()}
    result["plot"] = None
    if plot is not None:
        from ..plots import plot_orbit, save_figure

        save_figure(plot_orbit(report, title=f"orbit exp(tX)·θ of {Path(checkpoint).name}"), plot)
        result["plot"] = str(plot)
    return result


@app.command("orbit")
def orbit_cmd(
    checkpoint: CkptArg,
    generator: Annotated[str, typer.Option(help="'random' (X ~ N(0, scale²/n) on every GL factor) or a "
                                                "safetensors file of X matrices keyed by factor name.")] = "random",
    points: Annotated[int, typer.Option(help="Evaluation points on the curve and on the chord.")] = 25,
    seed: SeedOpt = 0,
    scale: Annotated[float, typer.Option(help="Scale of random generators.")] = 0.3,
    dataset: DatasetOpt = None,
    data_root: DataRootOpt = None,
    split: Annotated[str, typer.Option(help="train or test.")] = "train",
    plot: PlotOpt = None,
    force: ForceOpt = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Loss along the orbit γ(t) = exp(tX)·θ and its chord; curvature, chord deviation and the bound d_max."""
    guard(plot, inputs=[checkpoint] + ([generator] if generator != "random" else []), force=force)
    result = orbit_result(checkpoint, generator=generator, points=points, seed=seed, scale=scale, dataset=dataset,
                          split=split, plot=plot)
    if result["plot"]:
        info(f"wrote {escape(str(result['plot']))}")

    def human(r: dict) -> None:
        stdout.print(f"[bold]orbit[/bold]: loss spread along γ {r['curve_spread']:.3g}, "
                     f"chord barrier {r['chord_barrier']:.6g}")
        bound = f"{r['d_max']:.6g}" if r["d_max"] is not None else "n/a (κΔ > 2)"
        stdout.print(f"κ_max {r['kappa_max']:.6g}, Δ {r['delta']:.6g}, length {r['length']:.6g}; "
                     f"chord deviation {r['deviation']:.6g} vs d_max {bound}"
                     + ("" if r["bound_applies"] else " (hypotheses of the bound not met)"))

    emit(result, fmt, human)
