"""SIGTERM handled as Ctrl-C is, for the commands that start processes. Its own module: the
dispatcher imports it, and ``pipetune --help`` must stay cheap."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so it ends what it started as Ctrl-C does."""

    exit_code = 128 + signal.SIGTERM


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises ``Terminated`` while inside: the command's own Ctrl-C handling (end the
    running steps, record them) runs for it too, instead of the process dying with its children
    left running. Main thread only, as every signal handler."""

    def stop(signum: int, _frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
