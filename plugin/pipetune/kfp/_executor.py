"""KFP v2's executor files, as plain data: what a container component receives (the
``ExecutorInput`` the launcher substitutes for ``{{$}}``, the v1 ``{executorInput: null}``
placeholder) and what it leaves (the ``ExecutorOutput`` file the executor input names in
``outputs.outputFile``), in the protobuf JSON form KFP's launcher reads.

Why this exists: KFP's UI shows a step's scalar metrics from the metadata of a
``system.Metrics`` output artifact, which the launcher takes from the executor output file;
lightweight Python components write that file through ``kfp.dsl.executor``, container
components have had no way to. The publisher (``pipetune exec --kfp-executor-input``) writes
it for every pipetune component from its results.yaml: the ``results`` output parameter (the
YAML text) and each ``system.Metrics`` artifact's metadata filled with the metrics; declared
output parameters that the component left unwritten are written to their files from the
results' ``outputs``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipetune.components import format_value
from pipetune.contract import Results
from pipetune.errors import UsageError

METRICS_SCHEMA = "system.Metrics"
RESULTS_OUTPUT = "results"


@dataclass(frozen=True)
class ExecutorInput:
    """The parts of an ExecutorInput the publisher uses."""

    #: Where the executor output goes (``outputs.outputFile``): never a fixed path.
    output_file: Path
    #: Declared output parameters: name -> the file the launcher would read otherwise.
    parameters: Mapping[str, str]
    #: Declared output artifacts: name -> (schema title, the runtime artifact's name, its uri).
    artifacts: Mapping[str, tuple[str, str, str]]


def parse_executor_input(text: str, where: str = "--kfp-executor-input") -> ExecutorInput:
    """Read the JSON KFP passes for ``{{$}}``; a ``UsageError`` naming what is missing."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{where}: not JSON ({exc}); expected KFP's ExecutorInput, the {{{{$}}}} placeholder") from None
    if not isinstance(data, dict):
        raise UsageError(f"{where}: expected a JSON object (KFP's ExecutorInput), got {type(data).__name__}")
    outputs = data.get("outputs")
    if not isinstance(outputs, dict):
        raise UsageError(f"{where}: the executor input has no outputs section; KFP writes one for every "
                         "task (outputs.outputFile names the executor output file)")
    output_file = outputs.get("outputFile")
    if not isinstance(output_file, str) or not output_file:
        raise UsageError(f"{where}: outputs.outputFile is missing; it names the executor output file")
    parameters = {
        name: str((spec or {}).get("outputFile", ""))
        for name, spec in (outputs.get("parameters") or {}).items()
    }
    artifacts: dict[str, tuple[str, str, str]] = {}
    for name, spec in (outputs.get("artifacts") or {}).items():
        listed = (spec or {}).get("artifacts") or []
        if not listed:
            raise UsageError(f"{where}: outputs.artifacts.{name}.artifacts is empty; expected the runtime artifact")
        first = listed[0]
        schema = str(((first.get("type") or {}).get("schemaTitle")) or "")
        artifacts[name] = (schema, str(first.get("name") or name), str(first.get("uri") or ""))
    return ExecutorInput(Path(output_file), parameters, artifacts)


def executor_output(results: Results, executor: ExecutorInput) -> dict[str, Any]:
    """The ExecutorOutput for ``results``: the ``results`` parameter (the YAML text) and every
    ``system.Metrics`` artifact with the metrics as its metadata (``Metrics.log_metric`` writes
    the same). Other output parameters travel in their files (``parameter_files``): the
    executor input does not say their types, and the launcher parses a file by its declared
    type but takes a value here as it is."""
    output: dict[str, Any] = {}
    if RESULTS_OUTPUT in executor.parameters:
        output["parameterValues"] = {RESULTS_OUTPUT: results.to_yaml()}
    artifacts: dict[str, Any] = {}
    for name, (schema, runtime_name, uri) in executor.artifacts.items():
        if schema == METRICS_SCHEMA:
            entry: dict[str, Any] = {"name": runtime_name, "metadata": dict(results.metrics)}
            if uri:
                entry["uri"] = uri
            artifacts[name] = {"artifacts": [entry]}
    if artifacts:
        output["artifacts"] = artifacts
    return output


def parameter_files(results: Results, executor: ExecutorInput) -> dict[Path, str]:
    """Output parameter files the component left unwritten but whose value its results hold
    (``outputs:`` in results.yaml): path -> text, as KFP's launcher reads them."""
    files: dict[Path, str] = {}
    for name, path in executor.parameters.items():
        if name == RESULTS_OUTPUT or not path or name not in results.outputs or Path(path).exists():
            continue
        files[Path(path)] = format_value(results.outputs[name])
    return files
