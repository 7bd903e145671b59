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
import shlex
import shutil
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from pipetune.errors import ContractError, SpecError
from pipetune.limits import RESULTS_MAX_BYTES, RESULTS_MAX_NODES, YamlLimits
from pipetune.yamlsafe import read_text_file

#: The parameter types of KFP's pipeline IR (``parameterType``).
PARAMETER_TYPES = ("STRING", "NUMBER_INTEGER", "NUMBER_DOUBLE", "BOOLEAN", "STRUCT", "LIST")
#: A task's output files (its executor output, its output parameter files) are read under the
#: results bound: they carry values, not data (KFP keeps output parameters in its metadata
#: store); anything larger belongs in an artifact, which is never read. A FIFO, a device or a
#: file past the bound fails the task naming the file.
OUTPUT_LIMITS = YamlLimits(RESULTS_MAX_BYTES, RESULTS_MAX_NODES, "a task output file",
                           "write large values to an output artifact")
_PLACEHOLDER = re.compile(
    r"\{\{\$\.(inputs|outputs)\.(parameters|artifacts)\['([^']+)'\](?:\.(output_file|path|uri))?\}\}")
#: The head of a lightweight Python component's command, as kfp's compiler writes it.
_LIGHTWEIGHT = "kfp.dsl.executor_main"
#: The runtime placeholders KFP's driver and launcher fill (``dsl.PIPELINE_JOB_NAME_PLACEHOLDER``...).
RUNTIME_PLACEHOLDERS = (
    "{{$.pipeline_job_name}}", "{{$.pipeline_job_resource_name}}", "{{$.pipeline_job_uuid}}",
    "{{$.pipeline_task_name}}", "{{$.pipeline_task_uuid}}", "{{$.pipeline_root}}", "{{$.workspace_path}}",
    "{{$.pipeline_job_create_time_utc}}", "{{$.pipeline_job_schedule_time_utc}}",
)

#: A runtime artifact as the executor input and output carry it: name, type, uri, metadata.
Artifact = dict[str, Any]


def executor_input(values: Mapping[str, Any], artifacts_in: Mapping[str, Sequence[Artifact]],
                   output_parameters: Sequence[str], output_artifacts: Mapping[str, Mapping[str, str]],
                   root: Path) -> dict[str, Any]:
    """The ExecutorInput of one task run under ``root``: output parameter files in
    ``root/parameters``, artifacts in ``root/artifacts/<name>``, the executor output file
    ``root/executor_output.json``. ``artifacts_in``: input name -> its runtime artifacts (a
    list input holds several), each with its uri and metadata."""
    return {
        "inputs": {
            "parameterValues": dict(values),
            "artifacts": {name: {"artifacts": [dict(a) for a in listed]} for name, listed in artifacts_in.items()},
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


def substitute(items: Sequence[str], value: Mapping[str, Any], paths: Mapping[str, str] | None = None,
               runtime: Mapping[str, str] | None = None) -> list[str]:
    """The launcher's substitutions over a command or args list. An artifact's ``.path`` is
    ``paths[name]`` (where the launcher mounts its URI), by default its URI, which is a path
    when it runs here; ``runtime``: the runtime placeholders' values (``{{$.pipeline_job_name}}``...).
    A placeholder of an input that has no value stays as it is, as the launcher leaves it."""
    parameters = value["inputs"].get("parameterValues", {})
    constants = {"{{$.outputs.output_file}}": str(value["outputs"]["outputFile"]),
                 "{{$.outputMetadataUri}}": str(value["outputs"]["outputFile"]), **(runtime or {})}
    out: list[str] = []
    for item in items:
        if item.startswith('{"IfPresent"'):
            spec = json.loads(item)["IfPresent"]
            present = spec["InputName"] in parameters or spec["InputName"] in value["inputs"].get("artifacts", {})
            out += substitute(list(spec.get("Then" if present else "Else") or []), value, paths, runtime)
            continue
        if item.startswith('{"Concat"'):
            out.append("".join(substitute(list(json.loads(item)["Concat"]), value, paths, runtime)))
            continue

        def one(match: re.Match[str]) -> str:
            side, kind, name, attribute = match.groups()
            if side == "inputs" and kind == "parameters":
                return parameter_text(parameters[name]) if name in parameters else match.group(0)
            section = value[side]["parameters" if kind == "parameters" else "artifacts"].get(name)
            if section is None:
                return match.group(0)
            if kind == "parameters":
                return str(section["outputFile"])
            if not section["artifacts"]:
                return match.group(0)
            if attribute is None:  # a list of artifacts, as JSON (what Vertex gives ``Input[List[Dataset]]``)
                return json.dumps(section["artifacts"])
            if attribute == "path" and paths and name in paths:
                return paths[name]
            return str(section["artifacts"][0]["uri"])

        text = item.replace("{{$}}", json.dumps(value))
        for placeholder, replacement in constants.items():
            text = text.replace(placeholder, replacement)
        out.append(_PLACEHOLDER.sub(one, text))
    return out


def runtime_text(value: Any, runtime: Mapping[str, str]) -> Any:
    """A parameter value with the runtime placeholders in its text filled (the driver fills
    them in a task's constant inputs: ``print_op(value=dsl.PIPELINE_JOB_NAME_PLACEHOLDER)``)."""
    if isinstance(value, str):
        for placeholder, replacement in runtime.items():
            value = value.replace(placeholder, replacement)
    return value


def parameter_text(value: Any) -> str:
    """A parameter value on a command line, as the launcher writes it: numbers as Go's
    ``strconv.FormatFloat(v, 'f', -1, 64)`` (every number is a double there: 2.0 is ``2``,
    1e-07 is ``0.0000001``), ``true``/``false``, JSON for lists and objects."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return go_float(float(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def go_float(number: float) -> str:
    """``strconv.FormatFloat(number, 'f', -1, 64)``: the shortest digits that read back as
    ``number``, never an exponent."""
    if number != number:
        return "NaN"
    if number in (float("inf"), float("-inf")):
        return "+Inf" if number > 0 else "-Inf"
    text = format(Decimal(repr(number)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def lightweight_program(command: Sequence[str]) -> str | None:
    """A lightweight Python component's source (the last item of its compiled command), or
    None for a container component. Here it runs with this machine's kfp, without the
    ``pip install`` the command would do in its image."""
    if len(command) >= 2 and command[0] == "sh" and any(_LIGHTWEIGHT in item for item in command[:-1]):
        return command[-1]
    return None


def pip_packages(command: Sequence[str]) -> list[str]:
    """The requirements a lightweight component's command ``pip install`` s in its image
    (``packages_to_install``; kfp itself left out): they must be on this machine, where the
    component runs with this Python and nothing is installed."""
    wanted: list[str] = []
    script = command[2] if len(command) > 2 and command[:2] == ["sh", "-c"] else ""
    for segment in re.findall(r"pip install ([^\n]*?)(?:&&|\|\||\)|\n|$)", script):
        try:
            words = shlex.split(segment)
        except ValueError:
            continue
        skip = False
        for word in words:
            if skip:
                skip = False
                continue
            if word in ("--index-url", "--extra-index-url", "--trusted-host", "-i", "-f", "--find-links"):
                skip = True
                continue
            if word.startswith("-"):
                continue
            if re.match(r"^kfp([<>=!~ ;\[]|$)", word):
                continue
            wanted.append(word)
    return wanted


def containerized_python(command: Sequence[str]) -> bool:
    """Whether ``command`` runs a containerized Python component (``kfp component build``):
    ``python3 -m kfp.dsl.executor_main`` with no source of its own, its code only in its image."""
    return lightweight_program(command) is None and any(_LIGHTWEIGHT in item for item in command)


def read_outputs(value: Mapping[str, Any], types: Mapping[str, str]) -> dict[str, Any]:
    """A finished task's output parameters (see ``read_task_outputs``)."""
    return read_task_outputs(value, types)[0]


def read_task_outputs(value: Mapping[str, Any],
                      types: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, list[Artifact]]]:
    """A finished task's outputs as the launcher collects them: parameters from the executor
    output's ``parameterValues`` first, then each output file parsed by its declared type
    (``ContractError`` if one is missing); each output artifact as the executor input gave it,
    with the executor output's uri (when it gives one) and its metadata merged in, and its
    content moved to that uri when the component wrote it to a custom path (``set_path``).
    Every file is read within ``OUTPUT_LIMITS``."""
    written: dict[str, Any] = {}
    output_file = Path(value["outputs"]["outputFile"])
    if output_file.exists() or output_file.is_symlink():
        text = read_text_file(output_file, ContractError, OUTPUT_LIMITS)
        try:
            written = json.loads(text) or {}
        except ValueError as exc:
            raise ContractError(f"{output_file}: not JSON ({exc})") from None
        if not isinstance(written, dict):
            raise ContractError(f"{output_file}: expected a JSON object (KFP's ExecutorOutput)")
    given = dict(written.get("parameterValues") or {})
    found: dict[str, Any] = {}
    for name, spec in value["outputs"]["parameters"].items():
        kind = types.get(name, "STRING")
        if name in given:
            found[name] = given[name]
            continue
        path = Path(spec["outputFile"])
        if not (path.exists() or path.is_symlink()):
            raise ContractError(f"output parameter {name!r} was not written (neither in {output_file.name} "
                                f"nor in {path})")
        text = read_text_file(path, ContractError, OUTPUT_LIMITS)
        try:
            found[name] = typed(text, kind, f"{path}")
        except SpecError as exc:
            raise ContractError(str(exc)) from None
    artifacts: dict[str, list[Artifact]] = {}
    reported = written.get("artifacts") or {}
    for name, spec in value["outputs"]["artifacts"].items():
        listed = [dict(a) for a in spec["artifacts"]]
        update = ((reported.get(name) or {}).get("artifacts") or []) if isinstance(reported, dict) else []
        if listed and update and isinstance(update[0], dict):
            first = update[0]
            artifact = listed[0]
            custom = first.get("custom_path")
            if first.get("uri"):
                artifact["uri"] = str(first["uri"])
            if isinstance(first.get("metadata"), dict):
                artifact["metadata"] = {**(artifact.get("metadata") or {}), **first["metadata"]}
            if custom and Path(str(custom)).exists() and not Path(artifact["uri"]).exists():
                _copy(Path(str(custom)), Path(artifact["uri"]))
        artifacts[name] = listed
    return found, artifacts


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    else:
        shutil.copy2(source, target)


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
