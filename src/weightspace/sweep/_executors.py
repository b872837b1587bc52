"""Where jobs run: in the driver, in a local process pool, or as Ray tasks; and what a job does there.

`execute` is the job as a worker runs it: the task writes into a fresh temporary folder, `result.json`
is added, and the folder is renamed to `jobs/<key>` in one step (or, without a shared folder, its
files go back to the driver, which does the rename). A job that raises comes back as one line of error;
a worker that dies takes only the unfinished temporary folder with it, which the next driver removes.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path

from .._files import write_json
from ..errors import ConfigError, WeightspaceError
from ._jobs import get_task

__all__ = ["EXECUTORS", "Inline", "Local", "Ray", "execute", "pack", "unpack"]

EXECUTORS = ("local", "ray")
TMP_PREFIX = ".tmp-"


def pack(folder: Path) -> dict[str, bytes]:
    """A folder's files as {relative path: bytes} (artifacts travelling between nodes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def unpack(files: dict[str, bytes], folder: Path) -> Path:
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


def one_line(err: BaseException) -> str:
    """A job's error as one line: the package's own message, or the exception type and its first line."""
    text = (str(err).strip().splitlines() or [""])[0]
    return text if isinstance(err, WeightspaceError) else f"{type(err).__name__}: {text}".rstrip(": ")


def execute(task: str, module: str, config: dict, key: str, jobs_dir: str | None, inputs: list,
            threads: int | None = None) -> tuple[str, object, dict | None]:
    """Run one job: ("done", result, files or None) or ("failed", one-line error, None).

    `jobs_dir`: the shared `jobs` folder (artifacts renamed into it), or None (artifacts returned as files).
    `inputs`: the artifact folders of the jobs it needs, as paths or as files.
    """
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="weightspace-job-")))
        folders = [Path(x) if isinstance(x, str) else unpack(x, scratch / f"input-{i}")
                   for i, x in enumerate(inputs)]
        tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{key}-", dir=jobs_dir or scratch))
        try:
            t = get_task(task, module)
            kwargs = {"inputs": folders} if t.needs is not None else {}
            result = t.fn(dict(config), tmp, **kwargs)
            if not isinstance(result, dict):
                raise ConfigError(f"task {task!r} returned {type(result).__name__}, not a dict")
            write_json(tmp / "result.json", result)
        except Exception as err:
            shutil.rmtree(tmp, ignore_errors=True)
            return "failed", one_line(err), None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if jobs_dir is None:
            return "done", result, pack(tmp)
        try:
            os.rename(tmp, Path(jobs_dir) / key)
        except OSError:  # an orphaned worker of a killed driver finished the same job first: the same artifacts
            shutil.rmtree(tmp, ignore_errors=True)
        return "done", result, None


def _worker_init(threads: int) -> None:
    """A pool worker: its share of the threads, Ctrl-C left to the driver, gone when the driver dies."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watch() -> None:
        while True:
            threading.Event().wait(0.2)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def share(workers: int) -> int:
    """Threads per worker: the cores divided among the workers, at most $OMP_NUM_THREADS when it is set."""
    n = max(1, (os.cpu_count() or 1) // workers)
    with contextlib.suppress(ValueError):
        n = min(n, max(1, int(os.environ.get("OMP_NUM_THREADS", n))))
    return n


class Inline:
    """One job at a time in the driver's own process (`--workers 1`): no start-up cost."""

    slots = 1
    jobs_dir_shared = True
    threads = None

    def submit(self, *args) -> cf.Future:
        fut: cf.Future = cf.Future()
        fut.set_result(execute(*args))
        return fut

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


class Local:
    """A pool of `workers` processes (spawned), each with its share of the threads."""

    jobs_dir_shared = True

    def __init__(self, workers: int):
        self.slots = workers
        self.threads = share(workers)
        self._start()

    def _start(self) -> None:
        self.pool = cf.ProcessPoolExecutor(self.slots, mp_context=multiprocessing.get_context("spawn"),
                                           initializer=_worker_init, initargs=(self.threads,))

    def submit(self, *args) -> cf.Future:
        return self.pool.submit(execute, *args)

    def restart(self) -> None:
        """A worker died (killed, out of memory): the pool is broken; start a new one."""
        self.stop()
        self._start()

    def stop(self) -> None:
        """End the workers now (their unfinished jobs are abandoned)."""
        for p in list((getattr(self.pool, "_processes", None) or {}).values()):  # the pool's record of its workers
            p.terminate()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Every job has come back, so the workers are idle: end them now rather than wait for each
        interpreter's exit (about a second with torch loaded)."""
        self.stop()


class Ray:
    """Each job a Ray task with `cpus` CPUs: joining the cluster at `address`, or a local instance with
    `workers` CPUs (started here, shut down by `close`). `shared`: the job folders are visible to every
    node (else the artifacts travel to and from the driver)."""

    def __init__(self, workers: int, *, address: str | None = None, cpus: int = 1, shared: bool = True):
        try:
            import ray
        except ImportError:
            raise ConfigError("executor 'ray' needs Ray: pip install 'weightspace[ray]'") from None
        self.ray = ray
        local = address is None or address == "local"  # "local": a fresh instance, treated like a cluster
        try:
            ray.init(address=address, log_to_driver=False,
                     **({"num_cpus": workers, "include_dashboard": False} if local else {}))
        except Exception as err:
            ray.shutdown()
            raise ConfigError(f"cannot {'start' if local else 'join'} Ray{'' if local else ' at ' + address}: "
                              f"{(str(err).strip().splitlines() or [type(err).__name__])[0]}") from None
        self.jobs_dir_shared = shared
        self.slots = 2 * int(ray.cluster_resources().get("CPU", workers)) // cpus or 1
        self.threads = cpus
        self.remote = ray.remote(num_cpus=cpus, max_retries=0)(execute)
        self.refs: list = []

    def submit(self, *args) -> cf.Future:
        ref = self.remote.remote(*args)
        self.refs.append(ref)
        return ref.future()

    def stop(self) -> None:
        for ref in self.refs:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref, force=True)

    def close(self) -> None:
        self.ray.shutdown()
