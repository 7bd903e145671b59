"""component.yaml: loading, validation messages, binding arguments, resolving placeholders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pipetune.components import load_component, resolve_command
from pipetune.contract import parse_args
from pipetune.errors import SpecError, UsageError

SPEC = """
name: demo
description: demo component
inputs:
  - {name: epochs, type: Integer, default: "3"}
  - {name: lr, type: Float}
  - {name: use_gpu, type: Bool, default: "false"}
  - {name: config, type: JsonObject, optional: true}
  - {name: data, type: Dataset}
  - {name: depth, type: Integer, optional: true}
outputs:
  - {name: model, type: Model}
  - {name: score, type: Float}
implementation:
  container:
    image: python:3.11
    command: [python, train.py]
    args:
      - --epochs
      - {inputValue: epochs}
      - --lr
      - {inputValue: lr}
      - {concat: ["--gpu=", {inputValue: use_gpu}]}
      - --data
      - {inputPath: data}
      - if:
          cond: {isPresent: depth}
          then: [--depth, {inputValue: depth}]
          else: [--no-depth]
      - --config
      - {inputValue: config}
      - --model
      - {outputPath: model}
"""


@pytest.fixture
def demo(write_component: Callable[[str], Path]) -> Path:
    return write_component(SPEC)


def test_bind_types_values_and_fills_defaults(demo: Path) -> None:
    spec = load_component(demo)
    bound = spec.bind({"lr": "0.01", "data": "/tmp/d.csv", "use_gpu": "True"})
    assert bound == {"epochs": 3, "lr": 0.01, "use_gpu": True, "data": "/tmp/d.csv"}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"lr": "0.1", "data": "d", "epoch": "3"},
         "unknown input 'epoch'; the component declares: config, data, depth, epochs, lr, use_gpu"),
        ({"data": "d"}, "input 'lr' is required (type Float)"),
        ({"lr": "0.1", "data": "d", "epochs": "abc"}, "input 'epochs': expected an Integer, got 'abc'"),
        ({"lr": "fast", "data": "d"}, "input 'lr': expected a Float, got 'fast'"),
        ({"lr": "nan", "data": "d"}, "input 'lr': expected a finite Float"),
        ({"lr": "1", "data": "d", "use_gpu": "maybe"}, "input 'use_gpu': expected a Bool"),
        ({"lr": "1", "data": "d", "config": "[1]"}, "input 'config': expected a JsonObject"),
    ],
)
def test_bad_arguments_name_the_file_and_input(demo: Path, values: dict, expected: str) -> None:
    with pytest.raises(UsageError) as caught:
        load_component(demo).bind(values)
    assert str(caught.value).startswith(f"{demo}: {expected}")


def test_placeholders_resolve_to_a_plain_argv(demo: Path) -> None:
    spec = load_component(demo)
    bound = spec.bind({"lr": "0.5", "data": "/d", "depth": "4", "config": '{"a": [1]}'})
    argv = resolve_command(spec, bound, {"model": "/out/model", "score": "/out/score"})
    assert argv == [
        "python", "train.py", "--epochs", "3", "--lr", "0.5", "--gpu=false", "--data", "/d",
        "--depth", "4", "--config", '{"a":[1]}', "--model", "/out/model",
    ]


def test_absent_optional_input_takes_the_else_branch_and_drops_its_value(demo: Path) -> None:
    spec = load_component(demo)
    argv = resolve_command(spec, spec.bind({"lr": "0.5", "data": "/d"}), {"model": "/m", "score": "/s"})
    assert "--no-depth" in argv and "--depth" not in argv
    # The optional config was not given: its value is dropped; the flag stays, as in KFP.
    assert argv[argv.index("--config") + 1] == "--model"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda s: s.replace("implementation:\n  container:", "implementation:\n  graph:"),
         "implementation.container is missing"),
        (lambda s: s.replace("{inputValue: lr}", "{inputValue: learning_rate}"),
         "implementation.container.args[3].inputValue: 'learning_rate' is not a declared input"),
        (lambda s: s.replace("{outputPath: model}", "{outputPath: weights}"),
         "'weights' is not a declared output"),
        (lambda s: s.replace("{inputPath: data}", "{inputBlob: data}"),
         "unknown placeholder 'inputBlob'"),
        (lambda s: s.replace("image: python:3.11", "image: ''"),
         "implementation.container.image: expected an image reference"),
        (lambda s: s.replace("name: demo\n", ""), "name: expected a non-empty string"),
        (lambda s: s.replace('{name: epochs, type: Integer, default: "3"}', '{name: epochs, type: Integer, default: "x"}'),
         "inputs[0] (epochs).default: expected an Integer, got 'x'"),
        (lambda s: s.replace("{name: lr, type: Float}", "{name: epochs, type: Float}"),
         "inputs[1].name: 'epochs' is declared twice"),
        (lambda s: s.replace("{inputPath: data}", "{inputValue: data}"),
         "input 'data' has artifact type 'Dataset'; use inputPath"),
        (lambda s: s + "  bad: [unclosed\n", "malformed YAML at line"),
        (lambda s: s.replace("{name: lr, type: Float}", "{name: lr, type: Float, description: rate, per step}"),
         "inputs[1] (lr): unknown key 'per step'; expected annotations, default"),
        (lambda s: s.replace("    image: python:3.11", "    image: python:3.11\n    workingDir: /app"),
         "implementation.container: unknown key 'workingDir'"),
    ],
)
def test_invalid_specs_name_file_and_field(
    write_component: Callable[[str], Path], edit: Callable[[str], str], expected: str
) -> None:
    path = write_component(edit(SPEC))
    with pytest.raises(SpecError) as caught:
        load_component(path)
    assert str(caught.value).startswith(str(path))
    assert expected in str(caught.value)


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="component.yaml: file not found"):
        load_component(tmp_path / "nope" / "component.yaml")


def test_parse_args_gives_typed_values_to_component_authors(demo: Path) -> None:
    args = parse_args(demo, ["--lr", "0.2", "--data", "/d", "--model", "/m", "--use_gpu", "yes"])
    assert (args.epochs, args.lr, args.use_gpu, args.data, args.model) == (3, 0.2, True, "/d", "/m")
    assert args.depth is None


def test_parse_args_exits_2_on_a_bad_value(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_args(demo, ["--lr", "0.2", "--data", "/d", "--epochs", "abc"])
    assert caught.value.code == 2
    assert "argument --epochs: expected an Integer, got 'abc'" in capsys.readouterr().err


def test_parse_args_requires_required_inputs(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_args(demo, ["--data", "/d"])
    assert caught.value.code == 2
    assert "--lr" in capsys.readouterr().err


def test_parse_args_reports_a_broken_spec_in_one_line(
    write_component: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A component whose own component.yaml is broken exits 2 with the file named, no traceback."""
    path = write_component(SPEC.replace("{name: lr, type: Float}", "{name: lr, type: Float, description: a, b}"))
    with pytest.raises(SystemExit) as caught:
        parse_args(path, [])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: inputs[1] (lr): unknown key 'b'")
