"""component.yaml (KFP v1 ComponentSpec format): loaded, validated, typed."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipetune.components._types import coerce, parameter_type
from pipetune.errors import SpecError, UsageError
from pipetune.yamlsafe import load_yaml_file

#: Placeholders a component's command and args may hold (KFP v1 structures).
PLACEHOLDERS = (
    "inputValue",
    "inputPath",
    "inputUri",
    "outputPath",
    "outputUri",
    "concat",
    "if",
    "executorInput",
)
# Keys KFP's v1 ComponentSpec accepts; anything else is a typo or an unquoted ", " in YAML.
_TOP_KEYS = {"name", "description", "metadata", "inputs", "outputs", "implementation", "version"}
_INPUT_KEYS = {"name", "type", "description", "default", "optional", "annotations"}
_OUTPUT_KEYS = {"name", "type", "description", "annotations"}
_CONTAINER_KEYS = {"image", "command", "args", "env", "fileOutputs"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\- ]*$")


@dataclass(frozen=True)
class InputSpec:
    """One declared input; ``type`` is the declared type name (None means untyped artifact)."""

    name: str
    type: str | None = None
    description: str = ""
    default: Any = None
    optional: bool = False

    @property
    def is_parameter(self) -> bool:
        return parameter_type(self.type) is not None

    @property
    def required(self) -> bool:
        return self.default is None and not self.optional


@dataclass(frozen=True)
class OutputSpec:
    """One declared output."""

    name: str
    type: str | None = None
    description: str = ""

    @property
    def is_parameter(self) -> bool:
        return parameter_type(self.type) is not None


@dataclass(frozen=True)
class ContainerSpec:
    """``implementation.container``: what runs, in which image."""

    image: str
    command: tuple[Any, ...] = ()
    args: tuple[Any, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ComponentSpec:
    """A validated component.yaml. ``path`` is where it was loaded from (for messages)."""

    name: str
    container: ContainerSpec
    description: str = ""
    inputs: tuple[InputSpec, ...] = ()
    outputs: tuple[OutputSpec, ...] = ()
    path: Path | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def source(self) -> str:
        return str(self.path) if self.path else f"component {self.name!r}"

    def input(self, name: str) -> InputSpec:
        for item in self.inputs:
            if item.name == name:
                return item
        raise KeyError(name)

    def output(self, name: str) -> OutputSpec:
        for item in self.outputs:
            if item.name == name:
                return item
        raise KeyError(name)

    def bind(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check and type the arguments of one run: defaults filled, strings converted.

        Raises ``UsageError`` naming the file and the input for an unknown input, a missing
        required one, or a value of the wrong type.
        """
        known = {item.name for item in self.inputs}
        for name in values:
            if name not in known:
                listing = ", ".join(sorted(known)) or "none"
                raise UsageError(
                    f"{self.source}: unknown input {name!r}; the component declares: {listing}"
                )
        bound: dict[str, Any] = {}
        for item in self.inputs:
            if item.name in values:
                value = values[item.name]
            elif item.default is not None:
                value = item.default
            elif item.optional:
                continue
            else:
                raise UsageError(
                    f"{self.source}: input {item.name!r} is required "
                    f"(type {item.type or 'Artifact'}); pass --input {item.name}=VALUE"
                )
            if item.is_parameter:
                try:
                    value = coerce(value, item.type or "String")
                except ValueError as exc:
                    raise UsageError(f"{self.source}: input {item.name!r}: {exc}") from None
            bound[item.name] = value
        return bound


def load_component(path: str | os.PathLike[str]) -> ComponentSpec:
    """Load and validate a component.yaml; ``SpecError`` names the file and field on a problem."""
    file = Path(path)
    if file.is_dir():
        file = file / "component.yaml"
    return component_from_dict(load_yaml_file(file), file)


def local_component(spec: ComponentSpec) -> ComponentSpec:
    """``spec`` for a run on this machine: a relative program or file in its command or args
    (``command: [python, ridge.py]``) that exists in the component's folder is made absolute,
    so it runs the same from any working directory, as it does in its image. Placeholders,
    options and words that name nothing in the folder are left as they are; a component not
    loaded from a file is returned unchanged."""
    if spec.path is None:
        return spec
    folder = spec.path.resolve().parent

    def place(items: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(_in_folder(item, folder) for item in items)

    command, args = place(spec.container.command), place(spec.container.args)
    if command == spec.container.command and args == spec.container.args:
        return spec
    return replace(spec, container=replace(spec.container, command=command, args=args))


def _in_folder(item: Any, folder: Path) -> Any:
    if not isinstance(item, str) or not item or item.startswith("-") or os.path.isabs(item):
        return item
    if "\n" in item or "\0" in item:
        return item
    candidate = folder / item
    try:
        found = candidate.exists()
    except (OSError, ValueError):
        return item
    return str(candidate) if found else item


def component_from_dict(data: Any, path: Path | None = None) -> ComponentSpec:
    """Validate a parsed component.yaml document."""
    src = str(path) if path else "component.yaml"
    if not isinstance(data, dict):
        raise SpecError(f"{src}: expected a mapping with name and implementation.container")
    _check_keys(data, _TOP_KEYS, src)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SpecError(f"{src}: name: expected a non-empty string, got {name!r}")
    inputs = tuple(_inputs(data.get("inputs"), src))
    outputs = tuple(_outputs(data.get("outputs"), src))
    implementation = data.get("implementation")
    container = implementation.get("container") if isinstance(implementation, dict) else None
    if not isinstance(container, dict):
        raise SpecError(
            f"{src}: implementation.container is missing; expected a mapping with image, "
            "command and args (graph components are not supported)"
        )
    _check_keys(container, _CONTAINER_KEYS, f"{src}: implementation.container")
    image = container.get("image")
    if not isinstance(image, str) or not image.strip():
        raise SpecError(f"{src}: implementation.container.image: expected an image reference")
    command = _argv(container.get("command"), f"{src}: implementation.container.command")
    args = _argv(container.get("args"), f"{src}: implementation.container.args")
    if not command and not args:
        raise SpecError(f"{src}: implementation.container: expected a command or args")
    env = container.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise SpecError(f"{src}: implementation.container.env: expected a map of strings")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise SpecError(f"{src}: description: expected a string")
    spec = ComponentSpec(
        name=name,
        description=description,
        inputs=inputs,
        outputs=outputs,
        container=ContainerSpec(image=image, command=command, args=args, env=dict(env)),
        path=path,
        raw=data,
    )
    _check_references(spec, src)
    return spec


def _inputs(value: Any, src: str) -> Iterator[InputSpec]:
    seen: set[str] = set()
    for i, item in enumerate(_declarations(value, f"{src}: inputs")):
        where = f"{src}: inputs[{i}]"
        name = _declared_name(item, where, seen)
        _check_keys(item, _INPUT_KEYS, f"{where} ({name})")
        type_name = _type_name(item.get("type"), f"{where} ({name}).type")
        optional = item.get("optional", False)
        if not isinstance(optional, bool):
            raise SpecError(f"{where} ({name}).optional: expected true or false")
        default = item.get("default")
        if default is not None and parameter_type(type_name):
            try:
                default = coerce(default, type_name or "String")
            except ValueError as exc:
                raise SpecError(f"{where} ({name}).default: {exc}") from None
        yield InputSpec(
            name=name,
            type=type_name,
            description=str(item.get("description") or ""),
            default=default,
            optional=optional,
        )


def _outputs(value: Any, src: str) -> Iterator[OutputSpec]:
    seen: set[str] = set()
    for i, item in enumerate(_declarations(value, f"{src}: outputs")):
        where = f"{src}: outputs[{i}]"
        name = _declared_name(item, where, seen)
        _check_keys(item, _OUTPUT_KEYS, f"{where} ({name})")
        yield OutputSpec(
            name=name,
            type=_type_name(item.get("type"), f"{where} ({name}).type"),
            description=str(item.get("description") or ""),
        )


def _check_keys(item: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(str(key) for key in item if key not in allowed)
    if unknown:
        raise SpecError(
            f"{where}: unknown key {unknown[0]!r}; expected {', '.join(sorted(allowed))} "
            "(quote values that contain ', ' or ': ')"
        )


def _declarations(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise SpecError(f"{where}: expected a list of {{name, type, description}} mappings")
    return value


def _declared_name(item: dict[str, Any], where: str, seen: set[str]) -> str:
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(f"{where}.name: expected a name of letters, digits, _ or -, got {name!r}")
    if name in seen:
        raise SpecError(f"{where}.name: {name!r} is declared twice")
    seen.add(name)
    return name


def _type_name(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        # KFP v1 allows {TypeName: {properties}}; only the name matters here.
        return str(next(iter(value)))
    raise SpecError(f"{where}: expected a type name such as String, Integer, Float, Model")


def _argv(value: Any, where: str) -> tuple[Any, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise SpecError(f"{where}: expected a list of strings and placeholders")
    return tuple(value)


def _check_references(spec: ComponentSpec, src: str) -> None:
    inputs = {item.name: item for item in spec.inputs}
    outputs = {item.name for item in spec.outputs}

    def walk(node: Any, where: str) -> None:
        if isinstance(node, (str, int, float, bool)):
            return
        if isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}[{i}]")
            return
        if not isinstance(node, dict) or len(node) != 1:
            raise SpecError(f"{where}: expected a string or one placeholder, got {node!r}")
        key, value = next(iter(node.items()))
        if key not in PLACEHOLDERS and key not in ("isPresent", "inputName"):
            raise SpecError(
                f"{where}: unknown placeholder {key!r}; expected one of {', '.join(PLACEHOLDERS)}"
            )
        if key in ("inputValue", "inputPath", "inputUri", "isPresent"):
            if value not in inputs:
                raise SpecError(
                    f"{where}.{key}: {value!r} is not a declared input "
                    f"(inputs: {', '.join(inputs) or 'none'})"
                )
            if key == "inputValue" and not inputs[value].is_parameter:
                raise SpecError(
                    f"{where}.inputValue: input {value!r} has artifact type "
                    f"{inputs[value].type!r}; use inputPath or declare a parameter type"
                )
        elif key in ("outputPath", "outputUri"):
            if value not in outputs:
                raise SpecError(
                    f"{where}.{key}: {value!r} is not a declared output "
                    f"(outputs: {', '.join(outputs) or 'none'})"
                )
        elif key == "concat":
            if not isinstance(value, list):
                raise SpecError(f"{where}.concat: expected a list")
            walk(value, f"{where}.concat")
        elif key == "if":
            if not isinstance(value, dict) or "cond" not in value or "then" not in value:
                raise SpecError(f"{where}.if: expected a mapping with cond, then and else")
            walk(value["cond"], f"{where}.if.cond")
            for branch in ("then", "else"):
                if branch in value and not isinstance(value[branch], list):
                    raise SpecError(f"{where}.if.{branch}: expected a list of arguments")
                walk(value.get(branch, []), f"{where}.if.{branch}")

    walk(list(spec.container.command), f"{src}: implementation.container.command")
    walk(list(spec.container.args), f"{src}: implementation.container.args")
