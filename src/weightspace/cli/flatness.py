"""weightspace flatness: the local energy of a checkpoint (Pittorino et al. 2022), with error bars and a plot."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

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
    progress_bar,
    stdout,
)

DEFAULT_SIGMAS = "0,0.02,0.04,0.06,0.08,0.1,0.12,0.14,0.16,0.18,0.2"


def _grid(text: str, option: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{option} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise ConfigError(f"{option} must name at least one value")
    return values


@app.command()
def flatness(
    ckpt: CkptArg,
    sigmas: Annotated[str, typer.Option(help="Comma-separated noise levels σ >= 0.")] = DEFAULT_SIGMAS,
    samples: Annotated[int, typer.Option(help="Monte Carlo draws z per σ (>= 1).")] = 32,
    metric: Annotated[str, typer.Option(help="error or loss.")] = "error",
    split: Annotated[str, typer.Option(help="train or test.")] = "train",
    flips: Annotated[str | None, typer.Option(
        help="Binary networks: comma-separated fractions p of weights whose sign flips (instead of --sigmas).")]
        = None,
    hessian: Annotated[bool, typer.Option("--hessian", help="Also the Hessian trace and top eigenvalue.")] = False,
    chunk: Annotated[int, typer.Option(help="Perturbed networks per vmapped evaluation (1: one at a time).")] = 32,
    seed: SeedOpt = 0,
    dataset: DatasetOpt = None,
    data_root: DataRootOpt = None,
    plot: PlotOpt = None,
    force: ForceOpt = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Local energy δE(σ) = E_z[E(θ(1 + σz))] − E(θ) with Monte Carlo standard errors."""
    import torch

    from ..flatness import flip_energy, hessian_sharpness, local_energy
    from ..io import load_checkpoint

    guard(plot, inputs=[ckpt], force=force)
    levels = _grid(flips, "--flips") if flips is not None else _grid(sigmas, "--sigmas")
    c = load_checkpoint(ckpt)
    model = c.module()
    data = c.dataset(dataset)
    gen = torch.Generator().manual_seed(seed)
    with progress_bar(fmt == Format.human) as bar:
        kwargs = {"samples": samples, "generator": gen, "metric": metric, "split": split, "chunk": chunk,
                  "callback": lambda e: bar("networks", e)}
        if flips is not None:
            result = flip_energy(model, c.params, data, fractions=levels, **kwargs)
        else:
            result = local_energy(model, c.params, data, sigmas=levels, **kwargs)
    out = {"checkpoint": str(c.path), **result.to_dict()}
    if hessian:
        out["hessian"] = hessian_sharpness(model, c.params, data, split=split,
                                           generator=torch.Generator().manual_seed(seed)).to_dict()
    if plot is not None:
        from ..plots import plot_local_energy, save_figure

        out["plot"] = str(save_figure(plot_local_energy({c.path.parent.name or str(c.path): result}), plot))

    def human(r):
        key = "sigmas" if "sigmas" in r else "fractions"
        t = Table("σ" if key == "sigmas" else "p", f"δ{r['metric']}", "± stderr",
                  title=f"local energy ({r['split']} {r['metric']} {r['base']:.4f}, {r['samples']} draws)")
        for s, e, se in zip(r[key], r["local_energy"], r["stderr"], strict=True):
            t.add_row(f"{s:g}", f"{e:.4f}", f"{se:.4f}")
        stdout.print(t)
        if "hessian" in r:
            h = r["hessian"]
            stdout.print(f"Hessian trace {h['trace']:.4g} ± {h['trace_stderr']:.2g}, top eigenvalue "
                         f"{h['top_eigenvalue']:.4g}")

    emit(out, fmt, human)
