"""A compiled KFP v2 pipeline (the IR YAML ``kfp.compiler`` writes) as a plan ``pipetune
pipeline run`` can execute: its parameters, its tasks with where each input comes from, and
the order they may run in. Pure: it reads the parsed document and checks it, naming the file
and the field on any problem (an IR version pipetune does not know, a task whose input names
an output its producer does not declare, a cycle).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipetune.errors import SpecError
from pipetune.kfp import typed

#: The pipeline IR versions pipetune reads: what kfp 2.x compilers write.
SCHEMA_VERSIONS = ("2.1.0",)


@dataclass(frozen=True)
class Source:
    """Where a task input comes from: a ``constant``, a pipeline ``parameter`` or another
    task's output (``task``, ``key``); ``artifact`` for an artifact input."""

    kind: str
    value: Any = None
    task: str | None = None
    key: str | None = None
    artifact: bool = False


@dataclass(frozen=True)
class TaskPlan:
    """One task: its component's container, its inputs' sources, what it must wait for."""

    name: str
    component: str
    container: Mapping[str, Any]
    inputs: Mapping[str, Source]
    after: tuple[str, ...]
    input_types: Mapping[str, str] = field(default_factory=dict)
    output_parameters: Mapping[str, str] = field(default_factory=dict)
    output_artifacts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelinePlan:
    """A pipeline ready to run: its parameters (name -> (type, default or None)), its tasks and
    their order as waves of tasks that may run together."""

    name: str
    source: str
    parameters: Mapping[str, tuple[str, Any]]
    tasks: Mapping[str, TaskPlan]
    waves: tuple[tuple[str, ...], ...]


def kfp_plan(document: Any, source: str) -> PipelinePlan:
    """The plan of a compiled KFP pipeline (the first YAML document of its file)."""
    if not isinstance(document, Mapping) or "root" not in document or "components" not in document:
        raise SpecError(f"{source}: not a compiled KFP pipeline (no root and components); "
                        "compile it with kfp.compiler.Compiler().compile(...)")
    version = document.get("schemaVersion")
    if version not in SCHEMA_VERSIONS:
        raise SpecError(f"{source}: schemaVersion: pipetune reads KFP pipeline IR {', '.join(SCHEMA_VERSIONS)} "
                        f"(what kfp 2.x compiles), got {version!r} (sdkVersion {document.get('sdkVersion')!r})")
    root = document["root"]
    parameters = {
        name: (str(spec.get("parameterType")), spec.get("defaultValue"))
        for name, spec in ((root.get("inputDefinitions") or {}).get("parameters") or {}).items()
    }
    components = document["components"]
    executors = ((document.get("deploymentSpec") or {}).get("executors")) or {}
    tasks: dict[str, TaskPlan] = {}
    for name, task in ((root.get("dag") or {}).get("tasks") or {}).items():
        where = f"{source}: root.dag.tasks.{name}"
        if task.get("triggerPolicy") or task.get("iteratorPolicy") or task.get("parameterIterator") \
                or task.get("artifactIterator"):
            raise SpecError(f"{where}: conditions and loops (dsl.If, dsl.ParallelFor) are not run by "
                            "pipetune pipeline run yet")
        ref = ((task.get("componentRef") or {}).get("name")) or ""
        component = components.get(ref)
        if component is None:
            raise SpecError(f"{where}.componentRef.name: {ref!r} is not in components")
        if "dag" in component:
            raise SpecError(f"{where}: a nested pipeline (sub-DAG {ref}) is not run by pipetune pipeline run yet")
        container = (executors.get(component.get("executorLabel")) or {}).get("container")
        if not isinstance(container, Mapping):
            raise SpecError(f"{where}: component {ref} has no container executor in deploymentSpec")
        tasks[name] = _task(name, task, ref, component, container, parameters, where)
    for plan in tasks.values():
        _check_sources(plan, tasks, source)
    return PipelinePlan(str((document.get("pipelineInfo") or {}).get("name") or "pipeline"), source,
                        parameters, tasks, waves(tasks, source))


def _task(name: str, task: Mapping[str, Any], ref: str, component: Mapping[str, Any], container: Mapping[str, Any],
          parameters: Mapping[str, Any], where: str) -> TaskPlan:
    inputs: dict[str, Source] = {}
    given = task.get("inputs") or {}
    for key, spec in (given.get("parameters") or {}).items():
        if "runtimeValue" in spec:
            inputs[key] = Source("constant", value=(spec["runtimeValue"] or {}).get("constant"))
        elif "componentInputParameter" in spec:
            pipeline_parameter = spec["componentInputParameter"]
            if pipeline_parameter not in parameters:
                raise SpecError(f"{where}.inputs.parameters.{key}: pipeline parameter {pipeline_parameter!r} "
                                "is not declared")
            inputs[key] = Source("parameter", value=pipeline_parameter)
        elif "taskOutputParameter" in spec:
            out = spec["taskOutputParameter"]
            inputs[key] = Source("task", task=out.get("producerTask"), key=out.get("outputParameterKey"))
        else:
            raise SpecError(f"{where}.inputs.parameters.{key}: expected a constant, a pipeline parameter or a "
                            f"task output, got {json.dumps(spec)}")
    for key, spec in (given.get("artifacts") or {}).items():
        out = spec.get("taskOutputArtifact")
        if not out:
            raise SpecError(f"{where}.inputs.artifacts.{key}: only artifacts from other tasks are run here "
                            f"(importers are not), got {json.dumps(spec)}")
        inputs[key] = Source("task", task=out.get("producerTask"), key=out.get("outputArtifactKey"), artifact=True)
    definitions = component.get("inputDefinitions") or {}
    outputs = component.get("outputDefinitions") or {}
    return TaskPlan(
        name=name,
        component=ref,
        container=container,
        inputs=inputs,
        after=tuple(task.get("dependentTasks") or ()),
        input_types={k: str(v.get("parameterType")) for k, v in (definitions.get("parameters") or {}).items()},
        output_parameters={k: str(v.get("parameterType")) for k, v in (outputs.get("parameters") or {}).items()},
        output_artifacts={k: dict(v.get("artifactType") or {}) for k, v in (outputs.get("artifacts") or {}).items()},
        defaults={k: v["defaultValue"] for k, v in (definitions.get("parameters") or {}).items() if "defaultValue" in v},
    )


def _check_sources(plan: TaskPlan, tasks: Mapping[str, TaskPlan], source: str) -> None:
    for key, given in plan.inputs.items():
        if given.kind != "task":
            continue
        where = f"{source}: root.dag.tasks.{plan.name}.inputs.{'artifacts' if given.artifact else 'parameters'}.{key}"
        producer = tasks.get(given.task or "")
        if producer is None:
            raise SpecError(f"{where}: producer task {given.task!r} is not in the pipeline")
        declared = producer.output_artifacts if given.artifact else producer.output_parameters
        if given.key not in declared:
            raise SpecError(f"{where}: task {given.task!r} has no output {given.key!r}; it declares "
                            f"{', '.join(sorted(declared)) or 'none'}")


def waves(tasks: Mapping[str, TaskPlan], source: str) -> tuple[tuple[str, ...], ...]:
    """Tasks in waves: each wave's tasks depend only on earlier waves (explicit dependencies
    and data), so a wave's tasks may run together; a cycle is a ``SpecError`` naming it."""
    return waves_of({name: task_needs(plan) for name, plan in tasks.items()}, source)


def task_needs(task: TaskPlan) -> set[str]:
    """The tasks ``task`` waits for: its explicit dependencies and the producers of its inputs."""
    return set(task.after) | {s.task for s in task.inputs.values() if s.kind == "task" and s.task}


def waves_of(needs: Mapping[str, set[str]], source: str) -> tuple[tuple[str, ...], ...]:
    """Waves of task names from what each needs (see ``waves``)."""
    tasks = needs
    for name, wanted in needs.items():
        missing = wanted - set(tasks)
        if missing:
            raise SpecError(f"{source}: root.dag.tasks.{name}.dependentTasks: {sorted(missing)} not in the pipeline")
    done: set[str] = set()
    result: list[tuple[str, ...]] = []
    while len(done) < len(tasks):
        ready = tuple(sorted(n for n in tasks if n not in done and needs[n] <= done))
        if not ready:
            left = sorted(set(tasks) - done)
            raise SpecError(f"{source}: root.dag.tasks: the tasks {', '.join(left)} depend on each other in a "
                            "cycle; a pipeline is a DAG")
        result.append(ready)
        done |= set(ready)
    return tuple(result)


def check_known(source: str, declared: Mapping[str, Any], given: Mapping[str, str]) -> None:
    """Every given parameter must be one the pipeline declares."""
    unknown = set(given) - set(declared)
    if unknown:
        raise SpecError(f"{source}: parameter {sorted(unknown)[0]!r} is not declared; the pipeline takes "
                        f"{', '.join(sorted(declared)) or 'none'}")


def bind_parameters(plan: PipelinePlan, given: Mapping[str, str]) -> dict[str, Any]:
    """The pipeline's parameter values: defaults, overridden by ``given`` (text, as on a command
    line), each checked against its declared type; a ``SpecError`` naming the parameter."""
    check_known(plan.source, plan.parameters, given)
    values: dict[str, Any] = {}
    for name, (kind, default) in plan.parameters.items():
        if name in given:
            values[name] = typed(given[name], kind, f"{plan.source}: parameter {name}")
        elif default is not None:
            values[name] = typed(default, kind, f"{plan.source}: parameter {name}")
        else:
            raise SpecError(f"{plan.source}: parameter {name}: required ({kind.lower()}), give --param {name}=VALUE")
    return values
