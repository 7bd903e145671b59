"""The Tekton custom-task contract as a pure decision: start, run, cancel, time out, retry, finish."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pipetune.controller import CANCELLED, TIMED_OUT, Progress, decide, parse_duration

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def run(**spec) -> dict:
    return {"apiVersion": "tekton.dev/v1beta1", "kind": "CustomRun", "metadata": {"name": "tune-1"},
            "spec": {"customRef": {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment", "name": "e"}, **spec}}


def condition(status: dict) -> tuple:
    (c,) = [c for c in status["conditions"] if c["type"] == "Succeeded"]
    return c["status"], c["reason"], c["message"]


def started(customrun: dict) -> dict:
    customrun["status"] = decide(customrun, None, T0).status
    return customrun


RUNNING = Progress(total=30, counts={"Succeeded": 11, "Failed": 1, "Running": 3}, running=3, metric="accuracy",
                   best_objective=0.931)
DONE = Progress(total=30, counts={"Succeeded": 30}, metric="accuracy", best_objective=0.95,
                best_parameters={"n_estimators": 120, "max_features": "sqrt"},
                parameter_names=("n_estimators", "max_features"),
                ended=("Succeeded", "ExperimentMaxTrialsReached", "all 30 trials have finished"))


def test_a_new_run_is_started_then_reports_progress_then_succeeds_with_string_results() -> None:
    customrun = run()
    decision = decide(customrun, None, T0)
    assert condition(decision.status) == ("Unknown", "Started", "the experiment is starting")
    assert decision.status["startTime"] == "2026-11-23T12:00:00Z"
    assert decision.status["extraFields"] == {"attempt": 0}
    customrun["status"] = decision.status
    running = decide(customrun, RUNNING, T0 + timedelta(minutes=5))
    assert condition(running.status) == ("Unknown", "Running", "12/30 trials, 3 running, best accuracy 0.931")
    customrun["status"] = running.status
    assert decide(customrun, RUNNING, T0 + timedelta(minutes=6)).status == customrun["status"]  # nothing to write
    final = decide(customrun, DONE, T0 + timedelta(minutes=9))
    assert final.done and condition(final.status)[:2] == ("True", "Succeeded")
    assert final.status["results"] == [
        {"name": "best-n_estimators", "value": "120"},
        {"name": "best-max_features", "value": "sqrt"},
        {"name": "best-objective", "value": "0.95"},
        {"name": "best-parameters", "value": json.dumps({"max_features": "sqrt", "n_estimators": 120})},
    ]
    assert all(isinstance(r["value"], str) for r in final.status["results"])
    assert final.status["completionTime"] == "2026-11-23T12:09:00Z"
    customrun["status"] = final.status
    assert decide(customrun, DONE, T0 + timedelta(hours=5)).status == customrun["status"]  # done stays done


def test_cancel_stops_the_trials_with_tektons_reason() -> None:
    customrun = started(run(status="RunCancelled",
                            statusMessage="CustomRun cancelled as the PipelineRun it belongs to has been cancelled."))
    decision = decide(customrun, RUNNING, T0 + timedelta(minutes=1))
    assert decision.stop_trials and decision.done
    assert condition(decision.status) == (
        "False", CANCELLED, "CustomRun cancelled as the PipelineRun it belongs to has been cancelled.")


def test_timeout_per_attempt_with_retries_then_timed_out() -> None:
    customrun = started(run(timeout="10m", retries=1))
    first = decide(customrun, RUNNING, T0 + timedelta(minutes=11))
    assert first.stop_trials and first.new_attempt and not first.done
    assert condition(first.status)[:2] == ("Unknown", "Retrying")
    (previous,) = first.status["retriesStatus"]
    assert condition(previous)[:2] == ("False", TIMED_OUT) and "retriesStatus" not in previous
    assert first.status["startTime"] == "2026-11-23T12:11:00Z"
    assert first.status["extraFields"] == {"attempt": 1}
    customrun["status"] = first.status
    assert condition(decide(customrun, RUNNING, T0 + timedelta(minutes=20)).status)[0] == "Unknown"
    second = decide(customrun, RUNNING, T0 + timedelta(minutes=22))
    assert second.done and condition(second.status)[:2] == ("False", TIMED_OUT)
    assert len(second.status["retriesStatus"]) == 1


def test_a_failed_experiment_is_retried_then_fails_with_its_reason() -> None:
    failed = Progress(total=10, counts={"Failed": 10}, ended=("Failed", "ExperimentMaxFailedTrialsReached", "4 trials failed"))
    customrun = started(run(retries=1, timeout="0"))
    retried = decide(customrun, failed, T0 + timedelta(hours=3))  # timeout 0: none
    assert retried.new_attempt and condition(retried.status)[:2] == ("Unknown", "Retrying")
    customrun["status"] = retried.status
    final = decide(customrun, failed, T0 + timedelta(hours=4))
    assert condition(final.status) == ("False", "ExperimentMaxFailedTrialsReached", "4 trials failed")


def test_the_default_timeout_is_an_hour() -> None:
    customrun = started(run())
    assert condition(decide(customrun, RUNNING, T0 + timedelta(minutes=59)).status)[0] == "Unknown"
    assert condition(decide(customrun, RUNNING, T0 + timedelta(minutes=61)).status)[:2] == ("False", TIMED_OUT)


@pytest.mark.parametrize(("text", "seconds"), [("0", 0), ("10s", 10), ("1h30m", 5400), ("1.5h", 5400),
                                               ("250ms", 0.25), ("1h0m0s", 3600), (".5s", 0.5), ("1.m", 60),
                                               ("12\u03bcs", 12e-6)])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("timeout", "message"), [
    ("-10m", "spec.timeout: '-10m' is negative; expected 0 (no limit) or a duration such as 1h30m"),
    ("", "spec.timeout: '' is not a duration such as 1h30m, 45s or .5s: expected"),
    (600, "spec.timeout: '600' is not a duration such as 1h30m, 45s or .5s: '600' has no unit"),
    ("3000000h", "spec.timeout: '3000000h' is out of range"),
])
def test_a_negative_empty_unitless_or_huge_timeout_fails_the_run(timeout: object, message: str) -> None:
    decision = decide(started(run(timeout=timeout)), RUNNING, T0 + timedelta(minutes=1))
    assert decision.done and decision.stop_trials
    status, reason, text = condition(decision.status)
    assert (status, reason) == ("False", "InvalidTimeout") and text.startswith(message)


def test_a_zero_timeout_of_any_sign_is_no_limit() -> None:
    for timeout in ("0", "-0", "+0", "0s", 0):
        customrun = started(run(timeout=timeout))
        assert condition(decide(customrun, RUNNING, T0 + timedelta(days=3)).status)[0] == "Unknown"


def test_a_bad_timeout_fails_the_run_naming_it() -> None:
    customrun = started(run(timeout="ten minutes"))
    decision = decide(customrun, RUNNING, T0 + timedelta(minutes=1))
    assert decision.done and condition(decision.status)[:2] == ("False", "InvalidTimeout")
    assert "spec.timeout: 'ten minutes' is not a duration" in condition(decision.status)[2]
