"""weightspace canonical | distance | geodesic: networks modulo their symmetries (Pittorino et al. 2022)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
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
    OutCkptOpt,
    PlotOpt,
    emit,
    guard,
    info,
    open_networks,
    progress_bar,
    stdout,
)

MethodOpt = Annotated[str | None, typer.Option(
    help="Alignment: weight (weight matching, default) or cosine (per unit, layer by layer; binary nets: "
         "sign-aware cosine, the default).")]


def _method(method: str | None) -> str | None:
    from ..quotient import METHODS

    if method is not None and method not in METHODS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    return method


@app.command()
def canonical(
    ckpt: CkptArg,
    out: OutCkptOpt,
    reference: Annotated[str | None, typer.Option(help="Align to this checkpoint's canonical form instead of "
                                                       "ordering the units by the canonical key.")] = None,
    method: MethodOpt = None,
    force: ForceOpt = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Write the canonical form of CKPT: scales fixed (unit spheres), units ordered or aligned to --reference."""
    from ..io import save_params
    from ..quotient import align_to, canonical_form, quotient_distance, quotient_of

    method = _method(method)
    inputs = [ckpt] + ([reference] if reference else [])
    guard(out, inputs=inputs, force=force)
    ckpts = open_networks(inputs)[1]
    model = ckpts[0].module()
    q = quotient_of(model)
    result: dict = {"out": str(out), "model": q.model, "spheres": len(q.spheres),
                    "units": sum(s.size for s in q.spheres), "reference": reference}
    if reference is None:
        params = canonical_form(model, ckpts[0].params, quotient=q)
    else:
        ref = canonical_form(model, ckpts[1].params, quotient=q)
        _, params = align_to(model, ckpts[0].params, ref, method=method, quotient=q)
        d = quotient_distance(model, ref, params, method=method, quotient=q)
        result.update(method=method or ("cosine" if q.binary else "weight"), distance=d.to_dict())
    if ckpts[0].masks:
        info("note: the pruning masks are not carried into the canonical form")
    meta = {k: v for k, v in ckpts[0].metadata.items() if k not in ("aligned_to", "align_method")}
    save_params(params, ckpts[0].config, out, **meta, canonical=True,
                **({"aligned_to": str(ckpts[1].path)} if reference else {}))

    def human(r):
        stdout.print(f"canonical form of {escape(ckpt)} ({r['model']}, {r['units']} units on {r['spheres']} "
                     f"spheres) -> {escape(r['out'])}")
        if reference:
            stdout.print(f"aligned to {escape(reference)} ({r['method']}): normalised distance "
                         f"{r['distance']['normalized']:.4f}, mean angle {r['distance']['mean_angle']:.4f} rad")

    emit(result, fmt, human)


@app.command()
def distance(
    checkpoints: Annotated[list[str], typer.Argument(help="Two or more checkpoints of one architecture.")],
    method: MethodOpt = None,
    function: Annotated[bool, typer.Option("--function/--no-function",
                                           help="Also the function-space distances (needs the dataset).")] = True,
    split: Annotated[str, typer.Option(help="Split for the function-space distances: train or test.")] = "test",
    dataset: DatasetOpt = None,
    data_root: DataRootOpt = None,
    fmt: FormatOpt = Format.human,
) -> None:
    """Pairwise distances on the quotient (mean angle, normalised distance, binary: Hamming) and in function space."""
    from ..quotient import pairwise_distances, quotient_of

    method = _method(method)
    if len(checkpoints) < 2:
        raise ConfigError("distance needs at least two checkpoints")
    ckpts = open_networks(checkpoints)[1]
    model = ckpts[0].module()
    q = quotient_of(model)
    data = ckpts[0].dataset(dataset) if function else None
    with progress_bar(fmt == Format.human) as bar:
        result = pairwise_distances(model, [c.params for c in ckpts], data=data, split=split, method=method,
                                    quotient=q, callback=lambda i, n: bar("pairs", {"step": i, "total_steps": n}))
    out = {"checkpoints": list(checkpoints), "method": method or ("cosine" if q.binary else "weight"),
           "split": split if function else None, "distances": result.to_dict()}

    def human(r):
        for metric, m in r["distances"].items():
            table = Table(title=metric)
            table.add_column("")
            for j in range(len(m)):
                table.add_column(str(j))
            for i, row in enumerate(m):
                table.add_row(f"{i}: {escape(Path(checkpoints[i]).name)}", *[f"{v:.4f}" for v in row])
            stdout.print(table)

    emit(out, fmt, human)


@app.command()
def geodesic(
    a: Annotated[str, typer.Argument(help="First checkpoint (file or run directory).")],
    b: Annotated[str, typer.Argument(help="Second checkpoint (aligned to A on the quotient).")],
    method: MethodOpt = None,
    points: Annotated[int, typer.Option(help="Points along each curve, endpoints included.")] = 11,
    metric: Annotated[str, typer.Option(help="Barrier metric: error or loss.")] = "error",
    split: Annotated[str, typer.Option(help="Barrier split: train or test (both are evaluated).")] = "test",
    definition: Annotated[str, typer.Option(help="interpolation (max L - lerp of ends) or mean.")] = "interpolation",
    reset_bn: Annotated[bool, typer.Option("--reset-bn", help="Recompute BatchNorm statistics at each point.")] = False,
    dataset: DatasetOpt = None,
    data_root: DataRootOpt = None,
    plot: PlotOpt = None,
    force: ForceOpt = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Error and loss along the geodesic on the product of spheres and along the straight line, with barriers."""
    from ..evaluate import fit_inputs
    from ..params import first_float
    from ..paths import DEFINITIONS, reset_batchnorm
    from ..quotient import geodesic_study, quotient_of

    method = _method(method)
    guard(plot, inputs=[a, b], force=force)
    if metric not in ("error", "loss"):
        raise ConfigError(f"--metric must be error or loss, got {metric!r}")
    if split not in ("train", "test"):
        raise ConfigError(f"--split must be train or test, got {split!r}")
    if definition not in DEFINITIONS:
        raise ConfigError(f"--definition must be one of {', '.join(DEFINITIONS)}, got {definition!r}")
    if points < 2:
        raise ConfigError(f"--points must be at least 2, got {points}")
    ca, cb = open_networks([a, b])[1]
    model = ca.module()
    q = quotient_of(model)
    data = ca.dataset(dataset)
    prepare = None
    if reset_bn:
        stats_x = fit_inputs(data.x_train[:2000], model).to(first_float(ca.params).dtype)

        def prepare(p):
            return reset_batchnorm(model, p, stats_x)

    with progress_bar(fmt == Format.human) as bar:
        study = geodesic_study(model, ca.params, cb.params, data, method=method, points=points, prepare=prepare,
                               quotient=q, callback=lambda i, n: bar("curves", {"step": i, "total_steps": n}))
    out = {"checkpoints": [a, b], **study.to_dict(metric=metric, split=split, definition=definition)}
    if plot is not None:
        from ..plots import plot_path_curves, save_figure

        curves = {f"{path} ({s})": c for path, by in study.curves.items() for s, c in by.items()}
        fig = plot_path_curves(curves, title=f"geodesic vs straight line ({out['method']} alignment)")
        out["plot"] = str(save_figure(fig, plot))

    def human(r):
        stdout.print(f"{r['metric']} barrier ({r['split']}, {r['definition']}, aligned by {r['method']}): "
                     f"geodesic {r['barrier']:.4f} at t={r['alpha']:.3f}, straight line {r['barrier_linear']:.4f} "
                     f"at t={r['alpha_linear']:.3f}")

    emit(out, fmt, human)
