"""weightspace sweep: run a grid of jobs resumably (run), see where it stands (status), read its results."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ._common import Format, FormatOpt, emit, info, stderr, stdout

app = typer.Typer(no_args_is_help=True)


class ResultsFormat(str, enum.Enum):
    json = "json"
    csv = "csv"


class _Bar:
    """Done / failed / running of a sweep as a Rich progress bar (with ETA) on stderr, on a terminal only."""

    def __init__(self, enabled: bool):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("done {task.fields[done]} · failed {task.fields[failed]} · running "
                                            "{task.fields[running]}"), TextColumn("ETA"), TimeRemainingColumn(),
                                 console=stderr, transient=True, disable=not (enabled and stderr.is_terminal))
        self.task = self.progress.add_task("sweep", total=None, done=0, failed=0, running=0)

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def __call__(self, e: dict) -> None:
        self.progress.update(self.task, total=e["total"], completed=e["done"] + e["failed"], done=e["done"],
                             failed=e["failed"], running=e["running"])


def _counts(records: list[dict]) -> dict:
    out = {s: 0 for s in ("done", "failed", "pending")}
    for r in records:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


@app.command("run")
def sweep_run(
    config: Annotated[Path, typer.Argument(help="The sweep file (TOML): task = \"...\", [grid] of lists, [fixed].")],
    out: Annotated[Path, typer.Option(help="The sweep folder: its store (sweep.sqlite) and jobs/<key>/ artifacts. "
                                           "Keep it on a local file system.")],
    executor: Annotated[str, typer.Option(help="local (a process pool) or ray.")] = "local",
    workers: Annotated[int, typer.Option(help="Local processes (1: in this process) or CPUs of a local Ray "
                                              "instance.")] = 1,
    address: Annotated[str | None, typer.Option(help="Join the Ray cluster at this address (--executor ray).")] =
        None,
    artifacts: Annotated[Path | None, typer.Option(help="The folder of the job folders (default: OUT/jobs); with "
                                                        "--address, a path every Ray node sees (else artifacts come "
                                                        "back to the driver).")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Run failed jobs again.")] = False,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed job.")] = False,
    fmt: FormatOpt = Format.human,
) -> None:
    """Run every job of the sweep not yet done in --out (resumes; a second driver on --out is refused).
    Exit 1 when jobs failed, 130 when interrupted (running jobs are left not done)."""
    from .. import sweep

    spec = sweep.load_sweep(config)
    try:
        with _Bar(fmt == Format.human) as bar:
            records = sweep.run(spec, out, executor=executor, workers=workers, address=address, artifacts=artifacts,
                                retry_failed=retry_failed, fail_fast=fail_fast, callback=bar)
    except KeyboardInterrupt:
        info("interrupted: the running jobs are marked not done; run the same command to resume")
        raise SystemExit(130) from None
    counts = _counts(records)

    def human(r):
        stdout.print(f"{r['done']} done, {r['failed']} failed, {r['pending']} not run, of {len(records)} jobs in "
                     f"{escape(str(out))}")
        for rec in records:
            if rec["status"] == "failed":
                info(f"failed {rec['key']} ({rec['task']}): {escape(str(rec['error']))}")

    emit({**counts, "total": len(records), "out": str(out)}, fmt, human)
    if counts["failed"] or counts["pending"]:
        raise SystemExit(1)


@app.command("status")
def sweep_status(
    folder: Annotated[Path, typer.Argument(help="A sweep folder.")],
    fmt: FormatOpt = Format.human,
) -> None:
    """Jobs done, failed, running and not run, with the errors of the failed ones."""
    from .. import sweep

    s = sweep.status(folder)

    def human(r):
        stdout.print(f"{escape(str(folder))}: task {escape(str(r['sweep'].get('task')))}, {r['total']} jobs: "
                     f"{r['done']} done, {r['failed']} failed, {r['running']} running, {r['pending']} not run "
                     f"({r['attempts']} attempts)")
        for f in r["failures"]:
            stdout.print(f"  failed {f['key']}: {escape(str(f['error']))}")

    emit(s, fmt, human)


def _flat(prefix: str, value, row: dict) -> None:
    import json

    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}", v, row)
    else:
        row[prefix] = json.dumps(value) if isinstance(value, list) else value


@app.command("results")
def sweep_results(
    folder: Annotated[Path, typer.Argument(help="A sweep folder.")],
    fmt: Annotated[ResultsFormat, typer.Option("--format", help="json (a list of records) or csv (one row per "
                                                                "job, config.* and result.* columns).")] =
        ResultsFormat.json,
) -> None:
    """Every job's record: key, task, status, config, result, error."""
    import csv
    import json
    import sys

    from .. import sweep
    from ._common import _jsonable

    records = sweep.results(folder)
    if fmt == ResultsFormat.json:
        sys.stdout.write(json.dumps(_jsonable(records)) + "\n")
        return
    rows = []
    for r in records:
        row = {"key": r["key"], "task": r["task"], "status": r["status"], "error": r["error"]}
        _flat("config", r["config"], row)
        _flat("result", r["result"] or {}, row)
        rows.append(row)
    columns = list(dict.fromkeys(c for row in rows for c in row))
    writer = csv.DictWriter(sys.stdout, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
