"""One writer per experiment directory: an exclusive OS lock held for a tuner's life.

The lock is ``flock`` on ``<directory>/tuner.lock``: the kernel drops it when the holding
process ends, however it ends (``kill -9`` included), so a lock is never stale and nothing
has to clean it up. The file holds the holder's pid and start time, for the message a second
tuner gets; readers (``pipetune runs``, ``pipetune plot``) never take it. Within one process
the lock is re-entrant for the thread holding it (the CLI takes it before ``--repair`` or
``--fresh`` touch the journal, the tuner again for its run); another thread is refused as
another process would be. A process forked while holding it (a trial worker) closes its
copy, so a worker that outlives its tuner never keeps the lock.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from types import TracebackType

from pipetune.atomic import make_directories
from pipetune.errors import RunError, UsageError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; the lock is a no-op there
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = "tuner.lock"

_held: dict[str, _Held] = {}
_registry = threading.Lock()


class _Held:
    def __init__(self, fd: int, thread: int) -> None:
        self.fd = fd
        self.thread = thread
        self.count = 0


def _close_in_child() -> None:
    # After fork the child shares the parent's open file description: closing the copy keeps
    # the parent's lock; unlocking it (LOCK_UN) would release the parent's.
    for held in list(_held.values()):
        try:
            os.close(held.fd)
        except OSError:
            pass
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)


class ExperimentLock:
    """The lock of one experiment directory; a context manager (``with ExperimentLock(d):``).
    Acquiring raises ``UsageError`` (exit 2) naming the holder when another tuner has it."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILE
        self._entered = 0

    @property
    def held(self) -> bool:
        return self._entered > 0

    def acquire(self) -> None:
        if fcntl is None:
            self._entered += 1
            return
        key = os.path.realpath(self.path)
        with _registry:
            held = _held.get(key)
            if held is not None:
                if held.thread != threading.get_ident():
                    raise UsageError(self._refusal(f"another thread of this process (pid {os.getpid()})"))
                held.count += 1
                self._entered += 1
                return
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise UsageError(self._refusal(holder)) from None
            except OSError as exc:
                os.close(fd)
                raise RunError(f"{self.path}: can't lock the experiment: {exc.strerror or exc}") from None
            _write_holder(fd)
            held = _held[key] = _Held(fd, threading.get_ident())
            held.count = 1
            self._entered += 1

    def release(self) -> None:
        if self._entered == 0:
            return
        self._entered -= 1
        if fcntl is None:
            return
        key = os.path.realpath(self.path)
        with _registry:
            held = _held.get(key)
            if held is None:
                return
            held.count -= 1
            if held.count > 0:
                return
            del _held[key]
            try:
                os.ftruncate(held.fd, 0)
            except OSError:
                pass
            os.close(held.fd)  # closing the only descriptor releases the lock

    def __enter__(self) -> ExperimentLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()

    def _open(self) -> int:
        try:
            make_directories(self.directory)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise RunError(f"{self.path}: can't open the experiment's lock: {exc.strerror or exc}") from None

    def _refusal(self, holder: str) -> str:
        return (
            f"{self.directory}: another tuner is running this experiment ({holder}); wait for it "
            "to end (or stop it) and run again, or use another experiment directory"
        )


def _write_holder(fd: int) -> None:
    """Who holds the lock, for the message another tuner gets (best effort)."""
    info = {"pid": os.getpid(), "started": time.time(), "host": socket.gethostname()}
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    except OSError:
        pass


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "its pid is not recorded yet"
    started = info.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if isinstance(started, (int, float)) else "?"
    host = f" on {info['host']}" if info.get("host") and info.get("host") != socket.gethostname() else ""
    return f"pid {info['pid']}{host}, started {when}"
