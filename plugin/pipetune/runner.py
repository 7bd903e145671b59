"""Run one component on an engine and record it in the run store.

The tuner starts its trials through two steps (``start_run``, ``finish_run``) so every run
anywhere is recorded the same way; ``run_with_retries`` is a whole run on those steps, retried
from its checkpoints after a failure (the CLI's ``pipetune run``).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pipetune.checkpoints import CHECKPOINTS_ENV, RESUME_ENV, CheckpointStore
from pipetune.components import ComponentSpec
from pipetune.contract import LogMetrics, Results
from pipetune.engines.base import Engine, Phase, ResourceRequest, RunHandle, RunRequest, RunStatus
from pipetune.store import RunRecord, RunStore, new_run_id


@dataclass
class StartedRun:
    """A run that was submitted to an engine and recorded."""

    record: RunRecord
    handle: RunHandle
    engine: Engine
    store: RunStore


def start_run(
    store: RunStore,
    engine: Engine,
    component: ComponentSpec,
    arguments: Mapping[str, Any],
    *,
    parent_id: str | None = None,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    echo: bool = True,
    run_id: str | None = None,
    log_metrics: LogMetrics | None = None,
    resource: ResourceRequest | None = None,
    name: str | None = None,
) -> StartedRun:
    """Record a new run, submit it, and record that it is running (or why it could not start).

    The run is recorded pending before it is submitted, so a crash between the two leaves a
    row naming whatever got started. An engine whose runs live only in this process (its
    ``in_process`` is True: ``FunctionEngine``) has nothing a crash could leave behind, so its
    run is submitted first and recorded once, as it is then (one statement, not two).

    ``arguments`` must already be bound (see :meth:`ComponentSpec.bind`).
    """
    run_id = run_id or new_run_id()
    outputs_dir = store.run_dir(run_id) / "outputs"
    record = RunRecord(
        id=run_id,
        parent_id=parent_id,
        component=component.name,
        component_path=str(component.path.resolve()) if component.path else None,
        parameters=dict(arguments),
        engine=engine.name,
        status=Phase.PENDING.value,
        outputs_dir=str(outputs_dir),
    )
    in_process = bool(getattr(engine, "in_process", False))
    if not in_process:
        store.create(record)
    request = RunRequest(
        run_id=run_id,
        component=component,
        arguments=arguments,
        outputs_dir=outputs_dir,
        timeout=timeout,
        env=env or {},
        echo=echo,
        log_metrics=log_metrics,
        resource=resource,
        name=name,
    )
    try:
        handle = engine.submit(request)
    except BaseException as exc:
        failed: dict[str, Any] = {"status": Phase.FAILED.value, "reason": "SubmitFailed", "message": str(exc),
                                  "finished_at": time.time()}
        if in_process:
            store.create(replace(record, **failed))
        else:
            store.update(run_id, **failed)
        raise
    status = engine.poll(handle)
    command = list(handle.argv)
    if in_process:
        record = store.create(replace(record, **_status_fields(status), command=command))
    else:
        store.update(run_id, **_status_fields(status), command=command)
        record.status = status.phase.value
        record.command = command
    return StartedRun(record, handle, engine, store)


def finish_run(started: StartedRun, status: RunStatus) -> RunRecord:
    """Record a run's final status and results; returns the updated record."""
    results: Results | None = started.engine.results(started.handle)
    store_fields = _status_fields(status)
    if results is not None:
        store_fields["metrics"] = dict(results.metrics)
        store_fields["outputs"] = dict(results.outputs)
    outputs_dir = started.record.outputs_dir
    if outputs_dir and getattr(started.engine, "in_process", False) and not os.path.isdir(outputs_dir):
        # A function run that wrote nothing of its own has no folder (FunctionEngine): say so
        # rather than name a folder that isn't there. Its metrics are in the store.
        store_fields["outputs_dir"] = None
    started.store.update(started.record.id, **store_fields)
    for name, value in store_fields.items():
        setattr(started.record, name, value)
    return started.record


def _status_fields(status: RunStatus) -> dict[str, Any]:
    return {
        "status": status.phase.value,
        "reason": status.reason,
        "message": status.message,
        "started_at": status.started_at,
        "finished_at": status.finished_at,
        "exit_code": status.exit_code,
    }


def checkpoint_env(uri: str, resume: bool = True, fallback: str | None = None) -> dict[str, str]:
    """A run's checkpoint variables: where it writes (``uri``) and, with ``resume``, the newest
    complete checkpoint there to resume from, else the newest in ``fallback`` (a population-based
    training member starts from its parent's)."""
    env = {CHECKPOINTS_ENV: uri}
    latest = CheckpointStore(uri).latest() if resume else None
    if latest is None and fallback is not None:
        latest = CheckpointStore(fallback).latest()
    if latest is not None:
        env[RESUME_ENV] = latest.uri
    return env


class RunEvents:
    """What :func:`run_with_retries` tells its caller as it goes. Each method does nothing;
    a front end overrides those it shows."""

    def resuming(self, checkpoint_uri: str) -> None:
        """The next attempt starts from the complete checkpoint at ``checkpoint_uri``."""

    def started(self, record: RunRecord) -> None:
        """An attempt was submitted and recorded as ``record``."""

    def retrying(self, record: RunRecord, retry: int, retries: int) -> None:
        """Attempt ``record`` ended without success; retry ``retry`` of ``retries`` comes next."""


@dataclass(frozen=True)
class RetriedRun:
    """How :func:`run_with_retries` ended: the last attempt's record, how many attempts ran,
    and the signal that cancelled the last one, if one did."""

    record: RunRecord
    attempts: int
    stopped_by: int | None = None


class _Stop(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def run_with_retries(
    store: RunStore,
    engine: Engine,
    component: ComponentSpec,
    arguments: Mapping[str, Any],
    *,
    retries: int = 0,
    checkpoints: str | None = None,
    timeout: float | None = None,
    echo: bool = True,
    events: RunEvents | None = None,
    stop_signals: Sequence[int] = (),
) -> RetriedRun:
    """Run ``component`` to its end, and again up to ``retries`` times while it fails; each
    attempt is a run of its own in ``store``, and each resumes from the newest complete
    checkpoint in ``checkpoints`` (default: the first attempt's ``outputs/checkpoints``).

    While an attempt runs, ``stop_signals`` (installed only then, so only from the main
    thread) cancel it: it is recorded and returned with ``stopped_by``, and no retry follows.
    ``arguments`` must already be bound (see :meth:`ComponentSpec.bind`).
    """
    if retries < 0:
        raise ValueError(f"retries: expected 0 or more, got {retries}")
    if events is None:
        events = RunEvents()
    first_id = new_run_id()
    # Checkpoints live outside any one attempt, so a retry (or the same run started again with
    # the same checkpoints) resumes from the newest complete one.
    uri = checkpoints or str(store.run_dir(first_id) / "outputs" / "checkpoints")

    def stop(signum: int, _frame: object) -> None:
        raise _Stop(signum)

    attempt = 1
    while True:
        env = checkpoint_env(uri)
        if RESUME_ENV in env:
            events.resuming(env[RESUME_ENV])
        previous = {sig: signal.signal(sig, stop) for sig in stop_signals}
        try:
            started = start_run(
                store, engine, component, arguments, timeout=timeout, echo=echo, env=env,
                run_id=first_id if attempt == 1 else None,
            )
            events.started(started.record)
            try:
                status = engine.wait(started.handle)
            except _Stop as interrupt:
                # A second signal must not interrupt the cancellation it asked for.
                for sig in stop_signals:
                    signal.signal(sig, signal.SIG_IGN)
                engine.cancel(started.handle)
                return RetriedRun(finish_run(started, engine.poll(started.handle)), attempt, interrupt.signum)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        record = finish_run(started, status)
        if record.status == Phase.SUCCEEDED.value or attempt > retries:
            return RetriedRun(record, attempt)
        events.retrying(record, attempt, retries)
        attempt += 1
