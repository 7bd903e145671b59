"""The experiment's identity (a pure comparison), the one-writer lock, and the give-up rule."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pipetune.errors import UsageError
from pipetune.tuner.history import TrialStatus
from pipetune.tuner.identity import compare, fingerprint, flatten, function_identity, program_hashes
from pipetune.tuner.journal import TrialState, replay
from pipetune.tuner.lock import ExperimentLock
from pipetune.tuner.objective import Objective
from pipetune.tuner.policy import GAVE_UP, Budget, give_up

BASE = {
    "parameters": {"lr": {"parameterType": "double", "min": 0.001, "max": 0.1}},
    "objective": {"type": "maximize", "objectiveMetricName": "acc"},
    "seed": 3,
    "trial": {"trialSpec": {"command": ["python", "train.py", "--epochs", "3"]}},
    "budget": {"maxTrialCount": 10, "parallelTrialCount": 2},
}


def test_the_same_identity_is_the_same_experiment() -> None:
    comparison = compare(BASE, dict(BASE))
    assert comparison.same and not comparison.budget and not comparison.legacy


def test_each_changed_field_is_named_with_its_old_and_new_value() -> None:
    changed = {**BASE, "seed": 4, "trial": {"trialSpec": {"command": ["python", "train.py", "--epochs", "5"]}}}
    described = [change.describe() for change in compare(BASE, changed).changes]
    assert described == ["seed: 3 -> 4", "trial.trialSpec.command[3]: '3' -> '5'"]


def test_a_budget_change_alone_is_the_same_experiment() -> None:
    raised = {**BASE, "budget": {"maxTrialCount": 20, "parallelTrialCount": 2}}
    comparison = compare(BASE, raised)
    assert comparison.same
    assert [c.describe() for c in comparison.budget] == ["budget.maxTrialCount: 10 -> 20"]
    assert fingerprint(BASE) == fingerprint(raised)
    assert fingerprint(BASE) != fingerprint({**BASE, "seed": 4})


def test_added_and_removed_fields_are_changes() -> None:
    more = {**BASE, "earlyStopping": {"algorithmName": "medianstop"}}
    assert [c.describe() for c in compare(BASE, more).changes] == [
        "earlyStopping.algorithmName: (none) -> 'medianstop'"]
    assert compare(more, BASE).changes[0].new is None


def test_a_journal_without_identity_is_legacy() -> None:
    assert compare(None, BASE).legacy


def test_flatten_marks_odd_keys() -> None:
    assert dict(flatten({"programs": {"ridge.py": "sha256:1"}, "empty": []})) == {
        'programs."ridge.py"': "sha256:1", "empty": []}


def test_a_function_is_its_name_and_source() -> None:
    def objective(params: dict) -> float:
        return params["x"]

    def other(params: dict) -> float:
        return -params["x"]

    found = function_identity(objective)
    assert found["function"].endswith("test_a_function_is_its_name_and_source.<locals>.objective")
    assert found["source"] != function_identity(other)["source"]
    assert found == function_identity(objective)


def test_a_lambda_and_a_partial_are_identified_without_their_surroundings() -> None:
    first = [lambda p: p["x"], 20]  # the line around a lambda (a budget) is not its identity
    second = [lambda p: p["x"], 30]
    other = [lambda p: -p["x"], 20]
    assert function_identity(first[0]) == function_identity(second[0])  # type: ignore[arg-type]
    assert function_identity(first[0]) != function_identity(other[0])  # type: ignore[arg-type]

    def scaled(params: dict, factor: float) -> float:
        return params["x"] * factor

    assert function_identity(functools.partial(scaled, factor=2)) == function_identity(
        functools.partial(scaled, factor=2))
    assert function_identity(functools.partial(scaled, factor=2)) != function_identity(
        functools.partial(scaled, factor=3))


def test_a_local_program_is_identified_by_its_content(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text("print(1)\n")
    first = program_hashes(["python", "train.py", "--lr", "0.1"], tmp_path)
    assert list(first) == ["train.py"]
    script.write_text("print(2)\n")
    assert program_hashes(["python", "train.py"], tmp_path) != first
    assert program_hashes(["python", "-m", "pipetune.catalog.tune"], tmp_path) == {}
    assert program_hashes(["python", "missing.py"], tmp_path) == {}


def test_the_identity_is_journaled_and_replayed() -> None:
    records = [{"op": "experiment_started", "name": "e", "identity": BASE, "fingerprint": fingerprint(BASE)}]
    state = replay(records)
    assert state.identity == BASE and state.fingerprint == fingerprint(BASE)
    # A later start (an extended budget) replaces it; an old journal's start keeps none.
    assert replay([{"op": "experiment_started", "name": "e"}]).identity is None


# -- the lock -----------------------------------------------------------------------------------


def test_the_lock_is_reentrant_for_its_thread_and_refuses_another(tmp_path: Path) -> None:
    outer, inner = ExperimentLock(tmp_path), ExperimentLock(tmp_path)
    with outer, inner:
        errors: list[BaseException] = []

        def other() -> None:
            try:
                ExperimentLock(tmp_path).acquire()
            except UsageError as exc:
                errors.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert errors and "another tuner is running this experiment" in str(errors[0])
        assert f"pid {os.getpid()}" in str(errors[0])
    # Released: anyone may take it now.
    with ExperimentLock(tmp_path):
        pass


def test_a_forked_child_does_not_keep_the_lock(tmp_path: Path) -> None:
    lock = ExperimentLock(tmp_path)
    lock.acquire()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a trial worker: it lives on after its tuner let go of the lock
        os.close(write)
        os.read(read, 1)
        os._exit(0)
    os.close(read)
    try:
        lock.release()
        # Another process gets the lock although the child still runs.
        taken = subprocess.run(
            [sys.executable, "-c", "import sys; from pipetune.tuner.lock import ExperimentLock; "
             "ExperimentLock(sys.argv[1]).acquire()", str(tmp_path)],
            capture_output=True, text=True, timeout=60,
        )
        assert taken.returncode == 0, taken.stderr
    finally:
        os.write(write, b"x")
        os.close(write)
        os.waitpid(pid, 0)


# -- giving up ----------------------------------------------------------------------------------


def _trial(index: int, status: TrialStatus, objective: float | None = None, **fields: object) -> TrialState:
    return TrialState(index, {"x": index}, status=status, objective=objective, **fields)  # type: ignore[arg-type]


OBJECTIVE = Objective("acc")


@pytest.mark.parametrize("count", [1, 3, 5])
def test_the_first_trials_all_failing_end_the_experiment(count: int) -> None:
    budget = Budget(max_trials=20, give_up_after=count)
    failed = [_trial(i, TrialStatus.FAILED, reason="Exception", message="KeyError: 'lr'") for i in range(count)]
    verdict = give_up(failed, OBJECTIVE, budget)
    assert verdict is not None and verdict.reason == GAVE_UP and "KeyError: 'lr'" in verdict.message
    assert give_up(failed[:-1], OBJECTIVE, budget) is None


def test_no_objective_metric_names_what_the_trials_reported() -> None:
    trials = [_trial(i, TrialStatus.METRICS_UNAVAILABLE, metrics={"accuracy": 0.9}) for i in range(3)]
    verdict = give_up(trials, OBJECTIVE, Budget(max_trials=20, give_up_after=3))
    assert verdict is not None and "they reported: accuracy" in verdict.message


def test_one_success_running_or_retry_left_keeps_it_going() -> None:
    budget = Budget(max_trials=20, give_up_after=3, max_retries=1)
    ok = [_trial(0, TrialStatus.FAILED, attempt=1), _trial(1, TrialStatus.SUCCEEDED, 0.5),
          _trial(2, TrialStatus.FAILED, attempt=1)]
    assert give_up(ok, OBJECTIVE, budget) is None
    running = [_trial(0, TrialStatus.FAILED, attempt=1), _trial(1, TrialStatus.RUNNING),
               _trial(2, TrialStatus.FAILED, attempt=1)]
    assert give_up(running, OBJECTIVE, budget) is None
    retry_left = [_trial(i, TrialStatus.FAILED, attempt=0) for i in range(3)]
    assert give_up(retry_left, OBJECTIVE, budget) is None
    assert give_up(retry_left, OBJECTIVE, Budget(max_trials=20)) is None  # off unless asked
