"""A compiled KFP v2 pipeline (the IR YAML ``kfp.compiler`` writes) as a plan ``pipetune
pipeline run`` can execute: its parameters and input artifacts, and every DAG in it (the root,
each nested pipeline, ``dsl.If``/``Elif``/``Else`` branch, ``dsl.ParallelFor`` body and
``dsl.ExitHandler`` body), each with its tasks, where each task input comes from, its
trigger policy (condition, ``ignore_upstream_failure``), iterator, retry policy and caching,
and where each DAG output comes from (``dsl.OneOf``, ``dsl.Collected``). Pure: it reads the
parsed document and checks it, naming the file and the field on any problem (an IR version
pipetune does not know, a task whose input names an output its producer does not declare, a
cycle, a loop-item selector or condition outside what KFP's compiler writes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipetune.errors import SpecError
from pipetune.kfp import typed
from pipetune.pipeline._kfp_cel import parse_condition

#: The pipeline IR versions pipetune reads: what kfp 2.x compilers write.
SCHEMA_VERSIONS = ("2.1.0",)
#: A loop item's field, as the compiler writes ``item.a`` (``parseJson(string_value)["a"]``).
_SELECTOR = re.compile(r'^parseJson\(string_value\)((?:\["[^"\]]*"\])+)$')
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


@dataclass(frozen=True)
class Source:
    """Where a task input comes from: a ``constant``, a ``parameter`` (an input of the DAG the
    task is in, ``value`` its name), another ``task``'s output (``task``, ``key``), or a task's
    final ``status`` (``PipelineTaskFinalStatus``); ``artifact`` for an artifact input;
    ``selector``: the loop item's field path (``item.a``)."""

    kind: str
    value: Any = None
    task: str | None = None
    key: str | None = None
    artifact: bool = False
    selector: tuple[str, ...] = ()


@dataclass(frozen=True)
class Iterator:
    """A ``dsl.ParallelFor``: the body DAG runs once per item, bound to ``item_input``; the
    items are ``raw`` (a static list) or the DAG input ``items_input``; ``artifact`` when they
    are artifacts; at most ``parallelism`` iterations at once (0: no limit)."""

    item_input: str
    raw: tuple[Any, ...] | None
    items_input: str | None
    artifact: bool = False
    parallelism: int = 0


@dataclass(frozen=True)
class TaskPlan:
    """One task of a DAG: what it runs (``kind``: a ``container``, an ``importer``, or a
    ``dag``, a nested DAG named ``dag``), its inputs' sources, what it must wait for, its
    condition, iterator, retries and caching."""

    name: str
    component: str
    container: Mapping[str, Any]
    inputs: Mapping[str, Source]
    after: tuple[str, ...]
    input_types: Mapping[str, str] = field(default_factory=dict)
    output_parameters: Mapping[str, str] = field(default_factory=dict)
    output_artifacts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "container"
    dag: str | None = None
    importer: Mapping[str, Any] | None = None
    executor: str = ""
    condition: str | None = None
    all_upstream: bool = False
    iterator: Iterator | None = None
    retries: int = 0
    backoff: float = 0.0
    backoff_factor: float = 2.0
    max_backoff: float = 3600.0
    cache: bool = False
    optional: frozenset[str] = frozenset()
    artifact_lists: frozenset[str] = frozenset()
    input_artifact_types: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Output:
    """Where a DAG output comes from: the first of ``selectors`` (producer task, its output
    key) whose producer ran (more than one: ``dsl.OneOf``)."""

    selectors: tuple[tuple[str, str], ...]
    artifact: bool = False


@dataclass(frozen=True)
class DagPlan:
    """One DAG: its tasks in an order where each comes after what it needs, its inputs'
    types and defaults, and its outputs."""

    name: str
    tasks: Mapping[str, TaskPlan]
    order: tuple[str, ...]
    input_types: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Output] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelinePlan:
    """A pipeline ready to run: its parameters (name -> (type, default or None)), its input
    artifacts (name -> artifact type), its root DAG's tasks and their order as waves of tasks
    that may run together, and every DAG by component name (the root as ``root``); ``platform``:
    the kfp-kubernetes settings per executor label (the file's second document)."""

    name: str
    source: str
    parameters: Mapping[str, tuple[str, Any]]
    tasks: Mapping[str, TaskPlan]
    waves: tuple[tuple[str, ...], ...]
    dags: Mapping[str, DagPlan] = field(default_factory=dict)
    artifacts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    optional: frozenset[str] = frozenset()
    platform: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    components: Mapping[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> DagPlan:
        """The pipeline's own DAG."""
        return self.dags["root"]

    def all_tasks(self) -> list[tuple[str, TaskPlan]]:
        """Every task of every DAG, with the DAG it is in."""
        return [(dag.name, task) for dag in self.dags.values() for task in dag.tasks.values()]


#: What ``pipetune pipeline run`` takes, said in each refusal of a file that is not it.
EXPECTED = ("expected a compiled KFP pipeline (pipelineInfo, root, components, deploymentSpec: what "
            "kfp.compiler.Compiler().compile(...) writes) or a Tekton PipelineRun, TaskRun or Pipeline")


def _what_it_is(document: Any, source: str) -> str:
    """The rest of the refusal of a file that is not a compiled pipeline: what the file is
    instead, and what to do with it."""
    if document is None:
        return f": the file has no YAML document (empty, or only comments); {EXPECTED}"
    if not isinstance(document, Mapping):
        shape = "list" if isinstance(document, list) else type(document).__name__
        return f": the file's YAML is a {shape}, not a mapping; {EXPECTED}"
    implementation = document.get("implementation")
    if isinstance(implementation, Mapping) and ("container" in implementation or "graph" in implementation):
        # A component.yaml (KFP's v1 component format, what the catalog ships): one step, not
        # a pipeline; `pipetune run` runs it once.
        how = "container" if "container" in implementation else "graph"
        return (f": it is a KFP component definition (name {document.get('name')!r}, implementation.{how}), one "
                f"step; run it once with `pipetune run {source}`, or compile a pipeline that uses it")
    api, kind = document.get("apiVersion"), document.get("kind")
    if isinstance(api, str) and api.startswith("argoproj.io/") and kind == "Workflow":
        return (": it is an Argo Workflow (what kfp 1.x compiles), not KFP pipeline IR; compile the pipeline with "
                "kfp 2.x (kfp.compiler.Compiler().compile(...))")
    if isinstance(api, str) and isinstance(kind, str):
        return f": it is a Kubernetes {kind} ({api}); {EXPECTED}"
    missing = " and ".join(k for k in ("root", "components") if k not in document)
    return f" (no {missing}); compile it with kfp.compiler.Compiler().compile(...)"


def kfp_plan(document: Any, source: str, platform: Any = None) -> PipelinePlan:
    """The plan of a compiled KFP pipeline (the first YAML document of its file; ``platform``:
    the second, kfp-kubernetes' settings, if any)."""
    if not isinstance(document, Mapping) or "root" not in document or "components" not in document:
        raise SpecError(f"{source}: not a compiled KFP pipeline{_what_it_is(document, source)}")
    version = document.get("schemaVersion")
    if version not in SCHEMA_VERSIONS:
        raise SpecError(f"{source}: schemaVersion: pipetune reads KFP pipeline IR {', '.join(SCHEMA_VERSIONS)} "
                        f"(what kfp 2.x compiles), got {version!r} (sdkVersion {document.get('sdkVersion')!r})")
    root = document["root"]
    if not isinstance(root, Mapping):
        raise SpecError(f"{source}: root: expected a mapping")
    name = (document.get("pipelineInfo") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{source}: pipelineInfo.name: missing; a compiled pipeline names itself (KFP refuses one "
                        "without a name)")
    definitions = root.get("inputDefinitions") or {}
    parameters = {
        name: (str(spec.get("parameterType")), spec.get("defaultValue"))
        for name, spec in (definitions.get("parameters") or {}).items()
    }
    optional = frozenset(name for name, spec in (definitions.get("parameters") or {}).items()
                         if spec.get("isOptional") and "defaultValue" not in spec)
    artifacts = {name: dict(spec.get("artifactType") or {})
                 for name, spec in (definitions.get("artifacts") or {}).items()}
    components = document["components"] or {}
    executors = ((document.get("deploymentSpec") or {}).get("executors")) or {}
    dags: dict[str, DagPlan] = {}
    _dag("root", root, components, executors, source, dags, ())
    root_plan = dags["root"]
    for parameter, (kind, _) in parameters.items():
        if kind == "TASK_FINAL_STATUS":
            raise SpecError(f"{source}: root.inputDefinitions.parameters.{parameter}: a PipelineTaskFinalStatus, which "
                            "only KFP gives, to an exit handler's task; this file is a single component compiled as "
                            "a pipeline: use it in a pipeline's dsl.ExitHandler")
    return PipelinePlan(name, source,
                        parameters, root_plan.tasks, waves(root_plan.tasks, source), dags, artifacts, optional,
                        _platform(platform, source), components)


def _dag(name: str, component: Mapping[str, Any], components: Mapping[str, Any], executors: Mapping[str, Any],
         source: str, dags: dict[str, DagPlan], path: tuple[str, ...]) -> None:
    if name in dags:
        return
    if name in path:
        raise SpecError(f"{source}: components.{name}: a DAG that contains itself")
    where_dag = "root.dag" if name == "root" else f"components.{name}.dag"
    dag = component.get("dag") or {}
    tasks: dict[str, TaskPlan] = {}
    for task_name, task in (dag.get("tasks") or {}).items():
        where = f"{source}: {where_dag}.tasks.{task_name}"
        ref = ((task.get("componentRef") or {}).get("name")) or ""
        child = components.get(ref)
        if not isinstance(child, Mapping):
            raise SpecError(f"{where}.componentRef.name: {ref!r} is not in components")
        if "dag" in child:
            _dag(ref, child, components, executors, source, dags, (*path, name))
            tasks[task_name] = _task(task_name, task, ref, child, {}, where, kind="dag")
            continue
        executor = executors.get(str(child.get("executorLabel"))) or {}
        if isinstance(executor.get("importer"), Mapping):
            tasks[task_name] = _task(task_name, task, ref, child, {}, where, kind="importer",
                                     importer=executor["importer"])
            continue
        container = executor.get("container")
        if not isinstance(container, Mapping):
            raise SpecError(f"{where}: component {ref} has no container or importer executor in deploymentSpec "
                            f"(executor {child.get('executorLabel')!r})")
        tasks[task_name] = _task(task_name, task, ref, child, container, where)
    for plan in tasks.values():
        _check_sources(plan, tasks, f"{source}: {where_dag}.tasks")
    definitions = component.get("inputDefinitions") or {}
    outputs: dict[str, Output] = {}
    declared = dag.get("outputs") or {}
    for key, spec in (declared.get("parameters") or {}).items():
        if "valueFromParameter" in spec:
            one = spec["valueFromParameter"]
            selectors: list[tuple[str, str]] = [(one.get("producerSubtask"), one.get("outputParameterKey"))]
        else:
            selectors = [(s.get("producerSubtask"), s.get("outputParameterKey"))
                         for s in ((spec.get("valueFromOneof") or {}).get("parameterSelectors") or [])]
        outputs[key] = Output(tuple(selectors))
    for key, spec in (declared.get("artifacts") or {}).items():
        selectors = [(s.get("producerSubtask"), s.get("outputArtifactKey")) for s in spec.get("artifactSelectors") or []]
        outputs[key] = Output(tuple(selectors), artifact=True)
    for key, output in outputs.items():
        for producer, _ in output.selectors:
            if producer not in tasks:
                raise SpecError(f"{source}: {where_dag}.outputs.{key}: producer task {producer!r} is not in the DAG")
    dags[name] = DagPlan(
        name, tasks, tuple(n for wave in waves(tasks, f"{source}: {where_dag}") for n in wave),
        {k: str(v.get("parameterType")) for k, v in (definitions.get("parameters") or {}).items()},
        {k: v["defaultValue"] for k, v in (definitions.get("parameters") or {}).items() if "defaultValue" in v},
        outputs)


def _task(name: str, task: Mapping[str, Any], ref: str, component: Mapping[str, Any], container: Mapping[str, Any],
          where: str, kind: str = "container", importer: Mapping[str, Any] | None = None) -> TaskPlan:
    inputs: dict[str, Source] = {}
    given = task.get("inputs") or {}
    for key, spec in (given.get("parameters") or {}).items():
        selector: tuple[str, ...] = ()
        if "parameterExpressionSelector" in spec:
            match = _SELECTOR.match(str(spec["parameterExpressionSelector"]))
            if not match:
                raise SpecError(f"{where}.inputs.parameters.{key}.parameterExpressionSelector: pipetune reads "
                                "parseJson(string_value)[\"field\"]..., what KFP compiles a loop item's field to, got "
                                f"{spec['parameterExpressionSelector']!r}")
            selector = tuple(re.findall(r'\["([^"\]]*)"\]', match.group(1)))
        if "runtimeValue" in spec:
            inputs[key] = Source("constant", value=(spec["runtimeValue"] or {}).get("constant"))
        elif "componentInputParameter" in spec:
            inputs[key] = Source("parameter", value=spec["componentInputParameter"], selector=selector)
        elif "taskOutputParameter" in spec:
            out = spec["taskOutputParameter"]
            inputs[key] = Source("task", task=out.get("producerTask"), key=out.get("outputParameterKey"),
                                 selector=selector)
        elif "taskFinalStatus" in spec:
            inputs[key] = Source("status", task=(spec["taskFinalStatus"] or {}).get("producerTask"))
        else:
            raise SpecError(f"{where}.inputs.parameters.{key}: expected a constant, a pipeline parameter, a "
                            f"task output or a task's final status, got {json.dumps(spec)}")
    for key, spec in (given.get("artifacts") or {}).items():
        if "taskOutputArtifact" in spec:
            out = spec["taskOutputArtifact"]
            inputs[key] = Source("task", task=out.get("producerTask"), key=out.get("outputArtifactKey"), artifact=True)
        elif "componentInputArtifact" in spec:
            inputs[key] = Source("parameter", value=spec["componentInputArtifact"], artifact=True)
        else:
            raise SpecError(f"{where}.inputs.artifacts.{key}: expected another task's artifact or an input "
                            f"artifact, got {json.dumps(spec)}")
    definitions = component.get("inputDefinitions") or {}
    outputs = component.get("outputDefinitions") or {}
    policy = task.get("triggerPolicy") or {}
    condition = policy.get("condition") or None
    if condition:
        parse_condition(str(condition), f"{where}.triggerPolicy.condition")
    strategy = policy.get("strategy")
    if strategy not in (None, "", "ALL_UPSTREAM_TASKS_SUCCEEDED", "ALL_UPSTREAM_TASKS_COMPLETED"):
        raise SpecError(f"{where}.triggerPolicy.strategy: expected ALL_UPSTREAM_TASKS_SUCCEEDED or "
                        f"ALL_UPSTREAM_TASKS_COMPLETED, got {strategy!r}")
    retry = task.get("retryPolicy") or {}
    parameter_definitions = definitions.get("parameters") or {}
    artifact_definitions = definitions.get("artifacts") or {}
    return TaskPlan(
        name=name,
        component=ref,
        container=container,
        inputs=inputs,
        after=tuple(task.get("dependentTasks") or ()),
        input_types={k: str(v.get("parameterType")) for k, v in parameter_definitions.items()},
        output_parameters={k: str(v.get("parameterType")) for k, v in (outputs.get("parameters") or {}).items()},
        output_artifacts={k: dict(v.get("artifactType") or {}) for k, v in (outputs.get("artifacts") or {}).items()},
        defaults={k: v["defaultValue"] for k, v in parameter_definitions.items() if "defaultValue" in v},
        kind=kind,
        dag=ref if kind == "dag" else None,
        importer=importer,
        executor=str(component.get("executorLabel") or ""),
        condition=str(condition) if condition else None,
        all_upstream=strategy == "ALL_UPSTREAM_TASKS_COMPLETED",
        iterator=_iterator(task, where),
        retries=_count(retry.get("maxRetryCount", 0), f"{where}.retryPolicy.maxRetryCount"),
        backoff=_seconds(retry.get("backoffDuration"), 0.0, f"{where}.retryPolicy.backoffDuration"),
        backoff_factor=float(retry.get("backoffFactor") or 2.0),
        max_backoff=_seconds(retry.get("backoffMaxDuration"), 3600.0, f"{where}.retryPolicy.backoffMaxDuration"),
        cache=bool((task.get("cachingOptions") or {}).get("enableCache")),
        optional=frozenset(k for k, v in {**parameter_definitions, **artifact_definitions}.items()
                           if v.get("isOptional")),
        artifact_lists=frozenset(k for k, v in artifact_definitions.items() if v.get("isArtifactList")),
        input_artifact_types={k: dict(v.get("artifactType") or {}) for k, v in artifact_definitions.items()},
    )


def _iterator(task: Mapping[str, Any], where: str) -> Iterator | None:
    spec = task.get("parameterIterator") or task.get("artifactIterator")
    if not spec:
        return None
    artifact = "artifactIterator" in task
    items = spec.get("items") or {}
    parallelism = _count((task.get("iteratorPolicy") or {}).get("parallelismLimit", 0),
                         f"{where}.iteratorPolicy.parallelismLimit")
    if "raw" in items:
        try:
            raw = json.loads(items["raw"]) if isinstance(items["raw"], str) else items["raw"]
        except ValueError:
            raw = None
        if not isinstance(raw, list):
            raise SpecError(f"{where}.parameterIterator.items.raw: expected a JSON list, got {items['raw']!r}")
        return Iterator(str(spec.get("itemInput")), tuple(raw), None, artifact, parallelism)
    name = items.get("inputArtifact" if artifact else "inputParameter")
    if not name:
        raise SpecError(f"{where}: the loop's items: expected raw or an input, got {json.dumps(items)}")
    return Iterator(str(spec.get("itemInput")), None, str(name), artifact, parallelism)


def _count(value: Any, where: str) -> int:
    try:
        number = int(value or 0)
    except (TypeError, ValueError):
        raise SpecError(f"{where}: expected a whole number, got {value!r}") from None
    if number < 0:
        raise SpecError(f"{where}: expected a whole number, got {value!r}")
    return number


def _seconds(value: Any, default: float, where: str) -> float:
    if value in (None, ""):
        return default
    match = _DURATION.match(str(value))
    if not match:
        raise SpecError(f"{where}: expected a duration in seconds such as '30s', got {value!r}")
    return float(match.group(1))


def _platform(document: Any, source: str) -> dict[str, Mapping[str, Any]]:
    if not isinstance(document, Mapping):
        return {}
    executors = ((((document.get("platforms") or {}).get("kubernetes") or {}).get("deploymentSpec") or {})
                 .get("executors")) or {}
    if not isinstance(executors, Mapping):
        raise SpecError(f"{source}: platforms.kubernetes.deploymentSpec.executors: expected a mapping")
    return {str(k): v for k, v in executors.items() if isinstance(v, Mapping)}


def _check_sources(plan: TaskPlan, tasks: Mapping[str, TaskPlan], where_tasks: str) -> None:
    for key, given in plan.inputs.items():
        if given.kind not in ("task", "status"):
            continue
        where = f"{where_tasks}.{plan.name}.inputs.{'artifacts' if given.artifact else 'parameters'}.{key}"
        producer = tasks.get(given.task or "")
        if producer is None:
            raise SpecError(f"{where}: producer task {given.task!r} is not in the pipeline")
        if given.kind == "status":
            continue
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
    return set(task.after) | {s.task for s in task.inputs.values() if s.kind in ("task", "status") and s.task}


def waves_of(needs: Mapping[str, set[str]], source: str) -> tuple[tuple[str, ...], ...]:
    """Waves of task names from what each needs (see ``waves``)."""
    tasks = needs
    where = source if source.endswith(".tasks") else f"{source}: root.dag.tasks"
    for name, wanted in needs.items():
        missing = wanted - set(tasks)
        if missing:
            raise SpecError(f"{where}.{name}.dependentTasks: {sorted(missing)} not in the pipeline")
    done: set[str] = set()
    result: list[tuple[str, ...]] = []
    while len(done) < len(tasks):
        ready = tuple(sorted(n for n in tasks if n not in done and needs[n] <= done))
        if not ready:
            left = sorted(set(tasks) - done)
            raise SpecError(f"{where}: the tasks {', '.join(left)} depend on each other in a cycle; a pipeline "
                            "is a DAG")
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
    line), each checked against its declared type; a ``SpecError`` naming the parameter. An
    optional parameter without a default is left out (the component's own default applies)."""
    check_known(plan.source, plan.parameters, given)
    values: dict[str, Any] = {}
    for name, (kind, default) in plan.parameters.items():
        if name in given:
            values[name] = typed(given[name], kind, f"{plan.source}: parameter {name}")
        elif default is not None:
            values[name] = typed(default, kind, f"{plan.source}: parameter {name}")
        elif name not in plan.optional:
            raise SpecError(f"{plan.source}: parameter {name}: required ({kind.lower()}), give --param {name}=VALUE")
    return values
