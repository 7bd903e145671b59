"""manifests/rbac.yaml grants exactly what the controller uses: every API call it makes while
running each kind of parent and trial, and through each fault path that calls the API, is
recorded against the emulator and compared with the ClusterRole's rules both ways."""

from __future__ import annotations

import time

import yaml

from conftest import ROOT
from controller.conftest import (
    CUSTOMRUNS,
    EXPERIMENTS,
    TASKRUNS,
    customrun,
    experiment_spec,
    finished,
    succeeded,
    train_outcome,
    wait_status,
)
from kube.operator import Outcome
from pipetune.controller import Layout

#: The API group of each resource the emulator names by plural.
GROUPS = {"customruns": "tekton.dev", "taskruns": "tekton.dev", "experiments": "pipetune.dev",
          "jobs": "batch", "pods": "", "configmaps": "", "namespaces": "", "customresourcedefinitions": "apiextensions.k8s.io"}
RESULTS = "apiVersion: pipetune.dev/v1\nmetrics:\n  accuracy: {score}\n"


def granted() -> set[tuple[str, str, str]]:
    documents = list(yaml.safe_load_all((ROOT / "manifests" / "rbac.yaml").read_text()))
    (role,) = [d for d in documents if d["kind"] == "ClusterRole"]
    return {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


def job_experiment(namespace: str) -> dict:
    """A Katib-style experiment whose trials are batch/v1 Jobs (results from the pod)."""
    spec = experiment_spec(maxTrialCount=2, parallelTrialCount=2, maxFailedTrialCount=2)
    spec["trialTemplate"] = {
        "primaryContainerName": "train",
        "trialParameters": [{"name": "n", "reference": "n_estimators"}, {"name": "d", "reference": "max_depth"}],
        "trialSpec": {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "train", "image": "ghcr.io/me/train:1",
                            "command": ["python", "train.py", "--n=${trialParameters.n}", "--d=${trialParameters.d}"]}]}}}},
    }
    return {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
            "metadata": {"name": "jobs", "namespace": namespace}, "spec": spec}


def outcome(resource: dict) -> Outcome:
    name = resource["metadata"]["name"]
    if name == "jobs-0001":
        return Outcome(hang=True)
    if resource["kind"] == "Job":
        return Outcome(termination_message=RESULTS.format(score=0.9))
    if name.startswith("cancel-"):
        return Outcome(hang=True)
    if name.startswith("logs-"):  # a Task that publishes no results result: read from the pod's log
        return Outcome(logs="accuracy=0.8\n")
    if name == "byref-0001":
        return Outcome(hang=True)  # a foreign TaskRun holds this name (see below)
    return train_outcome(resource)


def test_rbac_allows_exactly_the_calls_the_controller_makes(cluster, namespace, start_controller):
    cluster.operator.outcome = outcome
    cluster.create(EXPERIMENTS, {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
                                 "metadata": {"name": "template", "namespace": namespace,
                                              "labels": {"pipetune.dev/template": "true"}},
                                 "spec": experiment_spec(maxTrialCount=3, maxFailedTrialCount=2)})
    cluster.create(TASKRUNS, {"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
                              "metadata": {"name": "byref-0001", "namespace": namespace},
                              "spec": {"taskRef": {"name": "other"}}})
    # Names taken by someone else: the create is answered 409, the controller reads the
    # resource to see whose it is (get), and fails that trial.
    cluster.create("batch/v1/jobs", {"apiVersion": "batch/v1", "kind": "Job",
                                     "metadata": {"name": "jobs-0001", "namespace": namespace},
                                     "spec": {"template": {"spec": {"containers": []}}}})
    # Segments of 4 records, so every run archives its journal in ConfigMaps (create, patch).
    layout = Layout(segment=4, configmap_bytes=2000)
    first = start_controller(journal_layout=layout)
    cluster.create(CUSTOMRUNS, customrun("byref", namespace, ref="template", params=[{"name": "dataset", "value": "iris"}]))
    cluster.create(CUSTOMRUNS, customrun("logs", namespace, spec=experiment_spec(maxTrialCount=2, parallelTrialCount=2)))
    cluster.create(CUSTOMRUNS, customrun("cancel", namespace))
    cluster.create(EXPERIMENTS, job_experiment(namespace))
    deadline = time.monotonic() + 20
    while len([t for t in cluster.objects(TASKRUNS, namespace) if t["metadata"]["name"].startswith("cancel-")]) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # A restart while "cancel" runs: its journal is read back from its ConfigMaps (get). The
    # cancel waits for the new controller to have adopted its children (listed its TaskRuns):
    # one sent before is not passed on to them (a gap of its own, not this test's).
    first.stop()
    listed = cluster.emulator.requests()[("list", "taskruns")]
    start_controller(journal_layout=layout)
    while cluster.emulator.requests()[("list", "taskruns")] <= listed:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cluster.patch(CUSTOMRUNS, namespace, "cancel", {"spec": {"status": "RunCancelled"}})
    for name in ("byref", "logs", "cancel"):
        wait_status(cluster, CUSTOMRUNS, namespace, name, finished)
    wait_status(cluster, EXPERIMENTS, namespace, "jobs", lambda o: any(
        c["type"] == "Succeeded" and c["status"] == "True" for c in (o.get("status") or {}).get("conditions") or []))
    assert succeeded(cluster.get(CUSTOMRUNS, namespace, "byref"))["status"] == "True"
    logs = cluster.get(CUSTOMRUNS, namespace, "logs")
    assert succeeded(logs)["status"] == "True", logs["status"]
    assert succeeded(cluster.get(CUSTOMRUNS, namespace, "cancel"))["reason"] == "CustomRunCancelled"

    used = set()
    for (verb, resource), _count in cluster.emulator.requests().items():
        plural = resource.split("/")[0]
        used.add((GROUPS[plural], resource, verb))
    rules = granted()
    assert used - rules == set(), f"the controller used what rbac.yaml does not grant: {sorted(used - rules)}"
    assert rules - used == set(), f"rbac.yaml grants what the controller never used: {sorted(rules - used)}"
