"""Every catalog component loads in the KFP SDK and compiles into a KFP v2 pipeline.

A user who installs ``pipetune[kfp]`` hands ``components/<name>/component.yaml`` to
``kfp.components.load_component_from_file`` and chains it with others in a ``@dsl.pipeline``.
These tests do exactly that for whatever folders the catalog holds (found at collection time,
so a new component is covered without editing this file), then read the compiled IR back as
plain YAML and check what KFP's backend will see: the tasks, their order, and the parameter
types of every input.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

kfp = pytest.importorskip("kfp")

from kfp import compiler, dsl  # noqa: E402
from kfp.components import load_component_from_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "components"
REFERENCE = "train-sklearn"  # the component every other one is chained with

FOLDERS = sorted(p for p in CATALOG.iterdir() if p.is_dir())

#: KFP's v1 parameter type names (case-insensitive) -> IR parameterType and Python annotation.
PARAMETER_TYPES: dict[str, tuple[str, type]] = {
    "string": ("STRING", str),
    "str": ("STRING", str),
    "text": ("STRING", str),
    "integer": ("NUMBER_INTEGER", int),
    "int": ("NUMBER_INTEGER", int),
    "float": ("NUMBER_DOUBLE", float),
    "double": ("NUMBER_DOUBLE", float),
    "bool": ("BOOLEAN", bool),
    "boolean": ("BOOLEAN", bool),
    "jsonobject": ("STRUCT", dict),
    "dict": ("STRUCT", dict),
    "jsonarray": ("LIST", list),
    "list": ("LIST", list),
}


def kfp_name(name: str) -> str:
    """An input or output name as KFP sanitises it (lowercase, other runs -> ``_``)."""
    return re.sub(r"[^_0-9a-z]+", "_", name.lower()).strip("_")


def type_name(declared: Any) -> str | None:
    """The declared type's name; v1 allows ``{TypeName: {properties}}``."""
    if isinstance(declared, dict) and len(declared) == 1:
        return str(next(iter(declared)))
    return declared if isinstance(declared, str) else None


def parameter_type(declared: Any) -> tuple[str, type] | None:
    name = type_name(declared)
    return PARAMETER_TYPES.get(name.lower()) if name else None


def to_python(value: Any, annotation: type) -> Any:
    """A declared default (v1 YAML writes them as strings) as the pipeline parameter's type."""
    if annotation is bool:
        return value if isinstance(value, bool) else str(value).strip().lower() == "true"
    if annotation in (dict, list):
        return json.loads(value) if isinstance(value, str) else value
    return annotation(value)


def declared(folder: Path) -> dict[str, Any]:
    """The component.yaml as written (read without pipetune's or KFP's parser)."""
    spec_file = folder / "component.yaml"
    assert spec_file.is_file(), f"{spec_file} is missing"
    data = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{spec_file}: expected a mapping"
    return data


def load(folder: Path) -> Any:
    """``kfp.components.load_component_from_file``; a failure names the file and KFP's reason."""
    spec_file = folder / "component.yaml"
    try:
        return load_component_from_file(str(spec_file))
    except Exception as exc:  # KFP raises TypeError, ValueError, NotImplementedError...
        reason = f"{type(exc).__name__}: {' '.join(str(exc).splitlines()[:2])}"
    pytest.fail(f"{spec_file}: KFP cannot load it: {reason}", pytrace=False)


def is_required(item: dict[str, Any]) -> bool:
    return item.get("default") is None and not item.get("optional", False)


def compile_pipeline(tmp_path: Path, params: list[inspect.Parameter], body) -> dict[str, Any]:
    """Compile a pipeline whose parameters are ``params`` and whose body is ``body(**params)``.

    KFP reads a pipeline's parameters from its signature and calls it positionally, so the
    function is built with an explicit ``__signature__``. Returns the IR as plain YAML data.
    """

    def pipeline_func(*args: Any) -> None:
        body(**{param.name: arg for param, arg in zip(params, args)})

    pipeline_func.__signature__ = inspect.Signature(params)
    pipeline = dsl.pipeline(name="pipetune-compat")(pipeline_func)
    package = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(pipeline_func=pipeline, package_path=str(package))
    return yaml.safe_load(package.read_text(encoding="utf-8"))


def pipeline_parameter(name: str, item: dict[str, Any]) -> inspect.Parameter:
    _, annotation = parameter_type(item.get("type"))
    default = item.get("default")
    return inspect.Parameter(
        name,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        annotation=annotation,
        default=inspect.Parameter.empty if default is None else to_python(default, annotation),
    )


def executor_of(ir: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    component = ir["components"][task["componentRef"]["name"]]
    return ir["deploymentSpec"]["executors"][component["executorLabel"]]["container"]


def task_component(ir: dict[str, Any], task_name: str) -> dict[str, Any]:
    tasks = ir["root"]["dag"]["tasks"]
    assert task_name in tasks, f"task {task_name!r} not in the IR (tasks: {sorted(tasks)})"
    return ir["components"][tasks[task_name]["componentRef"]["name"]]


@pytest.fixture(scope="module")
def reference() -> Any:
    assert (CATALOG / REFERENCE / "component.yaml").is_file(), "the reference component is missing"
    return load(CATALOG / REFERENCE)


def test_catalog_has_components() -> None:
    assert any(folder.name == REFERENCE for folder in FOLDERS), [f.name for f in FOLDERS]


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_loads_in_kfp(folder: Path) -> None:
    data = declared(folder)
    component = load(folder)
    assert component.component_spec.implementation.container is not None
    assert component.component_spec.implementation.container.image == (
        data["implementation"]["container"]["image"]
    )


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_input_and_output_names_survive_sanitisation(folder: Path) -> None:
    data = declared(folder)
    component = load(folder)
    inputs = [kfp_name(item["name"]) for item in data.get("inputs") or []]
    outputs = [kfp_name(item["name"]) for item in data.get("outputs") or []]
    # Two declared names that sanitise alike would silently become one KFP input.
    assert len(set(inputs)) == len(inputs), f"inputs collide after sanitisation: {inputs}"
    assert list(component.component_spec.inputs or {}) == inputs
    assert list(component.component_spec.outputs or {}) == outputs


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_compiles_chained_with_reference(folder: Path, reference: Any, tmp_path: Path) -> None:
    data = declared(folder)
    component = load(folder)
    items = {kfp_name(item["name"]): item for item in data.get("inputs") or []}

    # Every parameter input that is required or has a default comes from a pipeline parameter
    # of its type (the default carried over); a required artifact input from an importer.
    params = [
        pipeline_parameter(name, item)
        for name, item in items.items()
        if parameter_type(item.get("type"))
        and (is_required(item) or item.get("default") is not None)
    ]
    # A Python signature lists parameters without a default first.
    params.sort(key=lambda param: param.default is not inspect.Parameter.empty)
    artifacts = [
        name
        for name, item in items.items()
        if not parameter_type(item.get("type")) and is_required(item)
    ]
    tasks: dict[str, Any] = {}

    def body(**values: Any) -> None:
        for name in artifacts:
            values[name] = dsl.importer(
                artifact_uri=f"gs://bucket/{name}", artifact_class=dsl.Artifact
            ).output
        first = component(**values)
        second = reference().after(first)
        tasks["first"], tasks["second"] = first.name, second.name

    ir = compile_pipeline(tmp_path, params, body)

    dag = ir["root"]["dag"]["tasks"]
    first, second = dag.get(tasks["first"]), dag.get(tasks["second"])
    assert first is not None and second is not None, sorted(dag)
    assert second.get("dependentTasks") == [tasks["first"]]
    assert executor_of(ir, first)["image"] == data["implementation"]["container"]["image"]
    reference_container = declared(CATALOG / REFERENCE)["implementation"]["container"]
    # KFP compiles the v1 executor-input placeholder to {{$}}; the rest is taken as written.
    assert executor_of(ir, second)["command"] == [
        "{{$}}" if item == {"executorInput": None} else item for item in reference_container["command"]]

    # The pipeline parameters reach the first task unchanged.
    passed = first.get("inputs", {}).get("parameters", {})
    for param in params:
        assert passed.get(param.name) == {"componentInputParameter": param.name}

    # KFP types every declared input as the catalog meant: parameters keep their type, and
    # anything else is an artifact (so an unknown type name can't pass as a value silently).
    definitions = task_component(ir, tasks["first"]).get("inputDefinitions", {})
    root_params = ir["root"].get("inputDefinitions", {}).get("parameters", {})
    for name, item in items.items():
        kind = parameter_type(item.get("type"))
        if kind:
            got = definitions.get("parameters", {}).get(name, {}).get("parameterType")
            assert got == kind[0], f"input {name!r} ({item.get('type')}): IR has {got}"
            if name in root_params:
                assert root_params[name]["parameterType"] == kind[0]
            optional = definitions["parameters"][name].get("isOptional", False)
            assert optional == (not is_required(item)), f"input {name!r}: isOptional {optional}"
        else:
            assert name in definitions.get("artifacts", {}), f"artifact input {name!r} not in the IR"


def _sklearn_task(ir: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    tasks = ir["root"]["dag"]["tasks"]
    assert len(tasks) == 1, sorted(tasks)
    (task,) = tasks.values()
    return task, executor_of(ir, task)["args"]


def _if_present(args: list[str], name: str) -> dict[str, Any]:
    """The IfPresent placeholder KFP made of ``{if: {cond: {isPresent: name}, ...}}``."""
    for arg in args:
        if arg.startswith("{") and '"IfPresent"' in arg:
            value = json.loads(arg)["IfPresent"]
            if value["InputName"] == name:
                return value
    raise AssertionError(f"no IfPresent placeholder for {name!r} in args {args}")


def test_optional_input_from_pipeline_parameter(reference: Any, tmp_path: Path) -> None:
    params = [
        inspect.Parameter("depth", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=int, default=4)
    ]
    ir = compile_pipeline(tmp_path, params, lambda depth: reference(max_depth=depth))

    task, args = _sklearn_task(ir)
    assert task["inputs"]["parameters"]["max_depth"] == {"componentInputParameter": "depth"}
    assert ir["root"]["inputDefinitions"]["parameters"]["depth"]["parameterType"] == "NUMBER_INTEGER"
    assert _if_present(args, "max_depth") == {
        "InputName": "max_depth",
        "Then": ["--max_depth", "{{$.inputs.parameters['max_depth']}}"],
    }


def test_optional_input_omitted(reference: Any, tmp_path: Path) -> None:
    ir = compile_pipeline(tmp_path, [], lambda: reference())

    task, args = _sklearn_task(ir)
    assert "max_depth" not in task.get("inputs", {}).get("parameters", {})
    definition = task_component(ir, next(iter(ir["root"]["dag"]["tasks"])))["inputDefinitions"]
    max_depth = definition["parameters"]["max_depth"]
    # Optional with no default: the launcher drops the whole `then` branch at run time.
    assert max_depth == {"isOptional": True, "parameterType": "NUMBER_INTEGER"}
    assert "--max_depth" not in args
    assert _if_present(args, "max_depth")["Then"][0] == "--max_depth"
