"""weightspace eval | info | spec: what a checkpoint holds and how well it does.

Each takes a weightspace checkpoint (its header names the zoo model) or, with --model MODULE:FACTORY, a plain
state dict (safetensors or a torch file, read with weights_only=True) of your own model; --data and --loss
bring your own data and loss.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from . import app
from ._common import (
    CkptArg,
    DataOpt,
    DataRootOpt,
    DatasetOpt,
    Format,
    FormatOpt,
    LossFnOpt,
    ModelArgsOpt,
    ModelOpt,
    data_of,
    emit,
    info,
    open_networks,
    stdout,
    user_data,
    user_loss,
)


@app.command("eval")
def eval_cmd(
    checkpoint: CkptArg,
    dataset: DatasetOpt = None,
    data_root: DataRootOpt = None,
    split: Annotated[str, typer.Option(help="train or test.")] = "test",
    model: ModelOpt = None,
    model_args: ModelArgsOpt = None,
    data: DataOpt = None,
    loss: LossFnOpt = None,
    fmt: FormatOpt = Format.human,
) -> None:
    """Loss and accuracy of a checkpoint on a dataset split: {split, loss, accuracy, error}."""
    from ..evaluate import evaluate
    from ..params import first_float

    module, (ckpt,) = open_networks([checkpoint], model, model_args)
    source = data_of(ckpt, data, dataset, dtype=first_float(ckpt.params).dtype)  # inputs in the weights' precision
    emit(evaluate(module, source, split, loss_fn=user_loss(loss)), fmt)


@app.command("info")
def info_cmd(
    checkpoint: CkptArg,
    model: ModelOpt = None,
    model_args: ModelArgsOpt = None,
    data: DataOpt = None,
    loss: LossFnOpt = None,
    fmt: FormatOpt = Format.human,
) -> None:
    """What a checkpoint file holds (a weightspace checkpoint or a plain state dict), its config, metadata and
    parameter count; with --model, whether the state dict fits that model; with --data/--loss, what they give."""
    from ..io import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    found = {"path": str(ckpt.path), "kind": ckpt.kind}
    if model is not None or ckpt.config is not None:
        module, _ = open_networks([checkpoint], model, model_args)  # refuses tensors that do not fit, in one line
        found["model"] = f"{type(module).__module__}.{type(module).__qualname__}"
    n = sum(v.numel() for v in ckpt.params.values() if v.is_floating_point())
    meta = {k: v for k, v in ckpt.metadata.items() if k != "dataset_meta"}
    found.update({"config": ckpt.config, "metadata": meta, "tensors": len(ckpt.params), "parameters": n})
    if data is not None:
        found["data"] = _describe(user_data(data))
    if loss is not None:
        fn = user_loss(loss)
        found["loss"] = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"
    emit(found, fmt, _print_info)


def _describe(data) -> str:
    from ..data import Dataset

    if isinstance(data, Dataset):
        return repr(data)
    return f"train: {type(data.train).__name__}, test: {type(data.test).__name__}"


def _print_info(r: dict) -> None:
    """One line each, never wrapped (a pipe gives Rich an 80-column console) and the path never read as markup."""
    stdout.print(f"[bold]{escape(r['path'])}[/bold]: {r['parameters']} numbers in {r['tensors']} tensors, "
                 f"a {escape(r['kind'])}", soft_wrap=True)
    for key in ("model", "data", "loss"):
        if key in r:
            stdout.print(f"{key}: {r[key]}", soft_wrap=True, markup=False)
    stdout.print(f"config: {json.dumps(r['config'])}", soft_wrap=True, markup=False)
    stdout.print(f"metadata: {json.dumps(r['metadata'])}", soft_wrap=True, markup=False)


@app.command("spec")
def spec_cmd(
    checkpoint: CkptArg,
    strict: Annotated[bool, typer.Option(help="Fail if any layer cannot be acted on.")] = False,
    model: ModelOpt = None,
    model_args: ModelArgsOpt = None,
    data: DataOpt = None,
    loss: LossFnOpt = None,
    fmt: FormatOpt = Format.human,
) -> None:
    """The symmetry table of a checkpoint's model: factors, their kinds and axes, and fixed layers (a model of your
    own is traced on the first inputs of --data; --loss is only checked)."""
    from ..models import example_for
    from ..params import first_float
    from ..symmetry import spec_of

    user_loss(loss)
    module, (ckpt,) = open_networks([checkpoint], model, model_args)  # refusing tensors that do not fit
    source = user_data(data) if data is not None else None
    spec = spec_of(module, example_for(module, source, dtype=first_float(ckpt.params).dtype), strict=strict)
    info(f"{escape(str(ckpt.path))}: a {ckpt.kind} of {escape(type(module).__qualname__)}")

    def human(r):
        t = Table("factor", "size", "kinds", "axes", title="unit groups")
        for f in r["factors"]:
            axes = ", ".join(f"{k}[{a}]" for k, a in f["axes"])
            t.add_row(escape(f["name"]), str(f["size"]), escape(",".join(f["kinds"])), escape(axes))
        stdout.print(t)
        for x in r["fixed"]:
            stdout.print(f"[yellow]fixed[/yellow] {escape(x['name'])}: {escape(x['reason'])}")

    emit(spec.to_dict(), fmt, human)
