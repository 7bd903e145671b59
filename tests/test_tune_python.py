"""pipetune.tune as a notebook user meets it: the trial handle (report, should_stop, index,
parameters, checkpoint_dir), pipetune.report inside a trial, process isolation, exceptions,
argument checks, and what a rerun does with the experiment a directory holds."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import pipetune
from pipetune.api import TuneArgumentError
from pipetune.errors import SpecError
from pipetune.store import RunStore
from pipetune.tuner.identity import ExperimentChanged

SPACE = [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}]
MEDIAN = {"min_trials_required": "3", "start_step": "2"}


def _journal(directory: Path) -> list[dict]:
    return [json.loads(line) for line in (directory / "journal.jsonl").read_text().splitlines()]


def curve(params: dict, trial: Any) -> dict | None:
    """Accuracy that climbs to x over 10 steps: a low x is clear after two steps."""
    for step in range(1, 11):
        trial.report(step, acc=params["x"] * step / 10)
        if trial.should_stop():
            return None
    return {"acc": params["x"]}


def test_a_python_objective_reports_and_is_pruned(tmp_path: Path) -> None:
    result = pipetune.tune(curve, SPACE, metric="acc", max_trials=15, algorithm="random", seed=1,
                           state_dir=tmp_path / "s", early_stopping=MEDIAN)
    stopped = [t for t in result.trials if t.status.value == "EarlyStopped"]
    succeeded = [t for t in result.trials if t.status.value == "Succeeded"]
    # Before, report() piled every trial into one results.yaml under /outputs and nothing stopped.
    assert len(stopped) >= 4 and len(succeeded) >= 3
    assert result.best_objective == max(t.objective for t in succeeded)
    for trial in stopped:
        # A stopped trial's value is its last report, and it is below the best.
        assert trial.objective < result.best_objective
        assert trial.reason == "EarlyStopped"
    # Each trial's history is its own, in its own run's results.yaml.
    store = RunStore(tmp_path / "s")
    for trial in result.trials:
        results = yaml.safe_load((store.run_dir(trial.run_id) / "outputs" / "results.yaml").read_text())
        steps = [entry["step"] for entry in results["history"]]
        assert steps == list(range(1, len(steps) + 1))
        assert all(entry["acc"] <= trial.assignment["x"] + 1e-12 for entry in results["history"])


def test_pipetune_report_inside_a_trial_goes_to_that_trial_not_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = tmp_path / "host-outputs"
    monkeypatch.setenv("PIPETUNE_OUTPUTS", str(host))

    def objective(params: dict) -> None:
        for step in (1, 2, 3):
            pipetune.report(step=step, loss=params["x"] * step)

    result = pipetune.tune(objective, SPACE, metric="loss", minimize=True, max_trials=3, parallel=3,
                           algorithm="random", state_dir=tmp_path / "s")
    assert not host.exists()
    assert [t.status.value for t in result.trials] == ["Succeeded"] * 3
    # The latest report is the metric: strategy min over the history, x * 1.
    for trial in result.trials:
        assert trial.objective == pytest.approx(trial.assignment["x"])
    # Outside any run it still writes $PIPETUNE_OUTPUTS.
    pipetune.report(step=1, loss=0.5)
    assert yaml.safe_load((host / "results.yaml").read_text())["history"] == [{"step": 1, "loss": 0.5}]


def test_the_trial_handle_knows_its_trial(tmp_path: Path) -> None:
    seen: list[tuple[Any, ...]] = []

    def objective(params: dict, trial: Any) -> float:
        seen.append((trial.index, trial.parameters, trial.checkpoint_dir))
        return params["x"]

    result = pipetune.tune(objective, SPACE, max_trials=3, algorithm="random", state_dir=tmp_path / "s",
                           directory=tmp_path / "e")
    assert sorted(index for index, _, _ in seen) == [0, 1, 2]
    for index, parameters, checkpoints in seen:
        assert parameters == result.trials[index].assignment
        assert checkpoints == tmp_path / "e" / "checkpoints" / f"trial-{index:04d}"


def test_an_exception_is_raised_after_its_trial_is_recorded(tmp_path: Path) -> None:
    def broken(params: dict) -> float:
        return {"acc": 1.0}["accuracy"]

    with pytest.raises(KeyError, match="accuracy"):
        pipetune.tune(broken, SPACE, metric="acc", max_trials=5, algorithm="random", directory=tmp_path / "e",
                      state_dir=tmp_path / "s")
    finished = [r for r in _journal(tmp_path / "e") if r["op"] == "trial_finished"]
    assert finished and finished[0]["status"] == "Failed" and finished[0]["message"] == "KeyError: 'accuracy'"
    assert "Traceback" in finished[0]["error"] and "accuracy" in finished[0]["error"]


@pytest.mark.parametrize("isolation", ["thread", "process"])
@pytest.mark.parametrize("raised", [KeyboardInterrupt, SystemExit])
def test_a_keyboard_interrupt_in_the_objective_stops_the_tuner(
        tmp_path: Path, isolation: str, raised: type[BaseException]) -> None:
    """Not an Exception, so even catch=(Exception,) lets it through, as in Optuna; before, it
    ended only the trial's thread and pipetune.tune waited for that trial forever."""
    def interrupted(params: dict) -> float:
        raise raised()

    with pytest.raises(raised):
        pipetune.tune(interrupted, SPACE, metric="acc", max_trials=5, algorithm="random", directory=tmp_path / "e",
                      state_dir=tmp_path / "s", catch=(Exception,), isolation=isolation)
    finished = [r for r in _journal(tmp_path / "e") if r["op"] == "trial_finished"]
    assert [r["status"] for r in finished] == ["Failed"]
    assert finished[0]["message"] == raised.__name__


def test_caught_failures_end_the_experiment_after_the_first_three(tmp_path: Path) -> None:
    def broken(params: dict) -> float:
        raise KeyError("accuracy")

    result = pipetune.tune(broken, SPACE, metric="acc", max_trials=20, algorithm="random",
                           state_dir=tmp_path / "s", catch=(KeyError,))
    assert len(result.trials) == 3
    assert result.state.reason == "ExperimentFirstTrialsFailed"
    assert "KeyError" in result.state.message
    assert all(t.error and "Traceback" in t.error for t in result.trials)


def test_a_wrong_metric_name_ends_the_experiment_after_three_trials(tmp_path: Path) -> None:
    result = pipetune.tune(lambda p: {"accuracy": p["x"], "loss": 1 - p["x"]}, SPACE, metric="acc",
                           max_trials=20, algorithm="random", state_dir=tmp_path / "s")
    assert len(result.trials) == 3
    assert result.state.status == "Failed" and result.state.reason == "ExperimentFirstTrialsFailed"
    assert "'acc'" in result.state.message and "accuracy, loss" in result.state.message


@pytest.mark.parametrize(
    ("argument", "value"),
    [("parallel", 0), ("max_trials", -3), ("max_trials", 2.5), ("metric", ""), ("seed", -1), ("minimize", "yes"),
     ("trial_timeout", 0), ("max_failed", -1), ("max_retries", -1), ("resume", "sometimes"),
     ("isolation", "container"), ("catch", 5), ("goal", float("nan")), ("algorithm_settings", [1]),
     ("give_up_after", -1), ("progress", "loud"), ("parallel", 30)],
)
def test_every_argument_is_checked(tmp_path: Path, argument: str, value: Any) -> None:
    with pytest.raises(TuneArgumentError, match=f"pipetune.tune: {argument}: expected") as raised:
        pipetune.tune(lambda p: p["x"], SPACE, state_dir=tmp_path / "s", **{argument: value})
    assert isinstance(raised.value, ValueError)
    assert not (tmp_path / "s" / "experiments").exists()


def one(params: dict) -> float:
    return (params["x"] - 0.3) ** 2


def test_a_changed_objective_or_range_is_refused_naming_the_field(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = dict(metric="loss", minimize=True, max_trials=3, algorithm="random",
                                  directory=tmp_path / "e", state_dir=tmp_path / "s")
    pipetune.tune(one, SPACE, **kwargs)

    def one_moved(params: dict) -> float:
        return (params["x"] - 0.9) ** 2

    one_moved.__qualname__ = one.__qualname__
    with pytest.raises(ExperimentChanged, match=r"trial\.objective\.source: 'sha256:\w+' -> 'sha256:\w+'") as raised:
        pipetune.tune(one_moved, SPACE, **kwargs)
    assert isinstance(raised.value, ValueError) and "resume='never'" in str(raised.value)
    wider = [{**SPACE[0], "feasibleSpace": {"min": "0", "max": "2"}}]
    with pytest.raises(ExperimentChanged, match=r"parameters\.x\.max: 1 -> 2\b"):
        pipetune.tune(one, wider, **kwargs)
    # A new budget is taken up.
    more = pipetune.tune(one, SPACE, **{**kwargs, "max_trials": 5})
    assert len(more.trials) == 5
    # Starting over keeps the old attempt.
    fresh = pipetune.tune(one_moved, SPACE, resume="never", **kwargs)
    assert len(fresh.trials) == 3
    assert len([r for r in _journal(tmp_path / "e" / "attempt-1") if r["op"] == "trial_finished"]) == 5
    # ... and runs the new objective.
    assert fresh.best_objective == pytest.approx((fresh.best_parameters["x"] - 0.9) ** 2)


def test_resume_must_refuses_an_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="holds no experiment to resume"):
        pipetune.tune(one, SPACE, directory=tmp_path / "e", state_dir=tmp_path / "s", resume="must")


def sleeper(params: dict, trial: Any) -> float:
    Path(os.environ["SLEEPER_PIDS"], str(os.getpid())).write_text("")
    time.sleep(60)
    return 0.0


def test_process_isolation_really_stops_a_trial_at_its_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setenv("SLEEPER_PIDS", str(pids))
    started = time.monotonic()
    result = pipetune.tune(sleeper, SPACE, max_trials=2, parallel=2, algorithm="random", trial_timeout=1.0,
                           isolation="process", state_dir=tmp_path / "s", catch=(Exception,), give_up_after=None)
    assert time.monotonic() - started < 30
    assert [t.reason for t in result.trials] == ["Timeout", "Timeout"]
    workers = [int(p.name) for p in pids.iterdir()]
    assert len(workers) == 2 and os.getpid() not in workers
    deadline = time.monotonic() + 60
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)


def test_process_isolation_reports_and_prunes(tmp_path: Path) -> None:
    result = pipetune.tune(curve, SPACE, metric="acc", max_trials=12, parallel=2, algorithm="random", seed=1,
                           state_dir=tmp_path / "s", early_stopping=MEDIAN, isolation="process")
    statuses = {t.status.value for t in result.trials}
    assert statuses == {"Succeeded", "EarlyStopped"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie of ours counts as ended.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_a_component_with_a_relative_program_tunes_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ridge"
    folder.mkdir()
    (folder / "ridge.py").write_text(
        "import pipetune\n"
        "args = pipetune.parse_args('component.yaml')\n"
        "pipetune.save_results(metrics={'loss': (args.alpha - 0.5) ** 2})\n"
    )
    (folder / "component.yaml").write_text(
        "name: ridge\ninputs:\n  - {name: alpha, type: Float}\nimplementation:\n  container:\n"
        "    image: python:3.11\n    command: [python, ridge.py]\n    args: [--alpha, {inputValue: alpha}]\n"
    )
    monkeypatch.chdir(tmp_path)  # the component's parent: neither file is here
    space = [{"name": "alpha", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}]
    result = pipetune.tune("ridge/component.yaml", space, metric="loss", minimize=True, max_trials=2,
                           algorithm="random", state_dir=tmp_path / "s")
    assert [t.status.value for t in result.trials] == ["Succeeded", "Succeeded"]


def checkpointing(params: dict, trial: Any) -> float:
    """Resumes from its own newest checkpoint: the second attempt of a trial sees the first's."""
    start = 0
    if trial.resume_from:
        start = int((Path(pipetune.resume_from()) / "step").read_text())
    with pipetune.checkpoint(step=start + 1) as folder:
        (Path(folder) / "step").write_text(str(start + 1))
    if start == 0:
        raise RuntimeError("first attempt fails after its checkpoint")
    return float(start)


def test_a_process_trial_resumes_from_its_own_checkpoint(tmp_path: Path) -> None:
    result = pipetune.tune(checkpointing, SPACE, max_trials=2, algorithm="random", max_retries=1,
                           isolation="process", state_dir=tmp_path / "s", directory=tmp_path / "e",
                           catch=(RuntimeError,))
    assert [(t.status.value, t.objective, t.attempt) for t in result.trials] == [("Succeeded", 1.0, 1)] * 2
    store = RunStore(tmp_path / "s")
    for trial in result.trials:
        saved = yaml.safe_load((store.run_dir(trial.run_id) / "outputs" / "results.yaml").read_text())
        assert saved["checkpoint"]["step"] == 2 and saved["metrics"] == {"objective": 1.0}


def test_a_thread_trial_past_its_timeout_does_not_hold_up_the_trials_after_it(tmp_path: Path) -> None:
    """Trial threads are reused once idle; one whose function is still running after its
    timeout is not idle, so the next trials run in other threads."""
    release = threading.Event()

    def hangs_first(params: dict, trial: Any) -> float:
        if trial.index == 0:
            release.wait(60)
        return params["x"]

    try:
        result = pipetune.tune(hangs_first, SPACE, max_trials=6, algorithm="random", trial_timeout=0.5,
                               state_dir=tmp_path / "s", give_up_after=None)
    finally:
        release.set()
    assert [t.reason for t in result.trials] == ["Timeout"] + ["Completed"] * 5


def test_a_trial_that_only_returns_metrics_leaves_no_folder_and_shows_its_metrics(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 15 (overhead): a function trial that wrote nothing of its own gets no run folder,
    outputs folder or results.yaml (two mkdirs and a file were most of a trivial trial's cost);
    the run store holds its metrics, and says it has no outputs folder rather than name one
    that isn't there. A trial that reports keeps its results.yaml (its curve)."""
    from pipetune.cli import main
    from pipetune.tracking import LocalSource
    from pipetune.ui import Api

    result = pipetune.tune(lambda p: {"loss": p["x"], "size": 3.0}, SPACE, metric="loss", minimize=True,
                           max_trials=3, algorithm="random", state_dir=tmp_path / "s")
    store = RunStore(tmp_path / "s")
    api = Api(LocalSource(tmp_path / "s"))
    for trial in result.trials:
        assert not store.run_dir(trial.run_id).exists()
        record = store.get(trial.run_id)
        assert record.status == "Succeeded" and record.outputs_dir is None
        assert record.metrics == {"loss": pytest.approx(trial.assignment["x"]), "size": 3.0}
        reply = api.handle(["api", "runs", trial.run_id], {})
        assert reply.status == 200, reply.body
        shown = json.loads(reply.body)
        assert shown["run"]["metrics"] == record.metrics and shown["files"] == [] and shown["results"] is None
        assert main(["runs", "show", trial.run_id, "--state-dir", str(tmp_path / "s")]) == 0
        out = capsys.readouterr().out
        assert "outputs dir  -\n" in out and "logs         -\n" in out and "objective" not in out
        assert "metrics:\n  loss: " in out and "  size: 3\n" in out

    reported = pipetune.tune(curve, SPACE, metric="acc", max_trials=2, algorithm="random", state_dir=tmp_path / "r")
    store = RunStore(tmp_path / "r")
    for trial in reported.trials:
        saved = yaml.safe_load((store.run_dir(trial.run_id) / "outputs" / "results.yaml").read_text())
        assert len(saved["history"]) == 10 and store.get(trial.run_id).outputs_dir


def test_metrics_past_the_results_limits_still_fail_the_trial_without_a_file(tmp_path: Path) -> None:
    """What no results.yaml reader would accept fails the trial as ResultsInvalid, as when the
    file was written, though a metrics-only trial writes none."""
    result = pipetune.tune(lambda p: {"loss": p["x"], "m" * (2 << 20): 1.0}, SPACE, metric="loss", minimize=True,
                           max_trials=1, algorithm="random", state_dir=tmp_path / "s", catch=(Exception,))
    trial = result.trials[0]
    assert trial.status.value == "Failed" and trial.reason == "ResultsInvalid"
    assert "results.yaml: 2097229 bytes; at most 1048576 for a results file" in (trial.message or "")
