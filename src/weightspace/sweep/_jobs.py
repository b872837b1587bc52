"""Jobs with identity: the task table, a job's key, a sweep's grid and its TOML file.

A job is a task name and a config (a JSON object); its key is the first 16 hex digits of
SHA-256(canonical JSON of {task, config, version}), so the same cell of any grid, run anywhere, has one
key, and a new package version recomputes everything. Seeds are config keys: never call order.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

__all__ = ["TASKS", "Job", "Sweep", "Task", "get_task", "load_sweep", "task"]

_BUILTIN = "weightspace.sweep._tasks"


@dataclass(frozen=True)
class Task:
    """A registered task: `fn(config, artifacts) -> dict` (plus `inputs=` when it `needs` other jobs)."""

    name: str
    fn: Callable
    takes: frozenset[str]
    needs: Callable[[dict], list[Job]] | None = None
    module: str = ""


TASKS: dict[str, Task] = {}


def task(name: str, *, takes, needs: Callable[[dict], list[Job]] | None = None) -> Callable:
    """Register `fn(config: dict, artifacts: Path) -> dict` as the task `name` taking the config keys `takes`.

    `needs(config) -> [Job]` names the jobs whose artifact folders the task reads: they run first, and
    `fn(config, artifacts, inputs=[Path, ...])` gets their folders in that order.
    """
    def register(fn: Callable) -> Callable:
        TASKS[name] = Task(name, fn, frozenset(takes), needs, fn.__module__)
        return fn
    return register


def get_task(name: str, module: str | None = None) -> Task:
    """The task `name`, importing the built-in tasks (and `module`, where a user task is registered) first."""
    importlib.import_module(_BUILTIN)
    if module and name not in TASKS:
        importlib.import_module(module)
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]


def _canonical(obj) -> str:
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"a job config must be JSON (strings, finite numbers, booleans, lists, tables): {err}") \
            from None


@dataclass(frozen=True)
class Job:
    """One cell of a sweep: a task and its config."""

    task: str
    config: dict = field(hash=False)

    @property
    def key(self) -> str:
        from .. import __version__

        text = _canonical({"task": self.task, "config": self.config, "version": __version__})
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def needs(self) -> list[Job]:
        t = get_task(self.task)
        return t.needs(self.config) if t.needs is not None else []


@dataclass(frozen=True)
class Sweep:
    """`task` over the cartesian product of `grid` (key -> list of values), each cell merged with `fixed`."""

    task: str
    grid: dict
    fixed: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = get_task(self.task)
        if not isinstance(self.grid, Mapping) or not self.grid:
            raise ConfigError(f"the grid of task {self.task!r} is empty: give [grid] at least one key with a list "
                              "of values")
        for k, v in self.grid.items():
            if not isinstance(v, list) or not v:
                raise ConfigError(f"grid key {k!r} must be a non-empty list of values, got {v!r}")
        both = sorted(set(self.grid) & set(self.fixed))
        if both:
            raise ConfigError(f"{both[0]!r} is both a grid key and a fixed key; give it once")
        unknown = sorted((set(self.grid) | set(self.fixed)) - t.takes)
        if unknown:
            raise ConfigError(f"task {self.task!r} takes no key {unknown[0]!r}; it takes: {', '.join(sorted(t.takes))}")
        _canonical({"grid": self.grid, "fixed": self.fixed})

    @property
    def identity(self) -> dict:
        """What makes two sweeps the same one (a grid may grow in place: its new cells are new keys)."""
        return {"task": self.task, "fixed": self.fixed}

    def jobs(self) -> list[Job]:
        keys = list(self.grid)
        return [Job(self.task, {**self.fixed, **dict(zip(keys, cell, strict=True))})
                for cell in itertools.product(*(self.grid[k] for k in keys))]


def load_sweep(path: str | os.PathLike) -> Sweep:
    """Read a sweep file: `task = "..."`, a `[grid]` table of lists and an optional `[fixed]` table."""
    import tomllib

    p = Path(path)
    try:
        spec = tomllib.loads(p.read_text())
    except OSError as err:
        raise ConfigError(f"cannot read the sweep file {p}: {err.strerror or err}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{p} is not a TOML sweep file: {str(err).splitlines()[0]}") from None
    extra = sorted(set(spec) - {"task", "grid", "fixed"})
    if extra:
        raise ConfigError(f"{p}: unknown top-level key {extra[0]!r}; a sweep file has task, [grid] and [fixed]")
    if not isinstance(spec.get("task"), str):
        raise ConfigError(f"{p} names no task: add task = \"train\" (or another registered task)")
    for name in ("grid", "fixed"):
        if not isinstance(spec.get(name, {}), dict):
            raise ConfigError(f"{p}: {name} must be a table ([{name}])")
    return Sweep(spec["task"], spec.get("grid", {}), spec.get("fixed", {}))
