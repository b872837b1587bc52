"""weightspace curve: fit a chain with one bend or a Bezier curve between two checkpoints and save it as a curve
file, which `weightspace barrier A B --curve C` evaluates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from . import app
from ._common import (
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


def along_curve(curve_file: str, ca, cb, model, data, *, points: int, split: str, metric: str, definition: str,
                callback=None) -> tuple[dict, object]:
    """The barrier along the curve stored in `curve_file` between the checkpoints `ca` and `cb` (for `barrier`)."""
    from ..paths import evaluate_fitted_curve, load_curve

    curve = load_curve(curve_file, ca.params, cb.params)
    path_curve = evaluate_fitted_curve(model, curve, data, points=points, split=split, callback=callback)
    return {**path_curve.barrier(metric, definition).to_dict(), "align": "none", "curve": str(curve_file),
            "kind": curve.kind}, path_curve


@app.command()
def curve(
    a: Annotated[str, typer.Argument(help="Start checkpoint (file or run directory).")],
    b: Annotated[str, typer.Argument(help="End checkpoint, same architecture.")],
    out: Annotated[Path, typer.Option(help="The curve file to write (.safetensors: the bend and metadata).")],
    kind: Annotated[str, typer.Option(help="chain (one bend) or bezier.")] = "chain",
    steps: Annotated[int, typer.Option(help="Adam steps on the bend (one minibatch and one t each).")] = 1000,
    lr: Annotated[float, typer.Option(help="Adam learning rate (cosine decay to 0).")] = 0.01,
    batch_size: Annotated[int, typer.Option(help="Training examples per step.")] = 128,
    points: Annotated[int, typer.Option(help="Points where the fitted curve is evaluated.")] = 25,
    split: Annotated[str, typer.Option(help="Split the fitted curve is evaluated on: train or test.")] = "train",
    seed: SeedOpt = 0,
    dataset: DatasetOpt = None,
    data_root: DataRootOpt = None,
    plot: PlotOpt = None,
    force: ForceOpt = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Fit the bend minimising the expected training loss along the curve; report the error along it."""
    import torch

    from ..paths import CURVE_KINDS, evaluate_fitted_curve, evaluate_path, fit_model_curve, linear_path, save_curve
    from .connect import _load_same

    guard(out, inputs=[a, b], force=force)
    guard(plot, inputs=[a, b, str(out)], force=force)
    if kind not in CURVE_KINDS:
        raise ConfigError(f"--kind must be one of {', '.join(CURVE_KINDS)}, got {kind!r}")
    ca, cb = _load_same([a, b])
    model = ca.module()
    data = ca.dataset(dataset)
    metric = "error" if data.task == "classification" else "loss"
    with progress_bar(fmt == Format.human) as bar:
        fitted = fit_model_curve(model, data, ca.params, cb.params, kind=kind, steps=steps, lr=lr,
                                 batch_size=batch_size, generator=torch.Generator().manual_seed(seed),
                                 callback=lambda e: bar("fit", e))
        along = evaluate_fitted_curve(model, fitted, data, points=points, split=split,
                                      callback=lambda i, n: bar("curve", {"step": i, "total_steps": n}))
        line = evaluate_path(model, linear_path(ca.params, cb.params), data, points=points, split=split)
    save_curve(fitted, ca.config, out, start=str(ca.path), end=str(cb.path), dataset=data.name, seed=seed,
               lr=lr, batch_size=batch_size)
    result = {"out": str(out), "kind": kind, "steps": steps, "final_loss": fitted.losses[-1] if steps else None,
              "metric": metric, "split": split,
              "barrier": along.barrier(metric).value, "barrier_linear": line.barrier(metric).value,
              "curve": {"alphas": list(along.alphas), "loss": list(along.loss), "error": along.error},
              "linear": {"alphas": list(line.alphas), "loss": list(line.loss), "error": line.error}}
    if plot is not None:
        from ..plots import plot_path_curves, save_figure

        fig = plot_path_curves({f"fitted {kind}": along, "straight line": line}, title=f"{a} → {b}")
        result["plot"] = str(save_figure(fig, plot))

    def human(r):
        stdout.print(f"fitted {r['kind']} written to {r['out']}: {r['split']} {r['metric']} barrier "
                     f"{r['barrier']:.4f} (straight line {r['barrier_linear']:.4f})")

    emit(result, fmt, human)
