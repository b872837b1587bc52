"""Run claims into a folder: one sub-folder per claim, DIR/results.json rewritten atomically after each claim.

An interrupted run resumes: claims already finished at the same commit and budget are kept. A folder holding
results of another commit or budget (or unreadable results) is refused unless `force`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .._files import RunLock, check_output, write_json
from ..errors import ConfigError, OutputError
from ._registry import BUDGETS
from ._verdict import INCONCLUSIVE, verdict

__all__ = ["RESULTS", "environment", "load_results", "run_claims"]

RESULTS = "results.json"
EXECUTORS = ("local",)


def _git(*args: str, cwd: Path) -> str | None:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True, cwd=cwd).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def environment(out: Path) -> dict:
    """Commit, whether the work tree is clean (changes under `out` itself not counted), versions, cores."""
    import torch

    from .. import __version__

    here = Path(__file__).resolve().parent
    head, top = _git("rev-parse", "HEAD", cwd=here), _git("rev-parse", "--show-toplevel", cwd=here)
    clean = None
    if head is not None and top is not None:
        root = Path(top.strip())
        status = _git("status", "--porcelain", "--untracked-files=all", cwd=root) or ""
        try:
            own = Path(out).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            own = None
        dirty = [line[3:].strip('"') for line in status.splitlines() if line.strip()]
        clean = not [p for p in dirty if own is None or own == "." or not (p == own or p.startswith(own + "/"))]
    return {"commit": head.strip() if head else None, "clean": clean, "weightspace": __version__,
            "torch": torch.__version__, "python": platform.python_version(),
            "platform": f"{platform.system()} {platform.machine()}", "cores": os.cpu_count(),
            "threads": torch.get_num_threads()}


def load_results(folder: str | os.PathLike) -> dict:
    """DIR/results.json of a reproduce run; a one-line error when there is none or it is unreadable."""
    path = Path(folder) / RESULTS
    if not path.is_file():
        raise OutputError(f"{folder} holds no {RESULTS}; run `weightspace reproduce ... --out {folder}` first")
    try:
        results = json.loads(path.read_text())
        results["claims"].items()
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise OutputError(f"{path} is not a results file of `weightspace reproduce` (unreadable)") from None
    return results


def _previous(out: Path, env: dict, budget: str, force: bool) -> dict:
    """Finished claims to keep from an earlier run in `out` (same commit and budget), or a refusal."""
    if not (out / RESULTS).exists() or force:
        return {}
    try:
        old = load_results(out)
    except OutputError as err:
        raise OutputError(f"{err}; pass --force to replace it") from None
    if old.get("commit") != env["commit"]:
        raise OutputError(f"{out} holds results of commit {str(old.get('commit'))[:12]}, not "
                          f"{str(env['commit'])[:12]}; choose another --out or pass --force to replace them")
    if old.get("budget") != budget:
        raise OutputError(f"{out} holds results of budget {old.get('budget')!r}, not {budget!r}; choose another "
                          "--out or pass --force to replace them")
    return {k: v for k, v in old["claims"].items() if v.get("error") is None and (out / k).is_dir()}


def _jsonable(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def _run_one(record: dict, budget: str, out: Path) -> dict:
    """Run one claim into out/<id> (written beside it first, renamed when done) and compute its verdict."""
    partial = out / f".{record['id']}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    kwargs = record["budgets"][budget]
    t0 = time.perf_counter()
    entry = {k: record[k] for k in ("id", "paper", "statement", "measures", "threshold", "direction")}
    entry["budget"] = kwargs
    try:
        got = record["run"](partial, **kwargs)
        figures = list(got.get("figures", []))
        absent = [f for f in figures if not (partial / f).is_file()]
        if absent:
            raise ConfigError(f"claim {record['id']} names figures it did not write: {', '.join(absent)}")
        entry.update(value=got["value"], verdict=verdict(got["value"], record["threshold"], record["direction"],
                                                         got.get("inconclusive")),
                     inconclusive=got.get("inconclusive"), measurements=got.get("measurements", {}),
                     seeds=list(got.get("seeds", [])), construction=got.get("construction", ""),
                     figures=[f"{record['id']}/{f}" for f in figures], error=None)
    except (KeyboardInterrupt, SystemExit):
        shutil.rmtree(partial, ignore_errors=True)
        raise
    except Exception as err:  # one failing claim is reported, the others still run
        entry.update(value=None, verdict=INCONCLUSIVE, inconclusive=f"the run failed: {type(err).__name__}: "
                     f"{str(err).splitlines()[0] if str(err) else ''}", measurements={}, seeds=[], construction="",
                     figures=[], error=f"{type(err).__name__}: {err}")
    entry["seconds"] = round(time.perf_counter() - t0, 3)
    final = out / record["id"]
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    return _jsonable(entry)


def run_claims(
    records: list[dict],
    budget: str,
    out: str | os.PathLike,
    *,
    executor: str = "local",
    force: bool = False,
    command: str | None = None,
    callback: Callable[[str, dict], None] | None = None,
) -> dict:
    """Run `records` at `budget` into `out`; returns (and writes to out/results.json) the results.

    `seconds` in the results is the sum of the claims' run times (kept ones included), `wall_seconds` this call's.
    `callback(stage, event)` gets ("start", {id, index, total}) and ("done", {..., verdict, seconds, kept}).
    """
    if budget not in BUDGETS:
        raise ConfigError(f"unknown budget {budget!r}; choose one of {', '.join(BUDGETS)}")
    if executor not in EXECUTORS:
        raise ConfigError(f"executor {executor!r} is not supported by reproduce yet; only 'local' (claims run one "
                          "after another in this process)")
    out = check_output(out, folder=True)
    out.mkdir(parents=True, exist_ok=True)
    with RunLock(out):
        env = environment(out)
        kept = _previous(out, env, budget, force)
        results = {"budget": budget, "command": command, **env, "executor": executor,
                   "started": datetime.now(UTC).isoformat(timespec="seconds"), "finished": None,
                   "seconds": 0.0, "wall_seconds": 0.0, "claims": dict(kept)}
        t0 = time.perf_counter()
        for i, record in enumerate(records):
            event = {"id": record["id"], "index": i, "total": len(records)}
            if callback is not None:
                callback("start", event)
            entry = kept.get(record["id"]) or _run_one(record, budget, out)
            results["claims"][record["id"]] = entry
            results["seconds"] = round(sum(c["seconds"] for c in results["claims"].values()), 3)
            results["wall_seconds"] = round(time.perf_counter() - t0, 3)
            write_json(out / RESULTS, results)
            if callback is not None:
                callback("done", {**event, "verdict": entry["verdict"], "seconds": entry["seconds"],
                                  "kept": record["id"] in kept, "error": entry.get("error")})
        results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        results["wall_seconds"] = round(time.perf_counter() - t0, 3)
        write_json(out / RESULTS, results)
    return results
