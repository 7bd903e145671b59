"""Launchers turn a trial's assignment into what an engine runs: a component and arguments."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pipetune.components import ComponentSpec, ContainerSpec, format_value, local_component
from pipetune.contract import LogMetrics, collector_argv
from pipetune.engines.base import ResourceRequest
from pipetune.errors import PipetuneError, SpecError
from pipetune.experiment import (
    Experiment,
    local_command,
    local_override,
    move_collector_path,
    move_in_manifest,
    render_trial,
)
from pipetune.kinds import (
    COLLECTOR_IMAGE,
    CollectorError,
    add_metrics_collector,
    check_training_job,
    collector_folder,
    is_training_job,
    replica_roles,
)
from pipetune.names import trial_name
from pipetune.programs import missing_file
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

#: The outputs folder as a container sees it (the local engine maps it to each replica's).
CONTAINER_OUTPUTS = "/outputs"


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
    goes as it is, with the template's conditions and primary pod, and for a File or
    TensorFlowEvent collector pipetune's collector container beside the primary one. A component trial runs as
    its own ``batch/v1 Job`` on a cluster, or with ``taskruns=True`` (the Tekton controller)
    as a ``TaskRun`` of the catalog Task of the same name (``components/<name>/task.yaml``)."""

    def __init__(
        self,
        experiment: Experiment,
        local: bool = True,
        namespace: str | None = None,
        taskruns: bool = False,
        collector_image: str = COLLECTOR_IMAGE,
    ) -> None:
        self.experiment = experiment
        self.collector_image = collector_image
        self.local = local
        self.namespace = experiment.namespace or namespace or "default"
        self.taskruns = taskruns

    def check(self, space: Space) -> None:
        """Prepare a trial of the search space's first point, so a template this engine can't
        run (a kind with no local equivalent, a collector it can't read, an invalid replica
        spec, an image's program that is not on this machine) is one ``SpecError`` before any
        trial starts rather than every trial's failure."""
        if isinstance(space, SearchSpace):
            prepared = self.prepare(0, space.first_point(), Path("/nonexistent/outputs"))
            if self.local:
                self._check_programs(prepared)

    def _check_programs(self, prepared: PreparedTrial) -> None:
        """A local trial whose program or script is an image's file, absent here, is refused
        with the way to run it (``--local-command``)."""
        commands: list[tuple[str, list[str]]] = []
        resource = prepared.resource
        if resource is not None and is_training_job(resource.manifest):
            override = resource.local_override or {}
            for role in replica_roles(resource.manifest):
                argv = list(role.command)
                if override.get("command") is not None or override.get("args") is not None:
                    base: list[Any] = list(override.get("command") or role.container.get("command") or [])
                    given = override.get("args")
                    args: list[Any] = list(given if given is not None else role.container.get("args") or [])
                    argv = [str(x) for x in [*base, *args]]
                commands.append((role.image, argv))
        elif self.experiment.component is None:
            container = prepared.component.container
            commands.append((container.image, list(container.command)))
        for image, argv in commands:
            missing = missing_file(argv)
            if missing is not None:
                raise SpecError(
                    f"{self.experiment.source}: spec.trialTemplate.trialSpec: image {image!r} runs "
                    f"{missing}, which is not on this machine (an image's files are not here); "
                    "run the trials with --local-command 'python3 path/to/your/script.py' (its "
                    "arguments follow the template's), or with --engine kubernetes"
                )

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
        """Deterministic, so a restarted tuner finds its Kubernetes children again
        (``names.trial_name``)."""
        return trial_name(self.experiment.name, index, attempt)

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
        # Katib's StdOut collector reads the container's stdout and stderr merged (its webhook
        # appends `1>file 2>&1`), and Katib's own example images log to stderr.
        log_metrics = LogMetrics(
            names=names,
            filters=tuple(collector.filters) or None,
            json=collector.format == "JSON",
            merged=collector.kind == "StdOut",
        )
        if not self.local and collector.cluster_error:
            raise SpecError(f"{experiment.source}: {collector.cluster_error}")
        if not self.local and collector.kind in ("File", "TensorFlowEvent") and collector.path:
            resource, log_metrics = self._cluster_collector(resource, log_metrics)
        if not self.local or is_training_job(rendered):
            problems = check_training_job(rendered) if is_training_job(rendered) else []
            if problems:
                raise SpecError(f"{experiment.source}: spec.trialTemplate.trialSpec." + "; ".join(problems))
            if self.local:
                resource, log_metrics = self._local_training_job(resource, log_metrics, outputs_dir)
            named = ComponentSpec(name=name, container=ContainerSpec(image=_image_of(rendered)))
            return PreparedTrial(named, {}, log_metrics, resource, name)
        command = local_command(rendered, experiment, assignment).with_outputs_dir(outputs_dir)
        log_metrics = dataclasses.replace(log_metrics, file=command.metrics_file, tfevents=command.events_dir)
        return PreparedTrial(command.to_component(name), {}, log_metrics, resource, name)

    def _cluster_collector(
        self, resource: ResourceRequest, log_metrics: LogMetrics
    ) -> tuple[ResourceRequest, LogMetrics]:
        """A File or TensorFlowEvent collector on a cluster: pipetune's collector container
        beside the primary one (``pipetune.kinds.add_metrics_collector``) reads the file or the
        event folder at the path the trial's container sees; refused with the reason where it
        can't be added."""
        experiment = self.experiment
        collector = experiment.metrics_collector
        assert collector.path is not None
        tfevents = collector.kind == "TensorFlowEvent"
        if tfevents:
            log_metrics = dataclasses.replace(log_metrics, tfevents=collector.path, merged=False)
        else:
            log_metrics = dataclasses.replace(log_metrics, file=collector.path, merged=False)
        try:
            manifest = add_metrics_collector(
                resource.manifest,
                experiment.trial_template.primary_container_name,
                collector_folder(collector.path, tfevents),
                collector_argv(log_metrics),
                self.collector_image,
                experiment.trial_template.primary_pod_labels,
                collector.resources,
            )
        except CollectorError as exc:
            raise SpecError(f"{experiment.source}: spec.trialTemplate.trialSpec: {exc}") from None
        return dataclasses.replace(resource, manifest=manifest), log_metrics

    def _local_training_job(
        self, resource: ResourceRequest, log_metrics: LogMetrics, outputs_dir: Path
    ) -> tuple[ResourceRequest, LogMetrics]:
        """A training job run here honours the collector as a Job does: refused when it can't
        be read here; a metrics file or event folder moved into the outputs (to ``/outputs``
        in every container, which the local engine maps to each replica's outputs)."""
        experiment = self.experiment
        collector = experiment.metrics_collector
        if collector.local_error:
            raise SpecError(f"{experiment.source}: {collector.local_error}")
        if collector.kind not in ("File", "TensorFlowEvent") or not collector.path:
            return resource, log_metrics
        override = dict(resource.local_override or {})
        texts = [*_container_texts(resource.manifest), *_override_texts(override)]
        move, moved = move_collector_path(collector.path, texts, CONTAINER_OUTPUTS)
        if override:
            override = {
                "command": None if override.get("command") is None else [move(x) for x in override["command"]],
                "args": None if override.get("args") is None else [move(x) for x in override["args"]],
                "env": {k: move(v) for k, v in (override.get("env") or {}).items()},
            }
        resource = dataclasses.replace(
            resource, manifest=move_in_manifest(resource.manifest, move), local_override=override or None
        )
        here = str(outputs_dir) + moved[len(CONTAINER_OUTPUTS):]
        if collector.kind == "File":
            return resource, dataclasses.replace(log_metrics, file=here)
        return resource, dataclasses.replace(log_metrics, tfevents=here)


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


def _container_texts(manifest: Mapping[str, Any]) -> Iterator[str]:
    """Every command, args and env value of every container in a manifest."""
    stack: list[Any] = [manifest]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in ("containers", "initContainers"):
                for container in node.get(key) or []:
                    if not isinstance(container, dict):
                        continue
                    for item in [*(container.get("command") or []), *(container.get("args") or [])]:
                        if isinstance(item, str):
                            yield item
                    for env in container.get("env") or []:
                        if isinstance(env, dict) and isinstance(env.get("value"), str):
                            yield env["value"]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _override_texts(override: Mapping[str, Any]) -> list[str]:
    return [*(override.get("command") or []), *(override.get("args") or []), *(override.get("env") or {}).values()]
