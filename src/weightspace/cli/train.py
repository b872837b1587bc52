"""weightspace train: fit a zoo model on a dataset and write a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..errors import ConfigError
from . import app
from ._common import DataRootOpt, ForceOpt, Format, FormatOpt, SeedOpt, emit, guard, info, progress_bar, stdout


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Run directory: final.safetensors, step-*.safetensors, metrics.json.")],
    model: Annotated[str, typer.Option(help="Model name: mlp, linear, vgg, resnet20, transformer.")] = "mlp",
    dataset: Annotated[str, typer.Option(help="Dataset name (digits, mnist1d, teacher, mnist, cifar10).")] = "digits",
    data_root: DataRootOpt = None,
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
    seed: SeedOpt = 0,
    save_every: Annotated[int, typer.Option(help="Save a checkpoint every N steps (0: only the final one).")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last step "
                                                          "checkpoint (same options).")] = False,
    force: ForceOpt = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Train a zoo model and write a run directory (locked while it is written)."""
    import json

    from .. import data as data_mod
    from ..train import train as train_fn

    cfg: dict = {"name": model}
    if config:
        try:
            cfg.update(json.loads(config))
        except json.JSONDecodeError as err:
            raise ConfigError(f"--config is not valid JSON: {err.msg}") from None
    if resume and force:
        raise ConfigError("give --resume or --force, not both")
    if width is not None and not (width > 0 and width < float("inf")):
        raise ConfigError(f"--width must be a positive number, got {width:g}")
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
    guard(out, folder=True)  # before the data is loaded or anything trained
    data = data_mod.load(dataset)
    with progress_bar(fmt == Format.human) as bar:
        result = train_fn(cfg, data, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
                          momentum=momentum, weight_decay=weight_decay, schedule=schedule, seed=seed,
                          save_every=save_every, out=out, resume=resume, force=force,
                          callback=lambda e: bar("train", e))
    m = result.metrics

    def human(r):
        stdout.print(f"trained {escape(str(model))} on {escape(str(dataset))}: test loss {r['test']['loss']:.4f}"
                     + (f", test accuracy {100 * r['test']['accuracy']:.2f}%" if r["test"]["accuracy"] is not None
                        else ""))
        info(f"run directory: {escape(str(out))}")

    emit(m, fmt, human)
