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


class Format(str, enum.Enum):
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
