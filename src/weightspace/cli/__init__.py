"""The `weightspace` command: thin noun-verb shells over library calls, one module per command group.

train (train), eval | info | spec (inspect), demo (demo), count ... (count), align | barrier | merge |
connectivity (connect), orbit (continuous), hessian | critical | saddle (critical), canonical | distance |
geodesic (quotient), flatness (flatness), curve (curve), sweep run | status | results (sweep). Each module
imports the library inside its command bodies, so `weightspace --help` and `weightspace count T` start
without torch.

Results go to stdout (`--format json` for machines), progress and notes to stderr. Known errors
print one line and exit 2; set WEIGHTSPACE_DEBUG=1 for the traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from ..errors import WeightspaceError

app = typer.Typer(
    name="weightspace",
    help="Loss landscapes modulo weight-space symmetry.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

from . import train, inspect, demo, count, connect, continuous, critical, quotient, flatness, curve, sweep  # noqa: E402, F401, I001  (registration order = help order)

app.add_typer(count.app, name="count", help="Exact counts of symmetry-induced critical sets.")
app.add_typer(sweep.app, name="sweep", help="Grids of jobs that resume: run, status, results.")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, mapping known errors to one line on stderr and exit code 2."""
    debug = os.environ.get("WEIGHTSPACE_DEBUG") == "1"
    try:
        app(args=argv)
    except WeightspaceError as err:
        if debug:
            raise
        sys.stderr.write(f"error: {err}\n")
        raise SystemExit(2) from None
    except OSError as err:
        if debug:
            raise
        sys.stderr.write(f"error: {err.strerror or err}: {err.filename}\n")
        raise SystemExit(2) from None
