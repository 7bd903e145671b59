"""A guardian process that ends this process's runs when this process dies, however it dies.

A run's processes are in a process group of their own (so a terminal's Ctrl-C reaches the
tuner, not every trial), and a daemon a run starts may be in a session of its own: neither
dies with the tuner. A parent-death signal (Linux ``PR_SET_PDEATHSIG``) reaches only the direct
child and fires when the *thread* that forked it exits, not the process; a cgroup needs
privileges a laptop user rarely has. So the first run started here also starts one small
guardian, in a session of its own, reading a pipe only this process can write to. Each run's
process group (and outputs directory) is announced on it when it starts and withdrawn when it
ends. When the pipe reaches end of file (this process exited, crashed or was SIGKILLed: the
kernel closes the pipe either way) the guardian SIGKILLs every group still announced and
every process still carrying such a run's environment entry (daemons: ``end_marked``), then
exits. On a clean exit nothing is announced, so it ends nothing.

The guardian runs this file as a script with the standard library only, so it starts without
importing pipetune. Elsewhere than Linux the group is still ended; daemons are found through
``/proc``, which only Linux has (documented in README: Processes a run starts).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path


def end_marked(marker: bytes) -> int:
    """SIGKILL the process group of every process whose environment holds the entry
    ``marker`` (``NAME=value``); returns how many groups were signalled. Reads ``/proc``;
    where there is none (not Linux) nothing is found."""
    groups: set[int] = set()
    proc = Path("/proc")
    if not proc.is_dir():
        return 0
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environ:
            try:
                groups.add(os.getpgid(int(entry.name)))
            except ProcessLookupError:
                continue
    own = os.getpgid(0)
    for group in groups - {own}:
        _kill_group(group)
    return len(groups - {own})


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Guardian:
    """This process's guardian (see the module docstring); ``guard`` and ``release`` announce
    and withdraw a run. Starting it is deferred to the first ``guard``; if it cannot be
    started, runs go unguarded (they are still ended by cancel, timeout and resume)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipe: int | None = None
        self._owner = 0
        self._process: subprocess.Popen[bytes] | None = None

    def guard(self, pgid: int, marker: str | None) -> None:
        """Announce a run's process group and (when it has one) the environment entry
        (``NAME=value``) every process of the run carries."""
        self._send(f"+ {pgid} {marker or ''}\n")

    def release(self, pgid: int) -> None:
        """Withdraw a run whose group has been ended."""
        self._send(f"- {pgid}\n")

    def _send(self, line: str) -> None:
        with self._lock:
            if self._owner != os.getpid():  # a forked child must not speak for its parent
                self._pipe, self._owner = None, os.getpid()
                self._start()
            if self._pipe is None:
                return
            try:
                os.write(self._pipe, line.encode())
            except OSError:
                self._pipe = None  # the guardian is gone: go on unguarded

    def _start(self) -> None:
        read, write = os.pipe()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", __file__], stdin=read, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        except OSError:
            os.close(write)
            return
        finally:
            os.close(read)
        self._pipe = write


_GUARDIAN = Guardian()


def guardian() -> Guardian:
    """The guardian of this process's runs."""
    return _GUARDIAN


def main() -> None:
    """The guardian's own loop: remember announced runs until end of file, then end them."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        # The tuner ends runs itself on a signal it handles; the guardian acts only when the
        # tuner is gone, which end of file on its pipe tells reliably.
        signal.signal(sig, signal.SIG_IGN)
    runs: dict[int, str] = {}
    for raw in sys.stdin.buffer:
        parts = raw.decode(errors="replace").rstrip("\n").split(" ", 2)
        if len(parts) >= 2 and parts[1].isdigit():
            if parts[0] == "+":
                runs[int(parts[1])] = parts[2] if len(parts) > 2 else ""
            elif parts[0] == "-":
                runs.pop(int(parts[1]), None)
    for pgid, marker in runs.items():
        _kill_group(pgid)
        if marker:
            end_marked(marker.encode())


if __name__ == "__main__":
    main()
