"""Run a pipeline plan on this machine: tasks in DAG order, independent ones in parallel, each a
local run recorded under one pipeline run; values and artifacts passed from task to task as
KFP's launcher passes them (``pipetune.kfp``). A failed task starts nothing
downstream and fails the pipeline run, naming it."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipetune.components import ComponentSpec, ContainerSpec
from pipetune.engines.base import Engine
from pipetune.errors import SpecError
from pipetune.kfp import executor_input, lightweight_program, read_outputs, substitute, typed
from pipetune.pipeline._kfp import PipelinePlan, TaskPlan, task_needs
from pipetune.pipeline._schedule import DagSteps, PipelineResult, Say, Step, TaskOutcome, run_steps
from pipetune.programs import local_program
from pipetune.store import RunStore, new_run_id


@dataclass
class _Prepared:
    argv: list[str]
    env: dict[str, str]
    value: dict[str, Any]
    root: Path


class KfpSteps(DagSteps):
    """A compiled KFP pipeline's tasks: KFP's executor input and launcher substitutions."""

    def __init__(self, plan: PipelinePlan, values: Mapping[str, Any]) -> None:
        self.plan, self.values = plan, values
        self.order = [n for wave in plan.waves for n in wave]

    def needs(self, name: str) -> set[str]:
        return task_needs(self.plan.tasks[name])

    def check(self) -> None:
        check_programs(self.plan)

    def make(self, name: str, outcomes: Mapping[str, TaskOutcome], store: RunStore) -> Step:
        task = self.plan.tasks[name]
        prepared = _prepare(task, self.values, outcomes, store)
        return Step(_component(task, prepared), {}, prepared.env, prepared.root.parent.name, prepared)

    def collect(self, key: str, task_name: str, step: Step,
                results: Any) -> tuple[dict[str, Any], dict[str, tuple[Mapping[str, str], Path]]]:
        task, prepared = self.plan.tasks[task_name], step.context
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


def run_plan(plan: PipelinePlan, values: Mapping[str, Any], store: RunStore, engine: Engine[Any],
             parallel: int = 4, say: Say | None = None) -> PipelineResult:
    """Run a compiled KFP pipeline's ``plan`` with its bound parameter ``values``."""
    return run_steps(plan.name, KfpSteps(plan, values), values, store, engine, parallel, say)


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
