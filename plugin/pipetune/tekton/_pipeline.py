"""A Tekton Pipeline checked against what it references: catalog Tasks and the tuner.

``custom_task_results`` is the one place that says which results the tuner's custom task
(``pipetune.dev/v1alpha1 Experiment``) publishes: ``best-<parameter>`` for each parameter,
``best-objective`` and ``best-parameters`` (JSON), and for a multi-objective experiment
``pareto-front`` (JSON: a list of ``{trial, parameters, values}``). ``check_pipeline`` resolves every task
reference and every ``$(tasks.X.results.Y)`` / ``$(params.Z)`` of a ``tekton.dev/v1``
Pipeline (or a PipelineRun's embedded ``pipelineSpec``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from pipetune.kinds import EXPERIMENT_API, EXPERIMENT_KIND
from pipetune.tekton._task import strings as _strings

_TASK_RESULT = re.compile(r"\$\(tasks\.([^.)]+)\.results\.([^.)\[]+)")
_PARAM = re.compile(r"\$\(params\.([^.)\[]+)")


#: The custom task's result holding a multi-objective experiment's Pareto front.
PARETO_FRONT_RESULT = "pareto-front"


def custom_task_results(parameter_names: list[str], multi_objective: bool = False) -> list[str]:
    """The results a tuning custom task publishes for an experiment with these parameters
    (and several objectives)."""
    names = [f"best-{name}" for name in parameter_names] + ["best-objective", "best-parameters"]
    return [*names, PARETO_FRONT_RESULT] if multi_objective else names


def is_multi_objective(spec: Mapping[str, Any]) -> bool:
    """Whether an Experiment ``spec`` (as written) lists more than one objective."""
    objectives = spec.get("objectives")
    return isinstance(objectives, list) and len(objectives) > 1


def check_pipeline(
    pipeline: Mapping[str, Any],
    tasks: Mapping[str, Mapping[str, Any]],
    experiments: Mapping[str, list[str]],
    multi_objective: Collection[str] = (),
) -> list[str]:
    """Problems with ``pipeline``: references to Tasks not in ``tasks`` (by name), to custom
    tasks that are not a known Experiment (name -> its parameter names; those named in
    ``multi_objective`` also give ``pareto-front``), results a task does not declare, params
    the pipeline does not declare, ``runAfter`` naming no task."""
    spec = pipeline.get("spec") or {}
    if pipeline.get("kind") == "PipelineRun":
        spec = spec.get("pipelineSpec") or {}
    problems: list[str] = []
    declared_params = {p.get("name") for p in spec.get("params") or []}
    provides: dict[str, set[str]] = {}
    entries = list(spec.get("tasks") or []) + list(spec.get("finally") or [])
    for index, task in enumerate(entries):
        name = task.get("name")
        where = f"spec.tasks[{index}] ({name})"
        ref = task.get("taskRef") or {}
        embedded = task.get("taskSpec")
        if ref.get("apiVersion") or ref.get("kind") not in (None, "", "Task"):
            if (ref.get("apiVersion"), ref.get("kind")) != (EXPERIMENT_API, EXPERIMENT_KIND):
                problems.append(f"{where}.taskRef: custom task {ref.get('apiVersion')}/{ref.get('kind')} is not pipetune's")
                continue
            if ref.get("name") not in experiments:
                problems.append(f"{where}.taskRef.name: no Experiment named {ref.get('name')!r}")
                continue
            provides[name] = set(custom_task_results(experiments[ref["name"]], ref["name"] in multi_objective))
        elif embedded is not None:
            provides[name] = {r.get("name") for r in embedded.get("results") or []}
        elif ref.get("name") in tasks:
            provides[name] = {r.get("name") for r in (tasks[ref["name"]].get("spec") or {}).get("results") or []}
            task_params = {p.get("name") for p in (tasks[ref["name"]].get("spec") or {}).get("params") or []}
            for param in task.get("params") or []:
                if param.get("name") not in task_params:
                    problems.append(f"{where}.params: {param.get('name')!r} is not a param of Task {ref['name']}")
        else:
            problems.append(f"{where}.taskRef.name: no catalog Task named {ref.get('name')!r}")
    names = {task.get("name") for task in entries}
    for index, task in enumerate(entries):
        where = f"spec.tasks[{index}] ({task.get('name')})"
        for after in task.get("runAfter") or []:
            if after not in names:
                problems.append(f"{where}.runAfter: no task named {after!r}")
        for text in _strings(task.get("params") or []) + _strings(task.get("when") or []):
            for source, result in _TASK_RESULT.findall(text):
                if source not in provides:
                    problems.append(f"{where}: $(tasks.{source}.results.{result}) names no task")
                elif result not in provides[source]:
                    problems.append(f"{where}: task {source!r} has no result {result!r}")
            for param in _PARAM.findall(text):
                if param not in declared_params:
                    problems.append(f"{where}: $(params.{param}) is not a Pipeline param")
    return problems
