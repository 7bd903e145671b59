"""A work queue of parent keys, as Kubernetes controllers use one: a key is queued at most once,
never processed by two workers at a time, and a key added while it is processed is processed
again afterwards. Adds may be delayed (requeue after N seconds)."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """Thread-safe; ``get`` blocks until a key is due or the queue is shut down (None)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._ready: list[K] = []
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._delayed: list[tuple[float, int, K]] = []
        #: The one pending timer of each key: a later requeue of a key already due sooner is
        #: dropped, so timers never pile up (each reconcile of a running parent requeues it).
        self._due: dict[K, float] = {}
        self._order = itertools.count()
        self._shutdown = False
        #: When each queued key became due: the start of the latency ``since`` reports.
        self._since: dict[K, float] = {}
        self._processing_since: dict[K, float] = {}

    def add(self, key: K, after: float = 0.0) -> None:
        """Queue ``key`` now, or in ``after`` seconds (an earlier add wins)."""
        with self._cond:
            if self._shutdown:
                return
            if after > 0:
                due = time.monotonic() + after
                if self._due.get(key, float("inf")) <= due:
                    return
                self._due[key] = due
                heapq.heappush(self._delayed, (due, next(self._order), key))
            elif key in self._processing:
                self._dirty.add(key)
                self._since.setdefault(key, time.monotonic())
            elif key not in self._queued:
                self._queue(key)
            self._cond.notify()

    def _queue(self, key: K) -> None:
        self._queued.add(key)
        self._ready.append(key)
        self._since.setdefault(key, time.monotonic())

    def get(self) -> K | None:
        """The next due key, marked as processing until ``done(key)``; None after shutdown."""
        with self._cond:
            while True:
                if self._shutdown:
                    return None
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    due, _, key = heapq.heappop(self._delayed)
                    if self._due.get(key) != due:
                        continue  # superseded by an earlier timer for the same key
                    del self._due[key]
                    if key in self._processing:
                        self._dirty.add(key)
                        self._since.setdefault(key, now)
                    elif key not in self._queued:
                        self._queue(key)
                if self._ready:
                    key = self._ready.pop(0)
                    self._queued.discard(key)
                    self._processing.add(key)
                    self._processing_since[key] = self._since.pop(key, now)
                    return key
                wait = self._delayed[0][0] - now if self._delayed else None
                self._cond.wait(wait)

    def since(self, key: K) -> float | None:
        """When the key being processed became due (``time.monotonic``): how long a change
        waited for its reconcile is measured from here."""
        with self._cond:
            return self._processing_since.get(key)

    def done(self, key: K) -> None:
        """``key`` is processed; queue it again if it was added meanwhile."""
        with self._cond:
            self._processing.discard(key)
            self._processing_since.pop(key, None)
            if key in self._dirty:
                self._dirty.discard(key)
                if key not in self._queued:
                    self._queue(key)
                self._cond.notify()

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._ready) + len(self._delayed)
