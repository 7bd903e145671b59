"""The bridge components on a cluster: the step's process talks to the emulated API with the
kubeconfig a user would have, the scripted operator runs the job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from kube.conftest import write_kubeconfig
from kube.emulator import EmulatedCluster
from kube.operator import Outcome, started_pod
from pipetune.contract import read_results
from pipetune.kinds import TRIAL_LABEL

NS = "ml"
PYTORCHJOBS = "kubeflow.org/v1/pytorchjobs"
TFJOBS = "kubeflow.org/v1/tfjobs"
RESULTS = "apiVersion: pipetune.dev/v1\nmetrics:\n  accuracy: 0.91\noutputs:\n  epochs: 3\n"


@pytest.fixture
def step(cluster: EmulatedCluster, tmp_path: Path):
    kubeconfig = write_kubeconfig(cluster, tmp_path / "kubeconfig")
    outputs = tmp_path / "outputs"

    def start(module: str, *args: str) -> subprocess.Popen:
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PIPETUNE_OUTPUTS": str(outputs),
               "PYTHONUNBUFFERED": "1"}
        env.pop("KUBERNETES_SERVICE_HOST", None)
        command = [sys.executable, "-m", f"pipetune.catalog.{module}", "--image", "ghcr.io/me/train:1",
                   "--command", '["python", "train.py"]', "--namespace", NS, "--engine", "kubernetes",
                   "--job", str(tmp_path / "job.txt"), *args]
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    start.outputs = outputs  # type: ignore[attr-defined]
    return start


def wait_created(cluster: EmulatedCluster, resource: str, process: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 60
    while not cluster.objects(resource, NS):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no job was created"
        time.sleep(0.05)
    return cluster.objects(resource, NS)[0]


def test_a_pytorchjob_step_returns_the_masters_results(cluster: EmulatedCluster, step) -> None:
    cluster.operator.outcome = lambda job: Outcome(termination_message=RESULTS, logs="epoch 1\nepoch 2\nepoch 3\n")
    process = step("pytorchjob", "--workers", "2", "--name", "train-a")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert read_results(step.outputs).metrics == {"accuracy": 0.91}
    assert read_results(step.outputs).outputs == {"epochs": 3}
    assert "PyTorchJob train-a: Running=True" in err and "PyTorchJob train-a: Succeeded=True" in err
    assert "[train-a-master-0] epoch 3" in err  # the Master's log, streamed
    assert cluster.operator.seen["PyTorchJob"] == ["train-a"]
    assert cluster.objects(PYTORCHJOBS, NS) == []  # delete_after_done


def test_a_failed_job_exits_1_with_the_operators_reason(cluster: EmulatedCluster, step) -> None:
    cluster.operator.outcome = lambda job: Outcome(succeed=False, reason="TFJobFailed",
                                                   message="TFJob ml/train-b has failed because 1 Chief replica(s) failed.")
    process = step("tfjob", "--name", "train-b", "--delete_after_done", "false")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "Failed (TFJobFailed): TFJob ml/train-b has failed because 1 Chief replica(s) failed." in err
    assert "Traceback" not in err
    assert cluster.get(TFJOBS, NS, "train-b") is not None  # kept, as asked


def test_sigterm_deletes_the_job(cluster: EmulatedCluster, step) -> None:
    cluster.operator.outcome = lambda job: Outcome(hang=True)
    process = step("pytorchjob", "--name", "train-c")
    wait_created(cluster, PYTORCHJOBS, process)
    # At once: a signal while the job is being created is held until the bridge knows it.
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM
    assert "cancelled by SIGTERM; the job was deleted" in err
    assert cluster.get(PYTORCHJOBS, NS, "train-c") is None


def test_a_rerun_after_a_crash_adopts_the_job(cluster: EmulatedCluster, step) -> None:
    cluster.operator.outcome = lambda job: Outcome(hang=True)
    first = step("pytorchjob", "--workers", "1")
    job = wait_created(cluster, PYTORCHJOBS, first)
    first.send_signal(signal.SIGKILL)
    first.wait()
    name = job["metadata"]["name"]
    assert name.startswith("pytorchjob-")  # derived from the parameters

    second = step("pytorchjob", "--workers", "1")
    pod = started_pod(cluster, NS, {TRIAL_LABEL: name, "training.kubeflow.org/job-role": "master"})
    # The operator writes the job's Running condition after the pod runs; finishing the job by
    # hand before that write lands would see it replaced (a busy machine did), so wait for the
    # operator to be at rest on the hanging job first.
    cluster.operator.wait_idle(timeout=30)
    pod = cluster.get("v1/pods", NS, pod["metadata"]["name"])
    status = pod["status"]
    status["containerStatuses"][0]["state"] = {"terminated": {"exitCode": 0, "message": RESULTS}}
    cluster.patch_status("v1/pods", NS, pod["metadata"]["name"], status)
    cluster.patch_status(PYTORCHJOBS, NS, name, {"conditions": [
        {"type": "Succeeded", "status": "True", "reason": "PyTorchJobSucceeded", "message": ""}]})
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert f"PyTorchJob {name}: adopted the existing resource" in err
    assert cluster.operator.seen["PyTorchJob"] == [name]  # one job, never a duplicate
    assert cluster.emulator.requests()[("create", "pytorchjobs")] == 1
    assert read_results(step.outputs).metrics == {"accuracy": 0.91}
