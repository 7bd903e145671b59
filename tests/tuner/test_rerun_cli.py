"""`pipetune tune` run again, as a user does: the same experiment resumes, a changed one is
refused naming the field, --fresh starts over keeping the old attempt, a raised budget goes on,
two tuners on one directory never both run; failures are shown at once; component-relative
paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import yaml

from conftest import ROOT

TRIAL = """
import argparse, os, sys, time
import pipetune

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, required=True)
parser.add_argument("--optimum", type=float, default=0.3)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--metric", default="loss")
parser.add_argument("--crash", action="store_true")
parser.add_argument("--hold", help="wait while this file exists")
args = parser.parse_args()
# One line per trial process, written whole (O_APPEND): how many processes ran.
fd = os.open(os.environ["TRIAL_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
os.write(fd, f"{os.getpid()} {args.x}\\n".encode())
os.close(fd)
if args.crash:
    settings = {}
    print(settings["learning_rate"])
time.sleep(args.sleep)
while args.hold and os.path.exists(args.hold):
    time.sleep(0.05)
pipetune.save_results(metrics={args.metric: (args.x - args.optimum) ** 2})
"""


def _write(tmp_path: Path, *, max_trials: int = 4, parallel: int = 2, high: str = "1", args: tuple[str, ...] = (),
           metric: str = "loss", log: str = "trials.log", name: str = "experiment.yaml") -> Path:
    script = tmp_path / "trial.py"
    script.write_text(TRIAL)
    doc = {
        "apiVersion": "pipetune.dev/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "rerun"},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": metric},
            "algorithm": {"algorithmName": "random"},
            "parameters": [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": high}}],
            "parallelTrialCount": parallel,
            "maxTrialCount": max_trials,
            "seed": 4,
            "trialTemplate": {
                "trialParameters": [{"name": "x", "reference": "x"}],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{
                        "name": "training-container",
                        "image": "python:3.11",
                        "command": ["python", str(script), "--x", "${trialParameters.x}", *args],
                        "env": [{"name": "TRIAL_LOG", "value": str(tmp_path / log)}],
                    }]}}},
                },
            },
        },
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _processes(tmp_path: Path, log: str = "trials.log") -> int:
    path = tmp_path / log
    return len(path.read_text().splitlines()) if path.exists() else 0


def _trials(directory: Path) -> int:
    return sum(1 for line in (directory / "journal.jsonl").read_text().splitlines()
               if json.loads(line)["op"] == "trial_created")


def test_a_user_tunes_changes_a_range_starts_over_and_extends(cli, tmp_path: Path) -> None:
    directory = tmp_path / "exp"
    experiment = _write(tmp_path)
    first = cli("tune", str(experiment), "--dir", str(directory))
    assert first.returncode == 0, first.stderr
    assert _processes(tmp_path) == 4

    # A changed range: refused before anything runs, naming the field, its old and new value.
    _write(tmp_path, high="2")
    changed = cli("tune", str(experiment), "--dir", str(directory))
    assert changed.returncode == 2, changed.stderr
    assert "parameters.x.max: 1 -> 2" in changed.stderr
    assert "--fresh" in changed.stderr and "another experiment directory" in changed.stderr
    assert "Traceback" not in changed.stderr
    assert _processes(tmp_path) == 4

    # --fresh: the old attempt kept whole, a new one runs.
    fresh = cli("tune", str(experiment), "--dir", str(directory), "--fresh")
    assert fresh.returncode == 0, fresh.stderr
    assert "attempt-1" in fresh.stderr
    assert _trials(directory / "attempt-1") == 4 and (directory / "attempt-1" / "trials.json").is_file()
    assert _trials(directory) == 4
    assert _processes(tmp_path) == 8
    runs = [json.loads(line) for line in cli("runs", "list", "--json").stdout.splitlines()]
    experiments = [r for r in runs if r["component"] == "experiment/rerun"]
    assert len(experiments) == 2  # each attempt is its own run, with its own trials under it
    assert {r["outputs_dir"] for r in experiments} == {str(directory), str(directory / "attempt-1")}

    # A raised maxTrialCount goes on from where it ended.
    _write(tmp_path, high="2", max_trials=6)
    extended = cli("tune", str(experiment), "--dir", str(directory))
    assert extended.returncode == 0, extended.stderr
    assert "maxTrialCount: 4 -> 6" in extended.stderr
    assert _trials(directory) == 6 and _processes(tmp_path) == 10

    # The same again: finished, shown, nothing runs.
    again = cli("tune", str(experiment), "--dir", str(directory))
    assert again.returncode == 0, again.stderr
    assert "rerun is finished: Succeeded" in again.stderr and "raise maxTrialCount" in again.stderr
    assert "experiment rerun Succeeded" in again.stdout
    assert _processes(tmp_path) == 10


def test_two_tuners_on_one_directory_never_both_run(tmp_path: Path) -> None:
    # Trials wait while `hold` exists, so the first tuner is still running when the second
    # starts, however slow the machine is: no race between the two.
    hold = tmp_path / "hold"
    hold.write_text("")
    experiment = _write(tmp_path, max_trials=4, parallel=2, args=("--hold", str(hold)))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PIPETUNE_STATE_DIR", None)
    command = [sys.executable, "-m", "pipetune", "--state-dir", str(tmp_path / "state"), "tune", str(experiment),
               "--dir", str(tmp_path / "exp")]
    tuners = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(2)]
    try:
        deadline = time.monotonic() + 120
        while all(t.poll() is None for t in tuners):
            assert time.monotonic() < deadline, "neither tuner was refused"
            time.sleep(0.05)
        refused = next(t for t in tuners if t.poll() is not None)
        holder = next(t for t in tuners if t is not refused)
        _, err = refused.communicate(timeout=60)
        assert refused.returncode == 2, err
        assert f"another tuner is running this experiment (pid {holder.pid}, started " in err
    finally:
        hold.unlink()
    _, err = holder.communicate(timeout=120)
    assert holder.returncode == 0, err
    # Exactly maxTrialCount trial processes ran (they used to run twice as many).
    assert _processes(tmp_path) == 4


def test_a_lock_left_by_a_killed_tuner_is_no_lock(cli, tmp_path: Path) -> None:
    hold = tmp_path / "hold"
    hold.write_text("")
    experiment = _write(tmp_path, max_trials=2, parallel=1, args=("--hold", str(hold)))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    tuner = subprocess.Popen([sys.executable, "-m", "pipetune", "--state-dir", str(tmp_path / "state"), "tune",
                              str(experiment), "--dir", str(tmp_path / "exp")], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while _processes(tmp_path) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes(tmp_path) == 1
    tuner.kill()
    tuner.wait()
    hold.unlink()
    resumed = cli("tune", str(experiment), "--dir", str(tmp_path / "exp"))
    # The kernel dropped the dead tuner's lock: nothing to clean up, no refusal.
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming rerun: 0/2 trials done, 1 to run again" in resumed.stderr
    assert _trials(tmp_path / "exp") == 2


def test_a_changed_trial_command_or_local_command_is_refused(cli, tmp_path: Path) -> None:
    directory = tmp_path / "exp"
    experiment = _write(tmp_path, max_trials=2, args=("--optimum", "0.3"))
    assert cli("tune", str(experiment), "--dir", str(directory)).returncode == 0
    _write(tmp_path, max_trials=2, args=("--optimum", "0.9"))
    moved = cli("tune", str(experiment), "--dir", str(directory))
    assert moved.returncode == 2
    assert "trial.trialSpec.spec.template.spec.containers[0].command[5]: '0.3' -> '0.9'" in moved.stderr
    _write(tmp_path, max_trials=2, args=("--optimum", "0.3"))
    local = cli("tune", str(experiment), "--dir", str(directory), "--local-command",
                f"python {tmp_path / 'trial.py'} --x ${{trialParameters.x}} --optimum 0.9")
    assert local.returncode == 2
    assert "trial.local.command" in local.stderr
    # The program itself is part of the experiment: an edited trial script is another one.
    script = tmp_path / "trial.py"
    script.write_text(TRIAL.replace("(args.x - args.optimum) ** 2", "abs(args.x - args.optimum)"))
    edited = cli("tune", str(experiment), "--dir", str(directory))
    assert edited.returncode == 2 and "trial.programs" in edited.stderr


def test_a_failed_experiment_rerun_with_a_fixed_command_is_refused_until_fresh(cli, tmp_path: Path) -> None:
    directory = tmp_path / "exp"
    experiment = _write(tmp_path, max_trials=10, parallel=1, args=("--crash",))
    failed = cli("tune", str(experiment), "--dir", str(directory))
    assert failed.returncode == 1
    # It ended after the first 3, with the first trial's traceback shown once.
    assert _processes(tmp_path) == 3
    assert failed.stderr.count("Traceback (most recent call last)") == 1
    assert "KeyError: 'learning_rate'" in failed.stderr
    assert "ExperimentFirstTrialsFailed" in failed.stdout and "the first 3 trials" in failed.stdout
    fixed = f"python {tmp_path / 'trial.py'} --x ${{trialParameters.x}}"
    replayed = cli("tune", str(experiment), "--dir", str(directory), "--local-command", fixed)
    assert replayed.returncode == 2 and "trial.local" in replayed.stderr  # it used to replay the failures
    fresh = cli("tune", str(experiment), "--dir", str(directory), "--local-command", fixed, "--fresh")
    assert fresh.returncode == 0, fresh.stderr
    rows = json.loads((directory / "attempt-1" / "trials.json").read_text())
    assert all("KeyError" in row["error"] for row in rows)


def test_a_wrong_metric_name_ends_after_three_trials_saying_what_they_reported(cli, tmp_path: Path) -> None:
    experiment = _write(tmp_path, max_trials=20, parallel=1, metric="acc", args=("--metric", "accuracy"))
    result = cli("tune", str(experiment), "--dir", str(tmp_path / "exp"))
    assert result.returncode == 1
    assert _processes(tmp_path) == 3
    assert "the first 3 trials all finished without reporting 'acc'; they reported: accuracy" in result.stdout


def test_an_old_journal_without_an_identity_still_resumes(cli, tmp_path: Path) -> None:
    directory = tmp_path / "exp"
    experiment = _write(tmp_path, max_trials=2, parallel=1)
    assert cli("tune", str(experiment), "--dir", str(directory)).returncode == 0
    journal = directory / "journal.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    for record in records:
        record.pop("identity", None)
        record.pop("fingerprint", None)
    journal.write_text("".join(json.dumps(r) + "\n" for r in records))
    _write(tmp_path, max_trials=3, parallel=1)
    resumed = cli("tune", str(experiment), "--dir", str(directory))
    assert resumed.returncode == 0, resumed.stderr
    assert "written by an older pipetune" in resumed.stderr
    assert _trials(directory) == 3 and _processes(tmp_path) == 3


RIDGE = """
import pipetune

args = pipetune.parse_args("component.yaml")
pipetune.save_results(metrics={"loss": (args.alpha - 0.5) ** 2})
"""


def test_a_components_relative_program_and_spec_path_work_from_any_directory(cli, tmp_path: Path) -> None:
    folder = tmp_path / "ridge"
    folder.mkdir()
    (folder / "ridge.py").write_text(RIDGE)
    (folder / "component.yaml").write_text(textwrap.dedent("""
        name: ridge
        inputs:
          - {name: alpha, type: Float}
        implementation:
          container:
            image: python:3.11
            command: [python, ridge.py]
            args: [--alpha, {inputValue: alpha}]
    """))
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(textwrap.dedent("""
        apiVersion: pipetune.dev/v1alpha1
        kind: Experiment
        metadata: {name: ridge}
        spec:
          objective: {type: minimize, objectiveMetricName: loss}
          algorithm: {algorithmName: random}
          parameters:
            - {name: alpha, parameterType: double, feasibleSpace: {min: "0", max: "1"}}
          maxTrialCount: 3
          trialTemplate:
            trialParameters: [{name: alpha, reference: alpha}]
            trialSpec:
              component: ridge/component.yaml
              arguments: {alpha: "${trialParameters.alpha}"}
    """))
    # From the experiment's folder, the component's parent: ridge.py and component.yaml are
    # not here. They used to fail every trial alike.
    result = cli("tune", "experiment.yaml", "--dir", str(tmp_path / "exp"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "experiment ridge Succeeded" in result.stdout
