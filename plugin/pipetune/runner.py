"""Run one component on an engine and record it in the run store.

The CLI's ``pipetune run`` uses it; the tuner starts its trials through the same two steps
(``start_run``, ``finish_run``) so every run anywhere is recorded the same way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
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

    ``arguments`` must already be bound (see :meth:`ComponentSpec.bind`).
    """
    run_id = run_id or new_run_id()
    outputs_dir = store.run_dir(run_id) / "outputs"
    record = store.create(
        RunRecord(
            id=run_id,
            parent_id=parent_id,
            component=component.name,
            component_path=str(component.path.resolve()) if component.path else None,
            parameters=dict(arguments),
            engine=engine.name,
            status=Phase.PENDING.value,
            outputs_dir=str(outputs_dir),
        )
    )
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
        store.update(
            run_id,
            status=Phase.FAILED.value,
            reason="SubmitFailed",
            message=str(exc),
            finished_at=time.time(),
        )
        raise
    status = engine.poll(handle)
    command = list(handle.argv)
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
