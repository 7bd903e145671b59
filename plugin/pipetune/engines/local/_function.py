"""The in-process engine: runs a Python callable as a run, for ``pipetune.tune(callable)``.

A notebook's objective function can't cross a process boundary without pickling, so it runs
in a thread of this process. What that costs, and the process engine does not: a timeout is
reported but can't stop the function, and a cancelled function runs to its end with its
result ignored.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipetune.contract import Results, write_results
from pipetune.engines.base import History, Phase, Reason, RunRequest, RunStatus
from pipetune.errors import ContractError

Objective = Callable[[dict[str, Any]], "float | Mapping[str, float]"]


@dataclass
class FunctionRun:
    """The in-process engine's handle on one run."""

    run_id: str
    request: RunRequest
    argv: list[str]
    status: RunStatus = field(default_factory=lambda: RunStatus(Phase.PENDING))
    collected: Results | None = None
    thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class FunctionEngine:
    """Runs ``function(arguments)`` in a thread. It returns a number (the metric named
    ``metric``) or a mapping of metric names to numbers."""

    name = "in-process"
    local = True

    def __init__(self, function: Objective, metric: str) -> None:
        self.function = function
        self.metric = metric
        self._changed = threading.Event()

    def submit(self, request: RunRequest) -> FunctionRun:
        label = getattr(self.function, "__qualname__", repr(self.function))
        run = FunctionRun(request.run_id, request, [f"{label}(...)"])
        run.status = RunStatus(Phase.RUNNING, started_at=time.time())
        run.thread = threading.Thread(target=self._call, args=(run,), daemon=True, name=f"trial-{request.run_id}")
        run.thread.start()
        return run

    def _call(self, run: FunctionRun) -> None:
        final: tuple[Phase, str, str | None, Results | None]
        try:
            value = self.function(dict(run.request.arguments))
            results = self._results(value)
            write_results(results, run.request.outputs_dir)
            final = (Phase.SUCCEEDED, Reason.COMPLETED, None, results)
        except ContractError as exc:
            final = (Phase.FAILED, Reason.RESULTS_INVALID, str(exc), None)
        except Exception as exc:  # noqa: BLE001 - the user's function failed: that is the run's result
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            final = (Phase.FAILED, "Exception", last, None)
        with run.lock:
            if run.status.phase.final:
                return  # cancelled or timed out meanwhile: the result is ignored
            phase, reason, message, collected = final
            run.collected = collected
            run.status = RunStatus(phase, reason, message, started_at=run.status.started_at, finished_at=time.time())
        self._changed.set()

    def _results(self, value: Any) -> Results:
        if isinstance(value, Mapping):
            metrics = dict(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics = {self.metric: value}
        else:
            raise ContractError(
                f"the objective function returned {value!r}; expected a number or a mapping "
                "of metric names to numbers"
            )
        for name, number in metrics.items():
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
                raise ContractError(
                    f"the objective function returned {name}={number!r}; expected a finite number"
                )
        return Results(metrics={name: float(v) for name, v in metrics.items()})

    def poll(self, handle: FunctionRun) -> RunStatus:
        with handle.lock:
            timeout = handle.request.timeout
            status = handle.status
            if not status.phase.final and timeout is not None and status.started_at is not None:
                if time.time() - status.started_at > timeout:
                    handle.status = RunStatus(
                        Phase.FAILED, Reason.TIMEOUT,
                        f"exceeded its timeout of {timeout:g}s (the function keeps running in its "
                        "thread; its result will be ignored)",
                        started_at=status.started_at, finished_at=time.time(),
                    )
            return handle.status

    def wait(self, handle: FunctionRun, timeout: float | None = None) -> RunStatus:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.poll(handle)
            if status.phase.final or (deadline is not None and time.monotonic() >= deadline):
                return status
            assert handle.thread is not None
            handle.thread.join(0.05)

    def results(self, handle: FunctionRun) -> Results | None:
        return handle.collected

    def wait_any(self, timeout: float) -> None:
        """Block until some function of this engine may have returned, or ``timeout`` passes."""
        if self._changed.wait(timeout):
            self._changed.clear()

    def intermediate(self, handle: FunctionRun) -> History:
        """The function's results' history once it has returned; nothing before."""
        return handle.collected.history if handle.collected is not None else []

    def reclaim(self, run_id: str, outputs_dir: Path) -> None:
        """Nothing to do: a function run dies with the process that ran it."""

    def close(self) -> None:
        """Nothing to release: function threads are daemons and end with their function."""

    def cancel(self, handle: FunctionRun) -> None:
        with handle.lock:
            if not handle.status.phase.final:
                handle.status = RunStatus(
                    Phase.CANCELLED, Reason.CANCELLED, "cancelled",
                    started_at=handle.status.started_at, finished_at=time.time(),
                )
