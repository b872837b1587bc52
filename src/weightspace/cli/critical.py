"""weightspace hessian | critical split | saddle: thin shells over `weightspace.critical`.

Importing this module registers the commands on the main `app`. Losses are computed in float64 on the
training split of the dataset (the checkpoint's, or `--dataset`); classification data is fitted with the
squared loss on one-hot targets unless `--loss cross-entropy` (which needs `--weight-decay` > 0 for a
finite minimum).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ..errors import ConfigError
from . import app
from ._common import (
    CkptArg,
    DataOpt,
    DataRootOpt,
    DatasetOpt,
    ForceOpt,
    Format,
    FormatOpt,
    ModelArgsOpt,
    ModelOpt,
    OutCkptOpt,
    PlotOpt,
    emit,
    guard,
    info,
    progress_bar,
    stdout,
)

if TYPE_CHECKING:
    from ..data import Dataset
    from ..io import Checkpoint

__all__ = ["critical_app", "dataset_of", "hessian_cmd", "saddle_cmd", "split_cmd"]

LossOpt = Annotated[str, typer.Option("--loss", help="Classification loss: mse (one-hot targets) or cross-entropy.")]
HessianLossOpt = Annotated[str | None, typer.Option(
    "--loss", help="mse (one-hot targets for labels; the default for zoo checkpoints), cross-entropy, or your own "
                   "MODULE:FN, FN(outputs, targets) -> scalar (with --model the default is the evaluation convention: "
                   "cross-entropy for labels and tokens, squared error for real targets).")]
WdOpt = Annotated[float, typer.Option("--weight-decay", help="Add (wd/2)·||θ||² to the loss.")]
LOSSES = ("mse", "cross-entropy")
SADDLE_START_GTOL = 1e-3  # `saddle` warns when ||∇L|| at its start is above this: the start is not a minimum

critical_app = typer.Typer(help="Symmetry-induced critical points: function-preserving embeddings.",
                           no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def dataset_of(ckpt: Checkpoint, dataset: str | None = None, *, loss: str = "mse",
               weight_decay: float = 0.0) -> Dataset:
    """The float64 dataset named on the command line, else the checkpoint's (`Checkpoint.dataset`).

    Classification becomes one-hot regression for loss "mse"; "cross-entropy" needs weight decay > 0.
    """
    import torch

    from .. import critical
    if loss not in LOSSES:
        raise ConfigError(f"--loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    data = ckpt.dataset(dataset, dtype=torch.float64)
    if data.task == "classification":
        if loss == "mse":
            return critical.one_hot_regression(data)
        if not weight_decay > 0:
            raise ConfigError("--loss cross-entropy has no finite minimum without weight decay; pass --weight-decay "
                              "(e.g. 1e-3) or use --loss mse")
    return data


def _params64(params: dict) -> dict:
    import torch

    return {k: v.to(torch.float64) if v.is_floating_point() else v for k, v in params.items()}


@app.command("hessian")
def hessian_cmd(
    checkpoint: CkptArg,
    dataset: DatasetOpt = None,
    data_root: DataRootOpt = None,
    top: Annotated[int | None, typer.Option(help="Lanczos: the K smallest and K largest eigenvalues.")] = None,
    method: Annotated[str, typer.Option(help="With --top: Lanczos method, auto | arpack | two-pass (two-pass keeps "
                                             "2 vectors instead of ARPACK's float64 basis; auto picks it for "
                                             "large models).")] = "auto",
    dense: Annotated[bool, typer.Option("--dense", help="Every eigenvalue of the dense Hessian (the default "
                                                        "when neither --top nor --dense is given).")] = False,
    plot: PlotOpt = None,
    loss: HessianLossOpt = None,
    weight_decay: WdOpt = 0.0,
    model: ModelOpt = None,
    model_args: ModelArgsOpt = None,
    data: DataOpt = None,
    max_batches: Annotated[int | None, typer.Option(help="With --data: at most this many training batches enter "
                                                         "the loss.")] = None,
    force: ForceOpt = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Hessian spectrum of the training loss at a checkpoint (float64): eigenvalues, index, nullity."""
    from .. import critical

    if dense and top is not None:
        raise ConfigError("give --dense or --top K, not both")
    guard(plot, inputs=[checkpoint], force=force)
    if model is not None or data is not None or (loss is not None and ":" in loss) or _token_model(checkpoint):
        loss_of_parameters, params = _own_objective(checkpoint, model, model_args, data, dataset, loss, weight_decay,
                                                    max_batches)
    else:
        loss_of_parameters, params = _zoo_objective(checkpoint, dataset, loss or "mse", weight_decay)

    with progress_bar(fmt == Format.human and top is not None) as bar:
        point = critical.characterize(loss_of_parameters, params, top=top, method=method,
                                      callback=lambda e: bar(f"Hessian-vector products ({e['stage']})", e))
    result = point.to_dict()
    if plot is not None:
        from ..plots import plot_spectrum, save_figure

        save_figure(plot_spectrum(point.spectrum), plot)
        info(f"wrote {escape(str(plot))}")
        result["plot"] = str(plot)

    def human(r: dict) -> None:
        stdout.print(f"loss {r['loss']:.6g}, |grad| {r['gradient_norm']:.3g}; "
                     f"[bold]index {r['index']}, nullity {r['nullity']}[/bold], positive {r['positive']} "
                     f"(threshold {r['threshold']:.3g}, {len(r['eigenvalues'])} of {r['dim']} eigenvalues)")
        ev = r["eigenvalues"]
        stdout.print("smallest: " + ", ".join(f"{v:.4g}" for v in ev[:6]))
        stdout.print("largest: " + ", ".join(f"{v:.4g}" for v in r.get("largest_eigenvalues", ev)[-6:]))

    emit(result, fmt, human)


def _token_model(checkpoint: str) -> bool:
    """A zoo checkpoint of a token model (its inputs are token ids, not features to cast to float64)."""
    from ..io import load_checkpoint
    from ..models import TOKEN_MODELS

    config = load_checkpoint(checkpoint).config
    return config is not None and config.get("name") in TOKEN_MODELS


def _zoo_objective(checkpoint: str, dataset: str | None, loss: str, weight_decay: float):
    """(L of the trainable tensors, their values) of a zoo checkpoint on its training split (float64)."""
    from .. import critical
    from ..io import load_checkpoint
    from ..symmetry._config import model_for

    ckpt = load_checkpoint(checkpoint)
    data = dataset_of(ckpt, dataset, loss=loss, weight_decay=weight_decay)
    loss_fn = critical.objective(ckpt.config, data, weight_decay=weight_decay)
    params = _params64(ckpt.params)
    trainable = {k for k, _ in model_for(ckpt.config).named_parameters()}
    buffers = {k: v for k, v in params.items() if k not in trainable}  # BatchNorm statistics stay fixed

    def loss_of_parameters(p):
        return loss_fn({**buffers, **p})

    return loss_of_parameters, {k: v for k, v in params.items() if k in trainable}


def _own_objective(checkpoint, model, model_args, data, dataset, loss, weight_decay, max_batches):
    """(L of the trainable tensors, their values) of any model on the streamed training batches of --data (or the
    dataset), with --loss (a name or MODULE:FN) plus (wd/2)||θ||², in float64."""
    import torch

    from ..evaluate import loss_function
    from ..hessian import loss_of
    from ._common import data_of, open_networks, user_loss

    module, (ckpt,) = open_networks([checkpoint], model, model_args)
    module = module.to(torch.float64).eval()
    source = data_of(ckpt, data, dataset, dtype=torch.float64)
    loss_fn = user_loss(loss) if loss is not None and ":" in loss else loss_function(loss)
    if loss_fn is None:
        from ..evaluate import criterion

        def loss_fn(out, target):
            return criterion(None, out, target)

    objective, keys = loss_of(module, source, loss_fn=loss_fn, split="train", max_batches=max_batches)
    state = {k: v.detach() for k, v in module.state_dict().items()}
    wd = float(weight_decay)

    def loss_of_parameters(p):
        value = objective({**state, **p})
        if wd:
            value = value + 0.5 * wd * sum((v * v).sum() for v in p.values())
        return value

    return loss_of_parameters, {k: state[k] for k in keys}


@critical_app.command("split")
def split_cmd(
    checkpoint: CkptArg,
    layer: Annotated[int, typer.Option(help="Hidden layer: an index into the spec's permutation groups (from 0).")],
    unit: Annotated[int, typer.Option(help="The unit to duplicate.")],
    out: OutCkptOpt,
    ratio: Annotated[float, typer.Option(help="λ: the unit keeps λ·a, the copy (appended last) (1 − λ)·a.")] = 0.5,
    force: ForceOpt = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Duplicate a hidden unit (function preserved): writes the width-(r+1) checkpoint OUT."""
    import torch

    from .. import critical
    from ..io import load_checkpoint, save_params
    from ..models import example_input
    from ..params import forward
    from ..symmetry._config import model_for

    guard(out, inputs=[checkpoint], force=force)
    ckpt = load_checkpoint(checkpoint)
    params, config = critical.split_neuron(ckpt.params, ckpt.config, layer, unit, ratio)
    x = example_input(config, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    before = forward(model_for(ckpt.config), _params64(ckpt.params), x)
    after = forward(model_for(config), _params64(params), x)
    change = float((after - before).norm() / before.norm().clamp_min(1e-300))
    meta = {**ckpt.metadata, "split": {"source": str(ckpt.path), "layer": layer, "unit": unit, "ratio": ratio}}
    save_params(params, config, out, **meta)
    result = {"out": str(out), "layer": layer, "unit": unit, "copy": config["widths"][layer] - 1, "ratio": ratio,
              "widths": config["widths"], "relative_output_change": change}
    emit(result, fmt, lambda r: stdout.print(
        f"split unit {unit} of layer {layer} (λ = {ratio}): widths {r['widths']}, copy is unit {r['copy']}; "
        f"relative output change {change:.2e}; wrote {out}"))


def _units(text: str) -> tuple[int, int]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ConfigError(f"--units: expected two unit indices like 0,1, got {text!r}")
    return int(parts[0]), int(parts[1])


@app.command("saddle")
def saddle_cmd(
    checkpoint: CkptArg,
    layer: Annotated[int, typer.Option(help="Hidden layer: an index into the spec's permutation groups (from 0).")],
    units: Annotated[str, typer.Option(help="The two units i,j that merge, e.g. 0,1.")],
    dataset: DatasetOpt = None,
    data_root: DataRootOpt = None,
    plot: PlotOpt = None,
    points: Annotated[int, typer.Option(help="Points along the swap-symmetric path.")] = 21,
    neb: Annotated[bool, typer.Option("--neb", help="Also run CI-NEB between θ and π_ij θ.")] = False,
    loss: LossOpt = "mse",
    weight_decay: WdOpt = 0.0,
    force: ForceOpt = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """The permutation point of units i, j from a minimum: loss, gradient norm, index, nullity, the path."""
    from .. import critical
    from ..io import load_checkpoint

    i, j = _units(units)
    guard(plot, inputs=[checkpoint], force=force)
    ckpt = load_checkpoint(checkpoint)
    data = dataset_of(ckpt, dataset, loss=loss, weight_decay=weight_decay)
    params = _params64(ckpt.params)
    start = critical.gradient_norm(critical.objective(ckpt.config, data, weight_decay=weight_decay), params)
    if start > SADDLE_START_GTOL:
        info(f"[yellow]warning[/yellow]: {escape(str(ckpt.path))} is not a critical point (|grad| = {start:.3g} > "
             f"{SADDLE_START_GTOL:g}); the permutation point is reached from a non-minimum (train it to convergence)")
    with progress_bar(fmt == Format.human) as bar:
        res = critical.permutation_saddle(params, ckpt.config, data, layer, i, j, weight_decay=weight_decay,
                                          points=points, neb=neb, callback=lambda e: bar(e["stage"], e))
    result = res.to_dict()
    if plot is not None:
        from ..plots import plot_band, plot_chain, save_figure

        curves = {"θ → θ_pp → π_ij θ": res.path}
        if res.band is not None:
            fig = plot_band(res.band.positions, res.band.losses, highest=res.band.highest, curves=curves,
                            title=f"layer {layer}, units {i},{j}")
        else:
            fig = plot_chain(curves, segments=2, reference=res.point.loss,
                             title=f"layer {layer}, units {i},{j}: index {res.index}, nullity {res.nullity}")
        save_figure(fig, plot)
        info(f"wrote {escape(str(plot))}")
        result["plot"] = str(plot)

    def human(r: dict) -> None:
        stdout.print(f"minimum: loss {r['minimum']['loss']:.6g}, |grad| {r['minimum']['gradient_norm']:.3g}")
        stdout.print(f"permutation point (layer {layer}, units {i},{j}): loss {r['loss']:.6g}, |grad| "
                     f"{r['gradient_norm']:.3g}, [bold]index {r['index']}, nullity {r['nullity']}[/bold]")
        p = r["plateau"]
        stdout.print(f"plateau ({p['dim']} directions): loss spread {p['loss_spread']:.2g}, vᵀHv "
                     f"{max(abs(q) for q in p['quadratic_forms']):.2g}, max ||Hv|| {max(p['hv_norms']):.2g}")
        stdout.print(f"swap-symmetric path barrier: {r['path']['barrier']:.6g}")
        if r["band"] is not None:
            b = r["band"]
            stdout.print(f"CI-NEB: {b['steps']} steps, converged {b['converged']}, climbing |grad| "
                         f"{b['climbing_gradient_norm']:.3g}; saddle loss {b['saddle']['loss']:.6g}, "
                         f"index {b['saddle']['index']}")

    emit(result, fmt, human)


app.add_typer(critical_app, name="critical", help="Symmetry-induced critical points (splitting embeddings).")
