"""A pool worker killed under its job: the sweep goes on with a new pool, reruns the job, leaves no partial folder.

The task lives here, in a module without torch, so that the spawned workers start fast.
"""

import contextlib
import os
import signal
import sqlite3
from pathlib import Path

from weightspace import sweep


@sweep.task("square_or_die", takes=("i", "marker"))
def square_or_die(config, artifacts):
    """i², after a partial write; job i = 2 kills its own worker the first time (SIGKILL)."""
    (artifacts / "partial.txt").write_text("written before the result")
    marker = Path(config["marker"]) / f"died-{config['i']}"
    if config["i"] == 2 and not marker.exists():
        marker.write_text("")
        os.kill(os.getpid(), signal.SIGKILL)
    return {"square": config["i"] ** 2}


def test_a_killed_worker_is_replaced_and_its_job_rerun(tmp_path):
    spec = {"task": "square_or_die", "grid": {"i": [0, 1, 2, 3, 4]}, "fixed": {"marker": str(tmp_path)}}
    records = sweep.run(spec, tmp_path / "out", workers=2)
    assert [(r["status"], r["result"]) for r in records] == [("done", {"square": i * i}) for i in range(5)]
    with contextlib.closing(sqlite3.connect(tmp_path / "out" / "sweep.sqlite")) as db:
        attempts = [a for (a,) in db.execute("SELECT attempts FROM jobs ORDER BY seq")]
    assert attempts[2] == 2 and sum(attempts) <= 5 + 2  # the killed job and at most its pool neighbour again
    jobs = tmp_path / "out" / "jobs"
    assert sorted(p.name for p in jobs.iterdir()) == sorted(r["key"] for r in records)  # no .tmp-* left
    assert all(sorted(p.name for p in (jobs / r["key"]).iterdir()) == ["partial.txt", "result.json"]
               for r in records)
