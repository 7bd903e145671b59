"""Early stopping on a cluster: the Kubernetes engine's ``intermediate`` reads what a running
trial has reported from its primary pod's log, so medianstop stops a bad trial there.

The unit tests drive the pods by hand (the operator leaves the PyTorchJob alone) and count the
engine's requests; the experiment runs on the FakeOperator, whose trials print
``pipetune.report`` lines into their master pod's log while they run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kube.emulator import EmulatedCluster
from kube.operator import Outcome
from pipetune.bridges import JobParameters, build_job
from pipetune.components import ComponentSpec, ContainerSpec
from pipetune.contract import REPORT_PREFIX, LogMetrics
from pipetune.engines.base import History, Phase, ResourceRequest, RunRequest
from pipetune.engines.kubernetes import KubernetesEngine, KubernetesRun, Retry
from pipetune.experiment import experiment_from_dict
from pipetune.kinds import EXPERIMENT_LABEL, TRIAL_LABEL
from pipetune.store import RunStore
from pipetune.tuner.journal import JOURNAL_FILE, Journal
from pipetune.tuner.session import Session

NS = "ml"
PODS = "v1/pods"
PYTORCHJOBS = "kubeflow.org/v1/pytorchjobs"
LOG_READS = ("get", "pods/log")
POD_LISTS = ("list", "pods")


def report(step: int, accuracy: float) -> str:
    """The line ``pipetune.report(step=..., accuracy=...)`` prints."""
    return REPORT_PREFIX + json.dumps({"step": step, "accuracy": accuracy})


def wait_until(what: str, check: Callable[[], bool], timeout: float = 20.0) -> int:
    """Call ``check`` until it holds; how many calls that took. Fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    calls = 1
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)
        calls += 1
    return calls


# -- intermediate(), unit level --------------------------------------------------------------------

def pytorchjob(name: str = "exp-0000") -> dict[str, Any]:
    return build_job("PyTorchJob", JobParameters(name=name, namespace=NS, image="train:1",
                                                 command=["python", "train.py"], replicas={"Worker": 1}))


def request(name: str = "exp-0000") -> RunRequest:
    return RunRequest(
        run_id=f"r-{name}",
        component=ComponentSpec(name=name, container=ContainerSpec(image="train:1")),
        arguments={},
        outputs_dir=Path("/nonexistent"),
        log_metrics=LogMetrics(names=("accuracy",)),
        resource=ResourceRequest(pytorchjob(name)),
        echo=False,
    )


def seed_pod(cluster: EmulatedCluster, job: str, role: str, state: dict[str, Any]) -> str:
    """A pod of ``job`` as the training operator makes it, its container in ``state``."""
    name = f"{job}-{role}-0"
    labels = {TRIAL_LABEL: job, "training.kubeflow.org/replica-type": role}
    if role == "master":
        labels["training.kubeflow.org/job-role"] = "master"
    cluster.seed(PODS, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {"containers": [{"name": "pytorch", "image": "train:1"}]},
        "status": pod_status(state),
    })
    return name


def pod_status(state: dict[str, Any]) -> dict[str, Any]:
    phase = "Running" if "running" in state else "Succeeded" if "terminated" in state else "Pending"
    return {"phase": phase, "containerStatuses": [
        {"name": "pytorch", "image": "train:1", "imageID": "", "ready": phase == "Running", "restartCount": 0,
         "state": state}]}


RUNNING = {"running": {"startedAt": "2026-11-23T10:00:00Z"}}
WAITING = {"waiting": {"reason": "ContainerCreating"}}


@pytest.fixture
def by_hand(cluster: EmulatedCluster) -> EmulatedCluster:
    """The cluster with the operator leaving every resource alone: the test plays it."""
    cluster.operator.outcome = None
    return cluster


@pytest.fixture
def make_engine(by_hand: EmulatedCluster) -> Iterator[Callable[..., KubernetesEngine]]:
    made: list[KubernetesEngine] = []

    def make(**options: Any) -> KubernetesEngine:
        engine = KubernetesEngine(by_hand.api_client(), NS, labels={EXPERIMENT_LABEL: "exp"},
                                  retry=Retry(tries=2, base=0.01, cap=0.02), **options)
        made.append(engine)
        return engine
    yield make
    for engine in made:
        engine.close()


def entries(history: History) -> list[dict[str, float]]:
    return [dict(entry) for entry in history]


def test_intermediate_waits_for_a_started_pod_and_reads_the_masters_reports(by_hand, make_engine) -> None:
    cluster = by_hand
    engine = make_engine(progress_interval=0.05)
    handle = engine.submit(request())

    # No pod yet: nothing, and no log read.
    assert engine.intermediate(handle) == ()
    assert cluster.emulator.requests()[LOG_READS] == 0
    # A pod whose container has not started: looked up again after the interval, still no log read.
    master = seed_pod(cluster, "exp-0000", "master", WAITING)
    cluster.set_log(NS, master, "pytorch", report(1, 0.1) + "\n")  # a log it can't have yet
    wait_until("a second look for the pod", lambda: (
        engine.intermediate(handle) == () and cluster.emulator.requests()[POD_LISTS] >= 2))
    assert cluster.emulator.requests()[LOG_READS] == 0

    # It runs: the master's reports are read, the worker's and the noise are not.
    worker = seed_pod(cluster, "exp-0000", "worker", RUNNING)
    cluster.set_log(NS, worker, "pytorch", report(1, 0.99) + "\n")
    cluster.patch_status(PODS, NS, master, pod_status(RUNNING))
    cluster.set_log(NS, master, "pytorch", f"epoch 1\n{report(1, 0.5)}\nloss=0.9\n{report(2, 0.6)}\n")
    wait_until("two reports", lambda: len(engine.intermediate(handle)) == 2)
    assert entries(engine.intermediate(handle)) == [{"step": 1, "accuracy": 0.5}, {"step": 2, "accuracy": 0.6}]

    # The log grows: only the new line is added (the next read starts at the last line's second).
    cluster.append_log(NS, master, "pytorch", f"epoch 3\n{report(3, 0.7)}\n")
    wait_until("the third report", lambda: len(engine.intermediate(handle)) == 3)
    assert entries(engine.intermediate(handle))[-1] == {"step": 3, "accuracy": 0.7}
    assert cluster.emulator.requests()[POD_LISTS] >= 2  # until the pod had started


def test_intermediate_reads_a_runs_log_at_most_once_an_interval(by_hand, make_engine) -> None:
    cluster = by_hand
    engine = make_engine(progress_interval=3600.0)
    handle = engine.submit(request())
    master = seed_pod(cluster, "exp-0000", "master", RUNNING)
    cluster.set_log(NS, master, "pytorch", report(1, 0.5) + "\n")
    assert entries(engine.intermediate(handle)) == [{"step": 1, "accuracy": 0.5}]
    cluster.append_log(NS, master, "pytorch", report(2, 0.6) + "\n")
    for _ in range(200):
        assert entries(engine.intermediate(handle)) == [{"step": 1, "accuracy": 0.5}]  # the cache
    counts = cluster.emulator.requests()
    assert (counts[LOG_READS], counts[POD_LISTS]) == (1, 1)  # 201 calls, one read

    # With a short interval the reads follow the clock, not the calls.
    quick = make_engine(progress_interval=0.1)
    other = quick.submit(request("exp-0001"))
    pod = seed_pod(cluster, "exp-0001", "master", RUNNING)
    cluster.set_log(NS, pod, "pytorch", report(1, 0.5) + "\n")
    before = cluster.emulator.requests()[LOG_READS]
    started = time.monotonic()
    calls = wait_until("the first report", lambda: len(quick.intermediate(other)) == 1)
    cluster.append_log(NS, pod, "pytorch", report(2, 0.6) + "\n")
    calls += wait_until("the second report", lambda: len(quick.intermediate(other)) == 2)
    elapsed = time.monotonic() - started
    reads = cluster.emulator.requests()[LOG_READS] - before
    assert 2 <= reads <= 1 + elapsed / 0.1 + 1e-6, (reads, elapsed)  # reads are 0.1 s apart or more
    assert calls > reads
    print(f"log reads: {reads} for {calls} intermediate() calls in {elapsed:.2f} s")


def test_intermediate_keeps_its_cache_through_api_errors(by_hand, make_engine) -> None:
    cluster = by_hand
    engine = make_engine(progress_interval=0.02)
    handle = engine.submit(request())
    master = seed_pod(cluster, "exp-0000", "master", RUNNING)
    cluster.set_log(NS, master, "pytorch", report(1, 0.5) + "\n")
    wait_until("the first report", lambda: len(engine.intermediate(handle)) == 1)

    cluster.emulator.fail("get", "pods/log", 500, times=None)
    cluster.append_log(NS, master, "pytorch", report(2, 0.6) + "\n")
    failed_before = cluster.emulator.requests()[LOG_READS]
    wait_until("two failed reads", lambda: (
        entries(engine.intermediate(handle)) == [{"step": 1, "accuracy": 0.5}]
        and cluster.emulator.requests()[LOG_READS] >= failed_before + 2))
    # The pod is gone (404): the pod is looked up again, and none is found.
    cluster.emulator.clear_faults()
    cluster.delete(PODS, NS, master)
    lists = cluster.emulator.requests()[POD_LISTS]
    wait_until("another look for the pod", lambda: (
        len(engine.intermediate(handle)) == 1 and cluster.emulator.requests()[POD_LISTS] > lists))
    cluster.emulator.fail("list", "pods", 503, times=None)
    lists = cluster.emulator.requests()[POD_LISTS]
    wait_until("a failed look", lambda: (
        len(engine.intermediate(handle)) == 1 and cluster.emulator.requests()[POD_LISTS] > lists))


def test_a_long_log_is_read_in_bounded_slices_without_repeats(by_hand, make_engine) -> None:
    cluster = by_hand
    engine = make_engine(progress_interval=0.0, progress_read_bytes=200)
    handle = engine.submit(request())
    master = seed_pod(cluster, "exp-0000", "master", RUNNING)
    # Forty reports over forty seconds, two a second (about 90 bytes a line, stamped): no read
    # can take more than two lines, so it takes twenty reads or more, each from where the last
    # stopped.
    start = time.time() - 60
    cluster.set_log(NS, master, "pytorch", "")
    for step in range(1, 41):
        cluster.append_log(NS, master, "pytorch", report(step, step / 100) + "\n", at=start + step // 2)
    wait_until("forty reports", lambda: len(engine.intermediate(handle)) >= 40)
    assert entries(engine.intermediate(handle)) == [{"step": s, "accuracy": s / 100} for s in range(1, 41)]
    assert cluster.emulator.requests()[LOG_READS] >= 20


def test_a_finished_run_gives_its_results_history_and_reads_no_more(by_hand, make_engine) -> None:
    cluster = by_hand
    engine = make_engine(progress_interval=0.0)
    handle = engine.submit(request())
    master = seed_pod(cluster, "exp-0000", "master", RUNNING)
    cluster.set_log(NS, master, "pytorch", report(1, 0.5) + "\n")
    wait_until("a report", lambda: len(engine.intermediate(handle)) == 1)
    results = ("apiVersion: pipetune.dev/v1\nmetrics: {accuracy: 0.7}\n"
               "history:\n- {step: 1, accuracy: 0.5}\n- {step: 2, accuracy: 0.7}\n")
    cluster.patch_status(PODS, NS, master, pod_status({"terminated": {"exitCode": 0, "message": results}}))
    cluster.patch_status(PYTORCHJOBS, NS, "exp-0000", {"conditions": [
        {"type": "Succeeded", "status": "True", "reason": "PyTorchJobSucceeded", "message": ""}]})
    assert engine.wait(handle, 10).phase is Phase.SUCCEEDED
    reads = cluster.emulator.requests()[LOG_READS]
    assert entries(engine.intermediate(handle)) == [{"step": 1, "accuracy": 0.5}, {"step": 2, "accuracy": 0.7}]
    assert cluster.emulator.requests()[LOG_READS] == reads


def test_the_engine_meets_the_protocol_as_a_cluster_engine(by_hand, make_engine, tmp_path) -> None:
    engine = make_engine()
    assert engine.local is False and KubernetesEngine.local is False
    engine.reclaim("r-exp-0000", tmp_path)  # a no-op: nothing is asked of the cluster
    assert by_hand.emulator.requests() == {}
    handle: KubernetesRun = engine.submit(request())
    assert engine.intermediate(handle) == ()


# -- medianstop on the cluster -----------------------------------------------------------------

EXPERIMENT = """
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {name: estop, namespace: ml}
spec:
  objective: {type: maximize, objectiveMetricName: accuracy}
  algorithm: {algorithmName: random, algorithmSettings: [{name: random_state, value: "7"}]}
  earlyStopping:
    algorithmName: medianstop
    algorithmSettings:
      - {name: min_trials_required, value: "2"}
      - {name: start_step, value: "2"}
  parallelTrialCount: 1
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
#: The trial that learns badly: it would report for 200 steps (ten seconds) if nothing stopped it.
BAD = "estop-0002"
BAD_STEPS = 200


def training(resource: dict[str, Any]) -> Outcome:
    """Good trials report 0.6, 0.7, 0.8 and end with those results; the bad one reports 0.1 and
    up by 0.001 a step, and would end Succeeded after ``BAD_STEPS`` steps."""
    if resource["metadata"]["name"] == BAD:
        curve = [(step, round(0.1 + step / 1000, 3)) for step in range(1, BAD_STEPS + 1)]
    else:
        curve = [(1, 0.6), (2, 0.7), (3, 0.8)]
    history = "".join(f"- {{step: {step}, accuracy: {value}}}\n" for step, value in curve)
    message = f"apiVersion: pipetune.dev/v1\nmetrics: {{accuracy: {curve[-1][1]}}}\nhistory:\n{history}"
    return Outcome(progress=tuple(f"epoch {step}\n{report(step, value)}" for step, value in curve),
                   progress_delay=0.05, termination_message=message)


def test_medianstop_stops_a_bad_trial_on_the_cluster(cluster: EmulatedCluster, tmp_path: Path) -> None:
    cluster.operator.outcome = training
    experiment = experiment_from_dict(yaml.safe_load(EXPERIMENT), tmp_path / "exp.yaml")
    engine = KubernetesEngine(cluster.api_client(), NS, labels={EXPERIMENT_LABEL: "estop"},
                              retry=Retry(tries=3, base=0.01), progress_interval=0.1)
    try:
        tuner = Session.for_experiment(experiment, local=False, namespace=NS).tuner(
            engine, RunStore(tmp_path / "state"), tmp_path / "exp", poll_interval=0.05)
        result = tuner.run()
    finally:
        engine.close()

    assert result.state.status == "Succeeded"
    statuses = {t.index: t.status.value for t in result.trials}
    assert statuses == {0: "Succeeded", 1: "Succeeded", 2: "EarlyStopped", 3: "Succeeded"}
    stopped = result.trials[2]
    assert stopped.reason == "EarlyStopped"
    # Stopped on what its pod had reported, long before it would have ended.
    assert stopped.objective is not None and stopped.objective < 0.7
    assert 0.1 < stopped.objective < 0.1 + BAD_STEPS / 1000
    assert {t.index: t.objective for t in result.trials if t.index != 2} == {0: 0.8, 1: 0.8, 3: 0.8}

    finished = {r["trial"]: r for r in Journal(tmp_path / "exp" / JOURNAL_FILE).records()
                if r.get("op") == "trial_finished"}
    assert {i: r["status"] for i, r in finished.items()} == statuses
    assert finished[2]["reason"] == "EarlyStopped" and "medianstop" in finished[2]["message"]

    # The bad trial's PyTorchJob was deleted by the stop: nothing is left running.
    assert cluster.objects(PYTORCHJOBS, NS) == []
    assert cluster.operator.seen["PyTorchJob"] == [f"estop-{i:04d}" for i in range(4)]
    counts = cluster.emulator.requests()
    assert counts[("create", "pytorchjobs")] == 4 and counts[("delete", "pytorchjobs")] == 4
    print(f"log reads: {counts[LOG_READS]}, pod lists: {counts[POD_LISTS]}, "
          f"stopped at accuracy {stopped.objective}")
