"""Interrupts deferred over a few statements that must not be cut in two: a process started
and its handle kept, so whoever handles Ctrl-C or SIGTERM can end it."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

#: The signals a user or a supervisor stops pipetune with.
INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM arriving inside are delivered again, to the handlers in place before,
    once the block has ended.

    Swapping the handlers rather than blocking the signals (``pthread_sigmask``) matters: a
    process started inside would inherit a blocked mask and ignore the SIGTERM that later
    cancels it, while a handled signal is reset to its default by ``exec``. Outside the main
    thread, where no handler can be set, it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, _frame: object) -> None:
        caught.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in INTERRUPTS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)
