"""The run store: `sweep.sqlite` in the sweep folder, one row per job, written by the driver alone.

Statuses: pending (never started, or stopped before it finished), running, done, failed. Every change
is one transaction, so a killed driver leaves the rows of the last finished job; its `running` rows
are set back to `pending` by the next driver. SQLite's locking needs a local file system.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path

from ..errors import ConfigError

__all__ = ["STATUSES", "Store"]

STATUSES = ("pending", "running", "done", "failed")
FILE = "sweep.sqlite"
COLUMNS = ("key", "task", "config", "status", "result", "error", "attempts", "started", "finished", "host")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sweep (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY, task TEXT NOT NULL, config TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    result TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    started REAL, finished REAL, host TEXT, seq INTEGER NOT NULL
);
"""


class Store:
    """The sweep folder's store. `identity` (when writing) must match the one the store was made with."""

    def __init__(self, folder: str | os.PathLike, *, identity: dict | None = None):
        self.path = Path(folder) / FILE
        if identity is None and not self.path.is_file():
            raise ConfigError(f"{folder} holds no sweep (no {FILE}); run `weightspace sweep run` there first")
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(_SCHEMA)
            if identity is not None:
                self._claim(identity)
        except sqlite3.DatabaseError as err:
            raise ConfigError(f"{self.path} is not a sweep store ({err}); choose another folder") from None

    def _claim(self, identity: dict) -> None:
        text = json.dumps(identity, sort_keys=True)
        with self.db:
            row = self.db.execute("SELECT value FROM sweep WHERE name = 'identity'").fetchone()
            if row is None:
                self.db.execute("INSERT INTO sweep VALUES ('identity', ?)", (text,))
            elif row[0] != text:
                raise ConfigError(f"{self.path.parent} holds another sweep ({row[0]}), not {text}; choose another "
                                  "--out")

    @property
    def identity(self) -> dict:
        row = self.db.execute("SELECT value FROM sweep WHERE name = 'identity'").fetchone()
        return json.loads(row[0]) if row else {}

    def close(self) -> None:
        self.db.close()

    def add(self, jobs) -> None:
        """Rows (pending) for the jobs the store does not hold yet."""
        with self.db:
            seq = self.db.execute("SELECT COALESCE(MAX(seq), -1) FROM jobs").fetchone()[0]
            for job in jobs:
                seq += 1
                self.db.execute("INSERT OR IGNORE INTO jobs (key, task, config, status, seq) VALUES (?, ?, ?, "
                                "'pending', ?)", (job.key, job.task, json.dumps(job.config, sort_keys=True), seq))

    def rows(self, keys=None) -> list[dict]:
        """The records, in the order their jobs were added (all of them, or those of `keys`)."""
        cur = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM jobs ORDER BY seq")
        out = []
        for values in cur.fetchall():
            r = dict(zip(COLUMNS, values, strict=True))
            r["config"] = json.loads(r["config"])
            r["result"] = json.loads(r["result"]) if r["result"] is not None else None
            out.append(r)
        if keys is not None:
            wanted = set(keys)
            out = [r for r in out if r["key"] in wanted]
        return out

    def status(self, key: str) -> str:
        return self.db.execute("SELECT status FROM jobs WHERE key = ?", (key,)).fetchone()[0]

    def running(self, key: str) -> None:
        with self.db:
            self.db.execute("UPDATE jobs SET status = 'running', attempts = attempts + 1, started = ?, finished = "
                            "NULL, error = NULL, host = ? WHERE key = ?", (time.time(), socket.gethostname(), key))

    def done(self, key: str, result: dict) -> None:
        with self.db:
            self.db.execute("UPDATE jobs SET status = 'done', result = ?, error = NULL, finished = ? WHERE key = ?",
                            (json.dumps(result), time.time(), key))

    def failed(self, key: str, error: str) -> None:
        with self.db:
            self.db.execute("UPDATE jobs SET status = 'failed', error = ?, finished = ? WHERE key = ?",
                            (error, time.time(), key))

    def pending(self, keys, note: str | None = None) -> None:
        """Set jobs back to not done (stopped, or their driver died), with a note in `error`."""
        with self.db:
            for key in keys:
                self.db.execute("UPDATE jobs SET status = 'pending', error = ?, finished = NULL WHERE key = ?",
                                (note, key))

    def interrupted(self) -> list[str]:
        """The keys a dead driver left `running`."""
        return [k for (k,) in self.db.execute("SELECT key FROM jobs WHERE status = 'running'").fetchall()]
