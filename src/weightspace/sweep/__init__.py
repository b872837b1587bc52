"""Running many independent jobs: a local executor by default, Ray as an optional engine.

A job is a picklable function and its keyword arguments; results come back in order. Jobs whose
outputs already exist are skipped by the callers (every job writes its own run directory
atomically), so an interrupted sweep resumes without losing finished runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .errors import ConfigError

__all__ = ["EXECUTORS", "run_jobs"]

EXECUTORS = ("local", "ray")


def run_jobs(fn: Callable, jobs: Sequence[dict], *, executor: str = "local",
             callback: Callable[[int, int], None] | None = None) -> list:
    """[fn(**job) for job in jobs], locally in order or as Ray tasks (`pip install weightspace[ray]`)."""
    if executor == "local":
        out = []
        for i, job in enumerate(jobs):
            out.append(fn(**job))
            if callback is not None:
                callback(i + 1, len(jobs))
        return out
    if executor == "ray":
        try:
            import ray
        except ImportError:
            raise ConfigError("executor 'ray' needs Ray: pip install 'weightspace[ray]'") from None
        ray.init(ignore_reinit_error=True, log_to_driver=False)
        remote = ray.remote(fn)
        refs = [remote.remote(**job) for job in jobs]
        out = []
        for i, ref in enumerate(refs):
            out.append(ray.get(ref))
            if callback is not None:
                callback(i + 1, len(jobs))
        return out
    raise ConfigError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
