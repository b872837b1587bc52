"""Start-up time of the `weightspace` command against `python -c "import typer"`, measured in the same run.

Each command runs in a fresh interpreter (subprocess) `--repeats` times after one warm-up; the figure is
the median wall time. The ratios say how much the CLI adds on top of its argument parser's own import:
`weightspace --help` and `weightspace count T --r-star 3 --m 5` should import neither torch nor scipy nor
matplotlib (target: <= 3x `import typer`).

    .venv/bin/python bench/startup_bench.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from _timing import median_time

CLI = "from weightspace.cli import main; main()"
# the floor of any typer command that parses a value: typer >= 0.2x coerces it through pydantic
TYPER_ONE_OPTION = "import typer\napp = typer.Typer()\n@app.command()\ndef f(m: int = 0):\n    print(m)\napp()"
COMMANDS = {
    'python -c "import typer"': [sys.executable, "-c", "import typer"],
    "weightspace --help": [sys.executable, "-c", CLI, "--help"],
    "weightspace count T --r-star 3 --m 5": [sys.executable, "-c", CLI, "count", "T", "--r-star", "3", "--m", "5"],
    "(reference) a one-option typer app, --m 5": [sys.executable, "-c", TYPER_ONE_OPTION, "--m", "5"],
    '(reference) python -c "import weightspace.cli"': [sys.executable, "-c", "import weightspace.cli"],
}


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per command (median reported)")
    args = parser.parse_args()
    times = {label: median_time(lambda argv=argv: _run(argv), repeats=args.repeats) for label, argv in
             COMMANDS.items()}
    base = times['python -c "import typer"']
    print(f"median of {args.repeats} runs each, {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}")
    print("| command | median wall time (s) | ratio to `import typer` |")
    print("|---|---|---|")
    for label, t in times.items():
        print(f"| `{label}` | {t:.3f} | {t / base:.2f} |")


if __name__ == "__main__":
    main()
