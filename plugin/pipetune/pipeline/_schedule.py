"""The one scheduler both pipeline kinds run on: KFP's driver and Tekton's reconciler decide,
this loop does the I/O.

A kind of pipeline implements ``Steps.decide``: a function of what has happened so far (every
task instance's ``TaskOutcome``, and the seconds since the run began) that says which task
instances to start now, which to skip and why, which running ones to cancel and why, and,
once nothing more will start, whether the run succeeded. Conditions, loops, exit handlers,
``when``, ``finally``, ``matrix`` and pipeline timeouts are all such decisions, so they live
with their kind, as plain functions over plain data; the loop here starts runs on the engine
(at most ``parallel`` at once), enforces each launch's timeout and retries, records every run
under one pipeline run, and asks again whenever anything changed.

A task instance is named by a *key*: a task's name, or ``name[i]`` for an iteration of a
loop or matrix (a kind chooses its keys; they only need to be unique within a run). A
``Launch`` carries a factory for its ``Step`` rather than the step itself, so a task's run
directory is made when it really starts (and made anew for each retry).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipetune.atomic import atomic_write_text
from pipetune.components import ComponentSpec
from pipetune.engines.base import Engine, Phase
from pipetune.errors import ContractError
from pipetune.runner import StartedRun, finish_run, start_run
from pipetune.signals import interrupts_deferred
from pipetune.store import RunRecord, RunStore, new_run_id

Say = Callable[[str], None]

#: ``TaskOutcome.reason`` of a task instance that was never started because a decision said so.
SKIPPED = "Skipped"


@dataclass
class TaskOutcome:
    """A task instance's state: its run (the latest attempt's), and the outputs later tasks
    read. ``phase`` is ``Pending`` while it waits for a slot; a skipped instance is final
    with ``Cancelled`` and reason ``Skipped`` (see ``skipped``)."""

    name: str
    run_id: str | None = None
    phase: Phase = Phase.PENDING
    reason: str | None = None
    message: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, tuple[Mapping[str, str], Path]] = field(default_factory=dict)
    seconds: float = 0.0
    attempts: int = 0

    @property
    def skipped(self) -> bool:
        """Whether a decision skipped this instance (it never ran)."""
        return self.phase is Phase.CANCELLED and self.reason == SKIPPED

    @property
    def final(self) -> bool:
        """Whether this instance has ended (succeeded, failed, cancelled or skipped)."""
        return self.phase.final


@dataclass
class Step:
    """What one task runs: a component with bound arguments and extra environment, in the run
    ``run_id`` (whose outputs directory the step may have prepared), and what its ``Steps``
    needs afterwards to read its outputs."""

    component: ComponentSpec
    arguments: dict[str, Any]
    env: dict[str, str]
    run_id: str
    context: Any = None


@dataclass(frozen=True)
class Launch:
    """Start the task instance ``key``: ``make`` builds its step (called once per attempt);
    ``timeout`` bounds each attempt in seconds, ``retries`` more attempts follow a failed or
    timed-out one after ``backoff`` seconds (times ``backoff_factor`` for each further one, up
    to ``max_backoff``), and ``task`` names the task ``key`` is an instance of (for
    ``Steps.collect``)."""

    key: str
    make: Callable[[], Step]
    task: str = ""
    timeout: float | None = None
    retries: int = 0
    backoff: float = 0.0
    max_backoff: float = 3600.0
    backoff_factor: float = 2.0


@dataclass(frozen=True)
class Decision:
    """What to do now. ``done`` says nothing more will ever be started; the run ends once
    nothing runs, with ``succeeded``/``message`` (``None``: succeeded when no started instance
    failed). ``ended``: instances that end now without a run (a cache hit, an importer), with
    their outcome; one whose outcome names a ``run_id`` reused that run's outputs, and is
    recorded as a run of its own under the pipeline run, pointing at it."""

    start: Sequence[Launch] = ()
    skip: Mapping[str, str] = field(default_factory=dict)
    cancel: Mapping[str, str] = field(default_factory=dict)
    done: bool = False
    succeeded: bool | None = None
    message: str | None = None
    ended: Mapping[str, TaskOutcome] = field(default_factory=dict)


@dataclass
class PipelineResult:
    """A finished pipeline run."""

    run_id: str
    succeeded: bool
    tasks: dict[str, TaskOutcome]
    failed_task: str | None = None


class Steps:
    """How a kind of pipeline decides what runs and reads task outputs back (see the module
    docstring). ``check`` refuses, before anything runs, what can't run here."""

    def check(self) -> None:
        """Refuse what can't run here: a ``SpecError`` naming the task and the feature."""

    def decide(self, outcomes: Mapping[str, TaskOutcome], elapsed: float, store: RunStore) -> Decision:
        """What to start, skip and cancel given every instance's ``outcomes`` so far (keys
        already present must not be started again) and the run's ``elapsed`` seconds."""
        raise NotImplementedError

    def collect(self, key: str, task: str, step: Step,
                results: Any) -> tuple[dict[str, Any], dict[str, tuple[Mapping[str, str], Path]]]:
        """Instance ``key``'s output parameters and artifacts; ``ContractError`` when one is
        missing."""
        raise NotImplementedError

    def upstream(self, key: str, keys: Collection[str]) -> list[str]:
        """The instances among ``keys`` that instance ``key`` waits for: the edges of the run's
        task graph (``pipeline.json``, drawn by the dashboard). None known by default."""
        return []


class DagSteps(Steps):
    """The plain DAG rule: a task starts when every task it needs has succeeded; after the
    first failure nothing new starts. Subclasses give ``needs``, ``order`` and ``make``."""

    order: Sequence[str] = ()

    def needs(self, name: str) -> set[str]:
        """The tasks task ``name`` waits for."""
        raise NotImplementedError

    def upstream(self, key: str, keys: Collection[str]) -> list[str]:
        return sorted(n for n in self.needs(key) if n in keys)

    def make(self, name: str, outcomes: Mapping[str, TaskOutcome], store: RunStore) -> Step:
        """Task ``name``'s step, given the ``outcomes`` of the tasks it waited for."""
        raise NotImplementedError

    def decide(self, outcomes: Mapping[str, TaskOutcome], elapsed: float, store: RunStore) -> Decision:
        failed = [n for n in self.order if n in outcomes and outcomes[n].final and outcomes[n].phase is not Phase.SUCCEEDED]
        start: list[Launch] = []
        if not failed:
            for name in self.order:
                if name not in outcomes and all(n in outcomes and outcomes[n].phase is Phase.SUCCEEDED
                                                for n in self.needs(name)):
                    start.append(Launch(name, _bind(self.make, name, outcomes, store), name))
        done = bool(failed) or all(n in outcomes for n in self.order) and not start
        if not done:
            return Decision(start=start)
        if not failed:
            return Decision(done=True, succeeded=True, message="all tasks succeeded")
        first = outcomes[failed[0]]
        skipped = [n for n in self.order if n not in outcomes]
        return Decision(done=True, succeeded=False, message=(
            f"task {failed[0]} failed: {first.message or first.reason}"
            + (f"; not started: {', '.join(skipped)}" if skipped else "")))


def _bind(make: Callable[[str, Mapping[str, TaskOutcome], RunStore], Step], name: str,
          outcomes: Mapping[str, TaskOutcome], store: RunStore) -> Callable[[], Step]:
    return lambda: make(name, outcomes, store)


#: The task graph of a pipeline run, in its run folder: ``{"tasks": {key: {"needs": [...],
#: "run_id": ...}}}``, rewritten as instances appear or start (the dashboard reads it live).
GRAPH_FILE = "pipeline.json"


class _Graph:
    """Keeps ``pipeline.json`` up to date: an instance's upstream is asked once, when it
    appears (what it waits for exists by then), and the file is rewritten only on a change."""

    def __init__(self, steps: Steps, folder: Path) -> None:
        self.steps, self.path = steps, folder / GRAPH_FILE
        self.needs: dict[str, list[str]] = {}
        self.written: dict[str, str | None] | None = None

    def update(self, outcomes: Mapping[str, TaskOutcome]) -> None:
        for key in outcomes:
            if key not in self.needs:
                self.needs[key] = [k for k in self.steps.upstream(key, outcomes.keys()) if k != key]
        runs = {key: outcome.run_id for key, outcome in outcomes.items()}
        if runs == self.written:
            return
        tasks = {key: {"needs": self.needs[key], "run_id": run_id} for key, run_id in runs.items()}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps({"tasks": tasks}, indent=1) + "\n")
        except OSError:
            return  # only the dashboard's drawing of edges is lost; the run goes on
        self.written = runs


@dataclass
class _Running:
    launch: Launch
    started: StartedRun
    step: Step
    began: float


def run_steps(name: str, steps: Steps, values: Mapping[str, Any], store: RunStore, engine: Engine[Any],
              parallel: int = 4, say: Say | None = None) -> PipelineResult:
    """Run pipeline ``name`` through its ``steps`` (see the module docstring): one pipeline
    run record with every task instance's run under it. On an interrupt every running task
    is cancelled and recorded, and the pipeline run is recorded ``Cancelled``."""
    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    steps.check()
    pipeline_id = new_run_id()
    store.create(RunRecord(id=pipeline_id, component=f"pipeline/{name}", engine=engine.name,
                           status=Phase.RUNNING.value, parameters=dict(values),
                           outputs_dir=str(store.run_dir(pipeline_id)), started_at=time.time()))
    say(f"pipeline {name}: run {pipeline_id}")
    outcomes: dict[str, TaskOutcome] = {}
    graph = _Graph(steps, store.run_dir(pipeline_id))
    queue: list[Launch] = []
    retry_at: dict[str, tuple[float, Launch]] = {}
    running: dict[str, _Running] = {}
    began = time.monotonic()
    decision = Decision()
    try:
        while True:
            decision = steps.decide(outcomes, time.monotonic() - began, store)
            changed = False
            for key, reason in decision.skip.items():
                if key not in outcomes:
                    outcomes[key] = TaskOutcome(key, phase=Phase.CANCELLED, reason=SKIPPED, message=reason)
                    say(f"task {key}: skipped ({reason})")
                    changed = True
            for key, ended in decision.ended.items():
                if key not in outcomes:
                    if ended.run_id is not None:
                        ended.run_id = _record_reuse(store, engine, pipeline_id, ended)
                    outcomes[key] = ended
                    say(f"task {key}: {ended.phase.value}" + (f" ({ended.reason}: {ended.message})"
                                                              if ended.reason or ended.message else ""))
                    changed = True
            for launch in decision.start:
                if launch.key not in outcomes:
                    outcomes[launch.key] = TaskOutcome(launch.key)
                    queue.append(launch)
                    changed = True
            for key, reason in decision.cancel.items():
                if key in running:
                    engine.cancel(running[key].started.handle)
                    outcomes[key].message = reason
                elif key in outcomes and not outcomes[key].final:
                    queue = [q for q in queue if q.key != key]
                    retry_at.pop(key, None)
                    outcomes[key].phase, outcomes[key].reason, outcomes[key].message = Phase.CANCELLED, "Cancelled", reason
            now = time.monotonic()
            for key, (at, launch) in list(retry_at.items()):
                if at <= now:
                    del retry_at[key]
                    queue.insert(0, launch)
            while queue and len(running) < parallel:
                launch = queue.pop(0)
                # An interrupt between the task's start and ``running`` holding it would leave it
                # running after the pipeline (seen under load): it waits until the handle is kept.
                with interrupts_deferred():
                    running[launch.key] = _start(launch, outcomes[launch.key], store, engine, pipeline_id, say)
            graph.update(outcomes)
            if not running and not queue and not retry_at:
                if decision.done:
                    break
                if not changed:
                    raise RuntimeError(f"pipeline {name}: its decisions started nothing and did not end the run")
                continue
            if running:
                engine.wait_any(0.5)
            else:  # only retries waiting out their backoff
                time.sleep(max(0.0, min(0.5, min(at for at, _ in retry_at.values()) - time.monotonic())))
            for key, current in list(running.items()):
                status = engine.poll(current.started.handle)
                if not status.phase.final:
                    continue
                del running[key]
                finish_run(current.started, status)
                outcome = outcomes[key]
                outcome.seconds += time.monotonic() - current.began
                cancelled_message = outcome.message if status.phase is Phase.CANCELLED else None
                outcome.phase, outcome.reason = status.phase, status.reason
                outcome.message = cancelled_message or status.message
                if status.phase is Phase.SUCCEEDED:
                    try:
                        outcome.parameters, outcome.artifacts = steps.collect(
                            key, current.launch.task or key, current.step, engine.results(current.started.handle))
                    except ContractError as exc:
                        outcome.phase, outcome.reason, outcome.message = Phase.FAILED, "OutputsMissing", str(exc)
                        store.update(current.started.record.id, status=Phase.FAILED.value, reason="OutputsMissing",
                                     message=str(exc))
                launch = current.launch
                if outcome.phase is Phase.FAILED and outcome.attempts <= launch.retries:
                    delay = min(launch.backoff * launch.backoff_factor ** (outcome.attempts - 1),
                                launch.max_backoff) if launch.backoff else 0.0
                    say(f"task {key}: {outcome.phase.value} ({outcome.reason}: {outcome.message}); retry "
                        f"{outcome.attempts} of {launch.retries}" + (f" in {delay:g} s" if delay else ""))
                    outcome.phase = Phase.PENDING
                    retry_at[key] = (time.monotonic() + delay, launch)
                    continue
                say(f"task {key}: {outcome.phase.value} in {outcome.seconds:.1f} s"
                    + (f" ({outcome.reason}: {outcome.message})" if outcome.phase is not Phase.SUCCEEDED else ""))
    except BaseException:
        graph.update(outcomes)
        for current in running.values():
            engine.cancel(current.started.handle)
            finish_run(current.started, engine.poll(current.started.handle))
        store.update(pipeline_id, status=Phase.CANCELLED.value, reason="Interrupted", finished_at=time.time())
        raise
    graph.update(outcomes)
    failed = next((k for k, o in outcomes.items() if o.final and not o.skipped and o.phase is not Phase.SUCCEEDED), None)
    succeeded = decision.succeeded if decision.succeeded is not None else failed is None
    message = decision.message or ("all tasks succeeded" if succeeded else
                                   f"task {failed} failed: {outcomes[failed].message or outcomes[failed].reason}"
                                   if failed else "failed")
    store.update(pipeline_id, status=(Phase.SUCCEEDED if succeeded else Phase.FAILED).value,
                 reason=None if succeeded else "TaskFailed", message=message, finished_at=time.time())
    say(f"pipeline {name}: {'Succeeded' if succeeded else 'Failed'}: {message}")
    return PipelineResult(pipeline_id, succeeded, outcomes, None if succeeded else failed)


def _record_reuse(store: RunStore, engine: Engine[Any], pipeline_id: str, ended: TaskOutcome) -> str:
    """A run record of its own, under the pipeline run, for an instance that ended by reusing
    the outputs of the earlier run ``ended.run_id`` (a cache hit, as KFP records a cached
    execution): that run's parameters and outputs (the reused output parameters when that run's
    record was deleted), its outputs folder, and a message naming it. The new record's id."""
    earlier = store.find(ended.run_id or "")
    now = time.time()
    record = store.create(RunRecord(
        id=new_run_id(), component=ended.name, engine=engine.name, status=ended.phase.value,
        parameters=dict(earlier.parameters) if earlier else {}, parent_id=pipeline_id, reason=ended.reason,
        message=ended.message, started_at=now, finished_at=now,
        outputs_dir=earlier.outputs_dir if earlier else None,
        outputs=earlier.outputs if earlier else dict(ended.parameters) or None))
    return record.id


def _start(launch: Launch, outcome: TaskOutcome, store: RunStore, engine: Engine[Any], pipeline_id: str,
           say: Say) -> _Running:
    step = launch.make()
    started = start_run(store, engine, step.component, step.arguments, parent_id=pipeline_id, echo=False,
                        run_id=step.run_id, env=step.env, timeout=launch.timeout)
    outcome.run_id, outcome.phase = started.record.id, Phase.RUNNING
    outcome.attempts += 1
    say(f"task {launch.key}: started (run {started.record.id})"
        + (f", attempt {outcome.attempts}" if outcome.attempts > 1 else ""))
    return _Running(launch, started, step, time.monotonic())
