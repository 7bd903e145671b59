"""Checks that keep the catalog coherent (specs valid, READMEs present, index and generated
Tekton Tasks in step) and the generation of those Tasks: ``pipetune catalog check`` and
``pipetune catalog generate``.

It sits above what a catalog component is made of (``pipetune.components``) and what it is
turned into (``pipetune.tekton``, ``pipetune.publisher``), so it imports them all.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

from pipetune.atomic import atomic_write_text
from pipetune.components import ComponentSpec, load_component
from pipetune.errors import SpecError
from pipetune.publisher import KFP_PREFIX
from pipetune.tekton import check_task, task_for
from pipetune.version import __version__
from pipetune.yamlsafe import load_yaml_file

INDEX_FILE = "index.yaml"
TASK_FILE = "task.yaml"
TASK_HEADER = "# Generated from component.yaml by `pipetune catalog generate`; do not edit.\n"
_MODULE_COMMAND = re.compile(r"^python(3(\.\d+)?)?$")


def catalog_folders(root: Path) -> list[Path]:
    """The component folders under ``root`` (every visible subdirectory)."""
    return sorted(
        path
        for path in root.iterdir()
        if path.is_dir() and not path.name.startswith((".", "_"))
    )


def check_catalog(root: Path) -> list[str]:
    """Every problem found in the catalog at ``root``, one line each; empty when it is sound."""
    if not root.is_dir():
        return [f"{root}: not a directory; expected the catalog folder (components/)"]
    problems: list[str] = []
    indexed = _index_entries(root, problems)
    folders = {path.name: path for path in catalog_folders(root)}
    for name, folder in folders.items():
        problems.extend(check_component_folder(folder))
        if indexed is not None and name not in indexed:
            problems.append(f"{root / INDEX_FILE}: components: folder {name!r} is not listed")
    for name, path in (indexed or {}).items():
        if name not in folders:
            problems.append(f"{root / INDEX_FILE}: components: {name!r} has no folder {root / name}")
        elif (root / path).resolve() != (folders[name] / "component.yaml").resolve():
            problems.append(
                f"{root / INDEX_FILE}: components: {name!r}: path {path!r} is not "
                f"{name}/component.yaml"
            )
    return problems


class _Dumper(yaml.SafeDumper):
    """Multi-line text (descriptions) as YAML literal blocks, as a person writes them."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def task_text(spec: ComponentSpec) -> str:
    """The Tekton Task file generated from a catalog component."""
    return TASK_HEADER + yaml.dump(task_for(spec, __version__), Dumper=_Dumper, sort_keys=False, width=100)


def task_name_problems(spec: ComponentSpec, spec_file: Path) -> list[str]:
    """Where the Task generated from ``spec`` breaks Tekton's rules (its name, its params'
    and results' names), each naming the component field and the rule."""
    return [f"{spec_file}: the generated Tekton Task: {problem}"
            for problem in check_task(task_for(spec, __version__))
            if problem.startswith(("metadata.name", "spec.params", "spec.results"))]


def generate_tasks(root: Path) -> list[Path]:
    """Write ``task.yaml`` beside every valid ``component.yaml``; the files that changed. A
    component whose Task would break Tekton's name rules is a ``SpecError`` and nothing is
    written."""
    changed = []
    texts: list[tuple[Path, str]] = []
    problems: list[str] = []
    for folder in catalog_folders(root):
        spec_file = folder / "component.yaml"
        if not spec_file.is_file():
            continue
        spec = load_component(spec_file)
        problems += task_name_problems(spec, spec_file)
        texts.append((folder, task_text(spec)))
    if problems:
        raise SpecError("; ".join(problems))
    for folder, text in texts:
        target = folder / TASK_FILE
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            atomic_write_text(target, text)
            changed.append(target)
    return changed


def check_component_folder(folder: Path) -> list[str]:
    """Problems with one component folder: its spec, its README, its name, its entrypoint."""
    problems = []
    spec_file = folder / "component.yaml"
    spec: ComponentSpec | None = None
    if not spec_file.is_file():
        problems.append(f"{spec_file}: missing; every catalog folder holds a component.yaml")
    else:
        try:
            spec = load_component(spec_file)
        except SpecError as exc:
            problems.append(str(exc))
        if spec is not None:
            problems += task_name_problems(spec, spec_file)
            task_file = folder / TASK_FILE
            if not task_file.is_file():
                problems.append(f"{task_file}: missing; run `pipetune catalog generate`")
            elif task_file.read_text(encoding="utf-8") != task_text(spec):
                problems.append(f"{task_file}: out of date with component.yaml; run `pipetune catalog generate`")
    readme = folder / "README.md"
    if not readme.is_file() or not readme.read_text(encoding="utf-8").strip():
        problems.append(f"{readme}: missing or empty; every component documents its usage")
    if spec is not None:
        if spec.name != folder.name:
            problems.append(
                f"{spec_file}: name: expected {folder.name!r} (the folder's name), got {spec.name!r}"
            )
        if not spec.description.strip():
            problems.append(f"{spec_file}: description: expected a description of the component")
        problems += _kfp_problems(spec, spec_file)
        module = _python_module(spec)
        if module and module.startswith("pipetune.") and importlib.util.find_spec(module) is None:
            problems.append(
                f"{spec_file}: implementation.container.command: module {module!r} does not exist"
            )
    return problems


def _kfp_problems(spec: ComponentSpec, spec_file: Path) -> list[str]:
    """A catalog component runs through the publisher with KFP's executor input and declares
    the two outputs it fills, so KFP shows its metrics (``pipetune.kfp``)."""
    problems = []
    command = list(spec.container.command)
    expected = [*KFP_PREFIX, {"executorInput": None}, "--"]
    if command[: len(expected)] != expected:
        problems.append(
            f"{spec_file}: implementation.container.command: expected it to start with "
            "[pipetune, exec, --kfp-executor-input, {executorInput: null}, --] before the "
            "component's own command, so the publisher writes KFP's executor output"
        )
    outputs = {output.name: str(output.type or "") for output in spec.outputs}
    for name, kind in (("metrics", "Metrics"), ("results", "String")):
        if outputs.get(name) != kind:
            problems.append(f"{spec_file}: outputs: expected {{name: {name}, type: {kind}}}, which the "
                            "publisher fills for KFP")
    return problems


def _index_entries(root: Path, problems: list[str]) -> dict[str, str] | None:
    index = root / INDEX_FILE
    try:
        data = load_yaml_file(index)
    except SpecError as exc:
        problems.append(str(exc))
        return None
    entries = data.get("components") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        problems.append(f"{index}: components: expected a list of {{name, path}} entries")
        return None
    found: dict[str, str] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not isinstance(
            entry.get("path"), str
        ):
            problems.append(f"{index}: components[{i}]: expected a mapping with name and path")
            continue
        if entry["name"] in found:
            problems.append(f"{index}: components[{i}]: {entry['name']!r} is listed twice")
        found[entry["name"]] = entry["path"]
    return found


def _python_module(spec: ComponentSpec) -> str | None:
    command = list(spec.container.command)
    if "--" in command:
        command = command[command.index("--") + 1:]  # the component's own, inside the publisher
    command = [part for part in command if isinstance(part, str)]
    if len(command) >= 3 and _MODULE_COMMAND.match(command[0]) and command[1] == "-m":
        return command[2]
    return None


__all__ = [
    "INDEX_FILE",
    "TASK_FILE",
    "TASK_HEADER",
    "catalog_folders",
    "check_catalog",
    "check_component_folder",
    "generate_tasks",
    "task_name_problems",
    "task_text",
]
