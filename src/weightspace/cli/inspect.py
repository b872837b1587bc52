"""weightspace eval | info | spec: what a checkpoint holds and how well it does."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from . import app
from ._common import CkptArg, DataRootOpt, DatasetOpt, Format, FormatOpt, emit, stdout


@app.command("eval")
def eval_cmd(
    checkpoint: CkptArg,
    dataset: DatasetOpt = None,
    data_root: DataRootOpt = None,
    split: Annotated[str, typer.Option(help="train or test.")] = "test",
    fmt: FormatOpt = Format.human,
) -> None:
    """Loss and accuracy of a checkpoint on a dataset split: {split, loss, accuracy, error}."""
    from ..evaluate import evaluate
    from ..io import load_checkpoint
    from ..params import first_float

    ckpt = load_checkpoint(checkpoint)
    data = ckpt.dataset(dataset, dtype=first_float(ckpt.params).dtype)  # inputs in the weights' precision
    result = evaluate(ckpt.module(), data, split)
    emit(result, fmt)


@app.command("info")
def info_cmd(checkpoint: CkptArg, fmt: FormatOpt = Format.human) -> None:
    """The model config, metadata and parameter count of a checkpoint."""
    from ..io import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    ckpt.module()  # refuses tensors that do not fit the config (shapes, missing or extra keys) in one line
    n = sum(v.numel() for k, v in ckpt.params.items() if v.is_floating_point())
    meta = {k: v for k, v in ckpt.metadata.items() if k != "dataset_meta"}
    emit({"path": str(ckpt.path), "config": ckpt.config, "metadata": meta, "tensors": len(ckpt.params),
          "parameters": n}, fmt, lambda r: _print_info(r))


def _print_info(r: dict) -> None:
    """One line each, never wrapped (a pipe gives Rich an 80-column console) and the path never read as markup."""
    stdout.print(f"[bold]{escape(r['path'])}[/bold]: {r['parameters']} numbers in {r['tensors']} tensors",
                 soft_wrap=True)
    stdout.print(f"config: {json.dumps(r['config'])}", soft_wrap=True, markup=False)
    stdout.print(f"metadata: {json.dumps(r['metadata'])}", soft_wrap=True, markup=False)


@app.command("spec")
def spec_cmd(
    checkpoint: CkptArg,
    strict: Annotated[bool, typer.Option(help="Fail if any layer cannot be acted on.")] = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """The symmetry table of a checkpoint's model: factors, their kinds and axes, and fixed layers."""
    from ..io import load_checkpoint
    from ..models import example_input
    from ..symmetry import spec_of

    ckpt = load_checkpoint(checkpoint)
    model = ckpt.module()  # the config's model, refusing tensors that do not fit it
    spec = spec_of(model, example_input(model.config), strict=strict)

    def human(r):
        t = Table("factor", "size", "kinds", "axes", title="unit groups")
        for f in r["factors"]:
            axes = ", ".join(f"{k}[{a}]" for k, a in f["axes"])
            t.add_row(escape(f["name"]), str(f["size"]), escape(",".join(f["kinds"])), escape(axes))
        stdout.print(t)
        for x in r["fixed"]:
            stdout.print(f"[yellow]fixed[/yellow] {escape(x['name'])}: {escape(x['reason'])}")

    emit(spec.to_dict(), fmt, human)
