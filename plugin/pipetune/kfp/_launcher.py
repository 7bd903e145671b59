"""What KFP's launcher does to a task's container before it runs, as plain functions, so
``pipetune pipeline run`` runs a compiled pipeline's tasks here as KFP would in a pod: build
the ExecutorInput, substitute the placeholders (``{{$}}``, ``{{$.inputs.parameters['x']}}``,
output files, artifact paths, the IfPresent/Concat JSON forms), and, after the run, read the
outputs back (the executor output's values first, then the output parameter files, parsed by
their declared types with ``typed``), as ``backend/src/v2/component/launcher_v2.go`` does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipetune.errors import ContractError, SpecError

#: The parameter types of KFP's pipeline IR (``parameterType``).
PARAMETER_TYPES = ("STRING", "NUMBER_INTEGER", "NUMBER_DOUBLE", "BOOLEAN", "STRUCT", "LIST")
_PLACEHOLDER = re.compile(
    r"\{\{\$\.(inputs|outputs)\.(parameters|artifacts)\['([^']+)'\](?:\.(output_file|path|uri))?\}\}")
#: The head of a lightweight Python component's command, as kfp's compiler writes it.
_LIGHTWEIGHT = "kfp.dsl.executor_main"


def executor_input(values: Mapping[str, Any], artifacts_in: Mapping[str, tuple[Mapping[str, str], str]],
                   output_parameters: Sequence[str], output_artifacts: Mapping[str, Mapping[str, str]],
                   root: Path) -> dict[str, Any]:
    """The ExecutorInput of one task run under ``root``: output parameter files in
    ``root/parameters``, artifacts in ``root/artifacts/<name>``, the executor output file
    ``root/executor_output.json``. ``artifacts_in``: input name -> (artifact type, path)."""
    return {
        "inputs": {
            "parameterValues": dict(values),
            "artifacts": {
                name: {"artifacts": [{"name": name, "type": dict(kind), "uri": str(path), "metadata": {}}]}
                for name, (kind, path) in artifacts_in.items()
            },
        },
        "outputs": {
            "parameters": {name: {"outputFile": str(root / "parameters" / name)} for name in output_parameters},
            "artifacts": {
                name: {"artifacts": [{"name": name, "type": dict(kind), "uri": str(root / "artifacts" / name),
                                      "metadata": {}}]}
                for name, kind in output_artifacts.items()
            },
            "outputFile": str(root / "executor_output.json"),
        },
    }


def substitute(items: Sequence[str], value: Mapping[str, Any], paths: Mapping[str, str] | None = None) -> list[str]:
    """The launcher's substitutions over a command or args list. An artifact's ``.path`` is
    ``paths[name]`` (where the launcher mounts its URI), by default its URI, which is a path
    when it runs here."""
    parameters = value["inputs"].get("parameterValues", {})
    out: list[str] = []
    for item in items:
        if item.startswith('{"IfPresent"'):
            spec = json.loads(item)["IfPresent"]
            present = spec["InputName"] in parameters or spec["InputName"] in value["inputs"].get("artifacts", {})
            out += substitute(list(spec.get("Then" if present else "Else") or []), value, paths)
            continue
        if item.startswith('{"Concat"'):
            out.append("".join(substitute(list(json.loads(item)["Concat"]), value, paths)))
            continue

        def one(match: re.Match[str]) -> str:
            side, kind, name, attribute = match.groups()
            if side == "inputs" and kind == "parameters":
                return parameter_text(parameters[name])
            section = value[side]["parameters" if kind == "parameters" else "artifacts"][name]
            if kind == "parameters":
                return str(section["outputFile"])
            if attribute == "path" and paths and name in paths:
                return paths[name]
            return str(section["artifacts"][0]["uri"])

        out.append(_PLACEHOLDER.sub(one, item.replace("{{$}}", json.dumps(value))))
    return out


def parameter_text(value: Any) -> str:
    """A parameter value on a command line, as the launcher writes it (Go's FormatFloat for
    numbers: 2.0 is ``2``; JSON for lists and objects)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def lightweight_program(command: Sequence[str]) -> str | None:
    """A lightweight Python component's source (the last item of its compiled command), or
    None for a container component. Here it runs with this machine's kfp, without the
    ``pip install`` the command would do in its image."""
    if len(command) >= 2 and command[0] == "sh" and any(_LIGHTWEIGHT in item for item in command[:-1]):
        return command[-1]
    return None


def read_outputs(value: Mapping[str, Any], types: Mapping[str, str]) -> dict[str, Any]:
    """A finished task's output parameters: the executor output's ``parameterValues`` first,
    then each output file parsed by its declared type (``ContractError`` if one is missing)."""
    written: dict[str, Any] = {}
    output_file = Path(value["outputs"]["outputFile"])
    if output_file.is_file():
        try:
            written = dict((json.loads(output_file.read_text()) or {}).get("parameterValues") or {})
        except ValueError as exc:
            raise ContractError(f"{output_file}: not JSON ({exc})") from None
    found: dict[str, Any] = {}
    for name, spec in value["outputs"]["parameters"].items():
        kind = types.get(name, "STRING")
        if name in written:
            found[name] = written[name]
            continue
        path = Path(spec["outputFile"])
        if not path.is_file():
            raise ContractError(f"output parameter {name!r} was not written (neither in {output_file.name} "
                                f"nor in {path})")
        try:
            found[name] = typed(path.read_text(encoding="utf-8"), kind, f"{path}")
        except Exception as exc:  # noqa: BLE001 - a SpecError here is the task's bad output
            raise ContractError(str(exc)) from None
    return found


def typed(value: Any, kind: str, where: str) -> Any:
    """``value`` as the IR type ``kind`` (text is parsed; a number stays one)."""
    expected = {"STRING": "a string", "NUMBER_INTEGER": "an integer", "NUMBER_DOUBLE": "a number",
                "BOOLEAN": "true or false", "STRUCT": "a JSON object", "LIST": "a JSON list"}.get(kind, kind)
    try:
        if kind == "STRING":
            return value if isinstance(value, str) else json.dumps(value)
        if kind == "NUMBER_INTEGER":
            number = float(value) if not isinstance(value, str) else float(value.strip())
            if not number.is_integer() or isinstance(value, bool):
                raise ValueError
            return int(number)
        if kind == "NUMBER_DOUBLE":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind == "BOOLEAN":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "false"):
                return str(value).lower() == "true"
            raise ValueError
        if kind in ("STRUCT", "LIST"):
            parsed = json.loads(value) if isinstance(value, str) else value
            if not isinstance(parsed, dict if kind == "STRUCT" else list):
                raise ValueError
            return parsed
    except (ValueError, TypeError):
        raise SpecError(f"{where}: expected {expected}, got {value!r}") from None
    raise SpecError(f"{where}: type {kind!r} is not one of {', '.join(PARAMETER_TYPES)}")
