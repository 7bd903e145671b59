"""Tekton documents as runnable plans: every PipelineRun and TaskRun among the files given,
each with its Pipeline, its tasks resolved from wherever a PipelineRun can name them (an
embedded ``taskSpec``, a Task document in the files, else a catalog component), and
everything that can't run here refused before anything starts, naming the field.

Resolution follows Tekton's: a Task defined in the files wins over a catalog component of
the same name; an embedded ``taskSpec`` sees the Pipeline's params and workspaces without
declaring them (Tekton's propagation); a task waits for the tasks named in ``runAfter`` and
for every task whose results or status it references. A TaskRun is a one-task plan.
What is accepted but has no meaning on one machine (service accounts, pod templates,
compute resources, security contexts) is kept as a note the run prints, never dropped
without a word.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipetune.catalog import component_file
from pipetune.components import ComponentSpec, load_component
from pipetune.durations import parse_duration
from pipetune.errors import SpecError
from pipetune.kinds import EXPERIMENT_API, EXPERIMENT_KIND
from pipetune.tekton import custom_task_results, is_multi_objective, kfp_only, task_for
from pipetune.tekton.variables import references

#: What a step field may carry that this machine has no use for: noted, not refused.
_NOTED_STEP_FIELDS = {
    "computeResources": "compute resources are not enforced",
    "securityContext": "the securityContext is not applied (steps run as this machine's user)",
    "imagePullPolicy": "", "resources": "compute resources are not enforced",
}
_STEP_FIELDS = {"name", "image", "command", "args", "script", "env", "envFrom", "workingDir", "onError",
                "timeout", "volumeMounts", "stdoutConfig", "stderrConfig", "displayName", "ref", "params",
                "results", "when", "workspaces", "action", "terminationMessagePath", "terminationMessagePolicy",
                *_NOTED_STEP_FIELDS}


@dataclass(frozen=True)
class TaskBody:
    """What a pipeline task runs: a Task's ``spec`` (steps), a catalog ``component``, or the
    tuner's custom task (``experiment``). ``task_name`` is ``$(context.task.name)``."""

    task_name: str
    spec: Mapping[str, Any] = field(default_factory=dict)
    embedded: bool = False
    component: ComponentSpec | None = None
    experiment: Mapping[str, Any] | None = None
    experiment_name: str | None = None

    @property
    def results(self) -> list[str]:
        """The names of the results this body publishes."""
        if self.experiment is not None:
            return custom_task_results([p["name"] for p in self.experiment.get("parameters") or []],
                                       is_multi_objective(self.experiment))
        if self.component is not None:
            return [str(r["name"]) for r in task_for(self.component, "local")["spec"]["results"]]
        return [str(r.get("name")) for r in self.spec.get("results") or []]


@dataclass(frozen=True)
class PipelineTask:
    """One entry of a Pipeline's ``tasks`` or ``finally``, as written, with what it waits for."""

    name: str
    body: TaskBody
    params: tuple[Mapping[str, Any], ...]
    needs: frozenset[str]
    after: tuple[str, ...] = ()
    when: tuple[Mapping[str, Any], ...] = ()
    matrix: Mapping[str, Any] | None = None
    workspaces: tuple[Mapping[str, Any], ...] = ()
    timeout: float | None = None
    retries: int = 0
    on_error: str = "stopAndFail"
    final: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TektonPlan:
    """A PipelineRun (or a TaskRun, as a one-task pipeline) ready to run."""

    name: str
    kind: str
    source: str
    pipeline_name: str
    parameters: Mapping[str, tuple[str, Any]]
    given: Mapping[str, Any]
    tasks: Mapping[str, PipelineTask]
    finally_tasks: Mapping[str, PipelineTask]
    workspaces: Mapping[str, Mapping[str, Any] | None]
    results: tuple[Mapping[str, Any], ...] = ()
    timeouts: tuple[float | None, float | None, float | None] = (None, None, None)
    configmaps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    secrets: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    enums: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def waves(self) -> tuple[tuple[str, ...], ...]:
        """The dag tasks in the order they can start: each wave waits only for earlier ones."""
        done: set[str] = set()
        waves: list[tuple[str, ...]] = []
        while len(done) < len(self.tasks):
            wave = tuple(n for n, t in self.tasks.items() if n not in done and t.needs <= done)
            waves.append(wave)
            done |= set(wave)
        return tuple(waves)

    @property
    def all_tasks(self) -> dict[str, PipelineTask]:
        """The dag tasks, then the finally tasks."""
        return {**self.tasks, **self.finally_tasks}


def is_tekton(document: Any) -> bool:
    """Whether ``document`` is a Tekton resource (a ``tekton.dev/*`` apiVersion)."""
    return isinstance(document, Mapping) and str(document.get("apiVersion", "")).startswith("tekton.dev/")


def any_tekton(documents: Sequence[Any]) -> bool:
    """Whether a file's documents, in any order, hold a Tekton resource."""
    return any(is_tekton(d) for d in documents)


class _Library:
    """The documents of the files given, by kind and name."""

    def __init__(self, documents: Sequence[Any]) -> None:
        self.by_kind: dict[str, dict[str, Mapping[str, Any]]] = {}
        self.runs: list[Mapping[str, Any]] = []
        for document in documents:
            if not isinstance(document, Mapping):
                continue
            kind = str(document.get("kind") or "")
            if is_tekton(document) and kind in ("PipelineRun", "TaskRun"):
                self.runs.append(document)
            name = str((document.get("metadata") or {}).get("name") or "")
            if document.get("apiVersion") == EXPERIMENT_API and kind == EXPERIMENT_KIND:
                kind = "Experiment"
            self.by_kind.setdefault(kind, {})[name] = document
        self.configmaps = {n: {str(k): str(v) for k, v in (d.get("data") or {}).items()}
                           for n, d in self.by_kind.get("ConfigMap", {}).items()}
        self.secrets: dict[str, dict[str, str]] = {}
        for n, d in self.by_kind.get("Secret", {}).items():
            values = {}
            for k, v in (d.get("data") or {}).items():
                try:
                    values[str(k)] = base64.b64decode(str(v)).decode("utf-8", "replace")
                except ValueError:
                    values[str(k)] = str(v)
            values.update({str(k): str(v) for k, v in (d.get("stringData") or {}).items()})
            self.secrets[n] = values

    def get(self, kind: str, name: str) -> Mapping[str, Any] | None:
        return self.by_kind.get(kind, {}).get(name)


def tekton_plans(documents: Sequence[Any], source: str) -> list[TektonPlan]:
    """A plan for every PipelineRun and TaskRun among ``documents``, in file order; without
    any, the one Pipeline (or Task) there, run with its defaults."""
    library = _Library(documents)
    runs = list(library.runs)
    if not runs:
        pipelines = library.by_kind.get("Pipeline", {})
        tasks = {n: d for n, d in library.by_kind.get("Task", {}).items() if is_tekton(d)}
        if len(pipelines) == 1:
            name = next(iter(pipelines))
            runs = [{"kind": "PipelineRun", "metadata": {"name": name}, "spec": {"pipelineRef": {"name": name}}}]
        elif not pipelines and len(tasks) == 1:
            name = next(iter(tasks))
            runs = [{"kind": "TaskRun", "metadata": {"name": name}, "spec": {"taskRef": {"name": name}}}]
        else:
            raise SpecError(f"{source}: expected a Tekton PipelineRun or TaskRun, or one Pipeline")
    return [_plan(run, library, f"{source}: {run.get('kind')} {_run_name(run)}") for run in runs]


def _run_name(run: Mapping[str, Any]) -> str:
    metadata = run.get("metadata") or {}
    return str(metadata.get("name") or metadata.get("generateName") or "run")


def _instance_name(run: Mapping[str, Any]) -> str:
    metadata = run.get("metadata") or {}
    if metadata.get("name"):
        return str(metadata["name"])
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return str(metadata.get("generateName") or "run-") + "".join(secrets.choice(alphabet) for _ in range(5))


def _duration(value: Any, where: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        seconds = parse_duration(str(value))
    except ValueError as exc:
        raise SpecError(f"{where}: {value!r} is not a duration (e.g. 1h30m, 45s): {exc}") from None
    if seconds < 0:
        raise SpecError(f"{where}: {value!r}: a timeout can't be negative")
    return seconds or None  # Tekton: 0 means no timeout


def _plan(run: Mapping[str, Any], library: _Library, where: str) -> TektonPlan:
    spec = run.get("spec") or {}
    notes: list[str] = []
    if spec.get("status"):
        raise SpecError(f"{where}: spec.status {spec['status']!r}: a run created cancelled or pending does not start")
    _known(spec, _RUN_FIELDS, f"{where}: spec")
    _note_run(spec, where, notes)
    name = _instance_name(run)
    if run.get("kind") == "TaskRun":
        return _task_run_plan(run, spec, name, library, where, notes)
    ref = spec.get("pipelineRef")
    if ref is not None:
        _refuse_remote(ref, f"{where}: spec.pipelineRef")
        pipeline = library.get("Pipeline", str(ref.get("name")))
        if pipeline is None:
            raise SpecError(f"{where}: spec.pipelineRef.name: Pipeline {ref.get('name')!r} is not in the files "
                            "given; add its file with -f")
        pipeline_spec, pipeline_name = pipeline.get("spec") or {}, str(ref.get("name"))
    elif spec.get("pipelineSpec") is not None:
        pipeline_spec, pipeline_name = spec["pipelineSpec"], name
    else:
        raise SpecError(f"{where}: spec: expected pipelineRef or pipelineSpec")
    parameters, enums = _parameters(pipeline_spec.get("params") or [], f"{where}: params")
    given = {str(p.get("name")): p.get("value") for p in spec.get("params") or []}
    label = f"{where}: Pipeline {pipeline_name}" if ref is not None else f"{where}: spec.pipelineSpec"
    tasks = _pipeline_tasks(pipeline_spec.get("tasks") or [], library, label, "tasks", notes, spec)
    final = _pipeline_tasks(pipeline_spec.get("finally") or [], library, label, "finally", notes, spec)
    names = set(tasks) | set(final)
    for task in [*tasks.values(), *final.values()]:
        for other in task.needs:
            if other not in names:
                raise SpecError(f"{where}: task {task.name}: references task {other!r}, which the Pipeline lacks")
        if task.final and any(n in final for n in task.needs):
            raise SpecError(f"{where}: finally task {task.name}: a finally task can't use another's results")
    _check_cycles(tasks, where)
    timeouts = spec.get("timeouts") or {}
    pipeline_timeout = _duration(timeouts.get("pipeline", spec.get("timeout")), f"{where}: spec.timeouts.pipeline")
    workspaces = _bind_workspaces(spec.get("workspaces") or [], pipeline_spec.get("workspaces") or [], where)
    return TektonPlan(
        name=name, kind="PipelineRun", source=where, pipeline_name=pipeline_name, parameters=parameters,
        given=given, tasks=tasks, finally_tasks=final, workspaces=workspaces,
        results=tuple(pipeline_spec.get("results") or ()),
        timeouts=(pipeline_timeout, _duration(timeouts.get("tasks"), f"{where}: spec.timeouts.tasks"),
                  _duration(timeouts.get("finally"), f"{where}: spec.timeouts.finally")),
        configmaps=library.configmaps, secrets=library.secrets, enums=enums, notes=tuple(notes))


def _task_run_plan(run: Mapping[str, Any], spec: Mapping[str, Any], name: str, library: _Library, where: str,
                   notes: list[str]) -> TektonPlan:
    given = {str(p.get("name")): p.get("value") for p in spec.get("params") or []}
    parameters = {k: (_kind_of(v), v) for k, v in given.items()}
    entry: dict[str, Any] = {
        "name": name,
        "params": [{"name": k, "value": f"$(params.{k})"} for k in given],
        "workspaces": [{"name": str(w.get("name")), "workspace": str(w.get("name"))} for w in spec.get("workspaces") or []],
        "timeout": spec.get("timeout"), "retries": spec.get("retries") or 0,
    }
    if spec.get("taskSpec") is not None:
        entry["taskSpec"] = spec["taskSpec"]
    elif spec.get("taskRef") is not None:
        entry["taskRef"] = spec["taskRef"]
    else:
        raise SpecError(f"{where}: spec: expected taskRef or taskSpec")
    tasks = _pipeline_tasks([entry], library, where, "tasks", notes, spec, single=True)
    workspaces = _bind_workspaces(spec.get("workspaces") or [], [], where)
    timeout = tasks[name].timeout
    return TektonPlan(name=name, kind="TaskRun", source=where, pipeline_name=name, parameters=parameters,
                      given={}, tasks=tasks, finally_tasks={}, workspaces=workspaces, timeouts=(timeout, None, None),
                      configmaps=library.configmaps, secrets=library.secrets, notes=tuple(notes))


def _kind_of(value: Any) -> str:
    return "array" if isinstance(value, list) else "object" if isinstance(value, Mapping) else "string"


def _parameters(params: Sequence[Mapping[str, Any]], where: str) -> tuple[dict[str, tuple[str, Any]], dict[str, tuple[str, ...]]]:
    out: dict[str, tuple[str, Any]] = {}
    enums: dict[str, tuple[str, ...]] = {}
    for param in params:
        name = str(param.get("name"))
        kind = str(param.get("type") or ("object" if param.get("properties") else "string"))
        if kind not in ("string", "array", "object"):
            raise SpecError(f"{where}: {name}: type {kind!r}: expected string, array or object")
        out[name] = (kind, param.get("default"))
        if param.get("enum"):
            enums[name] = tuple(str(v) for v in param["enum"])
    return out, enums


def _note_run(spec: Mapping[str, Any], where: str, notes: list[str]) -> None:
    template = spec.get("taskRunTemplate") or {}
    account = spec.get("serviceAccountName") or template.get("serviceAccountName")
    if account:
        notes.append(f"{where}: serviceAccountName {account!r} is not used: tasks run as this machine's user, "
                     "with its credentials")
    if spec.get("podTemplate") or template.get("podTemplate"):
        notes.append(f"{where}: the podTemplate is not applied (no pods here: node selection, affinity, "
                     "security contexts and host settings do not apply)")
    for index, item in enumerate(spec.get("taskRunSpecs") or []):
        for key in ("serviceAccountName", "podTemplate", "computeResources", "stepSpecs", "sidecarSpecs", "metadata"):
            if item.get(key):
                notes.append(f"{where}: spec.taskRunSpecs[{index}] ({item.get('pipelineTaskName')}).{key} is not applied")
    if spec.get("computeResources"):
        notes.append(f"{where}: spec.computeResources are not enforced")
    for key in ("stepSpecs", "sidecarSpecs"):
        if spec.get(key):
            notes.append(f"{where}: spec.{key} (compute resources) are not applied")


def _refuse_remote(ref: Mapping[str, Any], where: str) -> None:
    if ref.get("resolver"):
        raise SpecError(f"{where}.resolver: the {ref['resolver']} resolver fetches from a cluster or the network, "
                        "which pipetune pipeline run does not; put the Task or Pipeline in a file and give it with -f")
    if ref.get("bundle"):
        raise SpecError(f"{where}.bundle: Tekton bundles (OCI images) are not fetched here; put the Task or "
                        "Pipeline in a file and give it with -f")


_PIPELINE_TASK_FIELDS = {"name", "displayName", "description", "taskRef", "taskSpec", "when", "runAfter", "retries",
                         "params", "matrix", "workspaces", "timeout", "pipelineRef", "pipelineSpec", "onError"}
_TASK_SPEC_FIELDS = {"params", "description", "displayName", "steps", "volumes", "stepTemplate", "sidecars",
                     "workspaces", "results", "metadata"}
_RUN_FIELDS = {"pipelineRef", "pipelineSpec", "taskRef", "taskSpec", "params", "status", "statusMessage", "timeouts",
               "timeout", "taskRunTemplate", "workspaces", "taskRunSpecs", "serviceAccountName", "podTemplate",
               "retries", "computeResources", "stepSpecs", "sidecarSpecs", "managedBy"}


def _known(item: Mapping[str, Any], fields: set[str], where: str) -> None:
    unknown = sorted(set(item) - fields)
    if unknown:
        raise SpecError(f"{where}.{unknown[0]}: not a field pipetune pipeline run knows; it would be ignored, so "
                        "the run is refused")


def _pipeline_tasks(entries: Sequence[Mapping[str, Any]], library: _Library, where: str, section: str,
                    notes: list[str], run_spec: Mapping[str, Any], single: bool = False) -> dict[str, PipelineTask]:
    tasks: dict[str, PipelineTask] = {}
    overrides = {str(s.get("pipelineTaskName")): s for s in run_spec.get("taskRunSpecs") or []}
    for index, entry in enumerate(entries):
        name = str(entry.get("name"))
        at = f"{where} spec" if single else f"{where}.{section}[{index}] ({name})" if where.endswith(
            "spec.pipelineSpec") else f"{where} spec.{section}[{index}] ({name})"
        if name in tasks:
            raise SpecError(f"{at}: a second task named {name!r}")
        if not single:
            _known(entry, _PIPELINE_TASK_FIELDS, at)
        body = _body(entry, library, at, notes)
        params = tuple(entry.get("params") or ())
        text = json.dumps([params, entry.get("when"), entry.get("matrix"), entry.get("workspaces"),
                           entry.get("displayName")] + ([body.spec] if body.embedded else []))
        needs = {t for t in (_task_of(e) for e in references(text)) if t is not None}
        after = tuple(str(a) for a in entry.get("runAfter") or ())
        if after and section == "finally":
            raise SpecError(f"{at}.runAfter: finally tasks can't have runAfter; they run after all tasks")
        timeout = _duration((overrides.get(name) or {}).get("timeout", entry.get("timeout")), f"{at}.timeout")
        on_error = str(entry.get("onError") or "stopAndFail")
        if on_error not in ("stopAndFail", "continue"):
            raise SpecError(f"{at}.onError: {on_error!r}: expected stopAndFail or continue")
        for cel in entry.get("when") or []:
            if cel.get("cel"):
                raise SpecError(f"{at}.when: CEL expressions ({cel['cel']!r}) need Tekton's alpha flag "
                                "enable-cel-in-whenexpression and a CEL evaluator; pipetune pipeline run "
                                "evaluates input/operator/values expressions only")
        tasks[name] = PipelineTask(
            name=name, body=body, params=params, needs=frozenset(needs | set(after)), after=after,
            when=tuple(entry.get("when") or ()), matrix=entry.get("matrix"),
            workspaces=tuple(entry.get("workspaces") or ()), timeout=timeout, retries=int(entry.get("retries") or 0),
            on_error=on_error, final=section == "finally", raw=entry)
    return tasks


def _task_of(expression: str) -> str | None:
    parts = expression.split(".")
    if len(parts) >= 3 and parts[0] == "tasks" and parts[2] in ("results", "status", "reason", "matrix"):
        return parts[1]
    return None


def _body(entry: Mapping[str, Any], library: _Library, at: str, notes: list[str]) -> TaskBody:
    if entry.get("pipelineRef") is not None or entry.get("pipelineSpec") is not None:
        raise SpecError(f"{at}: a Pipeline inside a Pipeline (Tekton's alpha pipelines-in-pipelines) is not run by "
                        "pipetune pipeline run; put the inner Pipeline's tasks in the outer one")
    ref = entry.get("taskRef")
    embedded = entry.get("taskSpec")
    if ref is not None:
        _refuse_remote(ref, f"{at}.taskRef")
        api, kind, name = ref.get("apiVersion"), ref.get("kind"), str(ref.get("name") or "")
        if (api, kind) == (EXPERIMENT_API, EXPERIMENT_KIND):
            found = library.get("Experiment", name)
            if found is None:
                raise SpecError(f"{at}.taskRef.name: Experiment {name!r} is not in the files given; add its file with -f")
            return TaskBody(name, experiment=found.get("spec") or {}, experiment_name=name,
                            component=load_component(component_file("tune")))
        if api or str(kind or "task").lower() not in ("task", "clustertask"):
            raise SpecError(f"{at}.taskRef: custom task {api}/{kind} has no controller here; pipetune pipeline run "
                            f"runs Tasks and pipetune's {EXPERIMENT_API} {EXPERIMENT_KIND}")
        document = library.get("Task", name)
        if document is not None and is_tekton(document):
            spec = document.get("spec") or {}
            spec = _with_actions(spec, library, f"{at} (Task {name})")
            _check_steps(spec, f"{at} (Task {name})", notes)
            return TaskBody(name, spec=spec)
        file = component_file(name)
        if not name or not file.is_file():
            raise SpecError(f"{at}.taskRef.name: Task {name!r} is not in the files given nor a catalog component; "
                            "add its file with -f")
        return TaskBody(name, component=load_component(file))
    if embedded is None:
        raise SpecError(f"{at}: expected taskRef or taskSpec")
    if embedded.get("apiVersion") or embedded.get("kind"):
        raise SpecError(f"{at}.taskSpec: an embedded custom task ({embedded.get('apiVersion')}/{embedded.get('kind')}) "
                        "has no controller here")
    embedded = _with_actions(embedded, library, f"{at}.taskSpec")
    _check_steps(embedded, f"{at}.taskSpec", notes)
    return TaskBody(str(entry.get("name")), spec=embedded, embedded=True)


def _with_actions(spec: Mapping[str, Any], library: _Library, at: str) -> Mapping[str, Any]:
    """``spec`` with each step that names a StepAction (``ref``) holding the action's body
    under ``action`` (its params and results declared there), as Tekton resolves it."""
    steps = list(spec.get("steps") or [])
    if not any(isinstance(s, Mapping) and s.get("ref") is not None for s in steps):
        return spec
    resolved = []
    for index, step in enumerate(steps):
        ref = step.get("ref")
        if ref is None:
            resolved.append(step)
            continue
        where = f"{at}.steps[{index}]" + (f" ({step['name']})" if step.get("name") else "")
        _refuse_remote(ref, f"{where}.ref")
        action = library.get("StepAction", str(ref.get("name")))
        if action is None:
            raise SpecError(f"{where}.ref.name: StepAction {ref.get('name')!r} is not in the files given; "
                            "add its file with -f")
        body = dict(action.get("spec") or {})
        for key in ("command", "args", "script", "image", "env", "workingDir", "volumeMounts", "securityContext"):
            if key in step and key not in ("securityContext",):
                raise SpecError(f"{where}.{key}: a step with a ref takes its {key} from the StepAction")
        merged = {k: v for k, v in step.items() if k not in ("ref",)}
        merged.update({k: v for k, v in body.items() if k not in ("params", "results", "description")})
        merged["action"] = {"name": str(ref.get("name")), "params": body.get("params") or [],
                            "results": body.get("results") or []}
        resolved.append(merged)
    return {**spec, "steps": resolved}


def _check_steps(spec: Mapping[str, Any], at: str, notes: list[str]) -> None:
    _known(spec, _TASK_SPEC_FIELDS, at)
    if spec.get("sidecars"):
        raise SpecError(f"{at}.sidecars: sidecars ({', '.join(str(s.get('name') or 'unnamed') for s in spec['sidecars'])}) run "
                        "beside the steps in a pod; pipetune pipeline run runs steps only, so a Task needing "
                        "one is refused")
    steps = spec.get("steps") or []
    if not steps:
        raise SpecError(f"{at}.steps: a Task needs at least one step")
    for index, step in enumerate(steps):
        where = f"{at}.steps[{index}]" + (f" ({step['name']})" if step.get("name") else "")
        if step.get("workspaces"):
            raise SpecError(f"{where}.workspaces: isolated workspaces (a workspace only the steps naming it see) "
                            "are not isolated by pipetune pipeline run, where every step sees every workspace")
        if step.get("when"):
            raise SpecError(f"{where}.when: step-level when expressions (alpha) are not evaluated here")
        unknown = sorted(set(step) - _STEP_FIELDS)
        if unknown:
            raise SpecError(f"{where}.{unknown[0]}: not supported by pipetune pipeline run")
        if step.get("stdoutConfig") or step.get("stderrConfig"):
            raise SpecError(f"{where}: stdoutConfig/stderrConfig (alpha) are not supported here")
        if not step.get("script") and not step.get("command") and image_command(str(step.get("image") or "")) is None:
            raise SpecError(f"{where}: image {step.get('image')!r} has no command or script here: Tekton runs the "
                            "image's own entrypoint, which pipetune can't read without the image; give the step a "
                            "command")
        for key, why in _NOTED_STEP_FIELDS.items():
            if step.get(key) and why:
                notes.append(f"{where}.{key}: {why}")
    template = spec.get("stepTemplate") or {}
    for key, why in _NOTED_STEP_FIELDS.items():
        if template.get(key) and why:
            notes.append(f"{at}.stepTemplate.{key}: {why}")
    text = json.dumps(spec)
    if any(e.startswith(("outputs.", "inputs.", "step.artifacts", "artifacts.")) and not e.startswith("inputs.params.")
           or ".artifacts." in e for e in references(text)) or '"artifacts"' in text:
        raise SpecError(f"{at}: artifacts (Tekton's alpha $(outputs...)/$(step.artifacts.path), flag "
                        "enable-artifacts) are not run by pipetune pipeline run")
    volumes = {str(v.get("name")) for v in spec.get("volumes") or []}
    for step in [*steps, template]:
        for mount in step.get("volumeMounts") or []:
            if str(mount.get("name")) not in volumes:
                raise SpecError(f"{at}: volumeMount {mount.get('name')!r} names no volume of the Task (one from a "
                                "podTemplate is not applied here)")
    for index, volume in enumerate(spec.get("volumes") or []):
        kinds = set(volume) - {"name"}
        if not kinds <= {"emptyDir", "configMap", "secret", "persistentVolumeClaim", "projected"}:
            raise SpecError(f"{at}.volumes[{index}] ({volume.get('name')}): {sorted(kinds)[0]} volumes have no "
                            "local source; emptyDir, configMap, secret, projected and persistentVolumeClaim do")


#: The entrypoint of well-known images (their ``ENTRYPOINT``/``CMD``), for a step that gives
#: only ``args``: the one thing about an image pipetune can't read without pulling it.
#: ``bash``'s entrypoint runs its arguments as a command unless the first is an option.
IMAGE_COMMANDS = {"busybox": ["sh"], "alpine": ["/bin/sh"], "ubuntu": ["bash"], "debian": ["bash"],
                  "bash": ["docker-entrypoint.sh"], "python": ["python3"]}


def image_command(image: str, args: Sequence[str] = ()) -> list[str] | None:
    """What a well-known ``image`` (any registry, tag or digest) runs given only ``args``:
    its entrypoint (else its command) then the args, or None when the image is not known."""
    repository = image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]
    found = IMAGE_COMMANDS.get(repository)
    if found is None:
        return None
    if found == ["docker-entrypoint.sh"]:
        return list(args) if args and not str(args[0]).startswith("-") else ["bash", *args]
    return [*found, *args]


def _check_cycles(tasks: Mapping[str, PipelineTask], where: str) -> None:
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise SpecError(f"{where}: tasks depend on each other in a cycle: {' -> '.join([*path, name])}")
        state[name] = 1
        for other in sorted(tasks[name].needs):
            if other in tasks:
                visit(other, [*path, name])
        state[name] = 2

    for name in tasks:
        visit(name, [])


def _bind_workspaces(bound: Sequence[Mapping[str, Any]], declared: Sequence[Mapping[str, Any]],
                     where: str) -> dict[str, Mapping[str, Any] | None]:
    bindings: dict[str, Mapping[str, Any] | None] = {}
    for item in bound:
        name = str(item.get("name"))
        kinds = set(item) - {"name", "subPath"}
        if not kinds <= {"emptyDir", "volumeClaimTemplate", "persistentVolumeClaim", "configMap", "secret", "projected"}:
            raise SpecError(f"{where}: spec.workspaces ({name}): {sorted(kinds)[0]} has no local source here; "
                            "emptyDir, volumeClaimTemplate, persistentVolumeClaim, configMap, secret and projected do")
        bindings[name] = item
    for item in declared:
        name = str(item.get("name"))
        if name not in bindings:
            if not item.get("optional"):
                raise SpecError(f"{where}: spec.workspaces: the Pipeline's workspace {name!r} is not bound")
            bindings[name] = None
    return bindings


def component_results(component: ComponentSpec) -> list[str]:
    """The results the catalog component's generated Task declares."""
    return [o.name for o in component.outputs if not kfp_only(o)]
