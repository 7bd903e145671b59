"""Launchers turn a trial's assignment into what an engine runs: a component and arguments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from pipetune.components import ComponentSpec, ContainerSpec
from pipetune.contract import LogMetrics


@dataclass(frozen=True)
class PreparedTrial:
    """One trial, ready for an engine: the component, its bound arguments, and how to read
    its metrics from the log if it writes no results.yaml."""

    component: ComponentSpec
    arguments: dict[str, Any]
    log_metrics: LogMetrics | None = None


class TrialLauncher(Protocol):
    """Makes trial ``index`` from its assignment; ``outputs_dir`` is where the run will write."""

    def prepare(self, index: int, assignment: Mapping[str, Any], outputs_dir: Path) -> PreparedTrial:
        ...

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

    def prepare(self, index: int, assignment: Mapping[str, Any], outputs_dir: Path) -> PreparedTrial:
        values = self.render(index, assignment) if self.render else {**self.arguments, **assignment}
        return PreparedTrial(self.component, self.component.bind(values))


class FunctionLauncher:
    """Each trial calls a Python function with the assignment (see ``FunctionEngine``)."""

    def __init__(self, name: str) -> None:
        # The engine runs the function; the spec only names the run in the store.
        self.component = ComponentSpec(name=name, container=ContainerSpec(image="in-process"))

    def prepare(self, index: int, assignment: Mapping[str, Any], outputs_dir: Path) -> PreparedTrial:
        return PreparedTrial(self.component, dict(assignment))


class ExperimentLauncher:
    """Trials of an experiment spec: its component with the rendered arguments, or its trial
    resource (a Katib ``batch/v1 Job``) mapped to a local command."""

    def __init__(self, experiment: Any) -> None:
        self.experiment = experiment

    def trial_name(self, index: int) -> str:
        """Deterministic, as Kubernetes children's names will be: ``<experiment>-<index>``."""
        return f"{self.experiment.name}-{index:04d}"

    def prepare(self, index: int, assignment: Mapping[str, Any], outputs_dir: Path) -> PreparedTrial:
        from pipetune.spec import local_command, render_trial

        experiment = self.experiment
        names = experiment.objective.metric_names
        rendered = render_trial(experiment, assignment, self.trial_name(index))
        component = experiment.component
        if component is not None:
            return PreparedTrial(component, dict(rendered), LogMetrics(names=names))
        command = local_command(rendered, experiment, assignment).with_outputs_dir(outputs_dir)
        collector = experiment.metrics_collector
        log_metrics = LogMetrics(
            names=names,
            filters=tuple(collector.filters) or None,
            file=command.metrics_file,
            json=collector.format == "JSON",
        )
        return PreparedTrial(command.to_component(self.trial_name(index)), {}, log_metrics)
