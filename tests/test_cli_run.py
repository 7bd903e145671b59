"""`pipetune run` and `pipetune runs` as a user meets them: summaries, records, bad input."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, script_component

pytest.importorskip("sklearn")


def _no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr, result.stderr


def _runs(cli) -> list[dict]:
    listing = cli("runs", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    return [json.loads(line) for line in listing.stdout.splitlines()]


def test_train_sklearn_runs_and_is_recorded(cli, state_dir: Path) -> None:
    result = cli(
        "run", "components/train-sklearn/component.yaml",
        "--input", "n_estimators=20", "--input", "max_depth=4",
    )
    assert result.returncode == 0, result.stderr
    assert "train-sklearn  Succeeded" in result.stdout
    assert "accuracy" in result.stdout
    assert result.stdout.count("pipetune.report {") == 5  # the run's own output, streamed

    [run] = _runs(cli)
    assert run["status"] == "Succeeded" and run["engine"] == "local" and run["exit_code"] == 0
    assert run["parameters"]["n_estimators"] == 20 and run["parameters"]["max_depth"] == 4
    assert 0.85 < run["metrics"]["accuracy"] <= 1.0
    outputs = Path(run["outputs_dir"])
    assert outputs.is_relative_to(state_dir)
    results = yaml.safe_load((outputs / "results.yaml").read_text())
    assert results["apiVersion"] == "pipetune.dev/v1"
    assert results["metrics"]["accuracy"] == run["metrics"]["accuracy"]
    assert [entry["step"] for entry in results["history"]] == [4, 8, 12, 16, 20]
    assert (outputs / "model" / "model.joblib").is_file()

    shown = cli("runs", "show", run["id"][:12])
    assert shown.returncode == 0, shown.stderr
    for text in (run["id"], "n_estimators: 20", "accuracy:", str(outputs)):
        assert text in shown.stdout
    assert re.search(r"^status +Succeeded \(Completed\)$", shown.stdout, re.M)
    assert re.search(r"^component +train-sklearn +\(/.*/components/train-sklearn/component.yaml\)$", shown.stdout, re.M)
    listed = cli("runs", "list")
    assert run["id"] in listed.stdout and "Succeeded" in listed.stdout


def test_same_seed_same_metrics(cli) -> None:
    args = ("run", "components/train-sklearn", "-q", "--input", "n_estimators=10", "--input", "seed=3")
    first, second = cli(*args), cli(*args)
    assert first.returncode == second.returncode == 0
    metrics = [run["metrics"] for run in _runs(cli)]
    for m in metrics:
        m.pop("train_seconds")
    assert metrics[0] == metrics[1]


@pytest.mark.parametrize(
    ("component", "inputs", "expected"),
    [
        ("name: x\ninputs: [{name: a\n", [], "component.yaml: malformed YAML at line"),
        ("name: x\nimplementation: {}\n", [], "component.yaml: implementation.container is missing"),
        (script_component("[]", inputs="[{name: epochs, type: Integer}]"), ["epoch=3"],
         "component.yaml: unknown input 'epoch'; the component declares: epochs"),
        (script_component("[]", inputs="[{name: epochs, type: Integer}]"), [],
         "component.yaml: input 'epochs' is required (type Integer)"),
        (script_component("[]", inputs="[{name: epochs, type: Integer}]"), ["epochs=abc"],
         "component.yaml: input 'epochs': expected an Integer, got 'abc'"),
        (script_component("[]", inputs="[{name: data, type: Dataset}]"), ["data=/no/such/file.csv"],
         "component.yaml: input 'data': expected an existing path, got '/no/such/file.csv'"),
        (script_component("[]"), ["noequals"], "--input 'noequals': expected NAME=VALUE"),
    ],
)
def test_usage_and_spec_errors_exit_2_with_one_line_and_no_run(
    cli, write_component: Callable[[str], Path], component: str, inputs: list[str], expected: str
) -> None:
    path = write_component(component)
    result = cli("run", str(path), *[arg for pair in inputs for arg in ("--input", pair)])
    assert result.returncode == 2
    _no_traceback(result)
    assert result.stderr.startswith("pipetune: error: ")
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _runs(cli) == []  # refused before anything started: nothing to record


@pytest.mark.parametrize(
    ("args", "reason", "expected"),
    [
        ("[--results, '{metrics: {acc: 0.5}}']", "ResultsInvalid",
         "results.yaml: apiVersion is missing; expected pipetune.dev/v1"),
        ("[--results, '{apiVersion: pipetune.dev/v1, metrics: {acc: .nan}}']", "ResultsInvalid",
         "results.yaml: metrics.acc: expected a finite number, got nan"),
        ("[--results, '{apiVersion: pipetune.dev/v1, metrics: {acc: high}}']", "ResultsInvalid",
         "results.yaml: metrics.acc: expected a finite number, got 'high'"),
        ("[--stderr, 'disk full', --exit, '4']", "NonZeroExitCode", "exited with code 4: disk full"),
    ],
)
def test_run_failures_exit_1_and_are_recorded_failed(
    cli, write_component: Callable[[str], Path], args: str, reason: str, expected: str
) -> None:
    result = cli("run", str(write_component(script_component(args))))
    assert result.returncode == 1
    _no_traceback(result)
    assert expected in result.stderr
    assert f"Failed ({reason})" in result.stderr
    [run] = _runs(cli)
    assert (run["status"], run["reason"]) == ("Failed", reason)
    assert expected in run["message"]


def test_command_not_found_exits_1_and_is_recorded(cli, write_component) -> None:
    path = write_component(
        "name: x\nimplementation:\n  container:\n    image: acme/x:1\n    command: [no-such-cmd-xyz]\n"
    )
    result = cli("run", str(path))
    assert result.returncode == 1
    _no_traceback(result)
    assert "command 'no-such-cmd-xyz' of image 'acme/x:1' is not found on this machine" in result.stderr
    [run] = _runs(cli)
    assert (run["status"], run["reason"]) == ("Failed", "CommandNotFound")


def test_nan_report_leaves_the_last_good_results_whole(cli, write_component, tmp_path: Path) -> None:
    script = tmp_path / "nan.py"
    script.write_text(
        "import pipetune\npipetune.report(step=1, acc=0.5)\npipetune.report(step=2, acc=float('nan'))\n"
    )
    component = f"name: nan\nimplementation:\n  container:\n    image: python:3.11\n    command: [python, {script}]\n"
    result = cli("run", str(write_component(component)))
    assert result.returncode == 1
    [run] = _runs(cli)
    results = yaml.safe_load((Path(run["outputs_dir"]) / "results.yaml").read_text())
    assert results["history"] == [{"step": 1, "acc": 0.5}]
    assert sorted(p.name for p in Path(run["outputs_dir"]).iterdir()) == ["results.yaml"]


def test_timeout_flag_fails_the_run(cli, write_component) -> None:
    result = cli("run", str(write_component(script_component("[--sleep, '30']"))), "--timeout", "1")
    assert result.returncode == 1
    assert "Failed (Timeout)" in result.stderr
    assert _runs(cli)[0]["reason"] == "Timeout"


def test_sigterm_cancels_the_run_and_its_processes(state_dir: Path, write_component, tmp_path: Path) -> None:
    path = write_component(script_component("[--spawn-sleeper, --sleep, '60']"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipetune", "--state-dir", str(state_dir), "run", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    deadline = time.monotonic() + 30
    started = []
    while not started and time.monotonic() < deadline:
        started = list(state_dir.glob("runs/*/outputs/started"))
        time.sleep(0.05)
    assert started, "the run never started"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "cancelled by SIGTERM" in err and "Traceback" not in err
    child = int((started[0].parent / "child.pid").read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        stat = Path(f"/proc/{child}/stat").read_text() if Path(f"/proc/{child}/stat").exists() else ""
        if stat.split(")")[-1].split()[:1] == ["Z"]:
            break
        time.sleep(0.05)
    stat_file = Path(f"/proc/{child}/stat")
    assert not stat_file.exists() or stat_file.read_text().split(")")[-1].split()[0] == "Z"
    listing = subprocess.run(
        [sys.executable, "-m", "pipetune", "--state-dir", str(state_dir), "runs", "list", "--json"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert json.loads(listing.stdout)["status"] == "Cancelled"


def test_runs_show_unknown_id_is_a_usage_error(cli) -> None:
    result = cli("runs", "show", "nope")
    assert result.returncode == 2
    assert "no run 'nope'" in result.stderr


def test_runs_list_when_nothing_ran(cli) -> None:
    result = cli("runs", "list")
    assert result.returncode == 0
    assert "no runs recorded" in result.stderr


def test_retries_run_again_until_none_are_left_then_exit_1(cli, write_component) -> None:
    result = cli("run", str(write_component(script_component("[--stderr, 'boom', --exit, '3']"))),
                 "--retries", "2", "--json")
    assert result.returncode == 1
    _no_traceback(result)
    runs = _runs(cli)
    assert len(runs) == 3  # the first attempt and two retries, each a run of its own
    assert all((run["status"], run["reason"]) == ("Failed", "NonZeroExitCode") for run in runs)
    retries = [line for line in result.stderr.splitlines() if "; retry " in line]
    assert [line.rsplit("; ", 1)[1] for line in retries] == ["retry 1 of 2", "retry 2 of 2"]
    last = json.loads(result.stdout)  # --json: the last attempt's record, and nothing else
    assert last["id"] not in " ".join(retries)
    assert {last["id"], *(line.split()[2] for line in retries)} == {run["id"] for run in runs}
    assert result.stderr.splitlines()[-1] == (
        f"pipetune: error: run {last['id']} Failed (NonZeroExitCode): exited with code 3: boom"
    )


def test_a_retry_resumes_from_the_failed_attempts_checkpoint_and_its_success_exits_0(
    cli, write_component, tmp_path: Path
) -> None:
    script = tmp_path / "flaky.py"
    script.write_text(
        "import os, sys\nimport pipetune\n"
        "if os.environ.get('PIPETUNE_RESUME_FROM'):\n"
        "    print('resumed from', os.environ['PIPETUNE_RESUME_FROM'])\n"
        "    sys.exit(0)\n"
        "with pipetune.checkpoint(step=1) as directory:\n"
        "    (directory / 'state').write_text('1')\n"
        "sys.exit(1)\n"
    )
    component = f"name: flaky\nimplementation:\n  container:\n    image: python:3.11\n    command: [python, {script}]\n"
    result = cli("run", str(write_component(component)), "--retries", "3")
    assert result.returncode == 0, result.stderr
    _no_traceback(result)
    runs = {run["id"]: run for run in _runs(cli)}
    assert sorted(run["status"] for run in runs.values()) == ["Failed", "Succeeded"]  # no retry after success
    (failed,) = [run for run in runs.values() if run["status"] == "Failed"]
    (succeeded,) = [run for run in runs.values() if run["status"] == "Succeeded"]
    assert f"pipetune: run {failed['id']} Failed (NonZeroExitCode); retry 1 of 3" in result.stderr
    assert "retry 2" not in result.stderr
    # Without --checkpoints they live under the first attempt's outputs, which outlive it.
    resumed = re.search(r"^pipetune: resuming from checkpoint (\S+)$", result.stderr, re.M)
    assert resumed, result.stderr
    assert Path(resumed.group(1)).is_relative_to(Path(failed["outputs_dir"]) / "checkpoints")
    assert f"resumed from {resumed.group(1)}" in result.stdout
    assert f"run {succeeded['id']}  flaky  Succeeded" in result.stdout


def test_negative_retries_is_a_usage_error_and_nothing_runs(cli, write_component) -> None:
    result = cli("run", str(write_component(script_component("[]"))), "--retries", "-1")
    assert result.returncode == 2
    assert result.stderr == "pipetune: error: --retries: expected 0 or more, got -1\n"
    assert _runs(cli) == []


def test_a_failed_run_quotes_the_end_of_a_huge_stderr_briefly(cli, write_component, tmp_path) -> None:
    """The message of a failed run quotes its stderr's last line: only the end of the log is
    read, and a huge last line is cut, so the run store keeps a short message."""
    component = write_component("""
name: noisy-failure
implementation:
  container:
    image: python:3.11
    command:
      - python
      - -c
      - |
        import sys
        for _ in range(2000): sys.stderr.write("e" * 1000 + "\\n")
        sys.stderr.write("boom " + "z" * 500_000 + "\\n")
        sys.exit(3)
""")
    result = cli("run", str(component), "--quiet", "--json")
    assert result.returncode == 1
    record = json.loads(result.stdout)
    assert record["message"].startswith("exited with code 3: ")
    assert record["message"].endswith("[...]") and len(record["message"]) < 3000
