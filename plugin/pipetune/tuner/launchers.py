"""Launchers turn a trial's assignment into what an engine runs: a component and arguments."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from pipetune.components import ComponentSpec, ContainerSpec

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

    def prepare(self, index: int, assignment: Mapping[str, Any]) -> tuple[ComponentSpec, dict[str, Any]]:
        values = self.render(index, assignment) if self.render else {**self.arguments, **assignment}
        return self.component, self.component.bind(values)


class FunctionLauncher:
    """Each trial calls a Python function with the assignment (see ``FunctionEngine``)."""

    def __init__(self, name: str) -> None:
        # The engine runs the function; the spec only names the run in the store.
        self.component = ComponentSpec(name=name, container=ContainerSpec(image="in-process"))

    def prepare(self, index: int, assignment: Mapping[str, Any]) -> tuple[ComponentSpec, dict[str, Any]]:
        return self.component, dict(assignment)
