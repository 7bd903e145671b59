"""The controller's work queue: one entry per key, never two workers on a key, one timer per key."""

from __future__ import annotations

import threading
import time

from pipetune.controller import WorkQueue


def drain(queue: WorkQueue, seconds: float) -> list:
    got = []
    stop = time.monotonic() + seconds

    def work() -> None:
        while True:
            key = queue.get()
            if key is None:
                return
            got.append(key)
            queue.done(key)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    time.sleep(max(0.0, stop - time.monotonic()))
    queue.shutdown()
    thread.join(5)
    return got


def test_repeated_adds_of_a_queued_key_are_processed_once():
    queue = WorkQueue()
    for _ in range(5):
        queue.add("a")
    queue.add("b")
    assert drain(queue, 0.1) == ["a", "b"]


def test_requeues_after_a_delay_keep_one_timer_per_key_the_earliest():
    # Every reconcile of a running parent requeues it: timers must not pile up (a bug found by
    # bench/controller.py: 38 pending timers per parent, 75% of all reconciles).
    queue = WorkQueue()
    for _ in range(20):
        queue.add("a", after=0.05)
    queue.add("a", after=0.5)  # later than the pending one: dropped
    queue.add("b", after=0.3)
    queue.add("b", after=0.02)  # earlier: replaces it
    started = time.monotonic()
    got = drain(queue, 0.4)
    assert got == ["b", "a"], got
    assert time.monotonic() - started < 1.0


def test_a_key_added_while_processed_is_processed_again_afterwards_not_concurrently():
    queue = WorkQueue()
    queue.add("a")
    key = queue.get()
    queue.add("a")
    assert len(queue) == 0  # not queued while a worker holds it
    queue.done(key)
    assert queue.get() == "a"
    queue.done("a")
    queue.shutdown()
    assert queue.get() is None
