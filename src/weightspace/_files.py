"""Files the package writes: the output guard, atomic writes, and the lock of a run folder.

`check_output` refuses a target before any work is done: one that is (or lies inside the run folder of) an
input, one that exists but is not a regular file (a device, a folder), an existing file without `force`,
and a location that cannot be written. `atomic_path` writes a hidden temporary file beside the target and
renames it over the target; write errors (full disk, permissions) name the target, never the temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import OutputError

__all__ = ["atomic_path", "check_output", "write_json", "RunLock"]


RUN_MARKERS = ("final.safetensors", "metrics.json", ".lock")


def _run_folder(path: Path) -> Path | None:
    """The run folder an input belongs to: a run directory itself, or the run directory (a folder holding
    final.safetensors, metrics.json or a lock) that holds a checkpoint file; None for a loose file."""
    if path.is_dir():
        return path
    return path.parent if any((path.parent / m).exists() for m in RUN_MARKERS) else None


def _writable_folder(folder: Path) -> None:
    """Refuse a folder (or its nearest existing ancestor) that cannot be written."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OutputError(f"cannot write under {folder}: {probe} is not a folder")
    try:  # a probe file: permissions, read-only file systems and pseudo file systems alike
        fd, name = tempfile.mkstemp(prefix=".weightspace-probe-", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        raise OutputError(f"cannot write under {folder}: {err.strerror or err}") from None


def check_output(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike] = (), force: bool = False,
                 folder: bool = False) -> Path:
    """Refuse an output `path` before any work: an input or inside an input's run folder, a non-regular
    target, an existing file without `force`, an unwritable location. `folder=True` for a run folder."""
    target = Path(path)
    resolved = target.resolve()
    for given in inputs:
        src = Path(given)
        if not src.exists():
            continue
        src_resolved, run = src.resolve(), _run_folder(src)
        inside = run is not None and (resolved == run.resolve() or run.resolve() in resolved.parents)
        if resolved == src_resolved or inside:
            raise OutputError(f"refusing to write {target}: it is, or lies inside the run folder of, the input "
                              f"{given}; choose another output")
    if folder:
        if target.exists() and not target.is_dir():
            raise OutputError(f"{target} exists and is not a folder; choose another output")
        _writable_folder(target)
        return target
    if target.exists() or target.is_symlink():
        mode = os.stat(target).st_mode if target.exists() else 0
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            raise OutputError(f"{target} exists and is {kind}; name a file to write")
        if not force:
            raise OutputError(f"{target} exists; pass --force to overwrite it")
        if not os.access(target, os.W_OK):
            raise OutputError(f"cannot overwrite {target}: it is not writable")
    _writable_folder(target.parent)
    return target


def _failure(target: Path, err: BaseException) -> OutputError:
    """A write error as one line naming the target (never the temporary file)."""
    no_space = getattr(err, "errno", None) == errno.ENOSPC or "no space left" in str(err).lower()
    reason = "no space left on the device" if no_space else (getattr(err, "strerror", None) or str(err).splitlines()[0])
    return OutputError(f"could not write {target}: {reason}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` (a regular file or nothing),
    on error it is removed and the error names `path`."""
    target = Path(path)
    if target.exists() and not target.is_file():
        raise OutputError(f"{target} exists and is not a regular file; name a file to write")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as err:
        raise _failure(target, err) from None
    try:
        try:
            yield Path(tmp)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file ordinary permissions
            if target.exists() and not target.is_file():  # appeared meanwhile: never replace a device or folder
                raise OutputError(f"{target} exists and is not a regular file; name a file to write")
            os.replace(tmp, target)
        except OutputError:
            raise
        except Exception as err:
            if isinstance(err, OSError) or type(err).__name__ == "SafetensorError":
                raise _failure(target, err) from None
            raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj) -> None:
    """Write `obj` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


class RunLock:
    """`folder/.lock`, held with `fcntl.flock` while a run writes and holding "pid host" for the message.

    The kernel drops the lock when its process dies, so a killed run's leftover file is simply taken by the
    next writer; a writer that finds the file replaced between its open and its lock (the holder released
    it) retries on the new file, so two writers never both hold a lock. Released (removed) on exit.
    """

    NAME = ".lock"

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder) / self.NAME
        self._fd: int | None = None

    def _holder(self) -> tuple[int, str] | None:
        try:
            pid, host = self.path.read_text().split(maxsplit=1)
            return int(pid), host.strip()
        except (OSError, ValueError):
            return None

    def acquire(self) -> None:
        import fcntl  # POSIX only; imported here so that importing weightspace works everywhere

        me = f"{os.getpid()} {socket.gethostname()}\n"
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise _failure(self.path.parent, err) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                holder = self._holder()
                who = f"process {holder[0]} on {holder[1]}" if holder else "another process"
                raise OutputError(f"{self.path.parent} is being written by {who} (lock {self.path}); wait for it "
                                  "to finish") from None
            try:
                current = os.stat(self.path).st_ino
            except FileNotFoundError:
                current = None
            if current != os.fstat(fd).st_ino:  # released and removed by its holder meanwhile: lock the new one
                os.close(fd)
                continue
            try:
                os.ftruncate(fd, 0)
                os.write(fd, me.encode())
            except OSError as err:
                self.path.unlink()
                os.close(fd)
                raise _failure(self.path.parent, err) from None
            self._fd = fd
            return

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # while still locked: a waiting writer then sees a new file and retries
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
