"""Run a pipeline plan on this machine: tasks in DAG order, independent ones in parallel, each a
local run recorded under one pipeline run; values and artifacts passed from task to task as
KFP's launcher passes them (``pipetune.kfp``). A failed task starts nothing
downstream and fails the pipeline run, naming it."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipetune.components import ComponentSpec, ContainerSpec
from pipetune.engines.base import Phase
from pipetune.errors import ContractError, SpecError
from pipetune.kfp import executor_input, lightweight_program, read_outputs, substitute, typed
from pipetune.pipeline._kfp import PipelinePlan, TaskPlan, task_needs
from pipetune.programs import local_program
from pipetune.runner import StartedRun, finish_run, start_run
from pipetune.store import RunRecord, RunStore, new_run_id

Say = Callable[[str], None]


@dataclass
class TaskOutcome:
    """A task's end: its run, and the outputs later tasks read."""

    name: str
    run_id: str | None = None
    phase: Phase = Phase.PENDING
    reason: str | None = None
    message: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, tuple[Mapping[str, str], Path]] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class PipelineResult:
    """A finished pipeline run."""

    run_id: str
    succeeded: bool
    tasks: dict[str, TaskOutcome]
    failed_task: str | None = None


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


class Steps:
    """How a kind of pipeline turns its tasks into runs and reads their outputs back."""

    def needs(self, name: str) -> set[str]:
        """The tasks task ``name`` waits for."""
        raise NotImplementedError

    def check(self) -> None:
        """Refuse, before anything runs, what can't run here."""

    def step(self, name: str, outcomes: Mapping[str, TaskOutcome], store: RunStore) -> Step:
        """What task ``name`` runs, given the ``outcomes`` of the tasks it waited for."""
        raise NotImplementedError

    def collect(self, name: str, step: Step, results: Any) -> tuple[dict[str, Any], dict[str, tuple[Mapping[str, str], Path]]]:
        """The task's output parameters and artifacts; ``ContractError`` when one is missing."""
        raise NotImplementedError


@dataclass
class _Prepared:
    argv: list[str]
    env: dict[str, str]
    value: dict[str, Any]
    root: Path


class KfpSteps(Steps):
    """A compiled KFP pipeline's tasks: KFP's executor input and launcher substitutions."""

    def __init__(self, plan: PipelinePlan, values: Mapping[str, Any]) -> None:
        self.plan, self.values = plan, values

    def needs(self, name: str) -> set[str]:
        return task_needs(self.plan.tasks[name])

    def check(self) -> None:
        check_programs(self.plan)

    def step(self, name: str, outcomes: Mapping[str, TaskOutcome], store: RunStore) -> Step:
        task = self.plan.tasks[name]
        prepared = _prepare(task, self.values, outcomes, store)
        return Step(_component(task, prepared), {}, prepared.env, prepared.root.parent.name, prepared)

    def collect(self, name: str, step: Step, results: Any) -> tuple[dict[str, Any], dict[str, tuple[Mapping[str, str], Path]]]:
        task, prepared = self.plan.tasks[name], step.context
        parameters = read_outputs(prepared.value, task.output_parameters)
        return parameters, {k: (kind, prepared.root / "artifacts" / k) for k, kind in task.output_artifacts.items()}


def check_programs(plan: PipelinePlan) -> None:
    """Every task's program must exist here before anything runs: a ``SpecError`` naming the
    task, its image and how to make it run."""
    for task in plan.tasks.values():
        command = list(task.container.get("command") or [])
        if lightweight_program(command) is not None:
            try:
                import kfp.dsl.executor_main  # noqa: F401 - kfp is optional: only a lightweight component runs on it
            except ImportError:
                raise SpecError(f"{plan.source}: task {task.name}: a lightweight Python component needs kfp "
                                "on this machine: pip install 'pipetune[kfp]'") from None
            continue
        if not command or local_program(command[:1]) is None:
            program = command[0] if command else "(none)"
            raise SpecError(
                f"{plan.source}: task {task.name}: image {task.container.get('image')!r} runs {program!r}, which "
                f"is not on this machine; install it so {program!r} is on PATH (the image's tools run here "
                "directly, see README: How an image maps to this machine)")


def run_plan(plan: PipelinePlan, values: Mapping[str, Any], store: RunStore, engine: Any,
             parallel: int = 4, say: Say | None = None) -> PipelineResult:
    """Run a compiled KFP pipeline's ``plan`` with its bound parameter ``values``."""
    return run_steps(plan, KfpSteps(plan, values), values, store, engine, parallel, say)


def run_steps(plan: Any, steps: Steps, values: Mapping[str, Any], store: RunStore, engine: Any,
              parallel: int = 4, say: Say | None = None) -> PipelineResult:
    """Run any plan (``name``, ``tasks``, ``waves``) through its ``steps``; see the module
    docstring."""
    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    steps.check()
    pipeline_id = new_run_id()
    store.create(RunRecord(id=pipeline_id, component=f"pipeline/{plan.name}", engine=engine.name,
                           status=Phase.RUNNING.value, parameters=dict(values),
                           outputs_dir=str(store.run_dir(pipeline_id)), started_at=time.time()))
    say(f"pipeline {plan.name}: run {pipeline_id}, {len(plan.tasks)} task(s)")
    outcomes = {name: TaskOutcome(name) for name in plan.tasks}
    running: dict[str, tuple[StartedRun, Step, float]] = {}
    failed: str | None = None
    needs = {name: steps.needs(name) for name in plan.tasks}
    try:
        while True:
            if failed is None:
                for name in [n for wave in plan.waves for n in wave]:
                    if len(running) >= parallel:
                        break
                    outcome = outcomes[name]
                    if outcome.phase is Phase.PENDING and all(outcomes[n].phase is Phase.SUCCEEDED for n in needs[name]):
                        step = steps.step(name, outcomes, store)
                        started = start_run(store, engine, step.component, step.arguments,
                                            parent_id=pipeline_id, echo=False, run_id=step.run_id, env=step.env)
                        outcome.run_id, outcome.phase = started.record.id, Phase.RUNNING
                        running[name] = (started, step, time.monotonic())
                        say(f"task {name}: started (run {started.record.id})")
            if not running:
                break
            engine.wait_any(0.5)
            for name, (started, step, began) in list(running.items()):
                status = engine.poll(started.handle)
                if not status.phase.final:
                    continue
                del running[name]
                finish_run(started, status)
                outcome = outcomes[name]
                outcome.seconds = time.monotonic() - began
                outcome.phase, outcome.reason, outcome.message = status.phase, status.reason, status.message
                if status.phase is Phase.SUCCEEDED:
                    try:
                        outcome.parameters, outcome.artifacts = steps.collect(name, step, engine.results(started.handle))
                    except ContractError as exc:
                        outcome.phase, outcome.reason, outcome.message = Phase.FAILED, "OutputsMissing", str(exc)
                        store.update(started.record.id, status=Phase.FAILED.value, reason="OutputsMissing",
                                     message=str(exc))
                say(f"task {name}: {outcome.phase.value} in {outcome.seconds:.1f} s"
                    + (f" ({outcome.reason}: {outcome.message})" if outcome.phase is not Phase.SUCCEEDED else ""))
                if outcome.phase is not Phase.SUCCEEDED and failed is None:
                    failed = name
    except BaseException:
        for started, _step, _began in running.values():
            engine.cancel(started.handle)
            finish_run(started, engine.poll(started.handle))
        store.update(pipeline_id, status=Phase.CANCELLED.value, reason="Interrupted", finished_at=time.time())
        raise
    succeeded = failed is None
    skipped = [n for n, o in outcomes.items() if o.phase is Phase.PENDING]
    message = "all tasks succeeded" if succeeded else (
        f"task {failed} failed: {outcomes[failed].message or outcomes[failed].reason}"
        + (f"; not started: {', '.join(skipped)}" if skipped else ""))
    store.update(pipeline_id, status=(Phase.SUCCEEDED if succeeded else Phase.FAILED).value,
                 reason=None if succeeded else "TaskFailed", message=message, finished_at=time.time())
    say(f"pipeline {plan.name}: {'Succeeded' if succeeded else 'Failed'}: {message}")
    return PipelineResult(pipeline_id, succeeded, outcomes, failed)


def _prepare(task: TaskPlan, values: Mapping[str, Any], outcomes: Mapping[str, TaskOutcome],
             store: RunStore) -> _Prepared:
    given: dict[str, Any] = dict(task.defaults)
    artifacts_in: dict[str, tuple[Mapping[str, str], str]] = {}
    for name, source in task.inputs.items():
        kind = task.input_types.get(name, "STRING")
        if source.kind == "constant":
            given[name] = typed(source.value, kind, f"task {task.name}: input {name}")
        elif source.kind == "parameter":
            given[name] = typed(values[source.value], kind, f"task {task.name}: input {name}")
        elif source.artifact:
            artifact_kind, path = outcomes[source.task or ""].artifacts[source.key or ""]
            artifacts_in[name] = (artifact_kind, str(path))
        else:
            given[name] = typed(outcomes[source.task or ""].parameters[source.key or ""], kind,
                                f"task {task.name}: input {name}")
    run_id = new_run_id()
    root = store.run_dir(run_id) / "outputs"
    (root / "parameters").mkdir(parents=True, exist_ok=True)
    (root / "artifacts").mkdir(parents=True, exist_ok=True)
    value = executor_input(given, artifacts_in, list(task.output_parameters), task.output_artifacts, root)
    command = [str(c) for c in task.container.get("command") or []]
    args = [str(a) for a in task.container.get("args") or []]
    env = {str(e["name"]): str(e.get("value", "")) for e in task.container.get("env") or []}
    program = lightweight_program(command)
    if program is not None:
        module = root.parent / "ephemeral_component.py"
        module.write_text(program, encoding="utf-8")
        argv = [sys.executable, "-m", "kfp.dsl.executor_main", "--component_module_path", str(module),
                *substitute(args, value)]
        env["_KFP_RUNTIME"] = "true"
    else:
        argv = substitute(command + args, value)
    return _Prepared(argv, env, value, root)


def _component(task: TaskPlan, prepared: _Prepared) -> ComponentSpec:
    """The task as a component whose command is already resolved (no placeholders left)."""
    return ComponentSpec(name=task.name, container=ContainerSpec(
        image=str(task.container.get("image") or ""), command=tuple(prepared.argv)))
