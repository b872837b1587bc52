"""Wall time of `weightspace count` at the sizes issue 11 found hanging, human and JSON output.

Each command runs in a fresh interpreter (subprocess) `--repeats` times after one warm-up; the figure is the
median wall time, start-up included (`count T` imports no torch; `count components` imports torch via
`weightspace.continuous`). Refused sizes are timed too: the refusal must come at once.

    .venv/bin/python bench/count_bench.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from _timing import median_time

CLI = "from weightspace.cli import main; main()"
COMMANDS = [
    ["T", "--r-star", "3", "--m", "100000"],
    ["T", "--r-star", "3", "--m", "100000", "--format", "json"],
    ["T", "--r-star", "3", "--m", "1000000"],
    ["T", "--r-star", "3", "--m", "1000000", "--format", "json"],
    ["T", "--r-star", "3", "--m", "1000000", "--exact"],
    ["components", "--layers", "60"],
    ["components", "--layers", "60", "--skip", "--format", "json"],
    ["crossover", "--r-star", "1000"],
    ["crossover", "--r-star", "100000"],  # refused: beyond CROSSOVER_R_STAR_MAX
    ["G", "--r", "100000", "--m", "1000000"],  # refused: beyond the power-size limits
]


def _run(args: list[str]) -> int:
    return subprocess.run([sys.executable, "-c", CLI, "count", *args], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per command (median reported)")
    args = parser.parse_args()
    print(f"median of {args.repeats} runs each, {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}")
    print("| command | exit | median wall time (s) |")
    print("|---|---|---|")
    for argv in COMMANDS:
        rc = _run(argv)
        t = median_time(lambda argv=argv: _run(argv), repeats=args.repeats, warmup=0)
        print(f"| `weightspace count {' '.join(argv)}` | {rc} | {t:.2f} |", flush=True)


if __name__ == "__main__":
    main()
