"""A child process in its own process group, its output captured to files and echoed."""

from __future__ import annotations

import codecs
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from pipetune.contract import OUTPUTS_ENV
from pipetune.engines.local._guardian import guardian


class GroupProcess:
    """Runs ``argv`` as the leader of a new process group.

    stdout and stderr go to ``logs_dir/stdout.log`` and ``stderr.log``. With ``echo`` two
    threads copy them line by line to the files and to this process's own stdout and stderr;
    without, the child writes to the files itself and no thread is started (the tuner's case:
    on two cores, starting two threads a trial cost more than starting its process).
    ``on_eof`` is called once the process has exited (or closed its stdout). ``terminate``
    ends the whole group, so nothing the command started outlives it; the group is announced
    to this process's guardian (``_guardian``), so it cannot outlive this process either.

    With ``merge`` stderr goes where stdout goes, one stream in the order it was written (a
    shell's ``1>stdout.log 2>&1``, which is how Katib's StdOut collector sees a container's
    output): there is no ``stderr.log`` and ``stderr_path`` is ``stdout.log``.
    """

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        logs_dir: Path,
        echo: bool = True,
        cwd: str | None = None,
        on_eof: Callable[[], None] | None = None,
        merge: bool = False,
    ) -> None:
        logs_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = logs_dir / "stdout.log"
        self.stderr_path = self.stdout_path if merge else logs_dir / "stderr.log"
        self.started_at = time.time()
        self._pumps: list[threading.Thread] = []
        if echo:
            self.process = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merge else subprocess.PIPE,
                start_new_session=True,
            )
            self._pumps = [_pump(self.process.stdout, self.stdout_path, sys.stdout, on_eof)]
            if not merge:
                self._pumps.append(_pump(self.process.stderr, self.stderr_path, sys.stderr))
        else:
            with open(self.stdout_path, "wb") as out:
                err: IO[bytes] | None = None if merge else open(self.stderr_path, "wb")
                try:
                    self.process = subprocess.Popen(
                        list(argv),
                        env=dict(env),
                        cwd=cwd,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT if err is None else err,
                        start_new_session=True,
                    )
                finally:
                    if err is not None:
                        err.close()
            if on_eof is not None:
                exits().watch(self.process.pid, on_eof)
        self.pgid = self.process.pid
        marked = env.get(OUTPUTS_ENV)
        guardian().guard(self.pgid, f"{OUTPUTS_ENV}={marked}" if marked else None)

    def poll(self) -> int | None:
        code = self.process.poll()
        if code is None and self._pumps and not self._pumps[0].is_alive():
            # stdout is closed, so the process is exiting: give the kernel a moment to reap it
            # rather than leave the caller to find out on its next poll.
            code = self.wait(0.05)
        return code

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def terminate(self, grace: float = 5.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after ``grace`` seconds."""
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if self.process.poll() is not None and not self._group_alive():
                break
            time.sleep(0.05)
        self._signal(signal.SIGKILL)
        self.process.wait()
        guardian().release(self.pgid)

    def finish(self) -> None:
        """After the leader exits: end any process it left behind, drain the logs."""
        self._signal(signal.SIGKILL)
        guardian().release(self.pgid)
        for pump in self._pumps:
            pump.join(timeout=10)

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def _signal(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class _ExitWatcher:
    """One thread for every unechoed process: it waits on their pidfds (readable once the
    process has exited) and calls each one's callback."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        threading.Thread(target=self._run, name="process-exits", daemon=True).start()

    def watch(self, pid: int, callback: Callable[[], None]) -> None:
        try:
            fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            return  # no pidfds (not Linux 5.3+): waiters fall back to their timeout
        with self._lock:
            self._selector.register(fd, selectors.EVENT_READ, callback)
        os.write(self._wake_w, b"x")

    def _run(self) -> None:
        while True:
            # epoll allows registering from another thread while select() waits; the wake-up
            # byte makes select() return so the new fd is in the next round.
            for key, _ in self._selector.select():
                if key.data is None:
                    os.read(self._wake_r, 4096)
                    continue
                with self._lock:
                    self._selector.unregister(key.fd)
                os.close(key.fd)
                key.data()


#: The most bytes the echo pumps read at once: a longer line is copied in pieces, so a run
#: printing one huge line never has it held in memory.
PUMP_READ_BYTES = 64 * 1024

_EXITS: _ExitWatcher | None = None
_EXITS_LOCK = threading.Lock()


def exits() -> _ExitWatcher:
    """The process-wide exit watcher, started on first use."""
    global _EXITS
    with _EXITS_LOCK:
        if _EXITS is None:
            _EXITS = _ExitWatcher()
        return _EXITS


def _pump(
    source: IO[bytes] | None,
    path: Path,
    echo: IO[str] | None,
    on_eof: Callable[[], None] | None = None,
) -> threading.Thread:
    def run() -> None:
        assert source is not None
        sink = echo
        # Incremental: a character split between two pieces of a long line is echoed whole.
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        with open(path, "wb") as log:
            for line in iter(lambda: source.readline(PUMP_READ_BYTES), b""):
                log.write(line)
                log.flush()
                if sink is not None:
                    try:
                        sink.write(decoder.decode(line))
                        sink.flush()
                    except (OSError, ValueError):
                        sink = None  # the terminal went away; keep capturing to the file
            if sink is not None:
                try:
                    sink.write(decoder.decode(b"", final=True))
                    sink.flush()
                except (OSError, ValueError):
                    pass
        source.close()
        if on_eof is not None:
            # stdout closes when the process exits (or closes it): a waiter may look now.
            on_eof()

    thread = threading.Thread(target=run, name=f"pump-{path.name}", daemon=True)
    thread.start()
    return thread
