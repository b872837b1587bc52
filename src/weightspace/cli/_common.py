"""Shared CLI plumbing: the options every command group uses (defined once), output format, result printing.

Nothing here imports torch: command modules import the library inside their command bodies.
"""

from __future__ import annotations

import enum
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

stdout = Console()
stderr = Console(stderr=True)


class Format(enum.StrEnum):
    human = "human"
    json = "json"


FORMAT_OPTION_HELP = "Output format: 'human' (Rich) or 'json' (machine-readable, on stdout)."

FormatOpt = Annotated[Format, typer.Option("--format", help=FORMAT_OPTION_HELP)]
CkptArg = Annotated[str, typer.Argument(help="A checkpoint file or a run directory (its final checkpoint).")]
DatasetOpt = Annotated[str | None, typer.Option(help="Dataset (default: the one the (first) checkpoint records).")]


def _file_target(value: Path | None) -> Path | None:
    """Option callback: a file output is a regular file or nothing, in a writable folder (checked as parsed,
    for every command; `guard` adds the inputs and --force)."""
    if value is not None:
        from .._files import check_output

        check_output(value, force=True)
    return value


PlotOpt = Annotated[Path | None, typer.Option(help="Also write the figure (PNG) here.", callback=_file_target)]
OutCkptOpt = Annotated[Path, typer.Option(help="The checkpoint file to write (.safetensors).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite an existing output file (train: replace the run "
                                                        "in --out).")]
SeedOpt = Annotated[int, typer.Option(help="Random seed (training, random generators).")]


def guard(out: Path | None, *, inputs: list[str] | tuple[str, ...] = (), force: bool = False,
          folder: bool = False) -> None:
    """Refuse an output before any work (`weightspace._files.check_output`): an input or inside an input's run
    folder, a device or folder where a file goes, an existing file without --force, an unwritable place."""
    if out is not None:
        from .._files import check_output

        check_output(out, inputs=inputs, force=force, folder=folder)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def emit(result: dict, fmt: Format, human: Callable[[dict], None] | None = None) -> None:
    """Print `result`: JSON on stdout for `--format json`, else the human renderer (or key: value lines)."""
    if fmt == Format.json:
        sys.stdout.write(json.dumps(_jsonable(result)) + "\n")
        sys.stdout.flush()
        return
    if human is not None:
        human(result)
        return
    for k, v in result.items():
        if isinstance(v, list | dict):
            continue
        stdout.print(f"[bold]{escape(str(k))}[/bold]: {escape(str(v))}")


def info(msg: str) -> None:
    """Progress and notes go to stderr, never mixed with results."""
    stderr.print(msg)


class progress_bar:
    """A Rich progress bar on stderr fed by library callbacks `(label, {step, total_steps, ...})`; shown only
    on a terminal (piped or captured stderr holds nothing but notes and the one-line error)."""

    def __init__(self, enabled: bool = True):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.enabled = enabled
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[extra]}"), console=stderr, transient=True,
            disable=not (enabled and stderr.is_terminal),
        )
        self.tasks: dict[str, int] = {}

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def __call__(self, label: str, event: dict) -> None:
        if label not in self.tasks:
            self.tasks[label] = self.progress.add_task(label, total=event.get("total_steps"), extra="")
        extra = f"loss {event['loss']:.4f}" if "loss" in event else ""
        self.progress.update(self.tasks[label], completed=event["step"], extra=extra)


# --- --data-root: the folder of local dataset copies, for every command that takes --dataset ---------------------

def _data_root(value: Path | None) -> Path | None:
    """Point `data.load` at the folder: sets this CLI process's WEIGHTSPACE_DATA (the library's default root)."""
    import os

    if value is not None:
        os.environ["WEIGHTSPACE_DATA"] = str(value.expanduser())
    return value


DataRootOpt = Annotated[Path | None, typer.Option(
    "--data-root", callback=_data_root,
    help="Folder of local dataset copies (mnist, cifar10); default: the WEIGHTSPACE_DATA environment variable.")]


# --- bring your own model, data and loss: --model, --model-args, --data, --loss ----------------------------------

ModelOpt = Annotated[str | None, typer.Option(
    "--model", help="Your model: MODULE:FACTORY, MODULE an importable module or a .py file, FACTORY(**model-args) "
                    "returning an nn.Module; checkpoints are then plain state dicts of it.")]
ModelArgsOpt = Annotated[str | None, typer.Option(
    "--model-args", help='JSON object of keyword arguments for the --model factory, e.g. \'{"width": 64}\'.')]
DataOpt = Annotated[str | None, typer.Option(
    "--data", help="Your data: MODULE:FACTORY, FACTORY() returning a weightspace Dataset or a (train, test) pair of "
                   "iterables of (inputs, targets) batches (DataLoaders).")]
LossFnOpt = Annotated[str | None, typer.Option(
    "--loss", help="Your loss: MODULE:FN, FN(outputs, targets) -> scalar tensor (a batch mean); default: "
                   "cross-entropy for labels and tokens, squared error for real targets.")]


def load_object(ref: str, option: str):
    """The object NAME of `MODULE:NAME`, MODULE a dotted module name (the working folder first on the path) or a
    path to a .py file; a ConfigError in one line if it cannot be imported or found."""
    import importlib
    import importlib.util
    import os

    from ..errors import ConfigError

    module_ref, sep, name = ref.rpartition(":")
    if not sep or not module_ref or not name.isidentifier():
        raise ConfigError(f"{option} must be MODULE:NAME (a module or .py file, then a name in it), got {ref!r}")
    try:
        if module_ref.endswith(".py") or os.sep in module_ref:
            path = Path(module_ref).expanduser()
            if not path.is_file():
                raise ConfigError(f"{option} {ref!r}: no such file {path}")
            spec = importlib.util.spec_from_file_location(f"_weightspace_user_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_ref)
    except ConfigError:
        raise
    except Exception as err:  # the user's module may fail in any way: one line naming it
        first = (str(err).splitlines() or [""])[0]
        raise ConfigError(f"{option} {ref!r}: cannot import {module_ref}: {type(err).__name__}: {first}") from None
    if not hasattr(module, name):
        raise ConfigError(f"{option} {ref!r}: {module_ref} has no {name!r}")
    obj = getattr(module, name)
    if not callable(obj):
        raise ConfigError(f"{option} {ref!r}: {name} is a {type(obj).__name__}, not callable")
    return obj


def _call(factory, option: str, ref: str, **kwargs):
    from ..errors import ConfigError, WeightspaceError

    try:
        return factory(**kwargs)
    except WeightspaceError:
        raise
    except Exception as err:  # the user's factory may fail in any way: one line naming it
        first = (str(err).splitlines() or [""])[0]
        raise ConfigError(f"{option} {ref!r} failed: {type(err).__name__}: {first}") from None


def user_model(ref: str, args: str | None = None):
    """The nn.Module that the --model factory returns, called with the --model-args JSON object."""
    from torch import nn

    from ..errors import ConfigError

    try:
        kwargs = json.loads(args) if args else {}
    except json.JSONDecodeError as err:
        raise ConfigError(f"--model-args is not valid JSON: {err}") from None
    if not isinstance(kwargs, dict):
        raise ConfigError(f"--model-args must be a JSON object of keyword arguments, got {args!r}")
    model = _call(load_object(ref, "--model"), "--model", ref, **kwargs)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"--model {ref!r} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def user_data(ref: str):
    """A Dataset, or `data.Splits(train, test)` of the (train, test) pair that the --data factory returns."""
    from ..data import Dataset, Splits
    from ..errors import ConfigError

    data = _call(load_object(ref, "--data"), "--data", ref)
    if isinstance(data, Dataset):
        return data
    if isinstance(data, tuple | list) and len(data) == 2:
        return Splits(*data)
    raise ConfigError(f"--data {ref!r} returned a {type(data).__name__}; return a weightspace Dataset or a (train, "
                      "test) pair of iterables of (inputs, targets) batches")


def user_loss(ref: str | None):
    """The --loss function (None: the conventions)."""
    return None if ref is None else load_object(ref, "--loss")


def open_networks(paths: list[str] | tuple[str, ...], model: str | None = None, model_args: str | None = None):
    """(module at the first network's parameters, checkpoints): of the --model factory, else of the config
    each checkpoint names; all of one architecture (ArchitectureMismatch otherwise)."""
    from ..errors import ArchitectureMismatch
    from ..io import load_checkpoint
    from ..params import check_same_structure

    ckpts = [load_checkpoint(p) for p in paths]
    base = user_model(model, model_args) if model is not None else None
    for c in ckpts[1:]:
        if base is None and c.config != ckpts[0].config:
            raise ArchitectureMismatch(f"{c.path} and {ckpts[0].path} have different model configs; "
                                       "only networks of one architecture can be aligned")
    module = ckpts[0].module(base)
    for c in ckpts[1:]:
        if base is not None:
            c.module(base)  # each state dict is checked to fit the model (missing, extra keys and shapes named)
        check_same_structure(ckpts[0].params, c.params, what=f"{ckpts[0].path} and {c.path}")
    return module, ckpts


def data_of(ckpt, data: str | None, dataset: str | None, **options):
    """The --data factory's data, else the dataset named by --dataset or recorded in the checkpoint."""
    from ..errors import ConfigError

    if data is not None:
        if dataset is not None:
            raise ConfigError("give --data or --dataset, not both")
        return user_data(data)
    if dataset is None and not ckpt.metadata.get("dataset"):
        raise ConfigError(f"{ckpt.path} records no dataset; name one with --dataset NAME or --data MODULE:FACTORY")
    return ckpt.dataset(dataset, **options)
