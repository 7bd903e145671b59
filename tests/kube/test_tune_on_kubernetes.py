"""The tuner on the Kubernetes engine: a Katib PyTorchJob experiment, and a restart that
adopts the running trials instead of creating them again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from conftest import ROOT
from kube.conftest import write_kubeconfig
from kube.emulator import EmulatedCluster
from kube.operator import Outcome, started_pod
from pipetune.engines.kubernetes import KubernetesEngine, Retry
from pipetune.experiment import experiment_from_dict
from pipetune.kinds import EXPERIMENT_LABEL, TRIAL_LABEL
from pipetune.store import RunStore
from pipetune.tuner.config import tuner_config
from pipetune.tuner.launchers import ExperimentLauncher
from pipetune.tuner.loop import Tuner

NS = "ml"
PYTORCHJOBS = "kubeflow.org/v1/pytorchjobs"
EXPERIMENT = """
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {name: kexp, namespace: ml}
spec:
  objective: {type: maximize, objectiveMetricName: accuracy}
  algorithm: {algorithmName: random, algorithmSettings: [{name: random_state, value: "7"}]}
  parallelTrialCount: 2
  maxTrialCount: 4
  parameters:
    - {name: lr, parameterType: double, feasibleSpace: {min: "0.01", max: "0.5"}}
  trialTemplate:
    primaryContainerName: pytorch
    trialParameters:
      - {name: learningRate, reference: lr}
    trialSpec:
      apiVersion: kubeflow.org/v1
      kind: PyTorchJob
      spec:
        pytorchReplicaSpecs:
          Master:
            replicas: 1
            template:
              spec:
                containers:
                  - {name: pytorch, image: "train:1", command: [python, train.py, "--lr=${trialParameters.learningRate}"]}
          Worker:
            replicas: 1
            template:
              spec:
                containers:
                  - {name: pytorch, image: "train:1", command: [python, train.py, "--lr=${trialParameters.learningRate}"]}
"""


def accuracy_of(resource: dict[str, Any]) -> float:
    command = resource["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["command"]
    lr = float(next(a for a in command if a.startswith("--lr=")).split("=", 1)[1])
    return round(1.0 - (lr - 0.3) ** 2, 6)


def trains(resource: dict[str, Any]) -> Outcome:
    """Every trial succeeds, its master reporting an accuracy that depends on its lr."""
    return Outcome(termination_message=f"apiVersion: pipetune.dev/v1\nmetrics:\n  accuracy: {accuracy_of(resource)}\n")


def test_a_katib_pytorchjob_experiment_tunes_on_the_cluster(cluster: EmulatedCluster, tmp_path: Path) -> None:
    cluster.operator.outcome = trains
    experiment = experiment_from_dict(yaml.safe_load(EXPERIMENT), tmp_path / "exp.yaml")
    engine = KubernetesEngine(cluster.api_client(), NS, labels={EXPERIMENT_LABEL: "kexp"},
                              retry=Retry(tries=3, base=0.01))
    try:
        tuner = Tuner(tuner_config(experiment), ExperimentLauncher(experiment, local=False, namespace=NS),
                      engine, RunStore(tmp_path / "state"), tmp_path / "exp", poll_interval=0.05)
        result = tuner.run()
    finally:
        engine.close()
    assert result.state.status == "Succeeded"
    trials = result.trials
    assert [t.status.value for t in trials] == ["Succeeded"] * 4
    expected = {t.index: round(1.0 - (t.assignment["lr"] - 0.3) ** 2, 6) for t in trials}
    assert {t.index: t.objective for t in trials} == expected
    assert result.best_objective == max(expected.values())
    assert cluster.operator.seen["PyTorchJob"] == [f"kexp-{i:04d}" for i in range(4)]
    counts = cluster.emulator.requests()
    # A constant number of requests per trial: create, list its pods, delete; one watch.
    assert counts[("create", "pytorchjobs")] == 4
    assert counts[("list", "pods")] == 4 and counts[("delete", "pytorchjobs")] == 4
    assert counts[("get", "pytorchjobs")] == 0
    assert cluster.objects(PYTORCHJOBS, NS) == []  # not retained


def test_cluster_trials_get_their_checkpoint_store_when_one_is_given(cluster: EmulatedCluster, tmp_path: Path) -> None:
    cluster.operator.outcome = trains
    created: list[dict] = []
    original = cluster.operator.outcome

    def record(resource: dict) -> Outcome:
        created.append(resource)
        return original(resource)

    cluster.operator.outcome = record
    experiment = experiment_from_dict(yaml.safe_load(EXPERIMENT), tmp_path / "exp.yaml")
    engine = KubernetesEngine(cluster.api_client(), NS, labels={EXPERIMENT_LABEL: "kexp"})
    try:
        Tuner(tuner_config(experiment), ExperimentLauncher(experiment, local=False, namespace=NS), engine,
              RunStore(tmp_path / "state"), tmp_path / "exp", poll_interval=0.05,
              checkpoints="s3://models/kexp").run()
    finally:
        engine.close()
    stores = set()
    for resource in created:
        container = resource["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        stores.add(env["PIPETUNE_CHECKPOINTS"])
    assert stores == {f"s3://models/kexp/trial-{i:04d}" for i in range(4)}


def test_a_killed_tuner_adopts_its_running_trials_on_restart(cluster: EmulatedCluster, tmp_path: Path) -> None:
    cluster.operator.outcome = lambda resource: Outcome(hang=True)
    spec = tmp_path / "exp.yaml"
    spec.write_text(EXPERIMENT)
    kubeconfig = write_kubeconfig(cluster, tmp_path / "kubeconfig")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    command = [sys.executable, "-m", "pipetune", "--state-dir", str(tmp_path / "state"), "tune", str(spec),
               "--engine", "kubernetes", "--dir", str(tmp_path / "exp")]
    first = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(cluster.objects(PYTORCHJOBS, NS)) < 2:
            assert time.monotonic() < deadline, "the tuner created no trials"
            assert first.poll() is None, first.communicate()
            time.sleep(0.05)
        # Both starts journaled: observable progress, not a fixed wait.
        journal = tmp_path / "exp" / "journal.jsonl"
        while _started(journal) < 2:
            assert time.monotonic() < deadline, "the tuner journaled no start"
            assert first.poll() is None, first.communicate()
            time.sleep(0.02)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    running = sorted(o["metadata"]["name"] for o in cluster.objects(PYTORCHJOBS, NS))
    assert running == ["kexp-0000", "kexp-0001"]
    creates_before = cluster.emulator.requests()[("create", "pytorchjobs")]
    # The operator may still be writing the hanging jobs' Running conditions and pods; the
    # hand-written ends below must come after those writes or they are replaced (seen under load).
    cluster.operator.wait_idle(timeout=30)

    # From now on new trials succeed; the two adopted ones are finished by hand below.
    cluster.operator.outcome = trains
    second = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Whether the restarted tuner adopts them before or after they end, it must take
        # their results, not run them again.
        for name in running:
            job = cluster.get(PYTORCHJOBS, NS, name)
            pod = started_pod(cluster, NS, {TRIAL_LABEL: name, "training.kubeflow.org/job-role": "master"})
            status = pod["status"]
            status["containerStatuses"][0]["state"] = {"terminated": {
                "exitCode": 0, "reason": "Completed",
                "message": f"apiVersion: pipetune.dev/v1\nmetrics:\n  accuracy: {accuracy_of(job)}\n"}}
            cluster.patch_status("v1/pods", NS, pod["metadata"]["name"], status)
            cluster.patch_status(PYTORCHJOBS, NS, name, {"conditions": [
                {"type": "Succeeded", "status": "True", "reason": "PyTorchJobSucceeded", "message": ""}]})
        out, err = second.communicate(timeout=60)
    finally:
        if second.poll() is None:
            second.kill()
    assert second.returncode == 0, err
    assert err.count("adopted the existing resource") == 2
    # Adopted by their labels from the listing: only trials 2 and 3 were POSTed.
    assert cluster.emulator.requests()[("create", "pytorchjobs")] == creates_before + 2
    # Two creates were answered 409 and adopted; only trials 2 and 3 are new resources.
    assert cluster.operator.seen["PyTorchJob"] == [f"kexp-{i:04d}" for i in range(4)]
    assert re.search(r"experiment kexp Succeeded", out)


def _started(journal: Path) -> int:
    """How many trial starts the journal holds (complete lines only: it is being written)."""
    try:
        lines = journal.read_bytes().split(b"\n")[:-1]
    except FileNotFoundError:
        return 0
    return sum(1 for line in lines if b'"op":"trial_started"' in line)
