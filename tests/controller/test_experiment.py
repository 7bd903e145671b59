"""Standalone Experiments (``kubectl apply -f``), run Katib-style by the same controller."""

from __future__ import annotations

from controller.conftest import EXPERIMENTS, TASKRUNS, accuracy, experiment_spec, params_of, wait_status


def condition(obj, kind):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def ended(obj) -> bool:
    return condition(obj, "Succeeded").get("status") == "True" or condition(obj, "Failed").get("status") == "True"


def experiment(name, namespace, **changes):
    return {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
            "metadata": {"name": name, "namespace": namespace}, "spec": experiment_spec(**changes)}


def test_applied_experiment_runs_with_katib_style_status(cluster, namespace, start_controller):
    start_controller()
    cluster.create(EXPERIMENTS, experiment("digits", namespace))
    done = wait_status(cluster, EXPERIMENTS, namespace, "digits", ended)
    status = done["status"]
    assert [c["type"] for c in status["conditions"]] == ["Created", "Running", "Succeeded"]
    assert condition(done, "Succeeded")["reason"] == "ExperimentMaxTrialsReached"
    assert condition(done, "Running")["status"] == "False"
    assert (status["trials"], status["trialsSucceeded"], status["trialsFailed"], status["trialsRunning"]) == (6, 6, 0, 0)
    taskruns = {t["metadata"]["name"]: t for t in cluster.objects(TASKRUNS, namespace)}
    assert sorted(taskruns) == [f"digits-{i:04d}" for i in range(6)]
    best_name = status["currentOptimalTrial"]["bestTrialName"]
    best = params_of(taskruns[best_name])
    assignment = {p["name"]: p["value"] for p in status["currentOptimalTrial"]["parameterAssignments"]}
    assert assignment == {"n_estimators": best["n_estimators"], "max_depth": best["max_depth"]}
    scores = [accuracy(int(params_of(t)["n_estimators"]), int(params_of(t)["max_depth"])) for t in taskruns.values()]
    (metric,) = status["currentOptimalTrial"]["observation"]["metrics"]
    assert (metric["name"], float(metric["latest"])) == ("accuracy", max(scores))
    for taskrun in taskruns.values():
        (owner,) = taskrun["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"]) == ("Experiment", "digits")


def test_invalid_applied_experiment_fails_with_the_spec_error(cluster, namespace, start_controller):
    start_controller()
    cluster.create(EXPERIMENTS, experiment("bad", namespace, maxTrialCount=0))
    done = wait_status(cluster, EXPERIMENTS, namespace, "bad", ended)
    failed = condition(done, "Failed")
    assert failed["reason"] == "InvalidExperiment"
    assert failed["message"].startswith(f"Experiment {namespace}/bad: spec.maxTrialCount")
    assert not cluster.objects(TASKRUNS, namespace)


def test_raising_max_trial_count_of_a_running_experiment_extends_it(cluster, namespace, start_controller):
    from controller.conftest import train_outcome
    from kube.operator import Outcome

    start_controller()
    cluster.operator.outcome = lambda tr: Outcome(results=train_outcome(tr).results, delay=0.1)
    cluster.create(EXPERIMENTS, experiment("grow", namespace, maxTrialCount=4, parallelTrialCount=2))
    wait_status(cluster, EXPERIMENTS, namespace, "grow", lambda o: (o.get("status") or {}).get("trials", 0) >= 1)
    cluster.patch(EXPERIMENTS, namespace, "grow", {"spec": {"maxTrialCount": 6}})
    done = wait_status(cluster, EXPERIMENTS, namespace, "grow", ended)
    assert condition(done, "Succeeded")["status"] == "True"
    assert done["status"]["trials"] == 6
    assert len(cluster.objects(TASKRUNS, namespace)) == 6
