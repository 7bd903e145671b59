"""Structural substitution: typed whole values, formatted-in values, no injection, meta refs."""

from __future__ import annotations

import copy

import pytest
import yaml

from pipetune.errors import SpecError
from pipetune.experiment import MetaReference, format_value, substitute
from pipetune.experiment._substitute import check_placeholders, find_placeholders


def sub(tree, **values):
    return substitute(tree, values, "exp.yaml", "spec.trialTemplate.trialSpec")


def test_a_whole_placeholder_becomes_the_typed_value() -> None:
    tree = {"a": "${trialParameters.n}", "b": "${trialParameters.lr}", "c": ["${trialParameters.opt}"]}
    out = sub(tree, n=5, lr=0.01, opt="adam")
    assert out == {"a": 5, "b": 0.01, "c": ["adam"]}
    assert type(out["a"]) is int and type(out["b"]) is float


def test_a_placeholder_inside_a_string_is_formatted_in() -> None:
    out = sub(
        ["--lr=${trialParameters.lr}", "--n=${trialParameters.n}", "${trialParameters.lr},${trialParameters.n}"],
        lr=0.1,
        n=3,
    )
    assert out == ["--lr=0.1", "--n=3", "0.1,3"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1, "0.1"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e-05, "1e-05"),
        (2.5e10, "25000000000.0"),
        (3.0, "3.0"),
        (7, "7"),
        (True, "true"),
        ("adam", "adam"),
    ],
)
def test_number_formatting(value, text) -> None:
    assert format_value(value) == text
    assert sub("--x=${trialParameters.x}", x=value) == f"--x={text}"


def test_numpy_values_become_plain_python() -> None:
    numpy = pytest.importorskip("numpy")
    out = sub(["${trialParameters.a}", "--b=${trialParameters.b}"], a=numpy.float64(0.1), b=numpy.int64(4))
    assert out == [0.1, "--b=4"]
    assert type(out[0]) is float
    assert yaml.safe_dump(out)  # dumps: no numpy object left


def test_a_shell_command_line_gets_its_values_formatted_in() -> None:
    tree = {"command": ["sh", "-c", "python train.py --lr=${trialParameters.lr} --opt=${trialParameters.opt} > $HOME/log"]}
    out = sub(tree, lr=0.05, opt="sgd")
    assert out["command"][2] == "python train.py --lr=0.05 --opt=sgd > $HOME/log"


def test_a_value_cannot_inject_structure() -> None:
    evil = "a: b\n- c\n{d: [e]}"
    template = {"env": [{"name": "X", "value": "${trialParameters.v}"}], "args": ["--v=${trialParameters.v}"]}
    out = sub(template, v=evil)
    assert out["env"] == [{"name": "X", "value": evil}]
    assert out["args"] == ["--v=" + evil]
    # The tree keeps its shape through a YAML round trip: the value stays one string.
    assert yaml.safe_load(yaml.safe_dump(out)) == out
    assert list(out) == ["env", "args"]


def test_a_value_holding_a_placeholder_is_not_substituted_again() -> None:
    out = sub(["${trialParameters.a}", "x${trialParameters.a}"], a="${trialParameters.b}", b="no")
    assert out == ["${trialParameters.b}", "x${trialParameters.b}"]


def test_the_input_tree_is_not_modified() -> None:
    template = {"spec": {"args": ["--lr=${trialParameters.lr}"], "n": "${trialParameters.lr}"}}
    before = copy.deepcopy(template)
    sub(template, lr=0.2)
    assert template == before


def test_mapping_keys_are_substituted_as_text() -> None:
    out = sub({"label-${trialParameters.n}": "x", "${trialParameters.n}": "y"}, n=2)
    assert out == {"label-2": "x", "2": "y"}


def test_other_dollar_forms_pass_through() -> None:
    tree = ["${HOME}", "$(params.lr)", "{{inputs.parameters.epochs}}", "${trialParameters}"]
    assert sub(tree) == tree


def test_unknown_placeholder_names_the_known_ones() -> None:
    with pytest.raises(SpecError) as caught:
        sub({"spec": {"args": ["--x", "--bs=${trialParameters.batch}"]}}, lr=0.1, n=2)
    assert str(caught.value) == (
        "exp.yaml: spec.trialTemplate.trialSpec.spec.args[1]: unknown placeholder "
        "${trialParameters.batch}; known: ${trialParameters.lr}, ${trialParameters.n}"
    )


def test_find_and_check_placeholders() -> None:
    tree = {"a": ["${trialParameters.x}", "k=${trialParameters.y}"], "${trialParameters.z}": 1}
    assert sorted(find_placeholders(tree)) == [("${trialParameters.z}", "z"), ("a[0]", "x"), ("a[1]", "y")]
    assert check_placeholders(tree, {"x": 1, "y": 2, "z": 3}, "f", "t") == {"x", "y", "z"}
    with pytest.raises(SpecError, match=r"^f: t\.a\[1\]: placeholder \$\{trialParameters\.y\} has no trialParameter"):
        check_placeholders(tree, {"x": 1, "z": 3}, "f", "t")


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("lr", None),
        ("${trialSpec.Name}", MetaReference("Name")),
        ("${trialSpec.Namespace}", MetaReference("Namespace")),
        ("${trialSpec.Kind}", MetaReference("Kind")),
        ("${trialSpec.APIVersion}", MetaReference("APIVersion")),
        ("${trialSpec.Labels[custom-key]}", MetaReference("Labels", "custom-key")),
        ("${trialSpec.Annotations[a.b/c]}", MetaReference("Annotations", "a.b/c")),
    ],
)
def test_meta_reference_forms(reference, expected) -> None:
    assert MetaReference.parse(reference) == expected


@pytest.mark.parametrize("reference", ["${trialSpec.Owner}", "${trialSpec.name}", "${trialSpec.Spec[x]}"])
def test_bad_meta_references(reference) -> None:
    with pytest.raises(ValueError, match="not a trial metadata reference; expected one of"):
        MetaReference.parse(reference)


def test_meta_references_resolve_from_the_template_and_the_trial() -> None:
    template = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"labels": {"team": "vision"}, "annotations": {"note": "x"}},
    }
    resolved = {
        ref: MetaReference.parse(ref).resolve(template, "trial-3", "ns")
        for ref in (
            "${trialSpec.Name}",
            "${trialSpec.Namespace}",
            "${trialSpec.Kind}",
            "${trialSpec.APIVersion}",
            "${trialSpec.Labels[team]}",
            "${trialSpec.Annotations[note]}",
        )
    }
    assert list(resolved.values()) == ["trial-3", "ns", "Job", "batch/v1", "vision", "x"]
    with pytest.raises(KeyError):
        MetaReference.parse("${trialSpec.Labels[nope]}").resolve(template, "t", "ns")
