"""The tuner's decisions: objective strategies, verdicts, when to ask, what history to ask with."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipetune.contract import Results
from pipetune.tuner import policy
from pipetune.tuner.history import TrialStatus
from pipetune.tuner.journal import ExperimentState, TrialState
from pipetune.tuner.objective import Objective

MAX_ACC = Objective("accuracy", type="maximize", goal=0.99)


def _state(*statuses: TrialStatus, objectives: list[float | None] | None = None) -> ExperimentState:
    objectives = objectives or [None] * len(statuses)
    return ExperimentState(
        trials={
            i: TrialState(i, {"x": i}, status=s, objective=o)
            for i, (s, o) in enumerate(zip(statuses, objectives))
        }
    )


@pytest.mark.parametrize(
    ("strategy", "expected"), [("max", 0.9), ("min", 0.5), ("latest", 0.7)]
)
def test_metric_strategies(strategy: str, expected: float) -> None:
    results = Results(
        metrics={"accuracy": 0.7},
        history=[{"step": 1, "accuracy": 0.5}, {"step": 2, "accuracy": 0.9}],
    )
    objective = Objective("accuracy", metric_strategies={"accuracy": strategy})
    assert policy.objective_value(results, objective) == expected


def test_a_run_without_the_objective_is_metrics_unavailable() -> None:
    outcome = policy.judge_run(True, Results(metrics={"loss": 0.1}), MAX_ACC, "Completed", None)
    assert outcome.status is TrialStatus.METRICS_UNAVAILABLE
    assert outcome.message == "the trial reported no 'accuracy' (metrics reported: loss)"
    failed = policy.judge_run(False, None, MAX_ACC, "NonZeroExitCode", "exited with code 2")
    assert (failed.status, failed.reason) == (TrialStatus.FAILED, "NonZeroExitCode")


def test_goal_reached_ends_the_experiment_at_once() -> None:
    state = _state(TrialStatus.SUCCEEDED, TrialStatus.RUNNING, objectives=[0.995, None])
    ending = policy.verdict(state, MAX_ACC, policy.Budget(max_trials=10, parallel=2))
    assert ending is not None and ending.reason == "ExperimentGoalReached"
    minimize = Objective("loss", type="minimize", goal=0.1)
    verdict = policy.verdict(_state(TrialStatus.SUCCEEDED, objectives=[0.05]), minimize, policy.Budget(5))
    assert verdict.reason == "ExperimentGoalReached"
    assert policy.verdict(_state(TrialStatus.SUCCEEDED, objectives=[0.2]), minimize, policy.Budget(5)) is None


def test_too_many_failures_fail_the_experiment() -> None:
    state = _state(TrialStatus.FAILED, TrialStatus.METRICS_UNAVAILABLE, TrialStatus.RUNNING)
    budget = policy.Budget(max_trials=10, parallel=3, max_failed=1)
    ending = policy.verdict(state, MAX_ACC, budget)
    assert ending is not None and (ending.status, ending.reason) == ("Failed", "ExperimentMaxFailedTrialsReached")
    # Katib fails the experiment when the failed trials reach maxFailedTrialCount (>=), and
    # only once some trial failed: two failures reach 2, not 3; none never reach 0.
    reached = policy.verdict(state, MAX_ACC, policy.Budget(10, 3, max_failed=2))
    assert reached is not None and reached.reason == "ExperimentMaxFailedTrialsReached"
    assert reached.message == "2 trials failed, reaching maxFailedTrialCount 2"
    assert policy.verdict(state, MAX_ACC, policy.Budget(10, 3, max_failed=3)) is None
    clean = _state(TrialStatus.SUCCEEDED, TrialStatus.RUNNING, objectives=[0.5, None])
    assert policy.verdict(clean, MAX_ACC, policy.Budget(10, 3, max_failed=0)) is None
    one = _state(TrialStatus.FAILED, TrialStatus.RUNNING)
    assert policy.verdict(one, MAX_ACC, policy.Budget(10, 3, max_failed=0)) is not None


def test_the_budget_ends_it_once_every_trial_is_final() -> None:
    budget = policy.Budget(max_trials=2, parallel=2)
    running = _state(TrialStatus.SUCCEEDED, TrialStatus.RUNNING, objectives=[0.5, None])
    assert policy.verdict(running, MAX_ACC, budget) is None
    done = _state(TrialStatus.SUCCEEDED, TrialStatus.EARLY_STOPPED, objectives=[0.5, 0.4])
    assert policy.verdict(done, MAX_ACC, budget).reason == "ExperimentMaxTrialsReached"


def test_a_failed_trial_with_retries_left_is_not_final() -> None:
    state = _state(TrialStatus.FAILED)
    budget = policy.Budget(max_trials=1, max_retries=1)
    assert policy.retryable(state.trials[0], budget)
    assert policy.verdict(state, MAX_ACC, budget) is None
    state = replace(state, trials={0: replace(state.trials[0], attempt=1)})
    ending = policy.verdict(state, MAX_ACC, budget)
    assert (ending.status, ending.reason) == ("Failed", "ExperimentNoTrialSucceeded")


def test_asking_waits_for_trials_older_than_the_parallel_window() -> None:
    budget = policy.Budget(max_trials=10, parallel=3)
    # trials 0..3 exist; trial 4 may be asked once trials 0 and 1 are final (2 and 3 pending).
    state = _state(TrialStatus.SUCCEEDED, TrialStatus.RUNNING, TrialStatus.SUCCEEDED, TrialStatus.RUNNING,
                   objectives=[0.5, None, 0.6, None])
    assert not policy.can_ask(state, budget)
    state = replace(state, trials={**state.trials, 1: replace(state.trials[1], status=TrialStatus.SUCCEEDED,
                                                             objective=0.7)})
    assert policy.can_ask(state, budget)
    history = policy.history_for(state, budget, MAX_ACC)
    # Trial 2 finished, but it is inside the window: it counts as pending, whatever the timing.
    assert [h.status for h in history] == [TrialStatus.SUCCEEDED, TrialStatus.SUCCEEDED,
                                           TrialStatus.PENDING, TrialStatus.PENDING]
    assert [h.loss for h in history] == [-0.5, -0.7, None, None]  # maximise: loss is -value


def test_no_asking_past_the_budget() -> None:
    state = _state(TrialStatus.SUCCEEDED, objectives=[0.1])
    assert not policy.can_ask(state, policy.Budget(max_trials=1))


def test_best_trial_prefers_the_earliest_on_ties() -> None:
    state = _state(TrialStatus.SUCCEEDED, TrialStatus.SUCCEEDED, TrialStatus.FAILED, objectives=[0.8, 0.8, None])
    assert policy.best_trial(state.ordered(), MAX_ACC).index == 0
