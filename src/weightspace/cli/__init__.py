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
    from . import commands  # noqa: F401  (registers the commands on `app`)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, mapping known errors to one line on stderr and exit code 2."""
    _register()
    try:
        app(args=argv, standalone_mode=False)
    except WeightspaceError as err:
        if os.environ.get("WEIGHTSPACE_DEBUG") == "1":
            raise
        sys.stderr.write(f"error: {err}\n")
        raise SystemExit(2) from None
    except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
        if os.environ.get("WEIGHTSPACE_DEBUG") == "1":
            raise
        sys.stderr.write(f"error: {err.strerror}: {err.filename}\n")
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    except SystemExit:
        raise
    except Exception as err:  # click usage errors and the like
        import click

        if isinstance(err, click.exceptions.ClickException):
            err.show()
            raise SystemExit(err.exit_code) from None
        if isinstance(err, click.exceptions.Abort):
            raise SystemExit(1) from None
        raise
