"""manifests/kfp/tune-rbac.yaml grants exactly what `components/tune` uses on a cluster: the
component runs as a user runs it (`pipetune run components/tune`, a kubeconfig for the pod's
credentials) once per trial kind, with a name taken by someone else (409, then a get) and a
trial whose results come from its log; every call is compared with the Role both ways."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import ROOT
from kube.conftest import write_kubeconfig
from kube.emulator import EmulatedCluster
from kube.operator import Outcome
from pipetune.bridges import JobParameters, build_job

NS = "kfp-user"
GROUPS = {"jobs": "batch", "pytorchjobs": "kubeflow.org", "tfjobs": "kubeflow.org",
          "trainjobs": "trainer.kubeflow.org", "pods": ""}
RESULTS = "apiVersion: pipetune.dev/v1\nmetrics:\n  accuracy: 0.9\n"


def experiment(name: str, trial_spec: dict, template: dict | None = None) -> str:
    return yaml.safe_dump({
        "apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
            "algorithm": {"algorithmName": "random"},
            "parameters": [{"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.5"}}],
            "maxTrialCount": 2, "parallelTrialCount": 2, "maxFailedTrialCount": 2,
            "trialTemplate": {**(template or {}), "trialSpec": trial_spec},
        },
    })


def training(kind: str) -> dict:
    manifest = build_job(kind, JobParameters(name="x", image="train:1", command=["python", "train.py"],
                                             args=["--lr=${trialParameters.lr}"]))
    manifest.pop("metadata", None)
    return manifest


def experiments() -> dict[str, str]:
    lr = {"trialParameters": [{"name": "lr", "reference": "lr"}]}
    return {
        "jobs": experiment("jobs", {"component": "train-sklearn", "arguments": {
            "dataset": "iris", "n_estimators": 5, "test_size": "${trialParameters.lr}"}}),
        "pytorch": experiment("pytorch", training("PyTorchJob"), {**lr, "primaryContainerName": "pytorch"}),
        "tf": experiment("tf", training("TFJob"), {**lr, "primaryContainerName": "tensorflow"}),
        "trainer": experiment("trainer", training("TrainJob"), {**lr, "primaryContainerName": "node"}),
    }


def outcome(resource: dict) -> Outcome:
    name = resource["metadata"]["name"]
    if name.endswith("-0001") and not (resource["metadata"].get("labels") or {}).get("pipetune.dev/trial"):
        return Outcome(hang=True)  # someone else's
    if name.startswith("jobs-"):
        return Outcome(logs="accuracy=0.9\n")  # no termination message: results from the log
    return Outcome(termination_message=RESULTS)


def foreign(kind: str, api_version: str, name: str) -> dict:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": NS}, "spec": {}}


def test_tune_rbac_allows_exactly_the_calls_the_tune_component_makes(cluster: EmulatedCluster, tmp_path: Path) -> None:
    cluster.operator.outcome = outcome
    for resource, kind, api_version, name in (
        ("batch/v1/jobs", "Job", "batch/v1", "jobs-0001"),
        ("kubeflow.org/v1/pytorchjobs", "PyTorchJob", "kubeflow.org/v1", "pytorch-0001"),
        ("kubeflow.org/v1/tfjobs", "TFJob", "kubeflow.org/v1", "tf-0001"),
        ("trainer.kubeflow.org/v1alpha1/trainjobs", "TrainJob", "trainer.kubeflow.org/v1alpha1", "trainer-0001"),
    ):
        body = foreign(kind, api_version, name)
        if kind == "Job":
            body["spec"] = {"template": {"spec": {"containers": []}}}
        cluster.create(resource, body)
    kubeconfig = write_kubeconfig(cluster, tmp_path / "kubeconfig")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    for label, text in experiments().items():
        done = subprocess.run(
            [sys.executable, "-m", "pipetune", "--state-dir", str(tmp_path / "state"), "run",
             str(ROOT / "components" / "tune"), "--input", f"experiment={text}", "--input", "engine=kubernetes"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (label, done.stdout[-2000:], done.stderr[-2000:])

    used = {(GROUPS[resource.split("/")[0]], resource, verb) for verb, resource in cluster.emulator.requests()}
    documents = list(yaml.safe_load_all((ROOT / "manifests" / "kfp" / "tune-rbac.yaml").read_text()))
    (role,) = [d for d in documents if d["kind"] == "Role"]
    granted = {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    assert used - granted == set(), f"the tune component used what the Role does not grant: {sorted(used - granted)}"
    assert granted - used == set(), f"the Role grants what the tune component never used: {sorted(granted - used)}"


def test_the_role_is_bound_to_its_own_service_account_and_kfps_default_one() -> None:
    documents = list(yaml.safe_load_all((ROOT / "manifests" / "kfp" / "tune-rbac.yaml").read_text()))
    (account,) = [d for d in documents if d["kind"] == "ServiceAccount"]
    (binding,) = [d for d in documents if d["kind"] == "RoleBinding"]
    (role,) = [d for d in documents if d["kind"] == "Role"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert {s["name"] for s in binding["subjects"]} == {account["metadata"]["name"], "pipeline-runner"}
