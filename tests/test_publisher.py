"""`pipetune exec`: the publisher a component's container runs under."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import ROOT, SCRIPTS

BEHAVE = [sys.executable, str(SCRIPTS / "behave.py")]


def _exec(tmp_path: Path, *cmd: str, termination: Path | None = None) -> subprocess.CompletedProcess:
    outputs = tmp_path / "outputs"
    env = {**os.environ, "PIPETUNE_OUTPUTS": str(outputs)}
    flags = ["--termination-message-path", str(termination) if termination else ""]
    return subprocess.run(
        [sys.executable, "-m", "pipetune", "exec", *flags, "--", *cmd],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )


def test_results_are_published_to_the_termination_message(tmp_path: Path) -> None:
    message = tmp_path / "termination-log"
    result = _exec(tmp_path, *BEHAVE, "--report", "2", termination=message)
    assert result.returncode == 0, result.stderr
    published = yaml.safe_load(message.read_text())
    assert published["metrics"] == {"score": 0.2}
    assert published == yaml.safe_load((tmp_path / "outputs" / "results.yaml").read_text())
    assert 'pipetune.report {"step": 1, "score": 0.1}' in result.stdout  # output passes through


def test_katib_stdout_becomes_results_yaml(tmp_path: Path) -> None:
    message = tmp_path / "termination-log"
    result = _exec(tmp_path, *BEHAVE, "--print", "accuracy=0.93", termination=message)
    assert result.returncode == 0, result.stderr
    results = yaml.safe_load((tmp_path / "outputs" / "results.yaml").read_text())
    assert results == {"apiVersion": "pipetune.dev/v1", "metrics": {"accuracy": 0.93},
                       "history": [{"accuracy": 0.93}]}
    assert yaml.safe_load(message.read_text()) == results


def test_exit_code_passes_through(tmp_path: Path) -> None:
    result = _exec(tmp_path, *BEHAVE, "--exit", "7")
    assert result.returncode == 7


def test_invalid_results_fail_with_one_line(tmp_path: Path) -> None:
    message = tmp_path / "termination-log"
    result = _exec(tmp_path, *BEHAVE, "--results", "metrics: {a: 1}", termination=message)
    assert result.returncode == 1
    assert "results.yaml: apiVersion is missing; expected pipetune.dev/v1" in result.stderr
    assert "Traceback" not in result.stderr
    assert not message.exists()


def test_oversized_results_publish_a_pointer_not_a_cut_file(tmp_path: Path) -> None:
    message = tmp_path / "termination-log"
    big = "{apiVersion: pipetune.dev/v1, outputs: {blob: '" + "x" * 5000 + "'}}"
    result = _exec(tmp_path, *BEHAVE, "--results", big, termination=message)
    assert result.returncode == 0
    assert "above the 4096-byte limit" in result.stderr
    published = yaml.safe_load(message.read_text())
    assert published["outputs"]["results"].endswith("outputs/results.yaml")
    assert len(message.read_bytes()) < 4096


def test_missing_command_is_a_run_failure(tmp_path: Path) -> None:
    result = _exec(tmp_path, "no-such-command-xyz")
    assert result.returncode == 1
    assert "command 'no-such-command-xyz' is not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_command_is_a_usage_error(tmp_path: Path) -> None:
    result = _exec(tmp_path)
    assert result.returncode == 2
    assert "expected a command after --" in result.stderr


def test_the_publisher_runs_a_command_without_loading_an_engine(tmp_path: Path) -> None:
    # `pipetune exec` runs in every component's container: it maps the command's program
    # (``pipetune.programs``) and needs none of the engines that run components.
    code = ("import sys, pipetune.publisher\n"
            "code = pipetune.publisher.execute(['python', '-c', 'print(\"score=0.5\")'])\n"
            "print(code, *(m for m in sys.modules if m.startswith('pipetune.engines')))")
    env = {**os.environ, "PIPETUNE_OUTPUTS": str(tmp_path / "outputs")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["score=0.5", "0"]
    assert yaml.safe_load((tmp_path / "outputs" / "results.yaml").read_text())["metrics"] == {"score": 0.5}


def test_metrics_after_a_flood_of_lines_and_a_huge_line_are_read(tmp_path: Path) -> None:
    """The publisher kept at most 100,000 lines with an ``=`` (each whole, however long), so a
    metric printed after them was lost; it now reads the output as it passes, line length
    bounded (a line over 64 KiB is skipped, not held)."""
    program = ("import sys\n"
               "w = sys.stdout.write\n"
               "for _ in range(100_001): w('note=warmup\\n')\n"
               "w('x' * 3_000_000 + '=1\\n')\n"
               "w('loss=0.25\\n')\n")
    result = _exec(tmp_path, sys.executable, "-c", program)
    assert result.returncode == 0, result.stderr
    results = yaml.safe_load((tmp_path / "outputs" / "results.yaml").read_text())
    assert results["metrics"] == {"loss": 0.25}
    assert len(result.stdout) > 4_000_000  # the output still passes through whole
