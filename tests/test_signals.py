"""interrupts_deferred: a SIGTERM inside the block reaches the handler only after it, and a
process started inside still dies of SIGTERM (a blocked signal mask would be inherited)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from pipetune.signals import interrupts_deferred


class Stopped(Exception):
    pass


def test_an_interrupt_inside_is_delivered_when_the_block_ends() -> None:
    def stop(signum: int, _frame: object) -> None:
        raise Stopped(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    done = []
    try:
        with pytest.raises(Stopped):
            with interrupts_deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                done.append("the block went on to its end")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert done == ["the block went on to its end"]
    assert signal.getsignal(signal.SIGTERM) is previous


def test_a_process_started_inside_still_ends_on_sigterm() -> None:
    with interrupts_deferred():
        child = subprocess.Popen([sys.executable, "-c", "import sys, time; print('up', flush=True); time.sleep(300)"],
                                 stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "up\n"
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == -signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
