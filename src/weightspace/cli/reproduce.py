"""weightspace reproduce | report: re-run every paper claim into a folder, and render its HTML report."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from . import app
from ._common import Format, FormatOpt, emit, info, stdout

_STYLE = {"holds": "green", "does not hold": "red", "inconclusive": "yellow"}


@app.command()
def reproduce(
    which: Annotated[list[str] | None, typer.Argument(
        help="Papers (simsek, brea, sharma, zhao, pittorino), claim ids, or 'all' (default).")] = None,
    budget: Annotated[str, typer.Option(help="smoke (toy sizes, minutes), quick (meaningful verdicts, < 30 min "
                                             "on 2 cores) or full (paper scale).")] = "quick",
    out: Annotated[Path, typer.Option(help="Folder for results.json, report.html and one folder per claim.")]
    = Path("out/reproduce"),
    executor: Annotated[str, typer.Option(help="Where claims run: 'local' (one after another, this process).")]
    = "local",
    force: Annotated[bool, typer.Option("--force", help="Replace results of another commit or budget in OUT.")]
    = False,
    list_: Annotated[bool, typer.Option("--list", help="List the registered claims and exit.")] = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Run the claims of the founding papers, compute each verdict from its threshold, write the report.

    OUT/results.json is rewritten after every claim; a rerun into OUT at the same commit and budget resumes
    (finished claims are kept)."""
    from ..reproduce import BUDGETS, claims, run_claims, select, write_report

    if budget not in BUDGETS:
        from ..errors import ConfigError

        raise ConfigError(f"unknown budget {budget!r}; choose one of {', '.join(BUDGETS)}")
    chosen = select(claims(), which or ["all"])
    if list_:
        emit({"claims": [{"id": r["id"], "paper": r["paper"], "statement": r["statement"]} for r in chosen]}, fmt,
             lambda res: [stdout.print(f"{escape(r['id'])}: {escape(r['statement'])}") for r in res["claims"]])
        return

    def progress(stage: str, event: dict) -> None:
        head = f"[{event['index'] + 1}/{event['total']}] {escape(event['id'])}"
        if stage == "start":
            info(f"{head} running ({budget})")
        else:
            note = " (kept from the earlier run)" if event["kept"] else ""
            style = _STYLE[event["verdict"]]
            info(f"{head} [{style}]{event['verdict']}[/{style}] in {event['seconds']:.1f} s{note}"
                 + (f": [red]{escape(event['error'].splitlines()[0])}[/red]" if event.get("error") else ""))

    command = " ".join(["weightspace reproduce", *map(shlex.quote, which or ["all"]), "--budget", budget, "--out",
                        shlex.quote(str(out)), "--executor", executor] + (["--force"] if force else []))
    results = run_claims(chosen, budget, out, executor=executor, force=force, command=command, callback=progress)
    page = write_report(out)
    _summary(results, page, fmt)
    failed = [k for k, v in results["claims"].items() if v.get("error")]
    if failed:
        info(f"[red]{len(failed)} claim(s) failed to run: {escape(', '.join(failed))} (see {out}/results.json)[/red]")
        raise typer.Exit(1)


@app.command()
def report(folder: Annotated[Path, typer.Argument(help="A folder written by `weightspace reproduce`.")],
           fmt: FormatOpt = Format.human) -> None:
    """Re-render FOLDER/report.html from FOLDER/results.json without re-running anything."""
    from ..reproduce import load_results, write_report

    results = load_results(folder)
    _summary(results, write_report(folder), fmt)


def _summary(results: dict, page: Path, fmt: Format) -> None:
    out = {"report": str(page), "commit": results["commit"], "clean": results["clean"], "budget": results["budget"],
           "seconds": results["seconds"],
           "verdicts": {k: v["verdict"] for k, v in results["claims"].items()}}

    def human(res):
        t = Table("claim", "verdict", "seconds", title=f"budget {res['budget']}, commit {str(res['commit'])[:12]}")
        for k, v in results["claims"].items():
            t.add_row(escape(k), f"[{_STYLE[v['verdict']]}]{v['verdict']}[/]", f"{v['seconds']:.1f}")
        stdout.print(t)
        stdout.print(f"report written to {escape(res['report'])}")

    emit(out, fmt, human)
