"""The plan of a reconcile as a pure function, and the held-back creates it orders: status
first, then children; one write per reconcile, none when nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipetune.controller import (
    CANCELLED,
    TIMED_OUT,
    HeldEngine,
    Progress,
    Turn,
    plan_customrun,
    plan_experiment,
    retry_delay,
)
from pipetune.engines.base import Phase, RunRequest
from pipetune.errors import RunError, TransientError

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
SPEC = {"maxTrialCount": 4}
CREATED = [{"op": "experiment_started", "name": "tune-1"},
           {"op": "trial_created", "trial": 0, "assignment": {"x": 1}},
           {"op": "trial_started", "trial": 0, "attempt": 0, "run_id": "r0"}]
RUNNING = Progress(total=4, counts={"Running": 1}, running=1, metric="accuracy")


def customrun(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "tekton.dev/v1beta1", "kind": "CustomRun", "metadata": {"name": "tune-1"},
            "spec": {"customSpec": {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment", "spec": SPEC},
                     **spec}}


def started(body: dict[str, Any]) -> dict[str, Any]:
    body["status"] = plan_customrun(body, None, T0, 10.0).status
    return body


def reason(status: dict[str, Any]) -> str:
    (condition,) = [c for c in status["conditions"] if c["type"] == "Succeeded"]
    return condition["reason"]


def test_a_new_customrun_is_started_by_one_write_and_looked_at_again_at_once() -> None:
    plan = plan_customrun(customrun(), None, T0, 10.0)
    assert plan.patch == plan.status and plan.status["startTime"] == "2026-11-23T12:00:00Z"
    assert (plan.create, plan.forget, plan.requeue) == (False, False, 0.0)


def test_a_turn_writes_its_journal_and_spec_once_then_creates_and_a_quiet_turn_writes_nothing() -> None:
    body = started(customrun(timeout="1m"))
    plan = plan_customrun(body, Turn(RUNNING, CREATED, SPEC), T0 + timedelta(seconds=55), 10.0)
    state = plan.patch["extraFields"]
    assert state["journal"] == CREATED and state["experiment"] == SPEC
    assert reason(plan.status) == "Running" and "0/4 trials, 1 running" in plan.status["conditions"][0]["message"]
    assert plan.create and not plan.forget
    assert plan.requeue == pytest.approx(5.0)  # the timeout is nearer than the resync
    body["status"] = plan.status
    quiet = plan_customrun(body, Turn(RUNNING, CREATED, SPEC), T0 + timedelta(seconds=56), 10.0)
    assert quiet.patch == {} and quiet.create


def test_a_cancelled_customrun_ends_with_its_journal_and_creates_nothing() -> None:
    body = started(customrun(status="RunCancelled"))
    ended = Progress(total=4, counts={"Killed": 1}, ended=("Failed", CANCELLED, "cancelled"))
    plan = plan_customrun(body, Turn(ended, [*CREATED, {"op": "trial_finished", "trial": 0}], SPEC), T0, 10.0)
    assert reason(plan.status) == CANCELLED and len(plan.status["extraFields"]["journal"]) == 4
    assert (plan.create, plan.forget, plan.requeue) == (False, True, None)


def test_a_timed_out_attempt_with_retries_left_starts_the_next_one_without_its_journal() -> None:
    body = started(customrun(timeout="1s", retries=1))
    body["status"]["extraFields"] = {"attempt": 0, "experiment": SPEC, "journal": CREATED}
    plan = plan_customrun(body, Turn(RUNNING, CREATED, SPEC), T0 + timedelta(seconds=5), 10.0)
    assert reason(plan.status) == "Retrying"
    assert plan.status["extraFields"] == {"attempt": 1, "experiment": SPEC}
    (previous,) = plan.status["retriesStatus"]
    assert reason(previous) == TIMED_OUT and previous["extraFields"] == {"attempt": 0}
    assert (plan.create, plan.forget, plan.requeue) == (False, True, 0.0)


def test_a_customrun_that_cannot_run_fails_at_once_and_an_ended_one_is_left_alone() -> None:
    body = started(customrun())
    plan = plan_customrun(body, None, T0, 10.0, failure=("ExperimentNotFound", "no Experiment 'e'"))
    assert reason(plan.status) == "ExperimentNotFound" and plan.forget and not plan.create
    body["status"] = plan.status
    again = plan_customrun(body, None, T0 + timedelta(hours=1), 10.0)
    assert again.patch == {} and again.forget and again.requeue is None


def test_an_experiment_turn_is_one_write_with_its_journal_and_its_end_forgets_it() -> None:
    body: dict[str, Any] = {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
                            "metadata": {"name": "e"}, "spec": SPEC}
    plan = plan_experiment(body, Turn(RUNNING, CREATED), T0, 10.0)
    assert [c["type"] for c in plan.patch["conditions"]] == ["Created", "Running"]
    assert plan.patch["extraFields"] == {"journal": CREATED} and plan.patch["trialsRunning"] == 1
    assert (plan.create, plan.forget, plan.requeue) == (True, False, 10.0)
    body["status"] = plan.status
    assert plan_experiment(body, Turn(RUNNING, CREATED), T0 + timedelta(seconds=1), 10.0).patch == {}
    done = Progress(total=4, counts={"Succeeded": 4}, ended=("Succeeded", "ExperimentMaxTrialsReached", "all 4"))
    end = plan_experiment(body, Turn(done, CREATED), T0 + timedelta(seconds=2), 10.0)
    assert end.forget and not end.create and end.status["conditions"][-1]["type"] == "Succeeded"


class FakeKubernetes:
    """Stands in for the Kubernetes engine: records creates, refuses or fails some."""

    def __init__(self, refuse: str = "", fail: str = "") -> None:
        self.created: list[str] = []
        self.stopped: list[str] = []
        self.refuse, self.fail = refuse, fail
        self.closed = False

    def stop_existing(self, request: RunRequest) -> str | None:
        self.stopped.append(str(request.name))
        return None

    def submit(self, request: RunRequest) -> Any:
        if request.name == self.refuse:
            raise RunError(f"{request.name} already exists and is not pipetune's")
        if request.name == self.fail:
            raise TransientError("Kubernetes API: create failed 6 times", delay=2.0)
        self.created.append(str(request.name))
        return type("Run", (), {"argv": [f"taskrun/{request.name}"]})()

    def poll(self, run: Any) -> Any:
        return "polled"

    def intermediate(self, run: Any) -> Any:
        return [{"step": 1, "accuracy": 0.5}]

    def close(self) -> None:
        self.closed = True


def request(name: str) -> RunRequest:
    return RunRequest(run_id=f"id-{name}", component=None, arguments={}, outputs_dir=Path("/x"), name=name)  # type: ignore[arg-type]


def test_held_runs_are_created_only_on_release_in_order_a_refused_one_fails_its_trial() -> None:
    fake = FakeKubernetes(refuse="b")
    engine = HeldEngine(fake)  # type: ignore[arg-type]
    a, b, c = (engine.submit(request(n)) for n in "abc")
    assert fake.created == [] and engine.poll(a).phase is Phase.PENDING and a.argv == ["a"]
    engine.cancel(c)  # stopped before it was created: never created, a predecessor's stopped
    assert engine.poll(c).phase is Phase.CANCELLED and fake.stopped == ["c"]
    engine.release()
    assert fake.created == ["a"] and engine.held == []
    assert engine.poll(a) == "polled" and a.argv == ["taskrun/a"]
    assert (engine.poll(b).phase, engine.poll(b).reason) == (Phase.FAILED, "SubmitFailed")


def test_a_released_run_reports_what_the_cluster_run_reported_a_held_one_nothing() -> None:
    """Early stopping under the controller reads intermediate metrics through the held engine
    (it used to answer nothing, so medianstop never stopped a controller's trial)."""
    engine = HeldEngine(FakeKubernetes())  # type: ignore[arg-type]
    a = engine.submit(request("a"))
    assert engine.intermediate(a) == ()
    engine.release()
    assert engine.intermediate(a) == [{"step": 1, "accuracy": 0.5}]


def test_a_transient_create_failure_keeps_the_rest_held_for_the_next_release() -> None:
    fake = FakeKubernetes(fail="b")
    engine = HeldEngine(fake)  # type: ignore[arg-type]
    for name in "abc":
        engine.submit(request(name))
    with pytest.raises(TransientError):
        engine.release()
    assert fake.created == ["a"] and [h.request.name for h in engine.held] == ["b", "c"]
    fake.fail = ""
    engine.release()
    assert fake.created == ["a", "b", "c"]
    engine.submit(request("d"))
    engine.close()
    assert engine.held == [] and fake.closed and fake.created == ["a", "b", "c"]


def test_a_failed_reconcile_waits_as_its_error_asks_else_backs_off() -> None:
    assert retry_delay(TransientError("conflict", delay=3.0), 1) == 3.0
    # An error that names no delay backs off like any other (it used to wait 1 s every time).
    assert [retry_delay(TransientError("5xx"), n) for n in (1, 3, 10)] == [0.5, 2.0, 30.0]
    assert [retry_delay(RuntimeError("x"), n) for n in (1, 2, 3, 10)] == [0.5, 1.0, 2.0, 30.0]
