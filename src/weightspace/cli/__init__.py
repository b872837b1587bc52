"""The `weightspace` command: thin noun-verb shells over library calls.

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


def _register() -> None:
    from . import commands, connect, continuous, critical  # noqa: F401  (importing registers the commands)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, mapping known errors to one line on stderr and exit code 2."""
    _register()
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
