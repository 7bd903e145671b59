"""Components: load and validate component.yaml, resolve its placeholders. The catalog's own
checks (``pipetune catalog check``) are ``pipetune.catalog.check``."""

from pipetune.components._placeholders import resolve_command
from pipetune.components._spec import (
    ComponentSpec,
    ContainerSpec,
    InputSpec,
    OutputSpec,
    component_from_dict,
    load_component,
    local_component,
)
from pipetune.components._types import coerce, format_value, parameter_type, plain_value

__all__ = [
    "ComponentSpec",
    "ContainerSpec",
    "InputSpec",
    "OutputSpec",
    "coerce",
    "component_from_dict",
    "format_value",
    "load_component",
    "local_component",
    "parameter_type",
    "plain_value",
    "resolve_command",
]
