"""weightspace demo: two digits MLPs, their barriers before and after alignment, and the figure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from . import app
from ._common import Format, FormatOpt, emit, guard, progress_bar, stdout


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the two runs and the plot.")] = Path("out/demo"),
    epochs: int = 20,
    points: int = 25,
    fmt: FormatOpt = Format.human,
) -> None:
    """Train two digits MLPs (64-512-512-10) from two seeds; barriers before and after alignment.

    OUT belongs to the demo: a second demo replaces its runs and its plot."""
    from ..experiments.demo import run_demo
    from ..plots import plot_path_curves, save_figure

    guard(out, folder=True)
    guard(Path(out) / "demo.png", force=True)

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
        stdout.print(f"plot written to {escape(str(res['plot']))}")

    emit(result, fmt, human)
