"""The in-process engine: runs a Python callable as a run, for ``pipetune.tune(callable)``.

A function taking ``(params)`` gets the trial's parameters; one taking ``(params, trial)``
also gets a :class:`Trial`: ``trial.report(step, **metrics)`` records intermediate values in
that trial's history (``pipetune.report`` inside the function does the same), and
``trial.should_stop()`` answers from the experiment's early stopping, so a trial told to stop
ends ``EarlyStopped``. A failing function's traceback goes to its run's ``logs/stderr.log``.

By default each trial runs in a thread of this process: a notebook's function needs no
pickling, but a timeout is reported and can't stop the function, and a cancelled one runs to
its end with its result ignored. With ``inline=True`` (what ``pipetune.tune`` sets for one
trial at a time with no timeout and no early stopping) a trial with no timeout runs instead on
the thread that waits for it (``wait_any``, ``wait``), in a fresh context as a worker's call:
with one trial at a time a worker thread only added a hand-off each way, most of a trivial
trial's cost. There a Ctrl-C (SIGINT) that arrives while the function runs is the tuner's
interrupt, as it is when the function runs in a worker (the trial is not recorded, a resume runs
it again), while a ``KeyboardInterrupt`` the function raises itself fails its trial as in a
worker. With ``isolation="process"`` each trial runs in a worker
process forked from this one (POSIX): CPU-bound functions run in parallel past the GIL, and a
timeout or a cancel ends the worker. The function's return value and exception travel back
pickled (an exception that can't be pickled comes back as a ``RuntimeError`` with its text).
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import inspect
import math
import multiprocessing
import os
import pickle
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

from pipetune.checkpoints import CHECKPOINTS_ENV, RESUME_ENV
from pipetune.contract import (
    OUTPUTS_ENV,
    TRIAL_INDEX_ENV,
    Results,
    check_results,
    read_results,
    report,
    reporting_to,
    results_path,
    write_results,
)
from pipetune.engines.base import History, Phase, Reason, RunRequest, RunStatus
from pipetune.errors import ContractError, UsageError

Objective = Callable[..., Any]
#: Asked whether a trial with this history is stopped now (the tuner's early stopping).
StopRule = Callable[[History], bool]
#: The reason of a run that stopped itself when its trial was told to.
EARLY_STOPPED = "EarlyStopped"
ISOLATIONS = ("thread", "process")


class Trial:
    """What a Python objective taking ``(params, trial)`` gets: the trial's index, parameters
    and checkpoint directory, a way to report progress, and whether to stop."""

    def __init__(self, run: FunctionRun, stop_rule: StopRule | None) -> None:
        self._run = run
        self._stop_rule = stop_rule
        env = run.request.env
        #: The trial's index in the experiment (0, 1, ...); None outside a tuner.
        self.index: int | None = int(env[TRIAL_INDEX_ENV]) if env.get(TRIAL_INDEX_ENV, "").isdigit() else None
        #: The trial's parameters (a copy of what the function is given).
        self.parameters: dict[str, Any] = dict(run.request.arguments)
        #: Where this trial keeps its checkpoints: one place per trial, the same for a retry
        #: and after a resume (a local folder as a ``Path``, a URI as text); None when the
        #: tuner gives none.
        where = env.get(CHECKPOINTS_ENV)
        self.checkpoint_dir: Path | str | None = where if where is None or "://" in where else Path(where)
        #: The newest complete checkpoint a retried or resumed trial continues from, or None.
        self.resume_from: str | None = env.get(RESUME_ENV)

    def report(self, step: int | None = None, **metrics: float) -> None:
        """Record intermediate metrics for this trial (``pipetune.report`` does the same)."""
        with reporting_to(self._run):
            report(step, **cast(dict[str, Any], metrics))

    def should_stop(self) -> bool:
        """Whether this trial should end now: the experiment's early stopping judges its
        history so far, or the trial was cancelled or ran past its timeout. A trial that
        ends after ``True`` is recorded ``EarlyStopped`` (when early stopping said so)."""
        run = self._run
        if run.stop_requested or run.status.phase.final:
            return True
        if self._stop_rule is not None and self._stop_rule(list(run.history)):
            run.stop_requested = True
            return True
        return False


@dataclass
class FunctionRun:
    """The in-process engine's handle on one run."""

    run_id: str
    request: RunRequest
    argv: list[str]
    status: RunStatus = field(default_factory=lambda: RunStatus(Phase.PENDING))
    collected: Results | None = None
    #: Set once the function's thread is done with this run (returned or raised).
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: What the function reported so far, oldest first.
    history: list[dict[str, float]] = field(default_factory=list)
    #: Set when ``should_stop`` said yes because of early stopping.
    stop_requested: bool = False
    #: What the function raised, for a front end that re-raises it.
    exception: BaseException | None = None
    process: Any = None
    #: Set when a SIGINT arrived while the function ran inline: the tuner's interrupt, not
    #: the function's failure (``FunctionEngine`` with ``inline``).
    interrupted: bool = False

    def report(self, step: int | None, metrics: Mapping[str, float]) -> Path:
        """A ``ReportSink``: the entry joins this run's history."""
        entry: dict[str, float] = {"step": step} if step is not None else {}
        entry.update(metrics)
        with self.lock:
            self.history.append(entry)
        return results_path(self.request.outputs_dir)


class FunctionEngine:
    """Runs ``function(arguments)`` (or ``function(arguments, trial)``) in a thread or, with
    ``isolation="process"``, a worker process. It returns a number (the metric named
    ``metric``), a mapping of metric names to numbers, or nothing when it reported its metrics."""

    name = "in-process"
    local = True
    #: Its runs live only in this process: none outlives a crash (``runner.start_run``).
    in_process = True

    def __init__(
        self,
        function: Objective,
        metric: str,
        *,
        isolation: str = "thread",
        stop_rule: StopRule | None = None,
        inline: bool = False,
    ) -> None:
        if isolation not in ISOLATIONS:
            raise UsageError(f"isolation: expected one of {', '.join(ISOLATIONS)}, got {isolation!r}")
        if isolation == "process" and "fork" not in multiprocessing.get_all_start_methods():
            raise UsageError("isolation='process' needs fork (POSIX); use isolation='thread' here")
        self.function = function
        self.metric = metric
        self.isolation = isolation
        #: Set by the front end to the tuner's early stopping (``Tuner.should_stop_history``).
        self.stop_rule = stop_rule
        self.takes_trial = _takes_trial(function)
        #: Run thread trials without a timeout on the waiting thread (module docstring).
        self.inline = inline and isolation == "thread"
        #: Inline runs submitted and not yet run, oldest first.
        self._queued: collections.deque[FunctionRun] = collections.deque()
        #: What each failed run's function raised, by run id, for a front end that re-raises
        #: it (``pipetune.tune``); taken out by whoever handles it.
        self.errors: dict[str, BaseException] = {}
        self._changed = threading.Event()
        self._workers = _Workers()

    def submit(self, request: RunRequest) -> FunctionRun:
        label = getattr(self.function, "__qualname__", repr(self.function))
        run = FunctionRun(request.run_id, request, [f"{label}(...)"])
        run.status = RunStatus(Phase.RUNNING, started_at=time.time())
        if self.inline and request.timeout is None:
            self._queued.append(run)
            return run
        target = self._call if self.isolation == "thread" else self._call_in_process
        self._workers.run(lambda: self._finally_done(target, run))
        return run

    def _run_queued(self, run: FunctionRun) -> None:
        """An inline run, on this thread, in a fresh context as a worker's call would be. A
        SIGINT meanwhile interrupts the caller (``_call`` lets it through)."""
        with contextlib.ExitStack() as stack:
            if threading.current_thread() is threading.main_thread() and \
                    signal.getsignal(signal.SIGINT) is signal.default_int_handler:

                def interrupted(signum: int, frame: Any) -> None:
                    run.interrupted = True
                    signal.default_int_handler(signum, frame)

                signal.signal(signal.SIGINT, interrupted)
                stack.callback(signal.signal, signal.SIGINT, signal.default_int_handler)
            contextvars.Context().run(self._finally_done, self._call, run)

    def _run_next_queued(self) -> bool:
        """Run the oldest inline run not yet run, unless it was cancelled; whether one was due."""
        if not self._queued:
            return False
        run = self._queued.popleft()
        if not run.status.phase.final:
            self._run_queued(run)
        else:
            run.done.set()
        return True

    @staticmethod
    def _finally_done(target: Callable[[FunctionRun], None], run: FunctionRun) -> None:
        try:
            target(run)
        finally:
            run.done.set()

    # -- in a thread -----------------------------------------------------------------------------

    def _call(self, run: FunctionRun) -> None:
        trial = Trial(run, self.stop_rule)
        try:
            with reporting_to(run):
                arguments = dict(run.request.arguments)
                value = self.function(arguments, trial) if self.takes_trial else self.function(arguments)
        except BaseException as exc:  # noqa: BLE001 - the user's function failed: that is the run's result
            if run.interrupted and isinstance(exc, KeyboardInterrupt):
                raise  # Ctrl-C while it ran inline: the tuner's interrupt (module docstring)
            # KeyboardInterrupt and SystemExit too: uncaught they ended only this thread, and the
            # tuner waited for the run forever. The front end re-raises them after recording.
            self._end(run, None, exc, traceback.format_exc())
            return
        self._end(run, value, None, None)

    # -- in a worker process ---------------------------------------------------------------------

    def _call_in_process(self, run: FunctionRun) -> None:
        context = multiprocessing.get_context("fork")
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(self, run, child), daemon=True,
                                  name=f"trial-{run.run_id}")
        with run.lock:
            if run.status.phase.final:
                return  # cancelled before it started
            process.start()
            run.process = process
        child.close()
        outcome: tuple[Any, ...] | None = None
        try:
            while outcome is None:
                try:
                    message = parent.recv()
                except (EOFError, OSError):
                    break
                kind = message[0]
                if kind == "report":
                    run.report(message[1], message[2])
                elif kind == "should_stop":
                    stop = run.stop_requested or run.status.phase.final or (
                        self.stop_rule is not None and self.stop_rule(list(run.history)))
                    if stop and not run.status.phase.final:
                        run.stop_requested = True
                    parent.send(stop)
                else:
                    outcome = message
        finally:
            parent.close()
            process.join(5)
        if outcome is None:
            code = process.exitcode
            self._end(run, None, RuntimeError(f"the trial's worker process ended (exit code {code})"),
                      f"the trial's worker process ended without a result (exit code {code})\n")
        elif outcome[0] == "value":
            self._end(run, outcome[1], None, None)
        else:
            self._end(run, None, _unpickled(outcome[1], outcome[2]), outcome[3])

    # -- the end of a run ------------------------------------------------------------------------

    def _end(self, run: FunctionRun, value: Any, error: BaseException | None, text: str | None) -> None:
        final: tuple[Phase, str, str | None, Results | None]
        history = list(run.history)
        if run.stop_requested:
            latest = _latest(history)
            stopped = Results(metrics=latest, history=history)
            try:
                write_results(stopped, run.request.outputs_dir)
            except (ContractError, OSError):
                pass  # the history is still the run's: the tuner reads it from the handle
            final = (Phase.SUCCEEDED, EARLY_STOPPED, "stopped when asked (trial.should_stop())", stopped)
        elif error is not None:
            if text:
                _write_error(run, text)
            last = traceback.format_exception_only(type(error), error)[-1].strip()
            if isinstance(error, ContractError):
                final = (Phase.FAILED, Reason.RESULTS_INVALID, str(error), None)
            else:
                final = (Phase.FAILED, "Exception", last, None)
            run.exception = error
            self.errors[run.run_id] = error
        else:
            try:
                outputs = run.request.outputs_dir
                # A function that wrote nothing of its own (no outputs folder) and returned only
                # metrics gets no folder and no results.yaml: its metrics are what the journal
                # and the run store hold, and the two mkdirs and the file were most of a trivial
                # trial's cost. Readers take a run's metrics from the store (``finish_run`` marks
                # such a run as having no outputs folder).
                wrote = outputs.is_dir()
                results = _kept(self._results(value, history), outputs) if wrote else self._results(value, history)
                if wrote or results.outputs or results.artifacts or results.history or results.checkpoint:
                    # Atomic but not synced (the fsyncs and directory syncs were most of a trivial
                    # trial's cost): the tuner never reads this file back, it takes the results
                    # from the handle, and it journals them with an fdatasync (trial_finished) and
                    # puts them in the run store before it goes on. A power loss can take this
                    # file, not a result: what it held is in both, and a resume judges from the
                    # journal.
                    write_results(results, outputs, durable=False)
                else:
                    check_results(results, outputs)
                final = (Phase.SUCCEEDED, Reason.COMPLETED, None, results)
            except ContractError as exc:
                final = (Phase.FAILED, Reason.RESULTS_INVALID, str(exc), None)
        with run.lock:
            if run.status.phase.final:
                return  # cancelled or timed out meanwhile: the result is ignored
            phase, reason, message, collected = final
            run.collected = collected
            run.status = RunStatus(phase, reason, message, started_at=run.status.started_at, finished_at=time.time())
        self._changed.set()

    def _results(self, value: Any, history: list[dict[str, float]]) -> Results:
        if isinstance(value, Mapping):
            metrics = dict(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics = {self.metric: value}
        elif value is None and history:
            metrics = {}  # everything was reported along the way
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
        return Results(metrics={**_latest(history), **{name: float(v) for name, v in metrics.items()}},
                       history=history)

    def poll(self, handle: FunctionRun) -> RunStatus:
        with handle.lock:
            timeout = handle.request.timeout
            status = handle.status
            if not status.phase.final and timeout is not None and status.started_at is not None:
                if time.time() - status.started_at > timeout:
                    stopped = handle.process is not None
                    handle.status = RunStatus(
                        Phase.FAILED, Reason.TIMEOUT,
                        f"exceeded its timeout of {timeout:g}s" + (
                            " (its worker process was ended)" if stopped else
                            " (the function keeps running in its thread; its result will be ignored)"),
                        started_at=status.started_at, finished_at=time.time(),
                    )
                    _end_process(handle)
            return handle.status

    def wait(self, handle: FunctionRun, timeout: float | None = None) -> RunStatus:
        # An inline run is run here, and those submitted before it first, in their order.
        while any(run is handle for run in self._queued) and self._run_next_queued():
            pass
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.poll(handle)
            if status.phase.final or (deadline is not None and time.monotonic() >= deadline):
                return status
            handle.done.wait(0.05)

    def results(self, handle: FunctionRun) -> Results | None:
        return handle.collected

    def wait_any(self, timeout: float) -> None:
        """Block until some function of this engine may have returned, or ``timeout`` passes.
        An inline run waiting to run is run now, on this thread."""
        if self._run_next_queued():
            return
        if self._changed.wait(timeout):
            self._changed.clear()

    def intermediate(self, handle: FunctionRun) -> History:
        """What the function has reported so far (``trial.report``, ``pipetune.report``)."""
        with handle.lock:
            return list(handle.history)

    def reclaim(self, run_id: str, outputs_dir: Path) -> None:
        """Nothing to do: a function run dies with the process that ran it."""

    def close(self) -> None:
        """Nothing to release: function threads are daemons and end with their function;
        worker processes are daemons too."""

    def cancel(self, handle: FunctionRun) -> None:
        with handle.lock:
            if not handle.status.phase.final:
                handle.status = RunStatus(
                    Phase.CANCELLED, Reason.CANCELLED, "cancelled",
                    started_at=handle.status.started_at, finished_at=time.time(),
                )
            _end_process(handle)


class _Workers:
    """The threads trials run in: an idle one takes the next trial, else a new one starts.

    Starting a thread per trial made the tuner wait for the thread to start, a switch between
    threads that costs most of a trivial trial on a busy machine; an idle worker is handed the
    trial without a wait. A worker whose function never returns (a timed-out trial) is simply
    never idle again, so it can't hold up the trials after it. Workers are daemons, as the
    threads were, and each call runs in a fresh context (``contextvars``), as a new thread's.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[Callable[[], None]]] = []

    def run(self, call: Callable[[], None]) -> None:
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(target=self._work, args=(inbox,), daemon=True, name="pipetune-trial").start()
        inbox.put(call)

    def _work(self, inbox: queue.SimpleQueue[Callable[[], None]]) -> None:
        while True:
            call = inbox.get()
            contextvars.Context().run(call)
            with self._lock:
                self._idle.append(inbox)


class _ProcessTrial(Trial):
    """The trial handle inside a worker process: reports and questions go to the parent."""

    def __init__(self, run: FunctionRun, connection: Connection) -> None:
        super().__init__(run, None)
        self._connection = connection

    def report(self, step: int | None = None, **metrics: float) -> None:
        with reporting_to(self._sink()):
            report(step, **cast(dict[str, Any], metrics))

    def _sink(self) -> _PipeSink:
        return _PipeSink(self._run, self._connection)

    def should_stop(self) -> bool:
        self._connection.send(("should_stop",))
        return bool(self._connection.recv())


class _PipeSink:
    def __init__(self, run: FunctionRun, connection: Connection) -> None:
        self.run = run
        self.connection = connection

    def report(self, step: int | None, metrics: Mapping[str, float]) -> Path:
        self.connection.send(("report", step, dict(metrics)))
        return results_path(self.run.request.outputs_dir)


def _worker(engine: FunctionEngine, run: FunctionRun, connection: Connection) -> None:
    """A worker process: run the function once, send back its value or its exception. The
    process is the trial's own, so its environment is the trial's as a program's would be
    (``pipetune.save_checkpoint()`` and ``resume_from()`` find the trial's checkpoints)."""
    os.environ.update(run.request.env)
    os.environ[OUTPUTS_ENV] = str(run.request.outputs_dir)
    trial = _ProcessTrial(run, connection)
    try:
        with reporting_to(trial._sink()):
            arguments = dict(run.request.arguments)
            value = engine.function(arguments, trial) if engine.takes_trial else engine.function(arguments)
        try:
            connection.send(("value", value))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            connection.send(("error", None, f"the objective's return value can't be sent back: {exc}",
                             f"the objective's return value can't be sent back: {exc}\n"))
    except BaseException as exc:  # noqa: BLE001 - sent to the parent, which records the trial
        text = traceback.format_exc()
        try:
            payload: bytes | None = pickle.dumps(exc)
        except Exception:  # noqa: BLE001 - any exception may refuse pickling
            payload = None
        connection.send(("error", payload, traceback.format_exception_only(type(exc), exc)[-1].strip(), text))
    finally:
        connection.close()
        os._exit(0)  # no atexit handlers, no flushing of the parent's buffers twice


def _unpickled(payload: bytes | None, text: str) -> BaseException:
    if payload is not None:
        try:
            found = pickle.loads(payload)
            if isinstance(found, BaseException):
                return found
        except Exception:  # noqa: BLE001 - fall back to the text
            pass
    return RuntimeError(text)


def _end_process(handle: FunctionRun) -> None:
    process = handle.process
    if process is not None and process.is_alive():
        process.kill()


def _kept(results: Results, outputs_dir: Path) -> Results:
    """``results`` with what the function saved itself (``pipetune.checkpoint``,
    ``save_results`` in a worker process): its checkpoint, outputs and artifacts, and metrics
    the return value doesn't replace."""
    if not results_path(outputs_dir).is_file():
        return results
    saved = read_results(outputs_dir)
    return Results(
        metrics={**saved.metrics, **results.metrics},
        outputs=dict(saved.outputs),
        artifacts=dict(saved.artifacts),
        history=results.history or saved.history,
        checkpoint=saved.checkpoint,
    )


def _latest(history: list[dict[str, float]]) -> dict[str, float]:
    latest: dict[str, float] = {}
    for entry in history:
        latest.update({k: v for k, v in entry.items() if k != "step"})
    return latest


def _write_error(run: FunctionRun, text: str) -> None:
    """The traceback in the run's stderr log, as a process's would be."""
    logs = run.request.outputs_dir.parent / "logs"
    try:
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / "stderr.log", "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError:
        pass


def _takes_trial(function: Objective) -> bool:
    """Whether ``function`` takes a second positional argument (the trial handle)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return False
    positional = [
        p for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values())
    return len(positional) >= 2 or (len(positional) == 1 and variadic)
