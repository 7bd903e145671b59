"""A catalog component as a Tekton ``tekton.dev/v1`` Task, and the rules such a Task must pass.

``task_for`` is a pure function of the component: one string param per input (its default
and description kept; an optional input without a default gets ``""``, which the step reads as
"absent"), one string result per declared output plus ``results`` (the results.yaml text), and
one step that runs the component through ``pipetune step``: the params reach it as ``args``
(``--input name=$(params.name)``), never inside a script, and the step writes the results
under ``/tekton/results/`` within Tekton's 4096-byte limit, or fails saying so. The metadata
follows the Tekton catalog's conventions as its linter (catlin) checks them.

``check_task`` applies Tekton's validation rules that matter here (names, references, unique
steps, result names, the catalog metadata) to any Task dict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pipetune.components import ComponentSpec, format_value
from pipetune.kinds import RESULTS_RESULT

API_VERSION = "tekton.dev/v1"
#: The oldest Tekton release serving tekton.dev/v1 Tasks.
MIN_VERSION = "0.44.0"
#: The Tekton Hub category list (catlin checks against it); there is no ML category.
CATEGORIES = (
    "Automation", "Build Tools", "CLI", "Cloud", "Code Quality", "Continuous Integration", "Deployment",
    "Developer Tools", "Image Build", "Integration & Delivery", "Git", "Kubernetes", "Messaging",
    "Monitoring", "Networking", "Openshift", "Publishing", "Security", "Storage", "Testing",
)
OUTPUTS_DIR = "/outputs"
RESULTS_DIR = "/tekton/results"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PARAM_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.-]*$")
_RESULT_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_STEP_NAME = _DNS_LABEL
#: Tekton's rules, as its validation states them (``pkg/apis/pipeline/v1``).
_PARAM_RULE = ("a param name must start with a letter or '_' and hold only letters, digits, '_', '-' and '.' "
               "(Tekton's ^[a-zA-Z_][a-zA-Z0-9_.-]*$)")
_RESULT_RULE = ("a result name must hold only letters, digits, '-', '_' and '.', starting and ending with a letter "
                "or digit (Tekton's ^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$)")
_REFERENCE = re.compile(r"\$\((params|results)\.([^).\[]+)(?:\.path)?\)")
_VERSIONED_IMAGE = re.compile(r"^[^@:\s]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$")


def task_for(component: ComponentSpec, version: str) -> dict[str, Any]:
    """The Tekton Task that runs catalog component ``component`` (see the module docstring)."""
    name = component.name
    params = []
    args: list[str] = [name]
    for item in component.inputs:
        param: dict[str, Any] = {"name": item.name, "type": "string"}
        if item.description:
            param["description"] = item.description.strip()
        if item.default is not None:
            param["default"] = format_value(item.default)
        elif item.optional:
            param["default"] = ""
        params.append(param)
        args += ["--input", f"{item.name}=$(params.{item.name})"]
    results = [
        {"name": output.name, "type": "string",
         "description": (output.description or f"The {output.name} output.").strip()
         + ("" if output.is_parameter else " (the artifact's path in the step's outputs)")}
        for output in component.outputs
        if not kfp_only(output)
    ]
    results.append({"name": RESULTS_RESULT, "type": "string",
                    "description": "The step's results.yaml (metrics, outputs, artifacts, checkpoint)."})
    args += ["--tekton-results", RESULTS_DIR]
    description = (component.description or name).strip()
    return {
        "apiVersion": API_VERSION,
        "kind": "Task",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/version": version},
            "annotations": {
                "tekton.dev/pipelines.minVersion": MIN_VERSION,
                "tekton.dev/categories": "Automation",
                "tekton.dev/tags": f"ml, pipetune, {name}",
                "tekton.dev/displayName": name.replace("-", " ").title(),
                "tekton.dev/platforms": "linux/amd64",
            },
        },
        "spec": {
            "description": description,
            "params": params,
            "results": results,
            "volumes": [{"name": "outputs", "emptyDir": {}}],
            "steps": [
                {
                    "name": "run",
                    "image": component.container.image,
                    "command": ["pipetune", "step"],
                    "args": args,
                    "env": [{"name": "PIPETUNE_OUTPUTS", "value": OUTPUTS_DIR}],
                    "volumeMounts": [{"name": "outputs", "mountPath": OUTPUTS_DIR}],
                }
            ],
        },
    }


def kfp_only(output: Any) -> bool:
    """Outputs a Task does not declare: ``results`` is its own result already, and a
    ``Metrics`` artifact exists for KFP's UI (the metrics are in ``results``)."""
    return output.name == RESULTS_RESULT or str(output.type or "").lower() == "metrics"


def check_task(task: Mapping[str, Any]) -> list[str]:
    """Problems Tekton's validation (and the catalog's linter) would find, each naming the field."""
    problems: list[str] = []
    if task.get("apiVersion") != API_VERSION or task.get("kind") != "Task":
        problems.append(f"apiVersion/kind: expected {API_VERSION} Task")
    metadata = task.get("metadata") or {}
    name = str(metadata.get("name") or "")
    if not _DNS_LABEL.match(name) or len(name) > 63:
        problems.append(f"metadata.name: {name!r} is not a DNS-1123 label (lowercase letters, digits and '-', "
                        "starting and ending with a letter or digit, at most 63 characters)")
    labels, annotations = metadata.get("labels") or {}, metadata.get("annotations") or {}
    if not labels.get("app.kubernetes.io/version"):
        problems.append("metadata.labels: app.kubernetes.io/version is required")
    for key in ("tekton.dev/pipelines.minVersion", "tekton.dev/categories"):
        if not annotations.get(key):
            problems.append(f"metadata.annotations: {key} is required")
    for category in str(annotations.get("tekton.dev/categories") or "").split(","):
        if category.strip() and category.strip() not in CATEGORIES:
            problems.append(f"metadata.annotations: category {category.strip()!r} is not one of the Hub's")
    spec = task.get("spec") or {}
    if not spec.get("description"):
        problems.append("spec.description: required")
    params = [p.get("name") for p in spec.get("params") or []]
    results = [r.get("name") for r in spec.get("results") or []]
    for kind, names, pattern, rule in (("params", params, _PARAM_NAME, _PARAM_RULE),
                                       ("results", results, _RESULT_NAME, _RESULT_RULE)):
        for item in names:
            if not isinstance(item, str) or not pattern.match(item):
                problems.append(f"spec.{kind}: name {item!r} is not valid: {rule}")
        if len(set(names)) != len(names):
            problems.append(f"spec.{kind}: names must be unique")
    steps = spec.get("steps") or []
    step_names = [s.get("name") for s in steps]
    if not steps:
        problems.append("spec.steps: at least one step")
    if len(set(step_names)) != len(step_names):
        problems.append("spec.steps: step names must be unique")
    for index, step in enumerate(steps):
        where = f"spec.steps[{index}]"
        if not isinstance(step.get("name"), str) or not _STEP_NAME.match(step["name"]):
            problems.append(f"{where}.name: {step.get('name')!r} is not a DNS-1123 label")
        image = str(step.get("image") or "")
        if not image or not _VERSIONED_IMAGE.match(image) or (":" not in image.rsplit("/", 1)[-1] and "@" not in image):
            problems.append(f"{where}.image: {image!r} must name a specific version (a tag or a digest)")
        if "script" in step and "$(params." in str(step["script"]):
            problems.append(f"{where}.script: params must reach a step as args or env, not inside a script")
        for text in strings(step):
            for kind, ref in _REFERENCE.findall(text):
                if kind == "params" and ref not in params:
                    problems.append(f"{where}: $(params.{ref}) names no declared param")
                if kind == "results" and ref not in results:
                    problems.append(f"{where}: $(results.{ref}.path) names no declared result")
    return problems


def strings(tree: Any) -> list[str]:
    """Every string in a parsed YAML tree."""
    if isinstance(tree, str):
        return [tree]
    if isinstance(tree, Mapping):
        return [s for value in tree.values() for s in strings(value)]
    if isinstance(tree, list):
        return [s for value in tree for s in strings(value)]
    return []
