"""The Experiment CRD: in sync with the parser, structural, and agreeing with the parser on
real Experiments.

No cluster here, so two small stand-ins for the API server are written below: a checker of
Kubernetes' structural-schema rules, and a validator that judges an object the way the API
server would (types, enums, required fields, and unknown fields, which it would silently
prune and which count as failures here).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipetune.errors import SpecError
from pipetune.experiment import API_VERSION, experiment_from_dict
from pipetune.experiment import _model as model
from pipetune.experiment._schema import (
    UNDESCRIBED,
    crd_yaml,
    experiment_crd,
    experiment_schema,
)

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "manifests" / "experiment-crd.yaml"
FIXTURES = ROOT.parent / "shared" / "fixtures" / "katib-v1beta1"
KATIB_FILES = sorted(FIXTURES.glob("*.yaml")) if FIXTURES.is_dir() else []
REGENERATE = "python -m pipetune.experiment._schema --write manifests/experiment-crd.yaml"


# -- a structural-schema checker -----------------------------------------------------------------

#: The OpenAPI v3 keywords an apiextensions.k8s.io/v1 schema may use; $ref, definitions,
#: dependencies, patternProperties, additionalItems, id and $schema are refused there.
_KEYWORDS = {
    "type", "format", "title", "description", "default", "example", "externalDocs", "nullable",
    "enum", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "multipleOf",
    "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems",
    "maxProperties", "minProperties", "required", "items", "properties", "additionalProperties",
    "allOf", "anyOf", "oneOf", "not",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type", "x-kubernetes-validations",
}  # fmt: skip
_JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
#: What value validation (inside a junctor) may not set in a structural schema.
_NOT_IN_JUNCTORS = {"description", "type", "default", "additionalProperties", "nullable"}
_TYPES = {"object", "array", "string", "integer", "number", "boolean"}
_INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]
_PRESERVE = "x-kubernetes-preserve-unknown-fields"


def structural_errors(schema: Any) -> list[str]:
    """Where ``schema`` breaks Kubernetes' structural-schema rules, one line each."""
    errors: list[str] = []
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return ["<root>: expected type object"]
    if "additionalProperties" in schema:
        errors.append("<root>: additionalProperties is not allowed at the root")
    metadata = (schema.get("properties") or {}).get("metadata")
    if isinstance(metadata, dict) and (
        set(metadata) - {"type", "properties"}
        or set(metadata.get("properties") or {}) - {"name", "generateName"}
    ):
        errors.append("metadata: only metadata.name and metadata.generateName may be restricted")
    _check_node(schema, "<root>", errors, junctor=False)
    return errors


def _check_node(node: Any, at: str, errors: list[str], junctor: bool) -> None:
    if not isinstance(node, dict):
        errors.append(f"{at}: expected a schema mapping, got {node!r}")
        return
    for key in sorted(set(node) - _KEYWORDS):
        errors.append(f"{at}: keyword {key!r} is not allowed in a CRD schema")
    int_or_string = node.get("x-kubernetes-int-or-string") is True
    preserve = node.get(_PRESERVE)
    if preserve is not None and preserve is not True:
        errors.append(f"{at}: {_PRESERVE} must be true or absent")
    if junctor:
        for key in sorted(k for k in node if k in _NOT_IN_JUNCTORS or k.startswith("x-kubernetes-")):
            errors.append(f"{at}: {key!r} is not allowed inside allOf/anyOf/oneOf/not")
    else:
        kind = node.get("type")
        if kind is None and not (preserve or int_or_string):
            errors.append(f"{at}: no type (needs {_PRESERVE} or x-kubernetes-int-or-string)")
        elif kind is not None and kind not in _TYPES:
            errors.append(f"{at}: unknown type {kind!r}")
        keeps_fields = preserve or "properties" in node or "additionalProperties" in node
        # The API server owns ObjectMeta, so the root's bare metadata prunes nothing.
        if kind == "object" and not keeps_fields and at != "<root>.metadata":
            errors.append(f"{at}: an object with no properties: Kubernetes would prune all its fields")
        if kind == "array" and "items" not in node:
            errors.append(f"{at}: an array needs items")
    if "properties" in node and "additionalProperties" in node:
        errors.append(f"{at}: properties and additionalProperties exclude each other")
    if node.get("additionalProperties") is False:
        errors.append(f"{at}: additionalProperties may not be false")
    if node.get("uniqueItems") is True:
        errors.append(f"{at}: uniqueItems may not be true")
    if "items" in node and not isinstance(node["items"], dict):
        errors.append(f"{at}: items must be one schema")
    for name in node.get("required") or []:
        if name not in (node.get("properties") or {}):
            errors.append(f"{at}: required {name!r} is not among the properties")
    for value in node.get("enum") or []:
        if node.get("type") == "string" and not isinstance(value, str):
            errors.append(f"{at}: enum value {value!r} is not a string")
    for name, child in (node.get("properties") or {}).items():
        _check_node(child, f"{at}.{name}", errors, junctor)
    if isinstance(node.get("additionalProperties"), dict):
        _check_node(node["additionalProperties"], f"{at}.additionalProperties", errors, junctor)
    if isinstance(node.get("items"), dict):
        _check_node(node["items"], f"{at}.items", errors, junctor)
    for key in _JUNCTORS:
        if key not in node:
            continue
        if int_or_string and key == "anyOf" and node[key] == _INT_OR_STRING:
            continue  # the one pattern int-or-string may spell out
        for i, child in enumerate(node[key] if key != "not" else [node[key]]):
            _check_node(child, f"{at}.{key}[{i}]", errors, junctor=True)


# -- a validator, as the API server would judge an object ----------------------------------------


def validation_errors(value: Any, node: Mapping[str, Any], at: str = "") -> list[str]:
    """Why the API server would refuse ``value`` (or silently drop part of it), one line each;
    paths are spelt like the parser's (``spec.objective.type``)."""
    where = at or "<root>"
    if node.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            return [f"{where}: expected an integer or a string, got {value!r}"]
        return []
    kind = node.get("type")
    if kind is None:
        return []  # untyped with preserve-unknown-fields: any value (the structural test sees to it)
    if not _has_type(value, kind):
        return [f"{where}: expected {kind}, got {value!r}"]
    errors: list[str] = []
    if "enum" in node and value not in node["enum"]:
        errors.append(f"{where}: {value!r} is not one of {node['enum']}")
    if "minimum" in node and value < node["minimum"]:
        errors.append(f"{where}: {value!r} is below the minimum {node['minimum']}")
    if "minItems" in node and len(value) < node["minItems"]:
        errors.append(f"{where}: fewer than {node['minItems']} items")
    if kind == "array":
        for i, item in enumerate(value):
            errors += validation_errors(item, node["items"], f"{at}[{i}]")
    if kind == "object":
        properties = node.get("properties")
        for name in node.get("required") or []:
            if name not in value:
                errors.append(f"{_join(at, name)}: required")
        for name, item in value.items():
            if properties is not None and name in properties:
                errors += validation_errors(item, properties[name], _join(at, name))
            elif isinstance(node.get("additionalProperties"), dict):
                errors += validation_errors(item, node["additionalProperties"], _join(at, name))
            elif not node.get(_PRESERVE) and properties is not None:
                errors.append(f"{_join(at, name)}: unknown field; Kubernetes would prune it")
    return errors


def _has_type(value: Any, kind: str) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    return isinstance(
        value,
        {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float)}[kind],
    )


def _join(at: str, name: str) -> str:
    return f"{at}.{name}" if at else name


def _nodes(node: Any, at: str = "<root>") -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(node, dict):
        return
    yield at, node
    for name, child in (node.get("properties") or {}).items():
        yield from _nodes(child, f"{at}.{name}")
    for key in ("items", "additionalProperties"):
        yield from _nodes(node.get(key), f"{at}.{key}")


# -- (a) the checked-in manifest -----------------------------------------------------------------


def test_manifest_is_the_generated_crd() -> None:
    assert MANIFEST.is_file(), f"{MANIFEST} is missing; generate it with: {REGENERATE}"
    assert MANIFEST.read_text(encoding="utf-8") == crd_yaml(), (
        f"{MANIFEST.relative_to(ROOT)} is out of date with pipetune's spec model; regenerate it "
        f"with: {REGENERATE}"
    )


def test_manifest_is_plain_yaml_of_the_crd() -> None:
    text = crd_yaml()
    assert text.startswith("# Generated by `python -m pipetune.experiment._schema`")
    assert "&id" not in text and "*id" not in text, "a schema node is shared: it dumps as a YAML alias"
    assert yaml.safe_load(text) == experiment_crd()


def test_crd_names_and_version() -> None:
    crd = experiment_crd()
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == "experiments.pipetune.dev"
    spec = crd["spec"]
    assert spec["group"] == "pipetune.dev" and spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "Experiment",
        "listKind": "ExperimentList",
        "plural": "experiments",
        "singular": "experiment",
        "shortNames": ["ptexp"],
    }
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Status"] == ".status.conditions[-1:].type"
    assert columns["Trials"] == ".status.trials"
    assert columns["Succeeded"] == ".status.trialsSucceeded"
    assert columns["Age"] == ".metadata.creationTimestamp"
    assert version["schema"]["openAPIV3Schema"] == experiment_schema()


# -- (b) structural ------------------------------------------------------------------------------


def test_schema_is_structural() -> None:
    assert structural_errors(experiment_schema()) == []


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"type": "object", "properties": {"x": {"description": "no type"}}}, "<root>.x: no type"),
        (
            {"type": "object", "properties": {"x": {_PRESERVE: True, "anyOf": [{"type": "number"}, {"type": "string"}]}}},
            "<root>.x.anyOf[0]: 'type' is not allowed",
        ),
        ({"type": "object", "properties": {"x": {"$ref": "#/definitions/x"}}}, "keyword '$ref'"),
        ({"type": "object", "properties": {"x": {"type": "object"}}}, "would prune all its fields"),
        ({"type": "object", "additionalProperties": {"type": "string"}}, "at the root"),
        ({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}},
         "metadata"),
    ],
)
def test_structural_checker_catches(schema: dict[str, Any], words: str) -> None:
    assert any(words in error for error in structural_errors(schema)), structural_errors(schema)


def test_structural_checker_admits_int_or_string() -> None:
    node = {"x-kubernetes-int-or-string": True, "anyOf": _INT_OR_STRING}
    assert structural_errors({"type": "object", "properties": {"x": node}}) == []


def test_every_parser_key_is_described() -> None:
    undescribed = [at for at, node in _nodes(experiment_schema()) if node.get("description") == UNDESCRIBED]
    assert not undescribed, (
        f"the parser knows fields the schema does not describe: {', '.join(undescribed)}; add them "
        f"in pipetune/experiment/_schema.py, then: {REGENERATE}"
    )


# -- (c) real Experiments validate ---------------------------------------------------------------


def _ours(document: dict[str, Any]) -> dict[str, Any]:
    switched = copy.deepcopy(document)
    switched["apiVersion"] = API_VERSION
    return switched


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="no ../shared/fixtures/katib-v1beta1 here")
@pytest.mark.parametrize("file", KATIB_FILES, ids=lambda file: file.stem)
def test_katib_example_that_pipetune_accepts_validates(file: Path) -> None:
    document = _ours(yaml.safe_load(file.read_text(encoding="utf-8")))
    try:
        experiment_from_dict(copy.deepcopy(document), file)
    except SpecError as exc:
        pytest.skip(f"pipetune refuses it: {exc}")
    assert validation_errors(document, experiment_schema()) == []


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="no ../shared/fixtures/katib-v1beta1 here")
def test_most_katib_examples_are_checked() -> None:
    accepted = []
    for file in KATIB_FILES:
        try:
            experiment_from_dict(_ours(yaml.safe_load(file.read_text(encoding="utf-8"))), file)
        except SpecError:
            continue
        accepted.append(file)
    assert len(accepted) > len(KATIB_FILES) // 2, "the schema check above skips most of Katib's examples"


def _own_experiments() -> list[Path]:
    files = sorted((ROOT / "pipelines").rglob("*.yaml")) + sorted((ROOT / "tests" / "data" / "experiments").glob("*.yaml"))
    found = []
    for file in files:
        for document in yaml.safe_load_all(file.read_text(encoding="utf-8")):
            if isinstance(document, dict) and document.get("apiVersion") == API_VERSION and document.get("kind") == "Experiment":
                found.append(file)
                break
    return found


@pytest.mark.parametrize("file", _own_experiments(), ids=lambda file: str(file.relative_to(ROOT)))
def test_pipetune_experiment_in_the_repository_validates(file: Path) -> None:
    (document,) = [
        d for d in yaml.safe_load_all(file.read_text(encoding="utf-8"))
        if isinstance(d, dict) and d.get("kind") == "Experiment"
    ]
    experiment_from_dict(copy.deepcopy(document), file)
    assert validation_errors(document, experiment_schema()) == []


# -- (d) generated from the parser ---------------------------------------------------------------


def _spec_properties() -> dict[str, Any]:
    return experiment_schema()["properties"]["spec"]["properties"]


def test_a_key_added_to_the_parser_appears_in_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "weight" not in _spec_properties()["objective"]["properties"]
    monkeypatch.setattr(model, "_OBJECTIVE_KEYS", (*model._OBJECTIVE_KEYS, "weight"))
    node = _spec_properties()["objective"]["properties"]["weight"]
    assert node == {"description": UNDESCRIBED, _PRESERVE: True}  # kept, not pruned
    assert crd_yaml() != MANIFEST.read_text(encoding="utf-8")


def test_a_key_removed_from_the_parser_leaves_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "local" in _spec_properties()
    monkeypatch.setattr(model, "_EXTENSION_KEYS", tuple(k for k in model._EXTENSION_KEYS if k != "local"))
    assert "local" not in _spec_properties()


def test_enums_follow_the_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "RESUME_POLICIES", (*model.RESUME_POLICIES, "Forever"))
    assert _spec_properties()["resumePolicy"]["enum"] == ["Never", "LongRunning", "FromVolume", "Forever"]


# -- (e) the schema and the parser refuse alike --------------------------------------------------


def _experiment() -> dict[str, Any]:
    """A small valid Experiment; its numbers come as floats, ints and strings on purpose."""
    container = {
        "name": "training-container",
        "image": "python:3.11",
        "command": ["python", "train.py", "--lr=${trialParameters.lr}", "--layers=${trialParameters.layers}"],
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "Experiment",
        "metadata": {"name": "crd-check"},
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy", "goal": 0.99},
            "algorithm": {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": "3"}]},
            "parameters": [
                {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": 0.01, "max": "0.1"}},
                {"name": "layers", "parameterType": "int", "feasibleSpace": {"min": 1, "max": "4", "step": 1}},
            ],
            "parallelTrialCount": 2,
            "maxTrialCount": 4,
            "trialTimeout": "10m",
            "trialTemplate": {
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container]}}},
                }
            },
        },
    }


def test_the_base_experiment_is_valid_to_both() -> None:
    document = _experiment()
    experiment_from_dict(copy.deepcopy(document))
    assert validation_errors(document, experiment_schema()) == []


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("objective", "type"), "maximise", "spec.objective.type"),
        (("resumePolicy",), "Always", "spec.resumePolicy"),
        (("parallelTrialCount",), 2.5, "spec.parallelTrialCount"),
        (("seed",), "seven", "spec.seed"),
        (("metricsCollectorSpec",), {"collector": {"kind": "Stdout"}}, "spec.metricsCollectorSpec.collector.kind"),
        (("earlyStopping",), {"algorithmName": "median"}, "spec.earlyStopping.algorithmName"),
        (("objective", "typo"), "x", "spec.objective"),
    ],
)
def test_what_the_schema_refuses_the_parser_refuses(path: tuple[str, ...], value: Any, field: str) -> None:
    document = _experiment()
    target = document["spec"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    errors = validation_errors(document, experiment_schema())
    assert errors and all(field in error for error in errors), errors
    with pytest.raises(SpecError) as refused:
        experiment_from_dict(copy.deepcopy(document))
    assert field in str(refused.value)
