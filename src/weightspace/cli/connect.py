"""weightspace align | barrier | merge: connectivity of two or more checkpoints modulo permutation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import ConfigError
from . import app
from ._common import (
    DataRootOpt,
    DatasetOpt,
    ForceOpt,
    Format,
    FormatOpt,
    OutCkptOpt,
    PlotOpt,
    emit,
    guard,
    progress_bar,
    stdout,
)


def _load_same(paths: list[str]):
    from ..errors import ArchitectureMismatch
    from ..io import load_checkpoint
    from ..params import check_same_structure

    ckpts = [load_checkpoint(p) for p in paths]
    for c in ckpts[1:]:
        if c.config != ckpts[0].config:
            raise ArchitectureMismatch(f"{c.path} and {ckpts[0].path} have different model configs; "
                                       "only networks of one architecture can be aligned")
        check_same_structure(ckpts[0].params, c.params, what=f"{ckpts[0].path} and {c.path}")
    return ckpts


@app.command()
def align(
    a: Annotated[str, typer.Argument(help="Reference checkpoint (file or run directory).")],
    b: Annotated[str, typer.Argument(help="Checkpoint to align to A.")],
    out: OutCkptOpt,
    method: Annotated[str, typer.Option(help="weight, activation or ste.")] = "weight",
    dataset: DatasetOpt = None,
    data_root: DataRootOpt = None,
    force: ForceOpt = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Write B permuted to match A (the same function as B)."""
    from ..align import align_pair
    from ..io import save_params

    guard(out, inputs=[a, b], force=force)
    if method not in ("weight", "activation", "ste"):
        raise ConfigError(f"--method must be weight, activation or ste, got {method!r}")
    ca, cb = _load_same([a, b])
    model = ca.module()
    data = ca.dataset(dataset) if method != "weight" else None
    with progress_bar(fmt == Format.human) as bar:
        alignment = align_pair(method, model, ca.params, cb.params, data=data,
                               callback=lambda e: bar("learned matching", e))
    aligned = alignment.apply(cb.params)
    masks = {k: alignment.element.apply_to(k, m) for k, m in cb.masks.items()} if cb.masks else None
    save_params(aligned, cb.config, out, masks=masks,
                **{**cb.metadata, "aligned_to": str(ca.path), "align_method": method})
    emit({"out": str(out), "method": method, "iterations": alignment.iterations,
          "objective": list(alignment.objective)}, fmt)


@app.command()
def barrier(
    a: Annotated[str, typer.Argument(help="First checkpoint (file or run directory).")],
    b: Annotated[str, typer.Argument(help="Second checkpoint.")],
    align: Annotated[str, typer.Option("--align", help="none, weight, activation or ste.")] = "none",
    points: Annotated[int, typer.Option(help="Points along the path, endpoints included.")] = 25,
    split: Annotated[str, typer.Option(help="train or test.")] = "test",
    metric: Annotated[str, typer.Option(help="loss or error.")] = "loss",
    definition: Annotated[str, typer.Option(help="interpolation (max L - lerp of ends) or mean.")] = "interpolation",
    reset_bn: Annotated[bool, typer.Option("--reset-bn", help="Recompute BatchNorm statistics at each point.")] = False,
    repair: Annotated[bool, typer.Option("--repair", help="REPAIR every point's unit statistics.")] = False,
    curve: Annotated[str | None, typer.Option(help="A curve file fitted by `weightspace curve A B`: the barrier "
                                                   "along it (BatchNorm recomputed at each point).")] = None,
    dataset: DatasetOpt = None,
    data_root: DataRootOpt = None,
    plot: PlotOpt = None,
    force: ForceOpt = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """The barrier along the straight path from A to B (B optionally aligned first), or along a fitted --curve."""
    from ..paths import linear_barrier

    guard(plot, inputs=[a, b] + ([curve] if curve else []), force=force)
    if reset_bn and repair:
        raise ConfigError("choose one of --reset-bn and --repair")
    if curve is not None and (align != "none" or repair):
        raise ConfigError("--curve fixes both ends: it takes neither --align nor --repair")
    ca, cb = _load_same([a, b])
    model = ca.module()
    data = ca.dataset(dataset)
    renormalize = "reset-bn" if reset_bn else "repair" if repair else "none"
    with progress_bar(fmt == Format.human) as bar:
        if curve is not None:
            from .curve import along_curve

            out, path_curve = along_curve(curve, ca, cb, model, data, points=points, split=split, metric=metric,
                                          definition=definition,
                                          callback=lambda i, n: bar("curve", {"step": i, "total_steps": n}))
        else:
            result = linear_barrier(model, ca.params, cb.params, data, align=align, points=points, split=split,
                                    metric=metric, definition=definition, renormalize=renormalize,
                                    callback=lambda i, n: bar("path", {"step": i, "total_steps": n}))
            out, path_curve = result.to_dict(), result.curve
    if plot is not None:
        from ..plots import plot_path_curves, save_figure

        label = f"fitted {out['kind']}" if curve is not None else f"align={align}"
        out["plot"] = str(save_figure(plot_path_curves({label: path_curve}), plot))

    def human(r):
        stdout.print(f"{r['metric']} barrier ({r['split']}, {r['definition']}, align={r['align']}): "
                     f"{r['barrier']:.4f} at α={r['alpha']:.3f}")

    emit(out, fmt, human)


@app.command()
def merge(
    checkpoints: Annotated[list[str], typer.Argument(help="Two or more checkpoints of one architecture.")],
    out: OutCkptOpt,
    no_align: Annotated[bool, typer.Option("--no-align", help="Average without aligning first.")] = False,
    weights: Annotated[str | None, typer.Option(help="Comma-separated weights summing to 1.")] = None,
    force: ForceOpt = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Weighted average of networks after aligning each to the first."""
    import math

    from ..align import merge as merge_fn
    from ..io import save_params
    from ..models import example_input
    from ..params import first_float
    from ..symmetry import spec_of

    if len(checkpoints) < 2:
        raise ConfigError("merge needs at least two checkpoints")
    guard(out, inputs=checkpoints, force=force)
    w = None
    if weights is not None:
        try:
            w = [float(x) for x in weights.split(",")]
        except ValueError:
            raise ConfigError(f"--weights must be comma-separated numbers, got {weights!r}") from None
        if not all(math.isfinite(x) for x in w):
            raise ConfigError(f"--weights must be finite numbers, got {weights!r}")
    ckpts = _load_same(checkpoints)
    model = ckpts[0].module()
    spec = spec_of(model, example_input(model.config, dtype=first_float(ckpts[0].params).dtype))
    merged = merge_fn([c.params for c in ckpts], spec, weights=w, align=not no_align)
    save_params(merged, ckpts[0].config, out, **{**ckpts[0].metadata, "merged_from": [str(c.path) for c in ckpts]})
    emit({"out": str(out), "aligned": not no_align, "networks": len(ckpts)}, fmt)


connectivity_app = typer.Typer(help="Linear connectivity modulo permutation across trajectories and widths.",
                               no_args_is_help=True)
app.add_typer(connectivity_app, name="connectivity")


@connectivity_app.command("trajectory")
def connectivity_trajectory(
    run_a: Annotated[str, typer.Argument(help="Run directory with step-*.safetensors (or IMP level-* runs).")],
    run_b: Annotated[str, typer.Argument(help="The second run directory.")],
    points: int = 11,
    split: str = "test",
    dataset: DatasetOpt = None,
    data_root: DataRootOpt = None,
    plot: PlotOpt = None,
    force: ForceOpt = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Barrier at every checkpoint: the final permutation vs per-step permutations vs none."""
    from ..experiments.connectivity import trajectory_barriers
    from ..plots import plot_series, save_figure

    guard(plot, inputs=[run_a, run_b], force=force)

    with progress_bar(fmt == Format.human) as bar:
        r = trajectory_barriers(run_a, run_b, dataset=dataset, points=points, split=split,
                                callback=lambda i, n: bar("checkpoints", {"step": i, "total_steps": n}))
    if plot is not None:
        fig = plot_series(r["checkpoints"], {k: r[k] for k in ("naive", "per_step", "final_permutation")},
                          ylabel=f"{split} loss barrier", xlabel="checkpoint")
        r["plot"] = str(save_figure(fig, plot))

    def human(res):
        t = Table("checkpoint", "naive", "per-step permutation", "final permutation", title="loss barriers")
        for i, label in enumerate(res["checkpoints"]):
            t.add_row(label, *(f"{res[k][i]:.4f}" for k in ("naive", "per_step", "final_permutation")))
        stdout.print(t)

    emit(r, fmt, human)


@connectivity_app.command("width")
def connectivity_width(
    widths: Annotated[str, typer.Option(help="Comma-separated hidden widths.")] = "32,64,128,256,512",
    seeds: Annotated[int, typer.Option(help="Networks per width (>= 3 for the simplex barrier).")] = 3,
    dataset: str = "mnist1d",
    data_root: DataRootOpt = None,
    depth: int = 2,
    epochs: int = 30,
    points: int = 11,
    resolution: Annotated[int, typer.Option(help="Simplex grid resolution K.")] = 4,
    out: Annotated[Path, typer.Option(help="The sweep folder (resumable: training and barriers), results.json and "
                                           "the plot.")] = Path("out/width"),
    executor: Annotated[str, typer.Option(help="local (a process pool) or ray.")] = "local",
    workers: Annotated[int, typer.Option(help="Local processes (1: in this process) or CPUs of a local Ray "
                                              "instance.")] = 1,
    address: Annotated[str | None, typer.Option(help="Join the Ray cluster at this address (--executor ray).")] =
        None,
    fmt: FormatOpt = Format.human,
) -> None:
    """2-model and 3-model barriers after weight matching vs width, with a plot: a sweep of the `width` task
    (each width needing its trained seeds), resumed from its store."""
    from ..experiments.connectivity import width_sweep
    from ..plots import plot_series, save_figure

    try:
        ws = [int(w) for w in widths.split(",")]
    except ValueError:
        raise ConfigError(f"--widths must be comma-separated integers, got {widths!r}") from None
    guard(out, folder=True)
    with progress_bar(fmt == Format.human) as bar:
        r = width_sweep(ws, seeds, out, dataset=dataset, depth=depth, epochs=epochs, points=points,
                        resolution=resolution, executor=executor, workers=workers, address=address, callback=bar)
    series = {"2 models (aligned)": [row["barrier_2"] for row in r["rows"]],
              "2 models (naive)": [row["barrier_2_naive"] for row in r["rows"]]}
    if seeds >= 3:
        series["3 models, simplex (aligned)"] = [row["barrier_3"] for row in r["rows"]]
    fig = plot_series(ws, series, ylabel="test loss barrier", xlabel="width", logx=True)
    r["plot"] = str(save_figure(fig, Path(out) / "width.png"))

    def human(res):
        t = Table("width", "2-model aligned", "2-model naive", "3-model aligned", "accuracy", title="barriers")
        for row in res["rows"]:
            t.add_row(str(row["width"]), f"{row['barrier_2']:.4f}", f"{row['barrier_2_naive']:.4f}",
                      f"{row.get('barrier_3', float('nan')):.4f}", f"{100 * row['test_accuracy']:.1f}%")
        stdout.print(t)
        stdout.print(f"plot: {escape(str(res['plot']))}")

    emit(r, fmt, human)
