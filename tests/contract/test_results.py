"""results.yaml: what readers accept, what they refuse, and how writes happen."""

from __future__ import annotations

import errno
import math
import os
from pathlib import Path

import pytest

from pipetune.contract import (
    Checkpoint,
    Results,
    parse_results,
    read_results,
    report,
    save_results,
    write_results,
)
from pipetune.errors import ContractError

FULL = """\
apiVersion: pipetune.dev/v1
metrics:
  accuracy: 0.931
  loss: 0.212
outputs:
  model_uri: s3://bucket/exp-1/trial-3/model
  layers: [64, 32]
artifacts:
  model: model/
history:
  - {step: 1, accuracy: 0.61}
  - {step: 2, accuracy: 0.80}
checkpoint:
  uri: checkpoints/step-2/
  step: 2
  metadata: {framework: torch}
"""


def test_the_design_example_round_trips() -> None:
    results = parse_results(FULL)
    assert results.metrics == {"accuracy": 0.931, "loss": 0.212}
    assert results.outputs["layers"] == [64, 32]
    assert results.artifacts == {"model": "model/"}
    assert results.history[1] == {"step": 2, "accuracy": 0.8}
    assert results.checkpoint == Checkpoint("checkpoints/step-2/", 2, {"framework": "torch"})
    assert parse_results(results.to_yaml()) == results


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics: {a: 1}\n", "apiVersion is missing; expected pipetune.dev/v1"),
        ("apiVersion: pipetune.dev/v2\n", "apiVersion 'pipetune.dev/v2' is a version"),
        ("apiVersion: kubeflow.org/v1\n", "apiVersion: expected pipetune.dev/v1"),
        ("apiVersion: pipetune.dev/v1\nmetrics: {acc: .nan}\n", "metrics.acc: expected a finite number"),
        ("apiVersion: pipetune.dev/v1\nmetrics: {acc: .inf}\n", "metrics.acc: expected a finite number"),
        ("apiVersion: pipetune.dev/v1\nmetrics: {acc: high}\n", "metrics.acc: expected a finite number, got 'high'"),
        ("apiVersion: pipetune.dev/v1\nmetrics: {acc: true}\n", "metrics.acc: expected a finite number"),
        ("apiVersion: pipetune.dev/v1\nmetrics: [1, 2]\n", "metrics: expected a mapping"),
        ("apiVersion: pipetune.dev/v1\nmetric: {a: 1}\n", "unknown field 'metric'"),
        ("apiVersion: pipetune.dev/v1\nhistory: [{step: x}]\n", "history[0].step: expected an integer"),
        ("apiVersion: pipetune.dev/v1\ncheckpoint: {step: 2}\n", "checkpoint.uri: expected a path or URI"),
        ("apiVersion: pipetune.dev/v1\nartifacts: {model: 3}\n", "artifacts.model: expected a path"),
        ("- just a list\n", "expected a mapping with apiVersion"),
        ("apiVersion: [unclosed\n", "malformed YAML at line"),
    ],
)
def test_invalid_results_are_refused_naming_file_and_field(text: str, expected: str) -> None:
    with pytest.raises(ContractError) as caught:
        parse_results(text, source="out/results.yaml")
    message = str(caught.value)
    assert message.startswith("out/results.yaml")
    assert expected in message


def test_read_results_accepts_the_directory_or_the_file(tmp_path: Path) -> None:
    (tmp_path / "results.yaml").write_text(FULL)
    assert read_results(tmp_path) == read_results(tmp_path / "results.yaml")


def test_read_results_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=f"{tmp_path}/results.yaml: file not found"):
        read_results(tmp_path)


def test_write_refuses_invalid_results_and_leaves_the_old_file(tmp_path: Path) -> None:
    write_results({"apiVersion": "pipetune.dev/v1", "metrics": {"a": 1.0}}, tmp_path)
    before = (tmp_path / "results.yaml").read_text()
    with pytest.raises(ContractError, match="metrics.a: expected a finite number"):
        write_results({"apiVersion": "pipetune.dev/v1", "metrics": {"a": math.nan}}, tmp_path)
    assert (tmp_path / "results.yaml").read_text() == before
    assert sorted(os.listdir(tmp_path)) == ["results.yaml"]  # no temporary file left behind


def test_write_is_atomic_through_a_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash between writing and renaming leaves the previous file whole."""
    write_results(Results(metrics={"a": 1.0}), tmp_path)

    def crash(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_results(Results(metrics={"a": 2.0}), tmp_path)
    assert read_results(tmp_path).metrics == {"a": 1.0}
    assert sorted(os.listdir(tmp_path)) == ["results.yaml"]


def test_a_mounted_results_file_is_rewritten_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a pod the kubelet bind-mounts /outputs/results.yaml (the termination-message path),
    and a rename onto a mount point fails with EBUSY: the write must still land."""
    write_results(Results(metrics={"a": 1.0}), tmp_path)

    def mounted(*_args: object) -> None:
        raise OSError(errno.EBUSY, "Device or resource busy")

    monkeypatch.setattr(os, "replace", mounted)
    write_results(Results(metrics={"a": 2.0}), tmp_path)
    assert read_results(tmp_path).metrics == {"a": 2.0}
    assert sorted(os.listdir(tmp_path)) == ["results.yaml"]


def test_exponent_floats_without_a_dot_are_numbers() -> None:
    """Found by bench/kubernetes_requests.py: `loss: 9e-06` (YAML 1.2, as Go's yaml.v3 and a
    plain f-string write it) is a string to PyYAML, and the trial failed."""
    results = parse_results("apiVersion: pipetune.dev/v1\nmetrics:\n  loss: 9e-06\n  big: 1E+3\n")
    assert results.metrics == {"loss": 9e-06, "big": 1000.0}
    with pytest.raises(ContractError, match="metrics.loss: expected a finite number, got 'e-06'"):
        parse_results("apiVersion: pipetune.dev/v1\nmetrics:\n  loss: e-06\n")


def test_outputs_dir_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPETUNE_OUTPUTS", str(tmp_path))
    save_results(metrics={"accuracy": 0.5})
    assert read_results().metrics == {"accuracy": 0.5}


def test_report_appends_history_and_prints_a_log_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report(step=1, outputs_dir=tmp_path, accuracy=0.61)
    report(step=2, outputs_dir=tmp_path, accuracy=0.8, loss=0.3)
    results = read_results(tmp_path)
    assert results.metrics == {"accuracy": 0.8, "loss": 0.3}
    assert results.history == [{"step": 1, "accuracy": 0.61}, {"step": 2, "accuracy": 0.8, "loss": 0.3}]
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        'pipetune.report {"step": 1, "accuracy": 0.61}',
        'pipetune.report {"step": 2, "accuracy": 0.8, "loss": 0.3}',
    ]


def test_report_refuses_nan_before_writing(tmp_path: Path) -> None:
    report(step=1, outputs_dir=tmp_path, accuracy=0.5)
    with pytest.raises(ContractError, match="report.accuracy: expected a finite number"):
        report(step=2, outputs_dir=tmp_path, accuracy=float("nan"))
    assert read_results(tmp_path).history == [{"step": 1, "accuracy": 0.5}]


def test_save_results_keeps_reported_history(tmp_path: Path) -> None:
    report(step=1, outputs_dir=tmp_path, accuracy=0.6)
    save_results(
        metrics={"accuracy": 0.7},
        outputs={"model_uri": "s3://b/m"},
        checkpoint={"uri": "ckpt/1", "step": 1},
        outputs_dir=tmp_path,
    )
    results = read_results(tmp_path)
    assert results.metrics == {"accuracy": 0.7}
    assert results.history == [{"step": 1, "accuracy": 0.6}]
    assert results.outputs == {"model_uri": "s3://b/m"}
    assert results.checkpoint == Checkpoint("ckpt/1", 1)


def test_oversized_results_warn_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = Results(outputs={"blob": "x" * 5000})
    write_results(big, tmp_path)
    write_results(big, tmp_path)
    err = capsys.readouterr().err
    assert err.count("above the 4096-byte limit") == 1
    assert str(tmp_path / "results.yaml") in err
    assert read_results(tmp_path) == big  # still written in full locally
