"""A child process in its own process group, its output captured to files and echoed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Callable, Mapping, Sequence


class GroupProcess:
    """Runs ``argv`` as the leader of a new process group.

    stdout and stderr go line by line to ``logs_dir/stdout.log`` and ``stderr.log``, and, when
    ``echo`` is set, to this process's own stdout and stderr. ``terminate`` ends the whole
    group, so nothing the command started outlives it.
    """

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        logs_dir: Path,
        echo: bool = True,
        cwd: str | None = None,
        on_eof: Callable[[], None] | None = None,
    ) -> None:
        logs_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = logs_dir / "stdout.log"
        self.stderr_path = logs_dir / "stderr.log"
        self.started_at = time.time()
        self.process = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.pgid = self.process.pid
        self._pumps = [
            _pump(self.process.stdout, self.stdout_path, sys.stdout if echo else None, on_eof),
            _pump(self.process.stderr, self.stderr_path, sys.stderr if echo else None),
        ]

    def poll(self) -> int | None:
        code = self.process.poll()
        if code is None and not self._pumps[0].is_alive():
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

    def finish(self) -> None:
        """After the leader exits: end any process it left behind, drain the logs."""
        self._signal(signal.SIGKILL)
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


def _pump(
    source: IO[bytes] | None,
    path: Path,
    echo: IO[str] | None,
    on_eof: Callable[[], None] | None = None,
) -> threading.Thread:
    def run() -> None:
        assert source is not None
        sink = echo
        with open(path, "wb") as log:
            for line in iter(source.readline, b""):
                log.write(line)
                log.flush()
                if sink is not None:
                    try:
                        sink.write(line.decode("utf-8", errors="replace"))
                        sink.flush()
                    except (OSError, ValueError):
                        sink = None  # the terminal went away; keep capturing to the file
        source.close()
        if on_eof is not None:
            # stdout closes when the process exits (or closes it): a waiter may look now.
            on_eof()

    thread = threading.Thread(target=run, name=f"pump-{path.name}", daemon=True)
    thread.start()
    return thread
