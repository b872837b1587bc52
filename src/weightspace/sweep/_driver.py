"""The driver: the one process that owns a sweep folder, hands jobs to an executor and writes the store.

Folder layout: `sweep.sqlite` (the store), `.lock` (held while a driver runs), `jobs/<key>/` (or
`<artifacts>/<key>/`: each finished job's artifacts and `result.json`). On start the driver removes the
temporary job folders a dead run left, sets its `running` rows back to `pending`, and adopts finished
folders whose row a kill cut short; then it runs what is not done, the jobs a job needs first.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from .._files import RunLock, check_output
from ..errors import ConfigError
from ._executors import EXECUTORS, TMP_PREFIX, Inline, Local, Ray, pack, unpack
from ._jobs import Job, Sweep, get_task, load_sweep
from ._store import Store

__all__ = ["RECORD_KEYS", "results", "run", "status"]

RECORD_KEYS = ("key", "task", "status", "config", "result", "error")
JOBS = "jobs"


def _as_sweep(sweep: Sweep | str | os.PathLike | Mapping) -> Sweep:
    if isinstance(sweep, Sweep):
        return sweep
    if isinstance(sweep, Mapping):
        extra = sorted(set(sweep) - {"task", "grid", "fixed"})
        if extra or "task" not in sweep:
            raise ConfigError(f"a sweep is {{task, grid, fixed}}, got keys {sorted(sweep)}")
        return Sweep(sweep["task"], dict(sweep.get("grid", {})), dict(sweep.get("fixed", {})))
    return load_sweep(sweep)


def _plan(jobs: list[Job]) -> tuple[dict[str, Job], dict[str, list[str]]]:
    """Every job with the jobs it needs (those first, each once), and each job's needed keys."""
    order: dict[str, Job] = {}
    deps: dict[str, list[str]] = {}

    def visit(job: Job) -> str:
        key = job.key
        if key not in order:
            needed = job.needs()
            deps[key] = [visit(n) for n in needed]
            order[key] = job
        return key

    for job in jobs:
        visit(job)
    return order, deps


def _recover(store: Store, jobs_dir: Path) -> None:
    """Undo what a killed driver left: temporary folders, `running` rows, finished folders without a row."""
    for tmp in jobs_dir.glob(f"{TMP_PREFIX}*"):
        shutil.rmtree(tmp, ignore_errors=True)
    store.pending(store.interrupted(), "its driver stopped before it finished")
    for row in store.rows():
        folder, key = jobs_dir / row["key"], row["key"]
        if row["status"] == "done":
            if not (folder / "result.json").is_file():
                store.pending([key], "its artifacts were missing")
        elif (folder / "result.json").is_file():
            store.done(key, json.loads((folder / "result.json").read_text()))
        elif folder.exists():
            shutil.rmtree(folder)


def _install(files: dict, jobs_dir: Path, key: str) -> None:
    """Artifacts returned by a remote worker: unpacked beside their place, then renamed into it."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{key}-", dir=jobs_dir))
    unpack(files, tmp)
    os.rename(tmp, jobs_dir / key)


def _check_executor(executor: str, workers: int, address: str | None) -> None:
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if address is not None and executor != "ray":
        raise ConfigError("--address joins a Ray cluster: give it with --executor ray")


def _executor(executor: str, workers: int, address: str | None, shared: bool):
    if executor == "ray":
        return Ray(workers, address=address, shared=shared)
    return Inline() if workers == 1 else Local(workers)


def _drive(store: Store, ex, plan: dict[str, Job], deps: dict[str, list[str]], jobs_dir: Path, *,
           retry_failed: bool, fail_fast: bool, callback: Callable[[dict], None] | None) -> None:
    status = {r["key"]: r["status"] for r in store.rows(plan)}
    todo = [k for k in plan if status[k] == "pending" or (retry_failed and status[k] == "failed")]
    for k in todo:
        status[k] = "pending"
    in_flight: dict[cf.Future, str] = {}
    deaths: Counter = Counter()
    stopping = False

    def report() -> None:
        if callback is not None:
            counts = Counter(status.values())
            callback({"done": counts["done"], "failed": counts["failed"], "running": counts["running"],
                      "total": len(plan)})

    def inputs(key: str) -> list:
        return [str(jobs_dir / d) if ex.jobs_dir_shared else pack(jobs_dir / d) for d in deps[key]]

    try:
        report()
        while True:
            for k in list(todo):
                failed = [d for d in deps[k] if status[d] == "failed"]
                if failed:
                    store.failed(k, f"it needs job {failed[0]} ({plan[failed[0]].task}), which failed")
                    status[k] = "failed"
                    todo.remove(k)
            ready = [k for k in todo if all(status[d] == "done" for d in deps[k])]
            while ready and len(in_flight) < ex.slots and not stopping:
                k = ready.pop(0)
                todo.remove(k)
                job = plan[k]
                store.running(k)
                status[k] = "running"
                report()
                fut = ex.submit(job.task, get_task(job.task).module, job.config, k,
                                str(jobs_dir) if ex.jobs_dir_shared else None, inputs(k), ex.threads)
                in_flight[fut] = k
            if not in_flight:
                break
            finished, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
            broken = False
            for fut in finished:
                k = in_flight.pop(fut)
                try:
                    outcome, value, files = fut.result()
                except Exception as err:  # the worker died under the job (killed, out of memory, a crash)
                    broken |= isinstance(err, BrokenProcessPool)
                    deaths[k] += 1
                    if deaths[k] >= 2:
                        store.failed(k, "its worker process died twice (killed, or out of memory)")
                        status[k] = "failed"
                    else:
                        store.pending([k], "its worker process died")
                        status[k] = "pending"
                        todo.insert(0, k)
                    continue
                if outcome == "done":
                    if files is not None:
                        _install(files, jobs_dir, k)
                    store.done(k, value)
                    status[k] = "done"
                else:
                    store.failed(k, value)
                    status[k] = "failed"
                    stopping |= fail_fast
            if broken:  # every job of a broken pool comes back failed: collect them all, then a new pool
                cf.wait(in_flight)
                continue_with = list(in_flight.values())
                in_flight.clear()
                store.pending(continue_with, "its worker pool broke")
                for k in continue_with:
                    status[k] = "pending"
                todo[:0] = continue_with
                ex.restart()
            if stopping and in_flight:
                ex.stop()
                store.pending(list(in_flight.values()), "stopped by --fail-fast")
                for k in in_flight.values():
                    status[k] = "pending"
                in_flight.clear()
            report()
            if stopping:
                break
    except BaseException:  # Ctrl-C, or a failure of the driver itself: the workers stop now
        ex.stop()
        raise


def run(
    sweep: Sweep | str | os.PathLike | Mapping,
    out: str | os.PathLike,
    *,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    artifacts: str | os.PathLike | None = None,
    retry_failed: bool = False,
    fail_fast: bool = False,
    callback: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Run every job of `sweep` (a `Sweep`, a TOML file or {task, grid, fixed}) not yet done in the folder `out`.

    Resumes by default: done jobs are skipped, failed ones rerun only with `retry_failed`. `workers`:
    processes of the local pool (1: in this process) or CPUs of a local Ray instance; `address` joins a Ray
    cluster. `artifacts`: the folder of the job folders (default `out/jobs`); with `address`, a path every
    node sees (without it, the artifacts travel back to the driver).
    `callback({done, failed, running, total})` follows every change. Returns the records of the sweep's jobs
    (the jobs they need first), as `results`.
    """
    sweep = _as_sweep(sweep)
    plan, deps = _plan(sweep.jobs())
    root = check_output(out, folder=True)
    jobs_dir = check_output(artifacts, folder=True) if artifacts is not None else root / JOBS
    _check_executor(executor, workers, address)
    root.mkdir(parents=True, exist_ok=True)
    with RunLock(root):
        store = Store(root, identity=sweep.identity)
        try:
            store.add(plan.values())
            jobs_dir.mkdir(parents=True, exist_ok=True)
            _recover(store, jobs_dir)
            ex = _executor(executor, workers, address, shared=address is None or artifacts is not None)
            try:
                _drive(store, ex, plan, deps, jobs_dir, retry_failed=retry_failed, fail_fast=fail_fast,
                       callback=callback)
            finally:
                ex.close()
            return [{k: r[k] for k in RECORD_KEYS} for r in store.rows(plan)]
        except BaseException:  # interrupted (Ctrl-C) or failed: whatever was running is not done
            store.pending(store.interrupted(), "the sweep was interrupted")
            raise
        finally:
            store.close()


def results(folder: str | os.PathLike) -> list[dict]:
    """The records of every job in the sweep folder: key, task, status, config, result, error."""
    store = Store(folder)
    try:
        return [{k: r[k] for k in RECORD_KEYS} for r in store.rows()]
    finally:
        store.close()


def status(folder: str | os.PathLike) -> dict:
    """The sweep's identity, its job counts by status, and the errors of its failed jobs."""
    store = Store(folder)
    try:
        rows = store.rows()
        counts = Counter(r["status"] for r in rows)
        return {"sweep": store.identity, "total": len(rows),
                **{s: counts[s] for s in ("done", "failed", "running", "pending")},
                "attempts": sum(r["attempts"] for r in rows),
                "failures": [{"key": r["key"], "error": r["error"]} for r in rows if r["status"] == "failed"]}
    finally:
        store.close()
