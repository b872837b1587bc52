"""Sweeps that survive a kill: jobs with identity, a run store, a local or Ray executor.

A sweep is a task over the cartesian product of a grid (`Sweep`, or a TOML file with `task`, `[grid]`,
`[fixed]`). Each job (task + config) has a key (`Job.key`); the driver (`run`) records every job in
`sweep.sqlite` in the output folder and its artifacts in `jobs/<key>/`, written atomically, so a rerun
skips what is done. Tasks are registered with `@task(name, takes=...)`; built in: `train`, `barrier`,
`width` (see docs/sweeps.md). Ray (`pip install 'weightspace[ray]'`) is started by `run` only.
"""

from ._driver import RECORD_KEYS, results, run, status
from ._executors import EXECUTORS
from ._jobs import TASKS, Job, Sweep, Task, get_task, load_sweep, task
from ._store import STATUSES

__all__ = ["EXECUTORS", "RECORD_KEYS", "STATUSES", "TASKS", "Job", "Sweep", "Task", "get_task", "load_sweep",
           "results", "run", "status", "task"]
