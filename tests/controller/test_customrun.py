"""The tuner as a Tekton custom task: CustomRuns reconciled by pipetune's controller."""

from __future__ import annotations

import json
import time

import yaml

from controller.conftest import (
    CUSTOMRUNS,
    EXPERIMENTS,
    TASKRUNS,
    accuracy,
    customrun,
    experiment_spec,
    finished,
    params_of,
    succeeded,
    train_outcome,
    wait_status,
)
from kube.operator import Outcome


def test_embedded_experiment_runs_and_publishes_the_best_parameters(cluster, namespace, start_controller):
    start_controller()
    cluster.create(CUSTOMRUNS, customrun("tune-a", namespace))
    done = wait_status(cluster, CUSTOMRUNS, namespace, "tune-a", finished)
    condition = succeeded(done)
    assert condition["status"] == "True", condition
    results = {r["name"]: r["value"] for r in done["status"]["results"]}
    taskruns = cluster.objects(TASKRUNS, namespace)
    assert len(taskruns) == 6
    scores = {tr["metadata"]["name"]: accuracy(int(params_of(tr)["n_estimators"]), int(params_of(tr)["max_depth"]))
              for tr in taskruns}
    best = max(taskruns, key=lambda tr: scores[tr["metadata"]["name"]])
    assert results["best-n_estimators"] == params_of(best)["n_estimators"]
    assert results["best-max_depth"] == params_of(best)["max_depth"]
    assert float(results["best-objective"]) == max(scores.values())
    assert json.loads(results["best-parameters"]) == {
        "n_estimators": int(params_of(best)["n_estimators"]), "max_depth": int(params_of(best)["max_depth"])}


def template_experiment(name: str, namespace: str, **changes) -> dict:
    return {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
            "metadata": {"name": name, "namespace": namespace, "labels": {"pipetune.dev/template": "true"}},
            "spec": experiment_spec(**changes)}


def test_experiment_by_reference_with_params(cluster, namespace, start_controller):
    cluster.create(EXPERIMENTS, template_experiment("tune-sklearn", namespace))
    start_controller()
    cluster.create(CUSTOMRUNS, customrun("run-b", namespace, ref="tune-sklearn", params=[
        {"name": "maxTrialCount", "value": "3"}, {"name": "dataset", "value": "iris"}]))
    done = wait_status(cluster, CUSTOMRUNS, namespace, "run-b", finished)
    assert succeeded(done)["status"] == "True", succeeded(done)
    taskruns = cluster.objects(TASKRUNS, namespace)
    assert sorted(tr["metadata"]["name"] for tr in taskruns) == ["run-b-0000", "run-b-0001", "run-b-0002"]
    assert {params_of(tr)["dataset"] for tr in taskruns} == {"iris"}
    for taskrun in taskruns:
        assert taskrun["spec"]["taskRef"] == {"kind": "Task", "name": "train-sklearn"}
        assert taskrun["metadata"]["labels"]["pipetune.dev/experiment"] == "run-b"
        (owner,) = taskrun["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("CustomRun", "run-b", done["metadata"]["uid"])
    # The template itself is not run on its own, and its status is left alone.
    assert not (cluster.get(EXPERIMENTS, namespace, "tune-sklearn") or {}).get("status")


def test_missing_experiment_fails_naming_it(cluster, namespace, start_controller):
    start_controller()
    cluster.create(CUSTOMRUNS, customrun("run-c", namespace, ref="no-such-exp"))
    condition = succeeded(wait_status(cluster, CUSTOMRUNS, namespace, "run-c", finished))
    assert (condition["status"], condition["reason"]) == ("False", "ExperimentNotFound")
    assert "'no-such-exp'" in condition["message"] and namespace in condition["message"]
    assert not cluster.objects(TASKRUNS, namespace)


def test_invalid_embedded_spec_fails_with_the_message_pipetune_tune_prints(cluster, namespace, start_controller, cli, tmp_path):
    spec = experiment_spec(objective={"type": "maximise", "objectiveMetricName": "accuracy"})
    start_controller()
    cluster.create(CUSTOMRUNS, customrun("run-d", namespace, spec=spec))
    condition = succeeded(wait_status(cluster, CUSTOMRUNS, namespace, "run-d", finished))
    assert (condition["status"], condition["reason"]) == ("False", "InvalidExperiment")
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
                                    "metadata": {"name": "run-d"}, "spec": spec}))
    printed = cli("tune", str(path))
    assert printed.returncode == 2
    cli_message = printed.stderr.strip().removeprefix("pipetune: error: ").removeprefix(f"{path}: ")
    assert condition["message"] == f"CustomRun {namespace}/run-d: {cli_message}"
    assert "spec.objective.type" in cli_message


def test_undeclared_param_fails_naming_it_and_what_is_taken(cluster, namespace, start_controller):
    start_controller()
    cluster.create(CUSTOMRUNS, customrun("run-e", namespace, params=[{"name": "learning_rate", "value": "0.1"}]))
    condition = succeeded(wait_status(cluster, CUSTOMRUNS, namespace, "run-e", finished))
    assert (condition["status"], condition["reason"]) == ("False", "UnexpectedParams")
    assert "'learning_rate'" in condition["message"]
    assert "maxTrialCount" in condition["message"] and "dataset" in condition["message"]
    # A param bound to a trial parameter is not a fixed argument: it can't be set either.
    assert "n_estimators" not in condition["message"].split("takes", 1)[1]


def test_customrun_of_another_kind_is_left_alone(cluster, namespace, start_controller):
    start_controller()
    other = customrun("wait-1", namespace, ref="x")
    other["spec"]["customRef"] = {"apiVersion": "example.dev/v1alpha1", "kind": "Wait", "name": "x"}
    cluster.create(CUSTOMRUNS, other)
    cluster.create(CUSTOMRUNS, customrun("run-f", namespace, spec=experiment_spec(maxTrialCount=2)))
    wait_status(cluster, CUSTOMRUNS, namespace, "run-f", finished)
    waiting = cluster.get(CUSTOMRUNS, namespace, "wait-1")
    assert "status" not in waiting or not waiting["status"]
    assert all(tr["metadata"]["name"].startswith("run-f-") for tr in cluster.objects(TASKRUNS, namespace))


def running_children(cluster, namespace, count, prefix):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = [t for t in cluster.objects(TASKRUNS, namespace) if t["metadata"]["name"].startswith(prefix)]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} children {prefix}*")


def test_cancel_stops_the_trials_and_ends_with_customruncancelled(cluster, namespace, start_controller):
    cluster.operator.outcome = lambda resource: Outcome(hang=True)
    controller = start_controller()
    cluster.operator.outcome = lambda resource: Outcome(hang=True)
    cluster.create(CUSTOMRUNS, customrun("run-g", namespace))
    running_children(cluster, namespace, 3, "run-g-")
    wait_status(cluster, CUSTOMRUNS, namespace, "run-g", lambda o: "3 running" in succeeded(o).get("message", ""))
    message = "CustomRun cancelled as the PipelineRun it belongs to has been cancelled."
    cluster.patch(CUSTOMRUNS, namespace, "run-g", {"spec": {"status": "RunCancelled", "statusMessage": message}})
    condition = succeeded(wait_status(cluster, CUSTOMRUNS, namespace, "run-g", finished))
    assert (condition["status"], condition["reason"], condition["message"]) == ("False", "CustomRunCancelled", message)
    deadline = time.monotonic() + 10
    while any((t["spec"].get("status") != "TaskRunCancelled") for t in cluster.objects(TASKRUNS, namespace)):
        assert time.monotonic() < deadline, [t["spec"].get("status") for t in cluster.objects(TASKRUNS, namespace)]
        time.sleep(0.05)
    # Once the controller has forgotten the run it creates nothing more for it: wait for that
    # (observable), not a fixed time, then count.
    deadline = time.monotonic() + 20
    while controller.controller.active:
        assert time.monotonic() < deadline, controller.controller.active
        time.sleep(0.05)
    assert len(cluster.objects(TASKRUNS, namespace)) == 3


def test_timeout_then_retries_then_customruntimedout(cluster, namespace, start_controller):
    start_controller()
    cluster.operator.outcome = lambda resource: Outcome(hang=True)
    # 3 s, not 1: on a busy machine a 1 s attempt once timed out before its children existed.
    cluster.create(CUSTOMRUNS, customrun("run-h", namespace, timeout="3s", retries=1))
    done = wait_status(cluster, CUSTOMRUNS, namespace, "run-h", finished, timeout=30)
    condition = succeeded(done)
    assert (condition["status"], condition["reason"]) == ("False", "CustomRunTimedOut")
    (first,) = done["status"]["retriesStatus"]
    assert succeeded({"status": first})["reason"] == "CustomRunTimedOut"
    assert first["extraFields"] == {"attempt": 0}  # the attempt's journal is not copied along
    names = sorted(t["metadata"]["name"] for t in cluster.objects(TASKRUNS, namespace))
    # Each attempt's children are its own, numbered afresh (the retry's prefixed r1): a busy
    # machine may let an attempt time out before all three are created, never out of order.
    retry = [n for n in names if n.startswith("run-h-r1-")]
    first_attempt = [n for n in names if n not in retry]
    for attempt, prefix in ((first_attempt, "run-h-"), (retry, "run-h-r1-")):
        assert 1 <= len(attempt) <= 3 and attempt == [f"{prefix}{i:04d}" for i in range(len(attempt))], names
    assert {t["spec"].get("status") for t in cluster.objects(TASKRUNS, namespace)} == {"TaskRunCancelled"}


def test_failing_taskrun_fails_its_trial_and_the_experiment_goes_on(cluster, namespace, start_controller):
    start_controller()
    cluster.operator.outcome = lambda tr: Outcome(succeed=False, reason="Failed", message='"step-run" exited with code 1') \
        if tr["metadata"]["name"] == "run-i-0001" else train_outcome(tr)
    cluster.create(CUSTOMRUNS, customrun("run-i", namespace, spec=experiment_spec(maxFailedTrialCount=2)))
    done = wait_status(cluster, CUSTOMRUNS, namespace, "run-i", finished)
    assert succeeded(done)["status"] == "True"
    journal = done["status"]["extraFields"]["journal"]
    failed = [r for r in journal if r["op"] == "trial_finished" and r["status"] == "Failed"]
    assert [(r["trial"], r["reason"]) for r in failed] == [(1, "Failed")]
    assert len(cluster.objects(TASKRUNS, namespace)) == 6


def test_too_many_failures_fail_the_customrun(cluster, namespace, start_controller):
    start_controller()
    cluster.operator.outcome = lambda tr: Outcome(succeed=False)
    cluster.create(CUSTOMRUNS, customrun("run-j", namespace, spec=experiment_spec(maxFailedTrialCount=1)))
    condition = succeeded(wait_status(cluster, CUSTOMRUNS, namespace, "run-j", finished))
    assert (condition["status"], condition["reason"]) == ("False", "ExperimentMaxFailedTrialsReached")


def test_child_deleted_by_someone_else_fails_its_trial(cluster, namespace, start_controller):
    start_controller()
    cluster.operator.outcome = lambda tr: Outcome(hang=True) if tr["metadata"]["name"] == "run-k-0000" else train_outcome(tr)
    cluster.create(CUSTOMRUNS, customrun("run-k", namespace, spec=experiment_spec(maxFailedTrialCount=2)))
    running_children(cluster, namespace, 3, "run-k-")
    cluster.delete(TASKRUNS, namespace, "run-k-0000")
    done = wait_status(cluster, CUSTOMRUNS, namespace, "run-k", finished)
    assert succeeded(done)["status"] == "True"
    journal = done["status"]["extraFields"]["journal"]
    (deleted,) = [r for r in journal if r["op"] == "trial_finished" and r["trial"] == 0]
    assert (deleted["status"], deleted["reason"]) == ("Failed", "Deleted")


def test_api_errors_and_ended_watches_are_survived_without_duplicates(cluster, namespace, start_controller):
    start_controller()
    cluster.emulator.fail("create", "taskruns", 500, times=2)
    cluster.emulator.fail("patch", "customruns/status", 503, times=3)
    cluster.operator.outcome = lambda tr: Outcome(results=train_outcome(tr).results, delay=0.1)
    cluster.create(CUSTOMRUNS, customrun("run-l", namespace))
    running_children(cluster, namespace, 2, "run-l-")
    cluster.emulator.end_watches()
    cluster.emulator.end_watches(gone=True)
    done = wait_status(cluster, CUSTOMRUNS, namespace, "run-l", finished, timeout=60)
    assert succeeded(done)["status"] == "True", succeeded(done)
    assert cluster.emulator.requests()[("create", "taskruns")] == 6 + 2


def test_existing_child_is_adopted_and_a_foreign_one_refused(cluster, namespace, start_controller):
    cluster.operator.outcome = lambda tr: Outcome(hang=True) if tr["metadata"]["name"] == "run-m-0001" else train_outcome(tr)
    ours = {"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
            "metadata": {"name": "run-m-0000", "namespace": namespace,
                         "labels": {"pipetune.dev/experiment": "run-m", "pipetune.dev/trial": "run-m-0000"}},
            "spec": {"taskRef": {"kind": "Task", "name": "train-sklearn"},
                     "params": [{"name": "n_estimators", "value": "120"}, {"name": "max_depth", "value": "8"}]}}
    cluster.create(TASKRUNS, ours)
    foreign = {"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
               "metadata": {"name": "run-m-0001", "namespace": namespace}, "spec": {"taskRef": {"name": "x"}}}
    cluster.create(TASKRUNS, foreign)
    start_controller()
    cluster.create(CUSTOMRUNS, customrun("run-m", namespace, spec=experiment_spec(maxFailedTrialCount=3)))
    done = wait_status(cluster, CUSTOMRUNS, namespace, "run-m", finished)
    journal = done["status"]["extraFields"]["journal"]
    ends = {r["trial"]: r for r in journal if r["op"] == "trial_finished"}
    assert ends[0]["status"] == "Succeeded" and ends[0]["objective"] == accuracy(120, 8)
    assert ends[1]["status"] == "Failed" and "is not pipetune's" in ends[1]["message"]
    assert succeeded(done)["status"] == "True"
    # 0000 adopted from the listing (no POST), 0001 answered 409 and refused, 0002-0005 created.
    assert cluster.emulator.requests()[("create", "taskruns")] == 5


def test_customrun_cancelled_before_it_ran_creates_no_trial(cluster, namespace, start_controller):
    # A PipelineRun cancelled right away: its CustomRun arrives with spec.status already set.
    start_controller()
    cluster.create(CUSTOMRUNS, customrun("run-n", namespace, status="RunCancelled"))
    condition = succeeded(wait_status(cluster, CUSTOMRUNS, namespace, "run-n", finished))
    assert (condition["status"], condition["reason"]) == ("False", "CustomRunCancelled")
    assert not cluster.objects(TASKRUNS, namespace)


def test_a_customrun_cancelled_while_no_controller_ran_stops_the_children_the_last_one_made(
        cluster, namespace, start_controller):
    """The new controller's first turn both re-submits the running trials (held until the
    status is written) and stops them: the children its predecessor made are cancelled too (a
    held trial's cancel used to drop only the held submit, and they ran on)."""
    cluster.operator.outcome = lambda resource: Outcome(hang=True)
    first = start_controller()
    cluster.operator.outcome = lambda resource: Outcome(hang=True)
    cluster.create(CUSTOMRUNS, customrun("run-r", namespace))
    running_children(cluster, namespace, 3, "run-r-")
    wait_status(cluster, CUSTOMRUNS, namespace, "run-r", lambda o: "3 running" in succeeded(o).get("message", ""))
    first.stop()
    cluster.patch(CUSTOMRUNS, namespace, "run-r", {"spec": {"status": "RunCancelled"}})
    start_controller()
    condition = succeeded(wait_status(cluster, CUSTOMRUNS, namespace, "run-r", finished))
    assert (condition["status"], condition["reason"]) == ("False", "CustomRunCancelled")
    deadline = time.monotonic() + 20
    while any(t["spec"].get("status") != "TaskRunCancelled" for t in cluster.objects(TASKRUNS, namespace)):
        assert time.monotonic() < deadline, [t["spec"].get("status") for t in cluster.objects(TASKRUNS, namespace)]
        time.sleep(0.05)
    assert len(cluster.objects(TASKRUNS, namespace)) == 3  # stopped, none made anew
