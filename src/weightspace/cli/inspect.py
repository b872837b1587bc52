"""weightspace train | eval | info | spec | demo (and the `count` group)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .. import data as data_mod
from ..errors import ConfigError
from ..evaluate import evaluate
from ..io import load_checkpoint
from ..models import build, example_input
from ..params import first_float
from ..symmetry import spec_of
from . import app
from ._common import FORMAT_OPTION_HELP, Format, emit, info, progress_bar, stdout
from .count import app as count_app

FormatOpt = Annotated[Format, typer.Option("--format", help=FORMAT_OPTION_HELP)]
CkptArg = Annotated[str, typer.Argument(help="A checkpoint file or a run directory (its final checkpoint).")]


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Run directory: final.safetensors, step-*.safetensors, metrics.json.")],
    model: Annotated[str, typer.Option(help="Model name: mlp, linear, vgg, resnet20, transformer.")] = "mlp",
    dataset: Annotated[str, typer.Option(help="Dataset name (digits, mnist1d, teacher, mnist, cifar10).")] = "digits",
    depth: Annotated[int | None, typer.Option(help="Hidden layers (mlp/linear): 64-512-512-10 is depth 2.")] = None,
    width: Annotated[float | None, typer.Option(help="Hidden width (mlp/linear) or width multiplier.")] = None,
    widths: Annotated[str | None, typer.Option(help="Comma-separated hidden widths, e.g. 128,64.")] = None,
    activation: Annotated[str | None, typer.Option(help="relu, tanh, softplus, gelu, linear, ...")] = None,
    norm: Annotated[str | None, typer.Option(help="batchnorm, layernorm or none (vgg/resnet20).")] = None,
    config: Annotated[str | None, typer.Option(help="Extra model config keys as JSON.")] = None,
    epochs: int = 20,
    batch_size: int = 64,
    optimizer: str = "sgd",
    lr: float = 0.05,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    schedule: str = "cosine",
    seed: int = 0,
    save_every: Annotated[int, typer.Option(help="Save a checkpoint every N steps (0: only the final one).")] = 0,
    fmt: FormatOpt = Format.human,
) -> None:
    """Train a zoo model and write a run directory."""
    from ..train import train as train_fn

    cfg: dict = {"name": model}
    if config:
        try:
            cfg.update(json.loads(config))
        except json.JSONDecodeError as err:
            raise ConfigError(f"--config is not valid JSON: {err.msg}") from None
    if depth is not None:
        cfg["depth"] = depth
    if width is not None:
        cfg["width"] = int(width) if float(width).is_integer() else width
    if widths is not None:
        try:
            cfg["widths"] = [int(w) for w in widths.split(",")]
        except ValueError:
            raise ConfigError(f"--widths must be comma-separated integers, got {widths!r}") from None
    if activation is not None:
        cfg["activation"] = activation
    if norm is not None:
        cfg["norm"] = norm
    data = data_mod.load(dataset)
    with progress_bar(fmt == Format.human) as bar:
        result = train_fn(cfg, data, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
                          momentum=momentum, weight_decay=weight_decay, schedule=schedule, seed=seed,
                          save_every=save_every, out=out, callback=lambda e: bar("train", e))
    m = result.metrics

    def human(r):
        stdout.print(f"trained {model} on {dataset}: test loss {r['test']['loss']:.4f}"
                     + (f", test accuracy {100 * r['test']['accuracy']:.2f}%" if r["test"]["accuracy"] is not None
                        else ""))
        info(f"run directory: {out}")

    emit(m, fmt, human)


@app.command("eval")
def eval_cmd(
    checkpoint: CkptArg,
    dataset: Annotated[str | None, typer.Option(help="Dataset (default: the checkpoint's).")] = None,
    split: Annotated[str, typer.Option(help="train or test.")] = "test",
    fmt: FormatOpt = Format.human,
) -> None:
    """Loss and accuracy of a checkpoint on a dataset split: {split, loss, accuracy, error}."""
    ckpt = load_checkpoint(checkpoint)
    data = ckpt.dataset(dataset, dtype=first_float(ckpt.params).dtype)  # inputs in the weights' precision
    result = evaluate(ckpt.module(), data, split)
    emit(result, fmt)


@app.command("info")
def info_cmd(checkpoint: CkptArg, fmt: FormatOpt = Format.human) -> None:
    """The model config, metadata and parameter count of a checkpoint."""
    ckpt = load_checkpoint(checkpoint)
    n = sum(v.numel() for k, v in ckpt.params.items() if v.is_floating_point())
    meta = {k: v for k, v in ckpt.metadata.items() if k != "dataset_meta"}
    emit({"path": str(ckpt.path), "config": ckpt.config, "metadata": meta, "tensors": len(ckpt.params),
          "parameters": n}, fmt, lambda r: _print_info(r))


def _print_info(r: dict) -> None:
    stdout.print(f"[bold]{r['path']}[/bold]: {r['parameters']} numbers in {r['tensors']} tensors")
    stdout.print(f"config: {json.dumps(r['config'])}")
    stdout.print(f"metadata: {json.dumps(r['metadata'])}")


@app.command("spec")
def spec_cmd(
    checkpoint: CkptArg,
    strict: Annotated[bool, typer.Option(help="Fail if any layer cannot be acted on.")] = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """The symmetry table of a checkpoint's model: factors, their kinds and axes, and fixed layers."""
    ckpt = load_checkpoint(checkpoint)
    model = build(ckpt.config).to(first_float(ckpt.params).dtype)
    spec = spec_of(model, example_input(model.config), strict=strict)

    def human(r):
        t = Table("factor", "size", "kinds", "axes", title="unit groups")
        for f in r["factors"]:
            axes = ", ".join(f"{k}[{a}]" for k, a in f["axes"])
            t.add_row(f["name"], str(f["size"]), ",".join(f["kinds"]), axes)
        stdout.print(t)
        for x in r["fixed"]:
            stdout.print(f"[yellow]fixed[/yellow] {x['name']}: {x['reason']}")

    emit(spec.to_dict(), fmt, human)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the two runs and the plot.")] = Path("out/demo"),
    epochs: int = 20,
    points: int = 25,
    fmt: FormatOpt = Format.human,
) -> None:
    """Train two digits MLPs (64-512-512-10) from two seeds; barriers before and after alignment."""
    from ..experiments.demo import run_demo
    from ..plots import plot_path_curves, save_figure

    with progress_bar(fmt == Format.human) as bar:
        r = run_demo(out, epochs=epochs, points=points, callback=bar)
    plot = save_figure(plot_path_curves(r["curves"], title="digits MLPs 64-512-512-10, seeds 0 and 1"),
                       Path(out) / "demo.png")
    result = {
        "accuracy": r["accuracy"],
        **{k: v for k, v in r.items() if "barrier" in k},
        "plot": str(plot),
        "runs": r["runs"],
        "curves": {k: {"alphas": list(c.alphas), "loss": list(c.loss), "error": list(c.error)}
                   for k, c in r["curves"].items()},
    }

    def human(res):
        for i, acc in enumerate(res["accuracy"]):
            stdout.print(f"MLP seed {i}: test accuracy {100 * acc:.2f}%")
        t = Table("path", "test-loss barrier", "test-error barrier (points)", title="barriers along the line")
        for label, suffix in (("naive", ""), ("weight matching", "_weight"), ("activation matching", "_activation")):
            t.add_row(label, f"{res['barrier' + suffix]:.4f}", f"{100 * res['error_barrier' + suffix]:.2f}")
        stdout.print(t)
        stdout.print(f"plot written to {res['plot']}")

    emit(result, fmt, human)


app.add_typer(count_app, name="count", help="Exact counts of symmetry-induced critical sets.")
