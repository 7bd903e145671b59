"""Launchers turn a trial's assignment into what an engine runs: a component and arguments."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pipetune.components import ComponentSpec, ContainerSpec, format_value, local_component
from pipetune.contract import LogMetrics
from pipetune.engines.base import ResourceRequest
from pipetune.errors import PipetuneError, SpecError
from pipetune.experiment import Experiment, local_command, local_override, render_trial
from pipetune.kinds import check_training_job, is_training_job
from pipetune.tuner.identity import function_identity, plain, program_hashes
from pipetune.tuner.space import SearchSpace, Space


@dataclass(frozen=True)
class PreparedTrial:
    """One trial, ready for an engine: the component, its bound arguments, and how to read
    its metrics from the log if it writes no results.yaml."""

    component: ComponentSpec
    arguments: dict[str, Any]
    log_metrics: LogMetrics | None = None
    #: The trial as a Kubernetes resource, for engines that run resources.
    resource: ResourceRequest | None = None
    #: The trial's deterministic name, for a cluster engine's resource.
    name: str | None = None


class TrialLauncher(Protocol):
    """Makes trial ``index`` from its assignment; ``outputs_dir`` is where the run will write."""

    def check(self, space: Space) -> None:
        """Raise ``SpecError`` (or ``UsageError``) when no trial of ``space`` could be made,
        before any runs: ``Session`` calls it once."""
        ...

    def prepare(
        self, index: int, assignment: Mapping[str, Any], outputs_dir: Path, attempt: int = 0
    ) -> PreparedTrial:
        ...

    def identity(self, space: Space) -> dict[str, Any]:
        """What defines a trial, as JSON data (``tuner.identity``): a rerun whose trials
        would differ is another experiment."""
        ...


def component_identity(component: ComponentSpec, local: bool = True) -> dict[str, Any]:
    """A component as an experiment's identity holds it: its spec as written (not where it
    lies), and for a local run the content hash of the program its command runs."""
    spec = plain(component.raw) if component.raw else plain(component)
    if isinstance(spec, dict):
        spec.pop("path", None)
    found: dict[str, Any] = {"spec": spec}
    if local:
        folder = component.path.parent if component.path is not None else None
        found["programs"] = program_hashes([*component.container.command, *component.container.args], folder)
    return found

Render = Callable[[int, Mapping[str, Any]], Mapping[str, Any]]


class ComponentLauncher:
    """Each trial runs ``component`` with the arguments ``render`` makes from the assignment
    (by default: the fixed ``arguments`` plus the assignment, names as input names)."""

    def __init__(
        self,
        component: ComponentSpec,
        arguments: Mapping[str, Any] | None = None,
        render: Render | None = None,
    ) -> None:
        self.component = component
        self.arguments = dict(arguments or {})
        self.render = render

    def check(self, space: Space) -> None:
        """Bind the component's inputs for the space's first point: an argument or parameter
        the component doesn't declare, or a required input nobody gives, fails here."""
        if isinstance(space, SearchSpace):
            self.prepare(0, space.first_point(), Path("/nonexistent/outputs"))

    def prepare(
        self, index: int, assignment: Mapping[str, Any], outputs_dir: Path, attempt: int = 0
    ) -> PreparedTrial:
        values = self.render(index, assignment) if self.render else {**self.arguments, **assignment}
        return PreparedTrial(local_component(self.component), self.component.bind(values))

    def identity(self, space: Space) -> dict[str, Any]:
        return {"component": component_identity(self.component), "arguments": plain(self.arguments)}


class FunctionLauncher:
    """Each trial calls a Python function with the assignment (see ``FunctionEngine``)."""

    def __init__(self, name: str, function: Callable[..., Any] | None = None) -> None:
        # The engine runs the function; the spec only names the run in the store.
        self.component = ComponentSpec(name=name, container=ContainerSpec(image="in-process"))
        self.function = function

    def check(self, space: Space) -> None:
        """Nothing to check before the function runs: it takes any assignment."""

    def prepare(
        self, index: int, assignment: Mapping[str, Any], outputs_dir: Path, attempt: int = 0
    ) -> PreparedTrial:
        return PreparedTrial(self.component, dict(assignment))

    def identity(self, space: Space) -> dict[str, Any]:
        return {"objective": function_identity(self.function)} if self.function is not None else {}


class ExperimentLauncher:
    """Trials of an experiment spec: its component with the rendered arguments, or its trial
    resource. For the local engine (``local=True``) a ``batch/v1 Job`` is mapped to a local
    command and a training job is handed over for the engine to run replica by replica; a
    kind that can't run here is the trial's error. For a cluster engine the rendered resource
    goes as it is, with the template's conditions and primary pod. A component trial runs as
    its own ``batch/v1 Job`` on a cluster, or with ``taskruns=True`` (the Tekton controller)
    as a ``TaskRun`` of the catalog Task of the same name (``components/<name>/task.yaml``)."""

    def __init__(
        self, experiment: Experiment, local: bool = True, namespace: str | None = None, taskruns: bool = False
    ) -> None:
        self.experiment = experiment
        self.local = local
        self.namespace = experiment.namespace or namespace or "default"
        self.taskruns = taskruns

    def check(self, space: Space) -> None:
        """Prepare a trial of the search space's first point, so a template this engine can't
        run (a kind with no local equivalent, a collector it can't read, an invalid replica
        spec) is one ``SpecError`` before any trial starts rather than every trial's failure."""
        if isinstance(space, SearchSpace):
            self.prepare(0, space.first_point(), Path("/nonexistent/outputs"))

    def identity(self, space: Space) -> dict[str, Any]:
        """The trial template (its resource or component, with ``spec.local``, the metrics
        collector and the template's conditions) and, for a local run, the content hash of the
        program a trial runs."""
        experiment = self.experiment
        template = experiment.trial_template
        found: dict[str, Any] = {
            "trialParameters": plain(template.trial_parameters),
            "trialSpec": plain(template.trial_spec),
            "primaryContainerName": template.primary_container_name,
            "successCondition": template.success_condition,
            "failureCondition": template.failure_condition,
            "metricsCollectorSpec": plain(experiment.metrics_collector),
            "local": plain(experiment.local),
        }
        if template.component is not None:
            found["component"] = component_identity(template.component.component, self.local)
            found["arguments"] = plain(template.component.arguments)
        elif self.local and isinstance(space, SearchSpace):
            try:
                prepared = self.prepare(0, space.first_point(), Path("/nonexistent/outputs"))
            except PipetuneError:  # what the session's check already reported
                return found
            container = prepared.component.container
            found["programs"] = program_hashes([*container.command, *container.args])
        return found

    def trial_name(self, index: int, attempt: int = 0) -> str:
        """Deterministic, so a restarted tuner finds its Kubernetes children again:
        ``<experiment>-<index>``, and ``-<attempt>`` for a retry."""
        name = f"{self.experiment.name}-{index:04d}"
        return f"{name}-{attempt}" if attempt else name

    def prepare(
        self, index: int, assignment: Mapping[str, Any], outputs_dir: Path, attempt: int = 0
    ) -> PreparedTrial:
        experiment = self.experiment
        names = experiment.objective.metric_names
        name = self.trial_name(index, attempt)
        rendered = render_trial(experiment, assignment, name, self.namespace)
        component = experiment.component
        if component is not None:
            resource = None
            if self.taskruns and not self.local:
                # Kept when done, as Tekton keeps TaskRuns: the trial's record (its owner removes it).
                resource = ResourceRequest(manifest=task_run(component, rendered, name, self.namespace), retain=True)
            if self.local:
                component = local_component(component)
            return PreparedTrial(component, dict(rendered), LogMetrics(names=names), resource, name)
        template = experiment.trial_template
        collector = experiment.metrics_collector
        resource = ResourceRequest(
            manifest=rendered,
            success_condition=template.success_condition,
            failure_condition=template.failure_condition,
            primary_pod_labels=dict(template.primary_pod_labels) or None,
            primary_container=template.primary_container_name,
            retain=template.retain,
            local_override=local_override(rendered, experiment, assignment),
        )
        log_metrics = LogMetrics(
            names=names, filters=tuple(collector.filters) or None, json=collector.format == "JSON"
        )
        if not self.local and collector.cluster_error:
            raise SpecError(f"{experiment.source}: {collector.cluster_error}")
        if not self.local or is_training_job(rendered):
            problems = check_training_job(rendered) if is_training_job(rendered) else []
            if problems:
                raise SpecError(f"{experiment.source}: spec.trialTemplate.trialSpec." + "; ".join(problems))
            named = ComponentSpec(name=name, container=ContainerSpec(image=_image_of(rendered)))
            return PreparedTrial(named, {}, log_metrics, resource, name)
        command = local_command(rendered, experiment, assignment).with_outputs_dir(outputs_dir)
        log_metrics = LogMetrics(
            names=names,
            filters=log_metrics.filters,
            file=command.metrics_file,
            json=log_metrics.json,
        )
        return PreparedTrial(command.to_component(name), {}, log_metrics, resource, name)


def task_run(component: ComponentSpec, arguments: Mapping[str, Any], name: str, namespace: str) -> dict[str, Any]:
    """A ``tekton.dev/v1`` TaskRun of the catalog Task generated from ``component``: one
    string param per bound input (Tekton params are strings; the Task's step parses them as
    the component's types)."""
    inputs = {item.name for item in component.inputs}
    params = [
        {"name": key, "value": format_value(value)}
        for key, value in arguments.items()
        if key in inputs and value is not None
    ]
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"taskRef": {"kind": "Task", "name": component.name}, "params": params},
    }


def _image_of(resource: Mapping[str, Any]) -> str:
    """The first container image in a manifest, to name the run's image in the store."""
    stack: list[Any] = [resource]
    while stack:
        node = stack.pop(0)
        if isinstance(node, dict):
            if isinstance(node.get("image"), str) and ("command" in node or "name" in node):
                return node["image"]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return ""
