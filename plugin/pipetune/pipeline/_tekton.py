"""A Tekton PipelineRun (or Pipeline) of catalog Tasks and pipetune's tuning custom task as a
plan ``pipetune pipeline run`` executes: each catalog Task becomes a local run of the
component it was generated from (``components/<name>``), the custom task a run of the catalog
``tune`` component with the Experiment (and the CustomRun params applied as the controller
applies them); ``$(params.x)`` and ``$(tasks.X.results.Y)`` are resolved as Tekton resolves
them, and results are the ones the Task's step or the controller would publish.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipetune.catalog import component_file
from pipetune.components import ComponentSpec, load_component
from pipetune.controller import Progress, experiment_document, results_of
from pipetune.errors import ContractError, SpecError
from pipetune.pipeline._kfp import check_known, waves_of
from pipetune.pipeline._schedule import DagSteps, Step, TaskOutcome
from pipetune.publisher import tekton_results
from pipetune.store import RunStore, new_run_id
from pipetune.tekton import EXPERIMENT_API, EXPERIMENT_KIND, check_pipeline, kfp_only, task_for
from pipetune.yamlsafe import dump_yaml

_REFERENCE = re.compile(r"\$\((params|tasks)\.([A-Za-z0-9_.-]+?)(?:\.results\.([A-Za-z0-9_.-]+))?\)")


@dataclass(frozen=True)
class TektonTask:
    """One pipeline task: the catalog component it runs, its params (unresolved), what it
    must wait for; for the tuning custom task, the experiment spec."""

    name: str
    component: ComponentSpec
    params: Mapping[str, Any]
    after: tuple[str, ...]
    experiment: Mapping[str, Any] | None = None
    experiment_name: str | None = None


@dataclass(frozen=True)
class TektonPlan:
    """A Tekton pipeline ready to run: its params (name -> (type, default or None)), its tasks,
    their order as waves, and the params its PipelineRun gives."""

    name: str
    source: str
    parameters: Mapping[str, tuple[str, Any]]
    tasks: Mapping[str, TektonTask]
    waves: tuple[tuple[str, ...], ...]
    given: Mapping[str, Any]


def is_tekton(document: Any) -> bool:
    """Whether ``document`` is a Tekton resource (a ``tekton.dev/*`` apiVersion)."""
    return isinstance(document, Mapping) and str(document.get("apiVersion", "")).startswith("tekton.dev/")


def tekton_plan(documents: list[Any], source: str) -> TektonPlan:
    """The plan of the PipelineRun (else the Pipeline) among ``documents``; Pipelines and
    Experiments it names are looked up among them too."""
    runs = [d for d in documents if is_tekton(d) and d.get("kind") == "PipelineRun"]
    pipelines = {str((d.get("metadata") or {}).get("name")): d for d in documents
                 if is_tekton(d) and d.get("kind") == "Pipeline"}
    experiments = {str((d.get("metadata") or {}).get("name")): d for d in documents
                   if isinstance(d, Mapping) and d.get("apiVersion") == EXPERIMENT_API and d.get("kind") == EXPERIMENT_KIND}
    given: dict[str, Any] = {}
    if runs:
        run = runs[0]
        spec = run.get("spec") or {}
        given = {str(p.get("name")): p.get("value") for p in spec.get("params") or []}
        ref = (spec.get("pipelineRef") or {}).get("name")
        if spec.get("pipelineSpec"):
            pipeline = {"kind": "Pipeline", "metadata": {"name": (run.get("metadata") or {}).get("generateName", "run")},
                        "spec": spec["pipelineSpec"]}
        elif ref in pipelines:
            pipeline = pipelines[ref]
        else:
            raise SpecError(f"{source}: PipelineRun spec.pipelineRef.name: Pipeline {ref!r} is not in the files given")
    elif len(pipelines) == 1:
        pipeline = next(iter(pipelines.values()))
    else:
        raise SpecError(f"{source}: expected a Tekton PipelineRun, or one Pipeline")
    name = str((pipeline.get("metadata") or {}).get("name") or "pipeline").rstrip("-")
    spec = pipeline.get("spec") or {}
    if spec.get("finally"):
        raise SpecError(f"{source}: Pipeline {name}: finally tasks are not run by pipetune pipeline run yet")
    tasks: dict[str, TektonTask] = {}
    task_documents: dict[str, Mapping[str, Any]] = {}
    experiment_parameters: dict[str, list[str]] = {}
    for index, entry in enumerate(spec.get("tasks") or []):
        task_name = str(entry.get("name"))
        where = f"{source}: Pipeline {name} spec.tasks[{index}] ({task_name})"
        if entry.get("when") or entry.get("matrix"):
            raise SpecError(f"{where}: when expressions and matrix are not run by pipetune pipeline run yet")
        ref = entry.get("taskRef") or {}
        params = {str(p.get("name")): p.get("value") for p in entry.get("params") or []}
        after = tuple(entry.get("runAfter") or ())
        if (ref.get("apiVersion"), ref.get("kind")) == (EXPERIMENT_API, EXPERIMENT_KIND):
            found = experiments.get(str(ref.get("name")))
            if found is None:
                raise SpecError(f"{where}.taskRef.name: Experiment {ref.get('name')!r} is not in the files given; "
                                "add its file with -f")
            experiment_parameters[str(ref["name"])] = [p["name"] for p in (found.get("spec") or {}).get("parameters") or []]
            tasks[task_name] = TektonTask(task_name, load_component(component_file("tune")), params, after,
                                          found.get("spec") or {}, str(ref["name"]))
            continue
        if entry.get("taskSpec") is not None or ref.get("apiVersion") or ref.get("kind") not in (None, "", "Task"):
            raise SpecError(f"{where}: only catalog Tasks (taskRef by name) and pipetune's Experiment custom task "
                            "run here")
        file = component_file(str(ref.get("name")))
        if not file.is_file():
            raise SpecError(f"{where}.taskRef.name: {ref.get('name')!r} is not a catalog component; pipetune "
                            "pipeline run runs the catalog's Tasks (components/*/task.yaml) as local runs")
        component = load_component(file)
        task_documents[component.name] = task_for(component, "local")
        tasks[task_name] = TektonTask(task_name, component, params, after)
    problems = check_pipeline(pipeline, task_documents, experiment_parameters)
    if problems:
        raise SpecError(f"{source}: Pipeline {name}: " + "; ".join(problems))
    parameters = {str(p.get("name")): (str(p.get("type") or "string"), p.get("default")) for p in spec.get("params") or []}
    unknown = set(given) - set(parameters)
    if unknown:
        raise SpecError(f"{source}: PipelineRun spec.params: {sorted(unknown)[0]!r} is not a param of Pipeline {name}")
    needs = {n: task_needs(t) for n, t in tasks.items()}
    return TektonPlan(name, source, parameters, tasks, waves_of(needs, source), given)


def task_needs(task: TektonTask) -> set[str]:
    """The tasks ``task`` waits for: ``runAfter`` and those whose results its params use."""
    return set(task.after) | {m.group(2) for v in task.params.values()
                              for m in _REFERENCE.finditer(json.dumps(v)) if m.group(1) == "tasks"}


def bind_tekton_parameters(plan: TektonPlan, given: Mapping[str, str]) -> dict[str, Any]:
    """The pipeline's params: defaults, then the PipelineRun's, then ``given``; a param
    without a value, or one the Pipeline lacks, is a ``SpecError``."""
    check_known(plan.source, plan.parameters, given)
    values: dict[str, Any] = {}
    for name, (_kind, default) in plan.parameters.items():
        value = given.get(name, plan.given.get(name, default))
        if value is None:
            raise SpecError(f"{plan.source}: parameter {name}: required, give -p {name}=VALUE")
        values[name] = value
    return values


class TektonSteps(DagSteps):
    """A Tekton pipeline's tasks as catalog component runs (see the module docstring)."""

    def __init__(self, plan: TektonPlan, values: Mapping[str, Any]) -> None:
        self.plan, self.values = plan, values
        self.order = [n for wave in plan.waves for n in wave]

    def needs(self, name: str) -> set[str]:
        return task_needs(self.plan.tasks[name])

    def make(self, name: str, outcomes: Mapping[str, TaskOutcome], store: RunStore) -> Step:
        task = self.plan.tasks[name]
        params = {key: self._resolve(value, outcomes, f"task {name} param {key}") for key, value in task.params.items()}
        if task.experiment is not None:
            document = experiment_document(task.experiment, task.experiment_name or name, "default",
                                           [{"name": k, "value": v} for k, v in params.items()],
                                           f"{self.plan.source}: task {name}")
            arguments = task.component.bind({"experiment": dump_yaml(document), "engine": "local"})
        else:
            values = {k: v for k, v in params.items()}
            for item in task.component.inputs:
                if item.optional and values.get(item.name) == "":
                    values.pop(item.name)  # Tekton params always have a value: "" stands for absent
            arguments = task.component.bind(values)
        run_id = new_run_id()
        return Step(task.component, arguments, {}, run_id, store.run_dir(run_id) / "outputs")

    def collect(self, key: str, name: str, step: Step, results: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        task = self.plan.tasks[name]
        if results is None:
            raise ContractError(f"task {name} wrote no results")
        if task.experiment is not None:
            names = [p["name"] for p in task.experiment.get("parameters") or []]
            best = results.outputs.get("best_parameters") or {}
            progress = Progress(total=0, best_objective=results.metrics.get("best_objective"),
                                best_parameters=best, parameter_names=tuple(names))
            return {r["name"]: r["value"] for r in results_of(progress)}, {}
        outputs_dir = Path(step.context)
        declared = tuple((o.name, o.is_parameter, outputs_dir / o.name) for o in task.component.outputs if not kfp_only(o))
        return tekton_results(results, declared), {}

    def _resolve(self, value: Any, outcomes: Mapping[str, TaskOutcome], where: str) -> Any:
        if isinstance(value, list):
            return [self._resolve(v, outcomes, where) for v in value]
        if not isinstance(value, str):
            return value

        def one(match: re.Match[str]) -> str:
            kind, name, result = match.groups()
            if kind == "params":
                return str(self.values[name])
            produced = outcomes[name].parameters
            if result not in produced:
                raise SpecError(f"{where}: task {name} published no result {result!r}")
            return str(produced[result])

        return _REFERENCE.sub(one, value)
