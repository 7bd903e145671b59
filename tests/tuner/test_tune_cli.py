"""`pipetune tune` as a user runs it: trials, records, resume after kill -9, Ctrl-C, failures."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import DATA, ROOT

QUADRATIC = DATA / "experiments" / "quadratic.yaml"


def _experiment(tmp_path: Path, **changes: object) -> Path:
    """A copy of the quadratic experiment with spec fields changed (``trial_args`` replaces the
    command's extra arguments)."""
    data = yaml.safe_load(QUADRATIC.read_text())
    extra = changes.pop("trial_args", None)
    container = data["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    if extra is not None:
        container["command"] = container["command"][:6] + list(extra)
    for key, value in changes.items():
        data["spec"][key] = value
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _journal(directory: Path) -> list[dict]:
    """The journal's complete lines: a tuner may be appending the last one while it is read."""
    text = (directory / "journal.jsonl").read_text()
    return [json.loads(line) for line in text.split("\n")[:-1] if line]


def _assignments(directory: Path) -> dict[int, dict]:
    return {r["trial"]: r["assignment"] for r in _journal(directory) if r["op"] == "trial_created"}


def test_tune_runs_trials_and_records_them(cli, state_dir: Path, tmp_path: Path) -> None:
    experiment = _experiment(tmp_path, trial_args=["--sleep", "0"])
    result = cli("tune", str(experiment), "--dir", str(tmp_path / "exp"))
    assert result.returncode == 0, result.stderr
    assert "experiment quadratic Succeeded (ExperimentMaxTrialsReached)" in result.stdout
    assert "10/10 done, 0 running, best loss" in result.stderr
    assert result.stdout.count("Succeeded") >= 10
    tuner = yaml.safe_load((tmp_path / "exp" / "results.yaml").read_text())
    assert tuner["metrics"]["trials"] == 10 and tuner["metrics"]["succeeded"] == 10
    best = tuner["outputs"]["best_parameters"]
    assert set(best) == {"x", "y"}
    assert tuner["metrics"]["best_loss"] == pytest.approx((best["x"] - 0.3) ** 2 + (best["y"] - 0.7) ** 2)
    rows = json.loads((tmp_path / "exp" / "trials.json").read_text())
    assert [row["trial"] for row in rows] == list(range(10))
    # The experiment is a run in the store, its trials are its children.
    runs = [json.loads(line) for line in cli("runs", "list", "--json").stdout.splitlines()]
    experiment_run = runs[0]
    assert experiment_run["component"] == "experiment/quadratic"
    assert experiment_run["status"] == "Succeeded"
    children = [r for r in runs if r["parent_id"] == experiment_run["id"]]
    assert len(children) == 10 and all(r["status"] == "Succeeded" for r in children)
    assert {r["id"] for r in children} == {row["run_id"] for row in rows}
    listing = cli("runs", "list").stdout
    assert "experiment/quadratic" in listing and "\n  20" in listing  # trials listed under it


def test_resume_after_kill_9_reruns_nothing_and_suggests_the_same(cli, state_dir: Path, tmp_path: Path) -> None:
    experiment = _experiment(tmp_path, trial_args=["--sleep", "0.15"])
    reference = tmp_path / "reference"
    assert cli("tune", str(experiment), "--dir", str(reference), "-q").returncode == 0

    interrupted = tmp_path / "interrupted"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipetune", "--state-dir", str(state_dir), "tune", str(experiment),
         "--dir", str(interrupted), "-q"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    finished: list[dict] = []
    while time.monotonic() < deadline:
        if (interrupted / "journal.jsonl").exists():
            finished = [r for r in _journal(interrupted) if r["op"] == "trial_finished"]
            running = [r for r in _journal(interrupted) if r["op"] == "trial_started"]
            if len(finished) >= 3 and len(running) > len(finished):
                break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    before = {r["trial"]: r for r in _journal(interrupted) if r["op"] == "trial_finished"}
    assert len(before) >= 3

    resumed = cli("tune", str(experiment), "--dir", str(interrupted))
    assert resumed.returncode == 0, resumed.stderr
    after = _journal(interrupted)
    # Same seed, same suggestions as the uninterrupted run, trial for trial.
    assert _assignments(interrupted) == _assignments(reference)
    # No finished trial ran again, and its result is kept.
    starts = [r["trial"] for r in after if r["op"] == "trial_started"]
    for trial in before:
        assert starts.count(trial) == 1, f"finished trial {trial} was started again"
    state = {row["trial"]: row for row in json.loads((interrupted / "trials.json").read_text())}
    for trial, record in before.items():
        assert state[trial]["objective"] == record["objective"]
        assert state[trial]["run_id"] == record["run_id"]
    assert all(row["status"] == "Succeeded" for row in state.values())


@pytest.mark.parametrize("crash_after", ["trial_created", "trial_started"])
def test_resume_from_a_journal_cut_at_a_crash_point(cli, tmp_path: Path, crash_after: str) -> None:
    """A tuner that died right after journaling a suggestion (not yet started) or a start (not
    yet finished) is resumed: the trial runs, and the rest matches an uninterrupted run."""
    experiment = _experiment(tmp_path, trial_args=[])
    reference = tmp_path / "reference"
    assert cli("tune", str(experiment), "--dir", str(reference), "-q").returncode == 0
    lines = (reference / "journal.jsonl").read_text().splitlines(keepends=True)
    cut = [i for i, line in enumerate(lines) if json.loads(line)["op"] == crash_after][4]
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    (crashed / "journal.jsonl").write_text("".join(lines[: cut + 1]))
    result = cli("tune", str(experiment), "--dir", str(crashed), "-q")
    assert result.returncode == 0, result.stderr
    assert _assignments(crashed) == _assignments(reference)
    rows = json.loads((crashed / "trials.json").read_text())
    assert len(rows) == 10 and all(row["status"] == "Succeeded" for row in rows)


def _trial_pids(state_dir: Path) -> list[int]:
    """The trial processes of runs in ``state_dir``: their environment names its outputs."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if str(state_dir).encode() in environ and b"PIPETUNE_OUTPUTS=" in environ:
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_stops_every_trial_and_leaves_it_resumable(
    state_dir: Path, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    experiment = _experiment(tmp_path, trial_args=["--sleep", "5", "--steps", "20"])
    directory = tmp_path / "exp"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipetune", "--state-dir", str(state_dir), "tune", str(experiment),
         "--dir", str(directory)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    # Both trials journaled as started and their processes there: observable, no fixed wait.
    while not ((directory / "journal.jsonl").exists()
               and len([r for r in _journal(directory) if r["op"] == "trial_started"]) == 2
               and len(trial_pids := _trial_pids(state_dir)) >= 2):
        assert proc.poll() is None and time.monotonic() < deadline, "the trials never started"
        time.sleep(0.05)
    proc.send_signal(sig)
    # A deadline, not a wait: ending the trials took over 30 s once beside two CPU-bound processes.
    out, err = proc.communicate(timeout=120)
    # SIGTERM is handled as Ctrl-C is, and exits 128+15 (it exited 130 before).
    assert proc.returncode == code
    assert "Run the same command to resume" in err and "Traceback" not in err
    for pid in trial_pids:
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split(")")[-1].split()[0] == "Z"
    journal = _journal(directory)
    assert not any(r["op"] == "experiment_finished" for r in journal)
    assert not any(r["op"] == "trial_finished" for r in journal)  # interrupted, not failed


def test_failing_trials_are_retried_then_fail_the_experiment(cli, tmp_path: Path) -> None:
    experiment = _experiment(
        # Two trials fail for good (each after its retry): reaching maxFailedTrialCount 2 (Katib's >=).
        tmp_path, trial_args=["--fail-above", "-1"], maxFailedTrialCount=2, maxTrialRetries=1,
        parallelTrialCount=1, maxTrialCount=4,
    )
    result = cli("tune", str(experiment), "--dir", str(tmp_path / "exp"))
    assert result.returncode == 1
    assert "ExperimentMaxFailedTrialsReached" in result.stdout
    assert "NonZeroExitCode: exited with code 1: x=" in result.stdout
    journal = _journal(tmp_path / "exp")
    attempts = [(r["trial"], r["attempt"]) for r in journal if r["op"] == "trial_started"]
    assert attempts == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_a_metric_never_reported_is_metrics_unavailable(cli, tmp_path: Path) -> None:
    experiment = _experiment(tmp_path, trial_args=[], maxTrialCount=2, parallelTrialCount=1)
    data = yaml.safe_load(experiment.read_text())
    data["spec"]["objective"]["objectiveMetricName"] = "accuracy"
    experiment.write_text(yaml.safe_dump(data))
    result = cli("tune", str(experiment), "--dir", str(tmp_path / "exp"))
    assert result.returncode == 1
    assert "MetricsUnavailable: the trial reported no 'accuracy' (metrics reported: loss)" in result.stdout
    assert "ExperimentNoTrialSucceeded" in result.stdout


def test_goal_reached_ends_early(cli, tmp_path: Path) -> None:
    experiment = _experiment(tmp_path, trial_args=[], maxTrialCount=10, parallelTrialCount=1)
    data = yaml.safe_load(experiment.read_text())
    data["spec"]["objective"]["goal"] = 0.5
    experiment.write_text(yaml.safe_dump(data))
    result = cli("tune", str(experiment), "--dir", str(tmp_path / "exp"))
    assert result.returncode == 0, result.stderr
    assert "ExperimentGoalReached" in result.stdout
    rows = json.loads((tmp_path / "exp" / "trials.json").read_text())
    assert len(rows) < 10 and min(r["objective"] for r in rows if r["objective"] is not None) <= 0.5


def test_median_stop_stops_poor_trials(cli, tmp_path: Path) -> None:
    experiment = _experiment(
        tmp_path, trial_args=["--steps", "8", "--sleep", "0.1"], maxTrialCount=10, parallelTrialCount=2,
        earlyStopping={"algorithmName": "medianstop",
                       "algorithmSettings": [{"name": "min_trials_required", "value": "2"},
                                             {"name": "start_step", "value": "2"}]},
    )
    result = cli("tune", str(experiment), "--dir", str(tmp_path / "exp"))
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "exp" / "trials.json").read_text())
    stopped = [r for r in rows if r["status"] == "EarlyStopped"]
    assert stopped, rows
    for row in stopped:
        assert row["objective"] is not None  # the last value still informs the algorithm
        assert "stopped at step" in row["message"]


def test_spec_errors_exit_2_before_any_trial(cli, tmp_path: Path, state_dir: Path) -> None:
    data = yaml.safe_load(QUADRATIC.read_text())
    data["spec"]["parameters"][0]["feasibleSpace"] = {"min": "1", "max": "0"}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    result = cli("tune", str(path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and str(path) in result.stderr
    assert "min 1 is above max 0" in result.stderr
    assert not (state_dir / "runs.db").exists() or cli("runs", "list", "--json").stdout == ""


def test_plot_writes_pictures(cli, tmp_path: Path) -> None:
    experiment = _experiment(tmp_path, trial_args=[], maxTrialCount=4, parallelTrialCount=2)
    assert cli("tune", str(experiment), "--dir", str(tmp_path / "exp"), "-q").returncode == 0
    result = cli("plot", str(tmp_path / "exp"), "--out", str(tmp_path / "plots"))
    assert result.returncode == 0, result.stderr
    for name in ("history.png", "parameters.png"):
        data = (tmp_path / "plots" / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
    missing = cli("plot", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "no journal.jsonl" in missing.stderr


def test_local_command_runs_a_katib_image_trial_here(cli, tmp_path: Path) -> None:
    experiment = DATA / "experiments" / "katib-image-only.yaml"
    plain = cli("tune", str(experiment), "--dir", str(tmp_path / "plain"))
    # The image's script is not here: refused before the first trial, with the way out.
    assert plain.returncode == 2, plain.stdout + plain.stderr
    assert "/opt/pytorch-mnist/mnist.py" in plain.stderr and "--local-command" in plain.stderr
    assert "image 'docker.io/kubeflowkatib/pytorch-mnist-cpu:latest'" in plain.stderr
    assert not (tmp_path / "plain" / "trials.json").exists()
    local = cli(
        "tune", str(experiment), "--dir", str(tmp_path / "local"), "--local-command",
        "python tests/data/scripts/quadratic.py --x ${trialParameters.learningRate} "
        "--y ${trialParameters.momentum}",
    )
    assert local.returncode == 0, local.stdout + local.stderr
    rows = json.loads((tmp_path / "local" / "trials.json").read_text())
    for row in rows:
        x, y = row["parameters"]["lr"], row["parameters"]["momentum"]
        assert row["objective"] == pytest.approx((x - 0.3) ** 2 + (y - 0.7) ** 2)
    bad = cli("tune", str(experiment), "--local-command", "python 'unclosed")
    assert bad.returncode == 2 and "--local-command: No closing quotation" in bad.stderr


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ({"apiVersion": "kubeflow.org/v1", "kind": "MPIJob"},
         "kind MPIJob (kubeflow.org/v1) can't run locally, it runs with --engine kubernetes"),
        ({"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob"}, "spec.pytorchReplicaSpecs: expected a map"),
    ],
)
def test_a_template_the_engine_cannot_run_exits_2_before_any_trial(
    cli, tmp_path: Path, state_dir: Path, edit: dict, words: str
) -> None:
    data = yaml.safe_load((DATA / "experiments" / "katib-image-only.yaml").read_text())
    data["spec"]["trialTemplate"]["trialSpec"].update(edit)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    result = cli("tune", str(path), "--dir", str(tmp_path / "exp"))
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "exp").exists()
