"""A work queue of parent keys, as Kubernetes controllers use one: a key is queued at most once,
never processed by two workers at a time, and a key added while it is processed is processed
again afterwards. Adds may be delayed (requeue after N seconds)."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Hashable


class WorkQueue:
    """Thread-safe; ``get`` blocks until a key is due or the queue is shut down (None)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._ready: list[Hashable] = []
        self._queued: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._dirty: set[Hashable] = set()
        self._delayed: list[tuple[float, int, Hashable]] = []
        self._order = itertools.count()
        self._shutdown = False

    def add(self, key: Hashable, after: float = 0.0) -> None:
        """Queue ``key`` now, or in ``after`` seconds (an earlier add wins)."""
        with self._cond:
            if self._shutdown:
                return
            if after > 0:
                heapq.heappush(self._delayed, (time.monotonic() + after, next(self._order), key))
            elif key in self._processing:
                self._dirty.add(key)
            elif key not in self._queued:
                self._queued.add(key)
                self._ready.append(key)
            self._cond.notify()

    def get(self) -> Hashable | None:
        """The next due key, marked as processing until ``done(key)``; None after shutdown."""
        with self._cond:
            while True:
                if self._shutdown:
                    return None
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    _, _, key = heapq.heappop(self._delayed)
                    if key in self._processing:
                        self._dirty.add(key)
                    elif key not in self._queued:
                        self._queued.add(key)
                        self._ready.append(key)
                if self._ready:
                    key = self._ready.pop(0)
                    self._queued.discard(key)
                    self._processing.add(key)
                    return key
                wait = self._delayed[0][0] - now if self._delayed else None
                self._cond.wait(wait)

    def done(self, key: Hashable) -> None:
        """``key`` is processed; queue it again if it was added meanwhile."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                if key not in self._queued:
                    self._queued.add(key)
                    self._ready.append(key)
                self._cond.notify()

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._ready) + len(self._delayed)
